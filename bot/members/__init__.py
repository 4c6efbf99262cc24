"""Members: what customers buy at the till and what they told us, kept as tags in WeCom.

Purchases come in through a signed webhook or a CSV import (`purchases`, `importer`,
`signing`, `routes`); the operators' rules (`rules`, sop/members.yaml) turn them into a
level and a lifecycle stage per member in one SQL statement (`compute`); `tag_sync` keeps
the matching corp tags on the WeCom customer, once per change, resumable. A member meets a
customer by unionid or a bound member code (`linking`). The questionnaire (`forms`,
`links`, `q_routes`, `questionnaire`, `staff_codes`) turns answers into coded tags and the
customer's description. Operator and POS guide: docs/members.md.
"""
