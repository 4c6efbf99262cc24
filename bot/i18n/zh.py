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
    # ---- templates (bot/books/templating.py)
    "template.include_missing": "引用的模板 {name} 不存在",
    "template.not_found": "在 {root} 下找不到这个模板",
    "template.too_long": "生成的内容超过了 {limit} 个字",
    "template.sandbox": "模板里有不允许的写法：{detail}",
    "template.recursion": "模板嵌套太深",
    "template.memory": "模板生成的内容太大，内存不够",
    "template.undefined_variable": "模板里用了未定义的变量 {name}{hint}",
    "template.undefined_value": "模板里用到的值不存在：{detail}",
    "template.no_attribute": "模板里用到的值不存在：{owner} 没有 {name} 这一项",
    "template.syntax": "模板语法错误：{detail}",
    # ---- the SOP render check (bot/sop/checks.py)
    "sop.never_fires": "接下来 400 天里一次都不会发（请检查 days、cron 和 skip_dates）",
    "sop.no_data_for_stores": "它的门店在 {data} 里都没有数据",
    "sop.no_store": "没有门店",
    "sop.reaches_no_store": "一个门店都发不到（{reason}），什么也不会发出",
    "sop.on_sample": "{reason}（{sample}）",
    "sop.in_template": "{reason}［SOP {sop} 在 {at} 用到这个模板］",
    "sop.attachments_dropped": ("有 {count} 个附件没有发出，企业微信一次最多发 {limit} "
                                "个（{sample}）"),
    'sop.dict_method_hint': (
        "；数据里的键和字典方法同名（items、keys、values、get）时，要写成 data['items']，"
        "最好改个名字（如 "
        'products）'
    ),
    "sop.sample_no_store": "不分门店，{day}",
    "sop.sample_store": "门店 {store}，{day}",
    "sop.sample_store_data": "门店 {store}，{data} 的 {key}，{day}",
    # ---- what the checks print (bot/books/checks.py, bot/books/errors.py)
    "check.error": "错误：{detail}",
    "check.warning": "提醒：{detail}",
    "check.fix_and_rerun": "共 {count} 处问题；改好后请再运行一次检查",
    "check.problems_in_files": "运营文件里有 {count} 处问题：",
    "check.folder_not_found": "{path}：找不到这个文件夹",
    "check.templates_folder_not_found": "{path}：找不到模板文件夹",
    # ---- sop check / preview (bot/sop/cli.py)
    "sop.cli.after_stores": "stores.yaml 读通之后才会检查 SOP 文件和 channels.yaml",
    "sop.cli.ok_stores": "{path}：正常，{stores} 家门店，另有 {others} 名员工",
    "sop.cli.ok_channels": "{path}：正常，{count} 个渠道",
    "sop.cli.ok_robots": "{path}：正常，{count} 个群机器人",
    "sop.cli.ok_group_tags": "{path}：正常，{count} 个群标签：{names}",
    "sop.cli.disabled": "，已停用",
    "sop.cli.sop_part": "{name}（{when}，{via}{off}）",
    "sop.cli.sop_sep": "；",
    "sop.cli.ok_sops": "{path}：正常，{count} 个 SOP：{sops}",
    "sop.cli.ok_data": "{path}：正常，{count} 家门店",
    "sop.cli.ok_data_default": "{path}：正常，默认 + {count} 家门店",
    "sop.cli.skipped": "{path}：跳过，里面没有 sops:",
    "sop.cli.preview_needs_files": ("文件读不通就没法预览；运行 `python -m bot sop check` "
                                    "可以看到全部问题"),
    "sop.cli.unknown_store": "stores.yaml 里没有门店 {store}",
    # ---- the bot app's answers to staff (bot/replies/commands.py, bot/cards/app_command.py)
    "app.help": ("可以这样问我：\n· 话术 痘痘 —— 按标签或关键词找话术（也可以写 reply acne）\n· "
                 "客户 王丽 —— 看你的客户的名片：门店、标签、群、"
                 "来源\n在客户聊天窗口打开侧边栏「话术」，点一下就能直接发给客户。"),
    "app.list_sep": "、",
    "app.replies.which": "想找哪类话术？例如：话术 痘痘、话术 坏果、话术 会员日",
    "app.replies.none": "没有找到和「{word}」有关的话术。\n换个词试试，例如：话术 售后、话术 送礼",
    "app.replies.categories": "话术分类：{names}",
    "app.replies.head": "「{word}」的话术，最合适的 {count} 条（共 {total} 条）：",
    "app.replies.tail": "把【称呼】换成客户的名字再发；在聊天侧边栏里可以一键发送。",
    "app.customer.which": "要看哪位客户？例如：客户 王丽",
    "app.customer.none": "你的客户里没有叫「{name}」的。（只能查看添加了你的客户）",
    "app.customer.several": "找到 {count} 位客户，请写完整名字：",
    "app.customer.one_of": "· {name}（{store}，{since} 添加）",
    "app.customer.unknown_store": "未知门店",
    "app.card.unknown": "未知",
    "app.card.no_tags": "无",
    "app.card.no_groups": "未进群",
    "app.card.group_sep": "；",
    "app.card.group": "{name}（{joined}，{how}）",
    "app.card.name": "客户：{name}",
    "app.card.store": "门店：{store}",
    "app.card.channel": "来源渠道：{channel}，{since} 添加你",
    "app.card.tags": "标签：{tags}",
    "app.card.groups": "所在群：{groups}",
    "app.card.suggested": "推荐话术：{replies}",
    "app.card.suggestion": "{title}（{category}）",
    "app.qr.not_a_manager": ("「二维码」只发给门店店长：你不是 stores.yaml 里任何门店的店长，"
                             "请找总部运营。"),
    "app.qr.no_codes": "{stores}还没有生成二维码，请总部运营运行 `python -m bot codes sync`。",
    "app.qr.failed": "二维码卡片暂时没有生成出来，请稍后再发「二维码」。",
    # ---- SOP files (bot/sop/compile.py, bot/sop/schedule.py)
    "hint.defined": "（已定义的有：{names}）",
    "hint.defines_none": "（{file} 里一个也没有定义）",
    "sop.duplicate_name": ("名为 {name} 的 SOP 已经在 {first} 定义过了；所有 SOP "
                           "文件里的名字都不能重复"),
    "sop.data_outside": "数据文件 {data} 必须放在 {folder} 里面",
    "sop.data_not_found": "找不到数据文件：{path}",
    "sop.data_has_errors": "{data} 有错误（已按它自己的行号列出）",
    "sop.unknown_robot": "没有叫 {name} 的群机器人{hint}",
    "sop.unknown_city": "{city} 没有门店（stores.yaml 里的城市：{cities}）",
    "sop.stores_cities_disjoint": "写的门店和城市对不上，没有一家门店同时符合",
    "sop.unknown_group_tag": "groups.yaml 里没有定义群标签 {tag}{hint}",
    'sop.time_format': '时间要写成 "08:30" 这样（现在是 {value}）',
    "sop.time_of_day": "{value} 不是一天里的时间：小时是 00-23，分钟是 00-59",
    "sop.days_empty": "days：至少写一天，或者写 daily（每天）",
    "sop.days_names": "days：要写星期几，如 mon、tue 或 周一（现在是 {value}）",
    "sop.unknown_day": "不认识的日子 {day}{hint}",
    "sop.day_twice": "{day} 写了两次",
    "sop.timezone_example": "（如 Asia/Shanghai）",
    "sop.unknown_timezone": "不认识的时区 {name}{hint}",
    # ---- channels check (bot/channels/) and replies check (bot/replies/cli.py)
    "channels.no_default": ("没有 default 渠道：请加一个，用来欢迎不属于任何渠道的客户（比如通过"
                            "手机号搜到店员的）"),
    "channels.default_match": "default 渠道不写 match；其他渠道都对不上的客户都归它",
    "channels.state_taken": "state {source} 已经被渠道 {owner} 用了",
    "channels.pattern_taken": "规则 {source} 已经被渠道 {owner} 用了",
    "channels.not_captured_by_all": "{{{name}}} 不是这个渠道每条 match 规则都能取到的",
    "channels.not_captured": "{{{name}}} 没有哪条规则能取到",
    'channels.store_id_format': '门店编号要写 4 位数字，如 "0012"',
    "channels.store_names_need_store": "用 store_* 要先在渠道里写 store:",
    "channels.use_capture": "请用 match 里取到的值，或以下之一：{names}",
    "channels.unknown_placeholder": "不认识的占位符 {{{name}}}（{hint}）",
    "channels.group_name_long": "标签组名 {group} 有 {length} 个字；企业微信最多允许 {limit} 个",
    "channels.tag_name_long": "标签名 {tag} 最长可能有 {length} 个字；企业微信最多允许 {limit} 个",
    "channels.and": "和",
    "channels.none_is": "（这个渠道没有 {names}）",
    "channels.none_are": "（这个渠道没有 {names}）",
    "replies.ok_categories": "{path}：正常，{count} 个分类",
    "replies.ok_replies": "{path}：正常，{count} 条话术",
    "replies.no_stores": "注意：找不到 stores.yaml，话术是在没有示例门店的情况下检查的",
    # ---- replies library (bot/replies/library.py)
    "replies.no_store_guard": "（这位客户没有门店：请用 {{% if store %}} 包起来）",
    # ---- codes check / sync (bot/codes/cli.py)
    "codes.ok": ("codes.yaml：正常，{contacts} 个联系我二维码，{welcomes} 条入群欢迎语；"
                 "入群码在同步时按机器人已知的群来规划"),
    "codes.nothing_changed": "企业微信里什么都没有改：",
    "codes.notify": "  通知      {count} 位店长去关联「{channel}」",
    "codes.note": "  注意：{note}",
    "codes.orphans_pruned": "已删除（--prune）",
    "codes.orphans_listed": "只列出；加 --prune 才会删除",
    "codes.plan": ("计划：新建 {create}，更新 {update}，不变 {unchanged}，多余 "
                   "{orphan}（{orphans}）"),
    "codes.calls": "企业微信接口调用：{count} 次",
    "codes.calls_detail": "企业微信接口调用：{count} 次（{detail}）",
    "codes.done": "用时 {seconds} 秒完成：{done}",
    "codes.nothing": "无",
    "codes.recovered": "  在企业微信里找到了没记录的码（上次中断时建的）：{key}",
    "codes.recreated": "  已重新生成（企业微信里被删了）：{key}；请重新打印它的台卡",
    "codes.failed": "  失败：{line}",
    "codes.some_failed": "有些步骤失败了：请再运行一次 `codes sync`，会从中断的地方接着做",
    # ---- members check/preview (bot/members/cli.py), journeys check/preview (bot/journeys/cli.py)
    "members.ok_rules": ("{path}：正常，{levels} 个等级（{level_names}），{stages} "
                         "个阶段（{stage_names}）"),
    "members.ok_forms": "{path}：正常，{count} 份问卷（{names}）",
    "members.levels": "等级",
    "members.stages": "阶段",
    "members.moves": "{title}：{move} 位会员有变动，{stay} 位不变",
    "members.none_yet": "（还没有）",
    "members.file_not_found": "{path}：找不到这个文件",
    "members.recomputed": "重新计算用时 {seconds} 秒；{count} 位会员等待同步标签",
    "journeys.disabled": "（已停用）",
    "journeys.summary": ("{where}：{name}{state}：{title} · 入口 {entry} · {steps} 步，共 {days} "
                         "天 · {via}"),
    "journeys.personal_note": ("  注意：{step} 里写了客户的名字或带了客户自己的问卷链接，"
                               "每位客户单独一条群发，都要店员确认"),
    "journeys.ok": "正常：{count} 条客户旅程；优先顺序：{precedence}",
    "journeys.no_database": "数据库还不存在：还什么都没有发生",
    "journeys.database_unreadable": "{url} 读不了（{kind}）",
    # ---- SOP rendering (bot/sop/book.py, bot/sop/attachments.py)
    "sop.text_too_long": ("内容（{what}）有 {size} 字节，企业微信群发文字最多 {limit} "
                          "字节（一个汉字占 "
                          "3 字节）"),
    "sop.robot_too_long": ("内容（{what}）有 {size} 字节，企业微信群机器人的 {what} 最多 {limit} "
                           "字节（一个汉字占 3 字节）"),
    "sop.empty_message": "生成的消息是空的",
    "sop.each_not_a_list": "{each} 应该是一个列表（如 data.items），实际是 {found}",
    # ---- reading YAML (bot/books/yamlfile.py)
    "yaml.file_not_found": "找不到这个文件",
    "yaml.not_utf8": "不是 UTF-8 文本；请把文件另存为 UTF-8",
    "yaml.error": "YAML 错误：{detail}",
    "yaml.not_a_date": "{value} 不是有效的日期（{detail}）；日期请写成 YYYY-MM-DD",
    "yaml.unreadable_value": "有一个值读不出来：{detail}",
    "yaml.duplicate_key": "键 {key} 重复了；同一个键只能写一次",
    "yaml.duplicate_key_at": "键 {key} 重复了（这一组从第 {line} 行开始）；同一个键只能写一次",
    "yaml.syntax": "YAML 格式错误：{detail}",
    "yaml.cannot_parse": "无法解析",
    "yaml.syntax_context": "（{context}）",
    "yaml.syntax_context_at": "（{context}，第 {line} 行）",
    "yaml.tabs": "；缩进请用空格，不要用 Tab",
    "yaml.tag": "不支持的 YAML 标签 {tag}",
    # ---- robots.yaml (bot/sop/robots.py)
    "robots.key_unset": ("当前环境里没有设置 {env}；设置好机器人的 webhook key 之前，"
                         "通过它发的消息都会失败"),
    # ---- sop report (bot/outbox/report.py, bot/moments/records.py)
    'report.no_database': '{path} 不存在：还什么都没发过',
    'report.unreadable': '读不了 {url}（{error}）',
    'report.heading': 'SOP 发送报告 · {day}（北京时间）',
    'report.status': '{status} {count} 个',
    'report.group_send': '{count} 个群：{parts}',
    'report.reminders_open': '，{count} 条提醒还没确认',
    'report.owner_post': (
        '群主发：应发 {groups} 个群，已发 {posted} 个，还差 {due} 个；已提醒'
        ' {reminded}/{owners} 位群主{open}'
    ),
    'report.moment_failed': '，失败 {count} 个',
    'report.moment_unposted': '，{count} 人最终没发表',
    'report.moment': (
        '朋友圈：任务 {tasks} 个{failed}；员工 {staff} 人，已发表 {posted} 人，还差 {due}'
        ' 人{late}；提醒 {reminders} 次'
    ),
    'report.nothing': '这一天没有发到群的 SOP',
    # ---- SOP, robots and groups files (bot/sop/spec.py)
    'spec.duration_bool': '这里要写时长，如 "15m" 或 "1h"',
    'spec.duration': '这里要写时长，如 "15m"、"1h" 或 "1h30m"（实际是 {found}）',
    'spec.grace_zero': 'grace 要大于 0（如 "10m"）',
    'spec.grace_long': 'grace 最多 12h：晚了这么久的消息已经没有意义了',
    'spec.bad_name': (
        "名称 '{name}'：只能用字母 a-z、A-Z、数字、'-' 和 '_'（最多 64 个字符），如"
        ' morning-new-arrivals'
    ),
    'spec.date_with_time': '这里要写日期，如 2026-12-25，不要带时间（实际是 {found}）',
    'spec.date': '这里要写日期，如 2026-12-25（实际是 {found}）',
    'spec.days': 'days：可以写 daily、weekdays、weekends，或列表如 [mon, thu]',
    'spec.which_groups': (
        '请写明发给哪些群：stores: all、stores: ["0012"]、cities: [上海] 或 tags:'
        ' [宝妈]（可以组合，写了的条件都要满足）'
    ),
    'spec.to_one': 'to 下面只能写 groups: 或 members: 其中一个',
    'spec.via': (
        'via：可以写 group_send、owner_post、moment 或'
        ' {{robot: <robots.yaml 里的名称>}}（实际是 {found}）'
    ),
    'spec.via_one': 'via：机器人、owner_post、moment 只能选一个',
    'spec.attachment_one': '每个附件只能是 link:、image:、miniprogram:、video: 其中一种',
    'spec.attachment_found': '（实际写了 {found}）',
    'spec.time_twice': '时间 {time} 写了两遍',
    'spec.at_and_cron': 'at:（加 days:）和 cron: 只写一个；两个都写会互相矛盾',
    'spec.say_when': '请写明什么时候发：at: "08:30"（加 days:），或 cron: "30 8 * * *"',
    'spec.days_with_cron': 'days: 要和 at: 一起用；用 cron: 时请把星期写在 cron 里',
    'spec.key_env': (
        'key_env 写的是环境变量名（如 WECOM_ROBOT_MANAGERS），实际是 {found}；不要把 webhook'
        ' key 本身写进这个文件'
    ),
    'spec.markdown_all': (
        'markdown 格式的机器人消息不能 @all（企业微信 markdown 只支持 <@userid>）；请改用'
        ' format: text，或者列出 userid'
    ),
    'spec.all_and_more': 'mention: "@all" 已经包括所有人，不要再列别人',
    'spec.tag_rule': '群标签至少要写 name_contains、stores、owners、chats 其中一项',
    # ---- SOP data files (bot/sop/datafiles.py) and groups.yaml (bot/sop/group_tags.py)
    'data.not_mapping': '这里要写一组“键: 值”：default: 和各门店编号',
    'data.nothing': '既没有 default:，也没有任何门店',
    'data.number_key': (
        '键 {key}：门店编号是文字，请加上引号并保留前面的 0（如门店 00{key} 写 "00{key}"）'
    ),
    'data.bad_key': '键 {key}：这里只能写 default 或加了引号的门店编号',
    'data.unknown_key': '不认识的键 \'{key}\'：最外层只能写 default 和门店编号（如 "0012"）',
    'data.no_such_store': "门店 '{key}' 不在 stores.yaml 里",
    'data.entry_not_mapping': '{key}：这里要写一组“键: 值”',
    'groups.no_such_store': "tags.{tag}.stores：门店 '{store}' 不在 stores.yaml 里",
    # ---- sop preview (bot/sop/preview.py, bot/sop/preview_text.py)
    'preview.title': '果田鲜生 SOP 预览 · {day} {weekday}{member}',
    'preview.weekdays': '周一 周二 周三 周四 周五 周六 周日',
    'preview.member_day': '（会员日）',
    'preview.store_only': '只看门店 {store}',
    'preview.nothing': '这一天没有要发的 SOP。',
    'preview.not_sent': '不发：',
    'preview.per_group_part': '{count} 条 × {groups} 个群',
    'preview.per_group': '每个群今天收到的群发：{parts}',
    'preview.quota_note': (
        '（企业微信限制每个群每月收到的群发条数，超出的由 outbox 暂缓；见 docs/zh/sop.md）'
    ),
    'preview.failed': '{count} 条渲染失败（见上面的 ✗）',
    'preview.groups_database': '群来源：{count} 个群，来自数据库 {detail}',
    'preview.groups_nominal': (
        '群来源：每店一个示意群（stores.yaml 的 group_name，群主是店长），因为 {detail}'
    ),
    'preview.via.group_send': '群发 group_send',
    'preview.via.robot': '机器人 robot',
    'preview.via.owner_post': '群主发 owner_post',
    'preview.via.moment': '朋友圈 moment',
    'preview.audience_tagged': '带标签 {tags} 的顾客',
    'preview.audience_all': '全部顾客',
    'preview.moment_audience': '：门店员工发表，{who}可见',
    'preview.members': '：一对一发给带标签 {tags} 的顾客（{match}）',
    'preview.extent_groups': ' · {stores} 家店 · {groups} 个群',
    'preview.extent_stores': ' · {stores} 家店',
    'preview.per_store': ' · 按门店时间：{rule}',
    'preview.moment_posters': '员工 {who} 在「客户朋友圈」确认发表',
    'preview.owner_confirms': '群主 {who} 确认发送 {count} 个群：{names}',
    'preview.owner_posts': '群主 {who} 收到提醒后在侧边栏发到 {count} 个群：{names}',
    'preview.members_at_send': '顾客在发送时按标签从数据库里取',
    'preview.mention': '提醒：{names}',
    'preview.image': '图片 {source}{by_hand}',
    'preview.image_by_hand': '（群主按链接手动加图）',
    'preview.link': '链接《{title}》 {url}',
    'preview.video': '视频 {media}',
    'preview.miniprogram': '小程序《{title}》 {page}',
    'preview.dropped': '（另有 {count} 个附件超出 9 个的上限，不发）',
    'preview.no_group': '{time}：没有符合条件的群',
    'preview.no_group_tagged': '{time}：没有带群标签 {tags} 的群',
    'preview.no_data': '门店 {store}：{data} 里没有它的条目，也没有 default',
    # ---- sop preview: where the groups come from (bot/sop/cli.py)
    'preview.db_unreadable': '数据库读不了（{reason}）',
    'preview.no_groups_yet': '{url} 里还没有群',
    # ---- codes sync plan lines (bot/codes/plan.py, bot/codes/sync.py)
    'codes.action.create': '新建',
    'codes.action.update': '更新',
    'codes.action.orphan': '多余',
    'codes.action.unchanged': '不变',
    'codes.chain_wide': '全品牌',
    'codes.looked_up_first': '［上次运行中断时可能已经建好：先查一下］',
    'codes.step_failed': '{action} {key}：{error}',
    'codes.picture_failed': '{key} 的图片：{error}',
    # ---- members import: per-line messages (bot/members/importer.py, bot/members/purchases.py)
    'purchase.phone': 'phone：要写 11 位的大陆手机号',
    'purchase.phone_key': 'phone：填了手机号，但没有设置 {env}；手机号从不明文保存',
    'purchase.text': '{name}：这里要写文字',
    'purchase.amount_format': 'amount：要写以元为单位的金额，如 68.50，实际是 {found}',
    'purchase.amount_range': 'amount：{amount} 不是有效的消费金额（要大于 0、小于 1000 万元）',
    'purchase.at_missing': 'at：没有填时间',
    'purchase.at_format': 'at：要写时间，如 2026-12-01T18:30:00+08:00，实际是 {found}',
    'purchase.at_range': 'at：早于 2000 年，或者在未来',
    'purchase.order_id': 'order_id：没有填，或者超过 64 个字符',
    'purchase.member_code': 'member_code：只能是 1 到 32 个字母、数字、- 或 _',
    'purchase.store_id': 'store_id：超过 16 个字符',
    'purchase.unionid': 'unionid：超过 64 个字符',
    'till.unknown_store': '门店目录（stores.yaml）里没有门店 {store}',
    'import.more_bad': '……还有 {count} 行有问题',
    'import.summary': (
        '共 {rows} 行：新消费记录 {imported} 条，之前已导入 {already} 条，有问题 {bad} 行；'
        '{members} 位会员等待标签同步（用时 {seconds} 秒：读写 {load} 秒 = 每秒 {rate} 行，'
        '会员重算 {recompute} 秒）'
    ),
    'import.header_lacks': '表头缺少 {missing}（实际是：{found}）',
    'import.field_count': '这一行有 {count} 列，表头有 {width} 列',
    # ---- the purchases webhook (bot/members/purchases.py)
    'purchase.amount_number': 'amount：要写以元为单位的金额，如 68.50',
    # ---- sop check: the 群发 quota per group class (bot/sop/quota_check.py)
    'quota.over': (
        '群发额度 {period}：{klass}要收 {count} 条群发，企业微信每个群最多送达 {limit}'
        ' 条（group_send_quota = {rule}，{source}）；多出的由 outbox 暂缓。门店：'
        '{stores}。请把其中一条改为 via: owner_post，或者减少发送的天数'
    ),
    'quota.more_periods': ' …（共 {count} 个周期）',
    'quota.class_tags': '带标签 {tags} 的群',
    'quota.class_plain': '不带 {tags} 标签的群',
    'quota.class_all': '门店的群',
    # ---- how an SOP is sent (bot/sop/compile.py)
    'sop.robot_no_to': (
        '群机器人发到它自己所在的群（robots.yaml 的 chat:）；请去掉 to，或者改用 via:'
        ' group_send 发到客户群'
    ),
    'sop.robot_no_attachments': '群机器人只能发文字或 markdown；要带附件请用 via: group_send',
    'sop.missing_to': (
        "缺少必填的键 'to'：请写明发给哪些群或哪些顾客，如 to: {{groups: {{stores: all}}}}"
    ),
    'sop.owner_post_members': (
        'via: owner_post 是由每个群的群主发到自己的客户群：请写 to: {{groups: ...}}，'
        '发给顾客个人请用 via: group_send'
    ),
    # ---- links and pictures (bot/wecom/content.py)
    'content.https': '必须是 https:// 开头的地址',
    # ---- sop check: dated data and opening hours (bot/sop/dated.py, bot/sop/hours_check.py)
    'dated.stale': (
        '{where}：{file} 写的日期是 {dated}，但 {sop} 下次发它是 {slot}（门店 {stores}）：'
        '请在那之前更新 date: 和商品'
    ),
    'dated.early': (
        '{where}：{file} 写的日期是 {dated}，但 {sop} 更早就会发它，在 {slot}（门店 {stores}）'
        '：那天的群会收到别的日子的货'
    ),
    'hours.outside': (
        '{where}：sops.{sop}：{time} 不在门店 {stores} 的营业时间内；'
        '群主发要由店长在店里发。请改用门店时间，如 "store.closes - 30m" 或 "store.opens +'
        ' 1h"（docs/zh/sop.md，按门店的时间）'
    ),
    # ---- per-store times (bot/sop/store_times.py, bot/sop/compile.py)
    'times.has_no': '没有 {path}',
    'times.not_a_time': '的 {path} 是 {found}，不是 "17:00" 这样的时间',
    'times.next_day': '{time} {offset} 已经不在同一天了',
    'times.expected': (
        '这里要写时间，如 "08:30"、"store.closes - 30m" 或 "data.window.start - 20m"（实际是'
        ' {found}）'
    ),
    'times.store_fields': '{text}：stores.yaml 给每家店的时间只有 store.opens 和 store.closes',
    'times.needs_data': '{text}：data.… 指的是这个 SOP 的数据文件；请加上 data:',
    'times.store_missing': '门店 {store} {why}（{where}）',
    'times.more': '；还有 {count} 家',
    'times.sep': '；',
    'times.not_every_store': '不是每家门店都有这个时间：{stores}',
    'times.needs_stores': (
        '门店自己的时间（store.…、data.…）要配 to: groups 或 members；群机器人只发一次，'
        '不属于哪家门店'
    ),
    'times.no_store': '用了门店自己的时间，但这个 SOP 一家门店都发不到',
    'sop.video_moment_only': '视频只能通过 via: moment（客户朋友圈）发',
    # what one group got from a slot (outbox_delivery.status), as `sop report` names it
    'delivery.queued': '排队中',
    'delivery.held_quota': '配额用尽未发',
    'delivery.submitted': '已交给企业微信',
    'delivery.sent': '已送达',
    'delivery.quota_exceeded': '超出配额',
    'delivery.failed': '失败',
    'delivery.unsent': '群主未发',
    'delivery.uncertain': '结果不明',
    'delivery.cancelled': '已取消',
}
