"""The English catalog (``[operator] language = "en"``): the same keys as `bot.i18n.zh`."""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # ---- cron lines (bot/sop/cron.py)
    "cron.shortcut": "cron: '{source}' shortcuts are not supported; write five fields "
                     '(e.g. "30 8 * * *") or use at: and days:',
    "cron.field_count": "cron: expected 5 fields (minute hour day-of-month month day-of-week), "
                        "found {count} in '{source}'",
    "cron.dom_or_dow": "cron: '{source}' restricts both day-of-month ({dom}) and day-of-week "
                       "({dow}); crontab would fire when EITHER matches, which is rarely meant. "
                       "Restrict only one of them (or start one with */), or write two SOPs",
    "cron.no_such_day": "cron: '{source}' names days that none of its months has",
    "cron.too_often": "cron: '{source}' fires {count} times a day; an SOP may fire at most "
                      "{limit} times a day (check the minute and hour fields)",
    "cron.empty_item": "cron {field}: empty item in '{text}'",
    "cron.bad_step": "cron {field}: bad step '/{step}' in '{text}'",
    "cron.backwards": "cron {field}: range '{range}' runs backwards; write it from low to high "
                      "or as a list",
    "cron.step_needs_range": "cron {field}: '{item}' needs a range before the step "
                             "(e.g. '{base}-{high}/{step}' or '*/{step}')",
    "cron.not_a_number": "cron {field}: '{text}' is not a number {low}-{high}",
    "cron.not_a_number_or_name": "cron {field}: '{text}' is not a number {low}-{high} "
                                 "or a name ({names})",
    "cron.outside": "cron {field}: {value} is outside {low}-{high}",
    "cron.field.minute": "minute",
    "cron.field.hour": "hour",
    "cron.field.day_of_month": "day-of-month",
    "cron.field.month": "month",
    "cron.field.day_of_week": "day-of-week",
    # ---- operator files: YAML and schema (bot/books/validation.py)
    'hint.did_you_mean': " (did you mean '{name}'?)",
    "hint.allowed": " (allowed: {names})",
    "yaml.empty_file": "the file is empty",
    'yaml.unknown_key': "unknown key '{key}'{hint}",
    'yaml.missing_key': "missing required key '{key}'",
    "yaml.text_not_bool": "expected text, found true/false; put the value in quotes",
    'yaml.text_not_number': (
        'expected text, found the number {value}; YAML reads unquoted digits as a number, '
        'so write the value in quotes as you mean it (e.g. "0012", not 0012)'
    ),
    "yaml.expected_text": "expected text, found {found}",
    "yaml.expected_found": "expected {expected}, found {found}",
    "yaml.too_long": "at most {limit} allowed, found {found}",
    "yaml.too_short": "at least {limit} needed, found {found}",
    "yaml.more": "more",
    "yaml.fewer": "fewer",
    "yaml.not_empty": "must not be empty",
    "yaml.one_of": "expected one of {expected}",
    "yaml.a_list": "a list",
    "yaml.a_mapping": "a mapping (key: value)",
    "yaml.a_whole_number": "a whole number",
    "yaml.a_number": "a number",
    "yaml.true_or_false": "true or false",
    "yaml.nothing": "nothing (empty value)",
    "yaml.found_mapping": "a mapping",
    "yaml.found_list": "a list",
    "yaml.the_number": "the number {value}",
    # ---- templates (bot/books/templating.py)
    'template.include_missing': "includes '{name}', which does not exist",
    "template.not_found": "template not found under {root}",
    "template.too_long": "output longer than {limit} characters",
    "template.sandbox": "refused by the template sandbox: {detail}",
    "template.recursion": "recursion too deep",
    "template.memory": "ran out of memory",
    'template.undefined_variable': "undefined variable '{name}'{hint}",
    "template.undefined_value": "undefined value: {detail}",
    "template.no_attribute": "undefined value: '{owner}' has no attribute '{name}'",
    "template.syntax": "syntax error: {detail}",
    # ---- the SOP render check (bot/sop/checks.py)
    "sop.never_fires": "never fires in the next 400 days (check days, cron and skip_dates)",
    "sop.no_data_for_stores": "its stores have no data in {data}",
    "sop.no_store": "no store",
    "sop.reaches_no_store": "reaches no store ({reason}); it sends nothing",
    "sop.on_sample": "{reason} ({sample})",
    "sop.in_template": "{reason} [sops.{sop}, template: at {at}]",
    'sop.attachments_dropped': (
        '{count} attachment(s) left out, WeCom sends at most {limit} '
        '({sample})'
    ),
    'sop.dict_method_hint': (
        '; a data key named like a dict method (items, keys, values, '
        "get) must be written data['items'], or better renamed (e.g. "
        'products)'
    ),
    "sop.sample_no_store": "no store, {day}",
    "sop.sample_store": "store {store}, {day}",
    'sop.sample_store_data': "store {store}, {data} '{key}', {day}",
    # ---- what the checks print (bot/books/checks.py, bot/books/errors.py)
    "check.error": "error: {detail}",
    "check.warning": "warning: {detail}",
    "check.fix_and_rerun": "{count} problem{s}; fix them and run the check again",
    "check.problems_in_files": "{count} problem{s} in operator files:",
    "check.folder_not_found": "{path}: folder not found",
    "check.templates_folder_not_found": "{path}: templates folder not found",
    # ---- sop check / preview (bot/sop/cli.py)
    "sop.cli.after_stores": "the SOP files and channels.yaml are checked once stores.yaml loads",
    "sop.cli.ok_stores": "{path}: ok, {stores} stores, {others} other staff",
    "sop.cli.ok_channels": "{path}: ok, {count} channels",
    "sop.cli.ok_robots": "{path}: ok, {count} robots",
    "sop.cli.ok_group_tags": "{path}: ok, {count} group tags: {names}",
    "sop.cli.disabled": ", disabled",
    "sop.cli.sop_part": "{name} ({when}, {via}{off})",
    "sop.cli.sop_sep": "; ",
    "sop.cli.ok_sops": "{path}: ok, {count} SOPs: {sops}",
    "sop.cli.ok_data": "{path}: ok, {count} store{s}",
    "sop.cli.ok_data_default": "{path}: ok, default + {count} store{s}",
    'sop.cli.skipped': "{path}: skipped, no 'sops:' in it",
    'sop.cli.preview_needs_files': (
        'the preview needs the files to load; `python -m bot sop check` '
        'lists the problems'
    ),
    'sop.cli.unknown_store': "store '{store}' is not in stores.yaml",
    # ---- the bot app's answers to staff (bot/replies/commands.py, bot/cards/app_command.py)
    'app.help': ("You can ask me:\n· 话术 痘痘 (or reply acne) — replies by tag or keyword\n· "
                 "客户 王丽 (or customer 王丽) — your customer's card: store, tags, groups, "
                 "source\nIn a customer chat, open the sidebar「话术」to send a reply with one "
                 "tap."),
    "app.list_sep": ", ",
    "app.replies.which": ("Which replies are you looking for? For example: 话术 痘痘, 话术 坏果, "
                          "话术 会员日"),
    "app.replies.none": ("No replies found for「{word}」.\nTry another word, for example: 话术 "
                         "售后, 话术 送礼"),
    "app.replies.categories": "Reply categories: {names}",
    "app.replies.head": "Replies for「{word}」, the best {count} (of {total}):",
    'app.replies.tail': ("Replace【称呼】with the customer's name before sending; the chat "
                         "sidebar sends with one tap."),
    "app.customer.which": "Which customer? For example: 客户 王丽",
    "app.customer.none": ("None of your customers is called「{name}」. (Only customers who added "
                          "you can be looked up.)"),
    "app.customer.several": "{count} customers found; please write the full name:",
    "app.customer.one_of": "· {name} ({store}, added {since})",
    "app.customer.unknown_store": "store unknown",
    "app.card.unknown": "unknown",
    "app.card.no_tags": "none",
    "app.card.no_groups": "in no group",
    "app.card.group_sep": "; ",
    "app.card.group": "{name} ({joined}, {how})",
    "app.card.name": "Customer: {name}",
    "app.card.store": "Store: {store}",
    "app.card.channel": "Channel: {channel}, added you {since}",
    "app.card.tags": "Tags: {tags}",
    "app.card.groups": "Groups: {groups}",
    "app.card.suggested": "Suggested replies: {replies}",
    "app.card.suggestion": "{title} ({category})",
    "app.qr.not_a_manager": ("「二维码」is sent to store managers only: you manage no store in "
                             "stores.yaml; please ask head-office operations."),
    "app.qr.no_codes": ("{stores} has no QR codes yet; head-office operations should run `python "
                        "-m bot codes sync`."),
    "app.qr.failed": "The QR cards could not be made just now; please send「二维码」again later.",
    # ---- SOP files (bot/sop/compile.py, bot/sop/schedule.py)
    "hint.defined": " (defined: {names})",
    "hint.defines_none": " ({file} defines none)",
    'sop.duplicate_name': ("an SOP named '{name}' is already defined at {first}; SOP names must "
                           "be unique across all SOP files"),
    'sop.data_outside': "data file '{data}' must be inside {folder}",
    "sop.data_not_found": "data file not found: {path}",
    "sop.data_has_errors": "{data} has errors (listed with its own lines)",
    'sop.unknown_robot': "unknown robot '{name}'{hint}",
    'sop.unknown_city': "no store in city '{city}' (cities in stores.yaml: {cities})",
    "sop.stores_cities_disjoint": "the stores and cities given have no store in common",
    'sop.unknown_group_tag': "group tag '{tag}' is not defined in groups.yaml{hint}",
    'sop.time_format': 'expected a time like "08:30" (found {value})',
    "sop.time_of_day": "{value} is not a time of day: hours are 00-23 and minutes 00-59",
    "sop.days_empty": "days: name at least one day, or write daily",
    "sop.days_names": "days: expected day names such as mon, tue (found {value})",
    'sop.unknown_day': "unknown day '{day}'{hint}",
    'sop.day_twice': "day '{day}' is listed twice",
    "sop.timezone_example": " (e.g. Asia/Shanghai)",
    'sop.unknown_timezone': "unknown time zone '{name}'{hint}",
    # ---- channels check (bot/channels/) and replies check (bot/replies/cli.py)
    'channels.no_default': ("no 'default' channel: add one, it welcomes customers whose state "
                            "matches no channel (e.g. they found the staff member by phone "
                            "number)"),
    'channels.default_match': ("the default channel takes no 'match'; it gets every state that "
                               "no other channel matches"),
    'channels.state_taken': "state '{source}' is already used by channel '{owner}'",
    'channels.pattern_taken': "pattern '{source}' is already used by channel '{owner}'",
    'channels.not_captured_by_all': ("'{{{name}}}' is not captured by every 'match' pattern of "
                                     "this channel"),
    'channels.not_captured': "'{{{name}}}' is not captured by any pattern",
    'channels.store_id_format': 'store id must be 4 digits, e.g. "0012"',
    'channels.store_names_need_store': "store_* names need a 'store:' in the channel",
    'channels.use_capture': "use a capture of 'match' or one of {names}",
    'channels.unknown_placeholder': "unknown placeholder '{{{name}}}' ({hint})",
    'channels.group_name_long': ("group name '{group}' is {length} characters; WeCom allows at "
                                 "most {limit}"),
    'channels.tag_name_long': ("tag name '{tag}' can be {length} characters; WeCom allows at "
                               "most {limit}"),
    "channels.and": " and ",
    "channels.none_is": " (in this channel {names} is None)",
    "channels.none_are": " (in this channel {names} are None)",
    "replies.ok_categories": "{path}: ok, {count} categories",
    "replies.ok_replies": "{path}: ok, {count} replies",
    "replies.no_stores": "note: stores.yaml not found; texts were checked without a sample store",
    # ---- replies library (bot/replies/library.py)
    "replies.no_store_guard": " (this customer has no store: guard with {{% if store %}})",
    # ---- codes check / sync (bot/codes/cli.py)
    "codes.ok": ("codes.yaml: ok, {contacts} contact ways, {welcomes} group welcome{s}; join "
                 "codes are planned at sync from the groups the bot knows"),
    "codes.nothing_changed": "nothing was changed in WeCom:",
    "codes.notify": "  notify    {count} managers to attach 「{channel}」",
    "codes.note": "  note: {note}",
    "codes.orphans_pruned": "deleted (--prune)",
    "codes.orphans_listed": "listed only; --prune deletes them",
    "codes.plan": ("plan: {create} create, {update} update, {unchanged} unchanged, {orphan} "
                   "orphan ({orphans})"),
    "codes.calls": "WeCom calls: {count}",
    "codes.calls_detail": "WeCom calls: {count} ({detail})",
    "codes.done": "done in {seconds}s: {done}",
    "codes.nothing": "nothing",
    "codes.recovered": "  found unrecorded in WeCom (an interrupted run made it): {key}",
    "codes.recreated": "  made again (it was deleted in WeCom): {key}; reprint its cards",
    "codes.failed": "  failed: {line}",
    "codes.some_failed": ("some steps failed: run `codes sync` again, it carries on where it "
                          "stopped"),
    # ---- members check/preview (bot/members/cli.py), journeys check/preview (bot/journeys/cli.py)
    "members.ok_rules": ("{path}: ok, {levels} levels ({level_names}), {stages} stages "
                         "({stage_names})"),
    "members.ok_forms": "{path}: ok, {count} forms ({names})",
    "members.levels": "levels",
    "members.stages": "stages",
    "members.moves": "{title}: {move} members move, {stay} stay",
    "members.none_yet": "(none yet)",
    "members.file_not_found": "{path}: file not found",
    "members.recomputed": "recomputed in {seconds} s; {count} members wait for the tag sync",
    "journeys.disabled": " (disabled)",
    "journeys.summary": ("{where}: {name}{state}: {title} · entry {entry} · {steps} steps over "
                         "{days} days · {via}"),
    "journeys.personal_note": ("  note: {step} names the customer or carries their own "
                               "questionnaire link: one 群发 per customer, each confirmed by "
                               "the staff member"),
    "journeys.ok": "ok: {count} journeys; precedence: {precedence}",
    "journeys.no_database": "the database does not exist yet: nothing has happened",
    "journeys.database_unreadable": "{url} could not be read ({kind})",
    # ---- SOP rendering (bot/sop/book.py, bot/sop/attachments.py)
    "sop.text_too_long": ("the {what} is {size} bytes, WeCom allows {limit} for add_msg_template "
                          "text (a Chinese character takes 3 bytes)"),
    "sop.robot_too_long": ("the {what} is {size} bytes, WeCom allows {limit} for a robot {what} "
                           "(a Chinese character takes 3 bytes)"),
    "sop.empty_message": "rendered an empty message",
    'sop.each_not_a_list': "'{each}' should be a list (e.g. data.items), found {found}",
    # ---- reading YAML (bot/books/yamlfile.py)
    "yaml.file_not_found": "file not found",
    "yaml.not_utf8": "not UTF-8 text; save the file as UTF-8",
    "yaml.error": "YAML error: {detail}",
    'yaml.not_a_date': "'{value}' is not a date ({detail}); write dates as YYYY-MM-DD",
    "yaml.unreadable_value": "a value could not be read: {detail}",
    'yaml.duplicate_key': "duplicate key '{key}'; each key may appear once",
    'yaml.duplicate_key_at': ("duplicate key '{key}' (the mapping starts at line {line}); each "
                              "key may appear once"),
    "yaml.syntax": "YAML syntax error: {detail}",
    "yaml.cannot_parse": "cannot parse",
    "yaml.syntax_context": " ({context})",
    "yaml.syntax_context_at": " ({context} at line {line})",
    "yaml.tabs": "; indent with spaces, not tabs",
    "yaml.tag": "unsupported YAML tag {tag}",
    # ---- robots.yaml (bot/sop/robots.py)
    "robots.key_unset": ("{env} is not set in this environment; sends through this robot will "
                         "fail until it holds the webhook key"),
    # ---- sop report (bot/outbox/report.py, bot/moments/records.py)
    'report.no_database': '{path} does not exist: nothing has been sent yet',
    'report.unreadable': '{url} could not be read ({error})',
    'report.heading': 'SOP report · {day} (Asia/Shanghai)',
    'report.status': '{count} {status}',
    'report.group_send': '{count} groups: {parts}',
    'report.reminders_open': ', {count} reminders not confirmed',
    'report.owner_post': (
        'owner_post: {groups} groups due, {posted} posted, {due} not yet; {reminded} of'
        ' {owners} owners reminded{open}'
    ),
    'report.moment_failed': ', {count} failed',
    'report.moment_unposted': ', {count} never posted',
    'report.moment': (
        'moment: {tasks} tasks{failed}; {staff} staff, {posted} posted, {due} not yet{late};'
        ' {reminders} reminders'
    ),
    'report.nothing': 'no SOP slot with groups on this day',
    # ---- SOP, robots and groups files (bot/sop/spec.py)
    'spec.duration_bool': 'expected a duration such as "15m" or "1h"',
    'spec.duration': 'expected a duration such as "15m", "1h" or "1h30m" (found {found})',
    'spec.grace_zero': 'grace must be longer than 0 (e.g. "10m")',
    'spec.grace_long': (
        'grace may be at most 12h: a message that is later than that has lost its point'
    ),
    'spec.bad_name': (
        "name '{name}': use letters a-z, A-Z, digits, '-' and '_' (at most 64 characters), e.g."
        ' morning-new-arrivals'
    ),
    'spec.date_with_time': 'expected a date such as 2026-12-25 without a time (found {found})',
    'spec.date': 'expected a date such as 2026-12-25 (found {found})',
    'spec.days': 'days: expected daily, weekdays, weekends or a list such as [mon, thu]',
    'spec.which_groups': (
        'say which groups: stores: all, stores: ["0012"], cities: [上海] or tags: [宝妈] (they'
        ' combine: all given must hold)'
    ),
    'spec.to_one': "'to' takes exactly one of groups: or members:",
    'spec.via': (
        'via: expected group_send, owner_post, moment or {{robot: <name in robots.yaml>}}'
        ' (found {found})'
    ),
    'spec.via_one': 'via: one of a robot, owner_post or moment',
    'spec.attachment_one': (
        'each attachment is exactly one of link:, image:, miniprogram: or video:'
    ),
    'spec.attachment_found': ' (found {found})',
    'spec.time_twice': 'time {time} is listed twice',
    'spec.at_and_cron': 'give either at: (with days:) or cron:, not both; they would disagree',
    'spec.say_when': 'say when: at: "08:30" (and days:), or cron: "30 8 * * *"',
    'spec.days_with_cron': 'days: goes with at:; with cron: put the days in the cron line',
    'spec.key_env': (
        'key_env names an environment variable (e.g. WECOM_ROBOT_MANAGERS), found {found};'
        ' never put the webhook key itself in this file'
    ),
    'spec.markdown_all': (
        'a markdown robot message cannot @all (WeCom only supports <@userid> in markdown); use'
        ' format: text, or list userids'
    ),
    'spec.all_and_more': 'mention: "@all" already includes everyone; list nobody else',
    'spec.tag_rule': 'a group tag needs at least one of name_contains, stores, owners or chats',
    # ---- SOP data files (bot/sop/datafiles.py) and groups.yaml (bot/sop/group_tags.py)
    'data.not_mapping': 'expected a mapping: default: and store ids',
    'data.nothing': 'no default: and no store',
    'data.number_key': (
        'key {key}: store ids are text; write it in quotes with its zeros (e.g. "00{key}" for'
        ' store 00{key})'
    ),
    'data.bad_key': 'key {key}: expected default or a store id in quotes',
    'data.unknown_key': (
        'unknown key \'{key}\': the top level holds default and store ids (e.g. "0012")'
    ),
    'data.no_such_store': "store '{key}' is not in stores.yaml",
    'data.entry_not_mapping': '{key}: expected a mapping (key: value)',
    'groups.no_such_store': "tags.{tag}.stores: store '{store}' is not in stores.yaml",
    # ---- sop preview (bot/sop/preview.py, bot/sop/preview_text.py)
    'preview.title': 'SOP preview · {day} {weekday}{member}',
    'preview.weekdays': 'Mon Tue Wed Thu Fri Sat Sun',
    'preview.member_day': ' (member day)',
    'preview.store_only': 'store {store} only',
    'preview.nothing': 'nothing is sent on this day.',
    'preview.not_sent': 'not sent:',
    'preview.per_group_part': '{count} × {groups} groups',
    'preview.per_group': '群发 per group today: {parts}',
    'preview.quota_note': (
        '(WeCom limits the 群发 a group receives a month; the outbox holds back the rest; see'
        ' docs/sop.md)'
    ),
    'preview.failed': '{count} failed to render (see ✗ above)',
    'preview.groups_database': 'groups: {count} groups from the database {detail}',
    'preview.groups_nominal': (
        'groups: one nominal group per store, named as in stores.yaml (group_name) and owned by'
        ' its manager, because {detail}'
    ),
    'preview.via.group_send': 'group_send',
    'preview.via.robot': 'robot',
    'preview.via.owner_post': 'owner_post',
    'preview.via.moment': 'moment',
    'preview.audience_tagged': 'customers tagged {tags}',
    'preview.audience_all': 'all customers',
    'preview.moment_audience': ": posted by the store's staff, seen by {who}",
    'preview.members': ': one-to-one to members tagged {tags} ({match})',
    'preview.extent_groups': ' · {stores} stores · {groups} groups',
    'preview.extent_stores': ' · {stores} stores',
    'preview.per_store': ' · per store: {rule}',
    'preview.moment_posters': 'staff {who} each confirm the post in 客户朋友圈',
    'preview.owner_confirms': 'owner {who} confirms the send to {count} groups: {names}',
    'preview.owner_posts': (
        'owner {who} is reminded and posts from the sidebar to {count} groups: {names}'
    ),
    'preview.members_at_send': 'customers are resolved from the database by tag at send time',
    'preview.mention': 'mention: {names}',
    'preview.image': 'image {source}{by_hand}',
    'preview.image_by_hand': ' (the owner adds it by hand from the link)',
    'preview.link': 'link 《{title}》 {url}',
    'preview.video': 'video {media}',
    'preview.miniprogram': 'miniprogram 《{title}》 {page}',
    'preview.dropped': '({count} more attachments are over the limit of 9 and not sent)',
    'preview.no_group': '{time}: no group matches',
    'preview.no_group_tagged': '{time}: no group with group tags {tags} matches',
    'preview.no_data': 'store {store}: no entry in {data} and no default',
    # ---- sop preview: where the groups come from (bot/sop/cli.py)
    'preview.db_unreadable': 'the database could not be read ({reason})',
    'preview.no_groups_yet': '{url} has no groups yet',
    # ---- codes sync plan lines (bot/codes/plan.py, bot/codes/sync.py)
    'codes.action.create': 'create',
    'codes.action.update': 'update',
    'codes.action.orphan': 'orphan',
    'codes.action.unchanged': 'unchanged',
    'codes.chain_wide': 'chain-wide',
    'codes.looked_up_first': '[an interrupted run may have made it: looked up first]',
    'codes.step_failed': '{action} {key}: {error}',
    'codes.picture_failed': 'picture of {key}: {error}',
    # ---- members import: per-line messages (bot/members/importer.py, bot/members/purchases.py)
    'purchase.phone': 'phone: expected an 11-digit mainland mobile number',
    'purchase.phone_key': (
        'phone: given, but {env} is not set, and phone numbers are never stored in clear'
    ),
    'purchase.text': '{name}: expected text',
    'purchase.amount_format': 'amount: expected yuan such as 68.50, found {found}',
    'purchase.amount_range': (
        'amount: {amount} is not a purchase amount (above 0, below 10,000,000 yuan)'
    ),
    'purchase.at_missing': 'at: missing',
    'purchase.at_format': 'at: expected a time such as 2026-12-01T18:30:00+08:00, found {found}',
    'purchase.at_range': 'at: before 2000 or in the future',
    'purchase.order_id': 'order_id: missing or longer than 64 characters',
    'purchase.member_code': 'member_code: 1 to 32 letters, digits, - or _',
    'purchase.store_id': 'store_id: longer than 16 characters',
    'purchase.unionid': 'unionid: longer than 64 characters',
    'till.unknown_store': 'store {store} is not in the store directory (stores.yaml)',
    'import.more_bad': '... and {count} more bad rows',
    'import.summary': (
        '{rows} rows: {imported} new purchases, {already} already imported, {bad} bad;'
        ' {members} members wait for the tag sync ({seconds} s: rows {load} s = {rate} rows/s,'
        ' members recomputed {recompute} s)'
    ),
    'import.header_lacks': 'the header lacks {missing} (found: {found})',
    'import.field_count': '{count} fields, the header has {width}',
    # ---- the purchases webhook (bot/members/purchases.py)
    'purchase.amount_number': 'amount: expected yuan such as 68.50',
    # ---- sop check: the 群发 quota per group class (bot/sop/quota_check.py)
    'quota.over': (
        '群发 quota {period}: {klass} get {count} 群发, WeCom delivers at most {limit} per'
        ' group (group_send_quota = {rule}, {source}); the outbox holds the rest back. Stores:'
        ' {stores}. Send one of them via: owner_post, or on fewer days'
    ),
    'quota.more_periods': ' … ({count} periods)',
    'quota.class_tags': 'groups tagged {tags}',
    'quota.class_plain': 'groups without {tags}',
    'quota.class_all': 'store groups',
    # ---- how an SOP is sent (bot/sop/compile.py)
    'sop.robot_no_to': (
        "a robot posts into its own chat (robots.yaml chat:); remove 'to', or use via:"
        ' group_send to reach customer groups'
    ),
    'sop.robot_no_attachments': (
        'robots send text or markdown only; attachments need via: group_send'
    ),
    'sop.missing_to': (
        "missing required key 'to': say which groups or members get it, e.g. to:"
        ' {{groups: {{stores: all}}}}'
    ),
    'sop.owner_post_members': (
        "via: owner_post is posted by each group's owner into their customer groups: use to:"
        ' {{groups: ...}}, or via: group_send for members'
    ),
    # ---- links and pictures (bot/wecom/content.py)
    'content.https': 'must be an https:// address',
    # ---- sop check: dated data and opening hours (bot/sop/dated.py, bot/sop/hours_check.py)
    'dated.stale': (
        '{where}: {file} is dated {dated}, but {sop} sends it next on {slot} (stores {stores}):'
        ' update date: and the products before then'
    ),
    'dated.early': (
        '{where}: {file} is dated {dated}, but {sop} sends it earlier, on {slot} (stores'
        " {stores}): that day's groups would get another day's goods"
    ),
    'hours.outside': (
        '{where}: sops.{sop}: {time} is outside the opening hours of stores {stores}; their'
        ' managers post it from the store. Use a store time such as "store.closes - 30m" or'
        ' "store.opens + 1h" (docs/sop.md, Per-store times)'
    ),
    # ---- per-store times (bot/sop/store_times.py, bot/sop/compile.py)
    'times.has_no': 'has no {path}',
    'times.not_a_time': '{path} is {found}, not a time like "17:00"',
    'times.next_day': '{time} {offset} is not on the same day',
    'times.expected': (
        'expected a time such as "08:30", "store.closes - 30m" or "data.window.start - 20m"'
        ' (found {found})'
    ),
    'times.store_fields': '{text}: stores.yaml gives each store store.opens and store.closes',
    'times.needs_data': "{text}: data.… names the SOP's data file; add data:",
    'times.store_missing': 'store {store} {why} ({where})',
    'times.more': '; and {count} more',
    'times.sep': '; ',
    'times.not_every_store': 'no time for every store: {stores}',
    'times.needs_stores': (
        "a store's own time (store.…, data.…) needs to: groups or members; a robot posts once,"
        ' for no store'
    ),
    'times.no_store': "a store's own time, but the SOP reaches no store",
    'sop.video_moment_only': 'a video is sent only via: moment (客户朋友圈)',
    # what one group got from a slot (outbox_delivery.status), as `sop report` names it
    'delivery.queued': 'queued',
    'delivery.held_quota': 'held_quota',
    'delivery.submitted': 'submitted',
    'delivery.sent': 'sent',
    'delivery.quota_exceeded': 'quota_exceeded',
    'delivery.failed': 'failed',
    'delivery.unsent': 'unsent',
    'delivery.uncertain': 'uncertain',
    'delivery.cancelled': 'cancelled',
}
