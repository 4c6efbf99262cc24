"""`POST /cgi-bin/externalcontact/remark`: a staff member's remark and description of a
customer, as WeCom keeps them per follow relation (follow_user[].remark / description).

Doc 92115 (修改客户备注信息): userid and external_userid required, and the customer must be
that member's (84061 otherwise); remark ≤ 20 characters, description ≤ 150, remark_company
≤ 20; a field left out stays as it was, an empty string clears it. Nothing else given
(only the two ids) is an invalid parameter. Changes made through the API raise no callback.
"""

from __future__ import annotations

from typing import Any

from . import codes
from .api import ApiRequest, Handler
from .codes import ApiError
from .state import World

REMARK_MAX = 20
DESCRIPTION_MAX = 150
_FIELDS = ("remark", "description", "remark_company", "remark_mobiles", "remark_pic_mediaid")


class Remarks:
    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> dict[str, tuple[str, Handler]]:
        return {"externalcontact/remark": ("POST", self.remark)}

    def remark(self, req: ApiRequest) -> dict[str, Any]:
        body = req.body
        userid, ext = body.get("userid"), body.get("external_userid")
        if not isinstance(userid, str) or userid not in self.world.staff:
            raise ApiError(codes.INVALID_USERID)
        if not isinstance(ext, str) or ext not in self.world.contacts:
            raise ApiError(codes.INVALID_EXTERNAL_USERID)
        follow = self.world.follows.get((userid, ext))
        if follow is None or follow.half:
            raise ApiError(codes.NO_RELATION)
        if not any(name in body for name in _FIELDS):
            raise ApiError(codes.INVALID_PARAM, "nothing to change")
        for name, limit in (("remark", REMARK_MAX), ("description", DESCRIPTION_MAX)):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                raise ApiError(codes.INVALID_PARAM, f"{name} must be text of at most "
                                                    f"{limit} characters")
        if isinstance(body.get("remark"), str):
            follow.remark = body["remark"]
        if isinstance(body.get("description"), str):
            follow.description = body["description"]
        return {}
