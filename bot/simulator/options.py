"""SimOptions: every knob of the simulated WeCom. The defaults are real WeCom's numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .faults import FaultPlan

QuotaMode = Literal["month", "week7", "day1"]
# add_corp_tag with a tag name its group already has: 40071, or the existing tag in the
# answer. The docs do not settle it (docs/conformance.md); the bot must cope with both.
TagExistsMode = Literal["error", "existing"]


@dataclass
class SimOptions:
    """Read at use time, so tests may change a value on a running simulator."""

    token_ttl_s: float = 7200  # gettoken expires_in (doc 91039)
    welcome_code_ttl_s: float = 20.0  # WelcomeCode life after the add event (41050 after)
    per_api_per_minute: int = 10_000  # per corp per API (doc 90454); 45009 past it
    rate_window_s: float = 60.0  # the "minute" above; shrink it in tests
    app_msg_per_member: int = 30  # message/send: per recipient per rate window, rest dropped
    max_corp_tags: int = 3000  # add_corp_tag past it -> 40126
    tag_name_exists: TagExistsMode = "error"
    callback_timeout_s: float = 5.0  # WeCom stops waiting for the callback answer after 5 s
    callback_retries: int = 3  # retries after the first attempt ("总共重试三次")
    callback_retry_interval_s: float = 1.0  # UNCONFIRMED in the docs; chosen
    callback_concurrency: int = 16  # callback POSTs in flight at once
    seed: int = 0  # ids, random faults and who confirms group sends are reproducible per seed
    # -- 群发 (add_msg_template and friends, see groupsend.py) --
    groupsend_dispatch_s: float = 0.0  # task/result/list_v2 answer 41063 this long after create
    groupsend_confirm_share: float = 1.0  # share of owners who ever confirm unprompted (0..1)
    groupsend_confirm_delay_s: float = 0.0  # an owner who confirms does so this long after
    groupsend_remind_confirm_share: float = 1.0  # chance a reminded, silent owner then confirms
    groupsend_remind_limit: int = 3  # remind_groupmsg_send per msgid per window; 41094 past it
    groupsend_remind_window_s: float = 86_400.0  # the "24 h" above
    groupsend_quota: QuotaMode = "month"  # per customer / group: days-in-month, 7/week, 1/day
    # -- group robots (webhook/send, see robots.py) --
    robot_per_minute: int = 20  # per robot per rate_window_s; 45009 past it, nothing delivered
    # -- 「联系我」 / 「加入群聊」 / 入群欢迎语 (see contact_ways.py) --
    max_ways: int = 500_000  # contact + join ways per corp, shared; 41045 past it
    max_group_welcome_templates: int = 100  # per corp; 41055 past it
    chat_member_limit: int = 500  # a customer group is full at this many members
    join_state_delay_s: float = 0.5  # groupchat/get shows a join's state this long after
    qr_image_base: str = "https://wework.qpic.cn/wwpic/sim/"  # qr_code URLs (served at /wwpic/)
    # -- 客户朋友圈 (see moments.py) --
    moment_tasks_per_minute: int = 10  # add_moment_task per corp per rate_window_s; 45009 past
    moment_job_polls: int = 1  # get_moment_task_result answers "running" this many times
    faults: FaultPlan = field(default_factory=FaultPlan)
