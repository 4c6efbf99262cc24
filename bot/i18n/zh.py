"""The Chinese catalog, the default: what operators and store staff read.

Written as a chain's head-office operations team would write to its own people: short,
saying what is wrong and what to write instead. Same keys and fields as `bot.i18n.en`.
"""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # ---- cron lines (bot/sop/cron.py)
    "cron.shortcut": "cron：不支持 '{source}' 这种简写；请写满五段（如 \"30 8 * * *\"），"
                     "或改用 at: 加 days:",
    "cron.field_count": "cron：应当有 5 段（分钟 小时 日期 月份 星期），"
                        "'{source}' 里有 {count} 段",
    "cron.dom_or_dow": "cron：'{source}' 同时限定了日期（{dom}）和星期（{dow}）；crontab 的规则是"
                       "两者满足其一就发，这通常不是本意。只限定其中一个"
                       "（或让其中一个以 */ 开头），或者拆成两个 SOP",
    "cron.no_such_day": "cron：'{source}' 写的日期在它的月份里都不存在",
    "cron.too_often": "cron：'{source}' 一天要发 {count} 次；一个 SOP 一天最多发 {limit} 次"
                      "（请检查分钟和小时两段）",
    "cron.empty_item": "cron {field}：'{text}' 里有空项",
    "cron.bad_step": "cron {field}：'{text}' 里的步长 '/{step}' 不对",
    "cron.backwards": "cron {field}：范围 '{range}' 写反了；请从小写到大，或者逐个列出",
    "cron.step_needs_range": "cron {field}：'{item}' 的步长前面要有范围"
                             "（如 '{base}-{high}/{step}' 或 '*/{step}'）",
    "cron.not_a_number": "cron {field}：'{text}' 不是 {low}-{high} 之间的数字",
    "cron.not_a_number_or_name": "cron {field}：'{text}' 不是 {low}-{high} 之间的数字，"
                                 "也不是可用的名称（{names}）",
    "cron.outside": "cron {field}：{value} 超出了 {low}-{high} 的范围",
    "cron.field.minute": "分钟",
    "cron.field.hour": "小时",
    "cron.field.day_of_month": "日期",
    "cron.field.month": "月份",
    "cron.field.day_of_week": "星期",
    # ---- operator files: YAML and schema (bot/books/validation.py)
    "hint.did_you_mean": "（是不是 {name}？）",
    "hint.allowed": "（可以写：{names}）",
    "yaml.empty_file": "文件是空的",
    "yaml.unknown_key": "不认识的键 {key}{hint}",
    "yaml.missing_key": "缺少必填的键 {key}",
    "yaml.text_not_bool": "这里要写文字，却写成了 true/false；请给值加上引号",
    "yaml.text_not_number": ("这里要写文字，却读成了数字 {value}；YAML 会把没加引号的数字当成数，"
                             '请加上引号照原样写（如 "0012"，不要写 0012）'),
    "yaml.expected_text": "这里要写文字，实际是 {found}",
    "yaml.expected_found": "这里要写{expected}，实际是 {found}",
    "yaml.too_long": "最多 {limit} 项，实际有 {found} 项",
    "yaml.too_short": "至少要 {limit} 项，实际只有 {found} 项",
    "yaml.more": "更多",
    "yaml.fewer": "更少",
    "yaml.not_empty": "不能为空",
    "yaml.one_of": "只能写以下之一：{expected}",
    "yaml.a_list": "一个列表",
    "yaml.a_mapping": "一组“键: 值”",
    "yaml.a_whole_number": "整数",
    "yaml.a_number": "数字",
    "yaml.true_or_false": " true 或 false",
    "yaml.nothing": "空值（什么都没写）",
    "yaml.found_mapping": "一组“键: 值”",
    "yaml.found_list": "一个列表",
    "yaml.the_number": "数字 {value}",
}
