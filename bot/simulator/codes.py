"""WeCom errcodes the simulator answers with (reference §5.1), and the error that carries one.

Handlers raise `ApiError`; the request pipeline turns it into WeCom's usual HTTP-200 JSON
`{"errcode": n, "errmsg": "..."}`. Codes not in the reference are marked "(sim)" below with
the public source they were taken from, so a reader can tell documented from chosen.
"""

from __future__ import annotations

OK = 0
SYSTEM_BUSY = -1
INVALID_SECRET = 40001
INVALID_USERID = 40003
INVALID_MEDIA_TYPE = 40004  # robot image neither JPG nor PNG
INVALID_MSGTYPE = 40008
INVALID_CORP_ID = 40013
INVALID_TOKEN = 40014
INVALID_USERID_LIST = 40031
CHAT_NOT_FOUND = 40050  # (sim) "chatid 不存在", doc 90455; used for unknown customer groups
INVALID_AGENT_ID = 40056
INVALID_PARAM = 40058
INVALID_TAG_ID = 40068
TAG_NAME_EXISTS = 40071
INVALID_TAG_NAME_LENGTH = 40072
INVALID_EXTERNAL_USERID = 40096
TOO_MANY_CORP_TAGS = 40126  # (sim) "企业标签个数达到上限，最多为3000个", doc 90455 (SDK copies)
MISSING_TOKEN = 41001
MISSING_CORP_ID = 41002
MISSING_SECRET = 41004
MSGID_MISSING = 41046
MSGID_INVALID = 41047
NOTHING_SENDABLE = 41048  # add_msg_template: every recipient in fail_list
WELCOME_CODE_MISSING = 41049
WELCOME_CODE_INVALID = 41050
WELCOME_ALREADY_SENT = 41051
GROUPSEND_DISPATCHING = 41063
TOO_MANY_ATTACHMENTS = 41064
INVALID_ATTACHMENT = 41065
GROUPSEND_CANCELLED = 41093  # "群发任务已取消", doc 90455 (not in the reference summary)
REMIND_LIMITED = 41094  # "群发提醒超过频率限制", doc 90455 (not in the reference summary)
TOKEN_EXPIRED = 42001
EMPTY_CONTENT = 44004  # "文本消息 content 参数为空", doc 90455
MEDIA_TOO_LARGE = 45001  # "多媒体文件大小超过限制", doc 90455; robot image over 2 MB
CONTENT_TOO_LONG = 45002
TOO_MANY_ARTICLES = 45008  # "图文消息的文章数量不能超过 8 条", doc 90455
FREQUENCY_LIMITED = 45009
CONCURRENCY_LIMITED = 45033
BAD_JSON = 47001  # (sim) "data format error", doc 90455
INVALID_CURSOR = 50100  # "分页查询的游标无效", doc 90455
ALL_RECIPIENTS_INVALID = 81013
TOO_MANY_USERS_WITHOUT_FILTER = 81017
NO_RELATION = 84061
ROBOT_INVALID = 93000  # webhook key unknown, or the robot was removed from the group
MD5_MISMATCH = 301019  # "文件的 md5 不合法", doc 90455; robot image md5 check
INVALID_UPLOAD_TYPE = 40005  # "不合法的type参数" (media/upload ?type=), doc 90313
INVALID_FILE_SIZE = 40006  # "不合法的文件大小": under 5 B, doc 90313
INVALID_MEDIA_ID = 40007  # "不合法的media_id参数": unknown or expired (3 days), doc 90313
EMPTY_MEDIA = 44001  # "多媒体文件为空": no `media` part in the upload, doc 90313
# 「联系我」 / 「加入群聊」 / 入群欢迎语 (wecom-more.md §1-2, LinkWeChat WeErrorCodeEnum)
MISSING_WAY_TYPE = 41037
MISSING_WAY_SCENE = 41038
INVALID_WAY_TYPE = 41039
INVALID_WAY_SCENE = 41040
TOO_MANY_WAY_USERS = 41041  # more than 100 staff on one contact way
INVALID_WAY_STYLE = 41042
MISSING_CONFIG_ID = 41043
INVALID_CONFIG_ID = 41044  # unknown, deleted, or created by another app
WAY_QUOTA_REACHED = 41045  # the corp's 500,000 contact + join ways
GROUP_WELCOME_LIMIT = 41055  # 100 group welcome templates per corp
GROUP_WELCOME_NO_PERMISSION = 41058  # a template another app created (or none such: sim)
# 客户朋友圈 (wecom-more.md §3, LinkWeChat WeErrorCodeEnum)
MISSING_MOMENT_ID = 41059
INVALID_MOMENT_ID = 41060
MOMENT_NOT_PUBLISHED_BY_USER = 41061  # the userid has no task in this moment

MESSAGES: dict[int, str] = {
    OK: "ok",
    SYSTEM_BUSY: "system busy",
    INVALID_SECRET: "invalid credential",
    INVALID_USERID: "invalid userid",
    INVALID_MEDIA_TYPE: "invalid media type",
    INVALID_MSGTYPE: "invalid message type",
    INVALID_CORP_ID: "invalid corpid",
    INVALID_TOKEN: "invalid access_token",
    INVALID_USERID_LIST: "invalid userid list",
    CHAT_NOT_FOUND: "invalid chatid",
    INVALID_AGENT_ID: "invalid agentid",
    INVALID_PARAM: "invalid parameter",
    INVALID_TAG_ID: "invalid tagid",
    TAG_NAME_EXISTS: "invalid tag name: already exists",
    INVALID_TAG_NAME_LENGTH: "invalid tag name length",
    INVALID_EXTERNAL_USERID: "invalid external userid",
    TOO_MANY_CORP_TAGS: "corp tag count reaches the limit of 3000",
    MISSING_TOKEN: "access_token missing",
    MISSING_CORP_ID: "corpid missing",
    MISSING_SECRET: "corpsecret missing",
    MSGID_MISSING: "msgid missing",
    MSGID_INVALID: "invalid msgid",
    NOTHING_SENDABLE: "no customer or group to send to",
    WELCOME_CODE_MISSING: "welcome_code missing",
    WELCOME_CODE_INVALID: "invalid welcome_code",
    WELCOME_ALREADY_SENT: "welcome message already sent or customer is chatting",
    GROUPSEND_DISPATCHING: "group message is being dispatched, try again later",
    TOO_MANY_ATTACHMENTS: "too many attachments",
    INVALID_ATTACHMENT: "invalid attachments",
    GROUPSEND_CANCELLED: "group message task has been cancelled",
    REMIND_LIMITED: "remind frequency out of limit",
    TOKEN_EXPIRED: "access_token expired",
    EMPTY_CONTENT: "empty content",
    MEDIA_TOO_LARGE: "media size out of limit",
    CONTENT_TOO_LONG: "content size out of limit",
    TOO_MANY_ARTICLES: "article count out of limit",
    FREQUENCY_LIMITED: "api freq out of limit",
    CONCURRENCY_LIMITED: "api concurrent out of limit",
    BAD_JSON: "data format error",
    INVALID_CURSOR: "invalid cursor",
    ALL_RECIPIENTS_INVALID: "all touser/toparty/totag invalid",
    TOO_MANY_USERS_WITHOUT_FILTER: "owner_filter required: too many visible users",
    NO_RELATION: "no privilege to access/modify contact/party/agent: no external contact relation",
    ROBOT_INVALID: "invalid webhook url, or the robot was removed from the group",
    MD5_MISMATCH: "media md5 not match",
    INVALID_UPLOAD_TYPE: "invalid media type parameter",
    INVALID_FILE_SIZE: "invalid file size",
    INVALID_MEDIA_ID: "invalid media_id",
    EMPTY_MEDIA: "empty media data",
    MISSING_WAY_TYPE: "missing type",
    MISSING_WAY_SCENE: "missing scene",
    INVALID_WAY_TYPE: "invalid type",
    INVALID_WAY_SCENE: "invalid scene",
    TOO_MANY_WAY_USERS: "too many users in contact way",
    INVALID_WAY_STYLE: "invalid style",
    MISSING_CONFIG_ID: "missing config_id",
    INVALID_CONFIG_ID: "invalid config_id",
    WAY_QUOTA_REACHED: "contact way count reaches the limit",
    GROUP_WELCOME_LIMIT: "group welcome template count reaches the limit",
    GROUP_WELCOME_NO_PERMISSION: "no permission to edit this group welcome template",
    MISSING_MOMENT_ID: "missing moment_id",
    INVALID_MOMENT_ID: "invalid moment_id",
    MOMENT_NOT_PUBLISHED_BY_USER: "moment not published by this userid",
}


def errmsg(code: int, detail: str = "") -> str:
    """WeCom-style errmsg: a short English text plus a hint (the real one carries a request id)."""
    text = MESSAGES.get(code, "error")
    if code == OK:
        return text
    return f"{text}{': ' + detail if detail else ''}, hint: [sim-{code}]"


class ApiError(Exception):
    """A WeCom API failure: the pipeline answers HTTP 200 with this errcode and errmsg."""

    def __init__(self, errcode: int, detail: str = "", **extra: object) -> None:
        super().__init__(f"errcode {errcode}: {detail}")
        self.errcode = errcode
        self.detail = detail
        self.extra = extra  # fields WeCom returns next to the error (e.g. invaliduser)

    def body(self) -> dict[str, object]:
        return {"errcode": self.errcode, "errmsg": errmsg(self.errcode, self.detail), **self.extra}
