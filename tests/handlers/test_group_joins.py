"""Who invited whom into a customer group (issue 18, point 6): groupchat/get returns
`invitor` only for joins invited by a staff member, never for a QR-code join."""

from __future__ import annotations

from tests.conftest import World

MANAGER = "linxiaoyu"


async def test_invitor_is_recorded_for_invitations_and_empty_for_qr_joins(world: World):
    chat = world.sim.create_group(MANAGER, "果田鲜生·天钥桥路店福利群")
    await world.settle()
    invited, by_link, scanned = (world.sim.scan_contact_qr(MANAGER, "store-0012-counter", n)[0]
                                 for n in ("邀请", "链接", "扫码"))
    world.sim.join_group(chat, invited, "invite", invitor="zhoujianguo")
    world.sim.join_group(chat, by_link, "link", invitor=MANAGER)
    world.sim.join_group(chat, scanned, "qr")
    await world.settle()

    data = await world.api("externalcontact/groupchat/get", {"chat_id": chat})
    listed = {m["userid"]: m for m in data["group_chat"]["member_list"]}
    assert listed[invited]["invitor"] == {"userid": "zhoujianguo"}
    assert listed[by_link]["invitor"] == {"userid": MANAGER}
    assert "invitor" not in listed[scanned] and listed[scanned]["join_scene"] == 3
    rows = dict(world.rows("SELECT member_id, invitor FROM group_member_log "
                           "WHERE action = 'join' AND chat_id = ?", chat))
    assert (rows[invited], rows[by_link], rows[scanned]) == ("zhoujianguo", MANAGER, "")
