"""externalcontact/remark: a staff member's remark and description of one customer.

WeCom (doc 92115, 修改客户备注信息): `userid` and `external_userid` required; `remark` ≤ 20
characters, `description` ≤ 150, `remark_company` ≤ 20 (WeChat customers only),
`remark_mobiles` (a list; an empty list clears them), `remark_pic_mediaid`. A field left out
is left as it is; an empty string clears it. Operations through the API raise no
edit_external_contact callback (reference §1.3).
"""

from __future__ import annotations

from typing import Any

from bot.wecom.client import WeComClient

__all__ = ["DESCRIPTION_MAX", "REMARK_MAX", "update_remark"]
REMARK_MAX = 20
DESCRIPTION_MAX = 150


async def update_remark(client: WeComClient, userid: str, external_userid: str, *,
                        remark: str | None = None, description: str | None = None) -> None:
    """Change only the fields given (None: leave it as staff wrote it)."""
    body: dict[str, Any] = {"userid": userid, "external_userid": external_userid}
    if remark is not None:
        body["remark"] = remark
    if description is not None:
        body["description"] = description
    await client.call("externalcontact/remark", body)
