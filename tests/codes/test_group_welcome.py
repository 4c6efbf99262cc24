"""The group welcome (入群欢迎语) from sop/codes.yaml + Jinja: made and edited in WeCom by
`codes sync`, its id recorded, the stores' managers told once per change."""

from __future__ import annotations

from pathlib import Path

from tests.codes.support import operator_files, run_sync, store_groups
from tests.conftest import World

MANAGERS = ("linxiaoyu", "zhoujianguo", "chenmeng", "wangtingting", "liuyang", "sunli")


def notices(world: World, userid: str) -> list[str]:
    return [m.content for m in world.sim.app_messages_for(userid) if "入群欢迎语" in m.content]


async def test_group_welcome_is_made_then_edited_from_the_yaml(world: World, tmp_path: Path):
    settings = operator_files(tmp_path, world)
    await store_groups(world)
    code, out = await run_sync(world, settings)
    assert code == 0, out
    [(template_id,)] = world.rows("SELECT config_id FROM wecom_code WHERE kind = 'group_welcome'")
    template = world.sim.codes.templates[template_id]
    assert template.text.startswith("欢迎 @%NICKNAME% 加入福利群")
    assert "城市+社区+名字" in template.text and "每天14:40" in template.text
    assert "NEW5" in template.text and "http" not in template.text
    assert template.attachment["link"]["url"] == "https://m.guotian.example/first-order"
    assert all(len(notices(world, m)) == 1 for m in MANAGERS)

    page = tmp_path / "templates" / "group_welcome" / "store_group.j2"
    page.write_text(page.read_text().replace("限时秒杀", "限时秒杀和拼团"))
    code, out = await run_sync(world, settings)
    assert code == 0 and "0 create, 1 update" in out
    assert world.sim.codes.templates[template_id].edits == 1
    assert "限时秒杀和拼团" in world.sim.codes.templates[template_id].text
    assert all(len(notices(world, m)) == 2 for m in MANAGERS)

    code, out = await run_sync(world, settings)
    assert "0 create, 0 update" in out and all(len(notices(world, m)) == 2 for m in MANAGERS)


async def test_a_template_deleted_in_wecom_is_made_again(world: World, tmp_path: Path):
    settings = operator_files(tmp_path, world)
    await store_groups(world)
    await run_sync(world, settings)
    [(old,)] = world.rows("SELECT config_id FROM wecom_code WHERE kind = 'group_welcome'")
    await world.api("externalcontact/group_welcome_template/del", {"template_id": old})
    page = tmp_path / "templates" / "group_welcome" / "store_group.j2"
    page.write_text(page.read_text() + "\n周二水果日，群里会员价更低～\n")
    code, out = await run_sync(world, settings)
    assert code == 0 and "made again" in out
    [(new,)] = world.rows("SELECT config_id FROM wecom_code WHERE kind = 'group_welcome'")
    assert new != old and list(world.sim.codes.templates) == [new]
