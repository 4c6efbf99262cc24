"""The store directory written at start (bot.db.repo.sync_directory): only rows that
differ are written, and every difference is (a renamed store, a new store, a manager who
moved), so the tables say what stores.yaml says."""

from __future__ import annotations

from bot.db import repo
from tests.conftest import World


async def test_a_changed_directory_is_written_and_an_unchanged_one_stays(world: World) -> None:
    services = world.runtime.services
    assert services is not None
    stores, staff = services.stores.store_rows(), services.stores.staff_rows()
    before = sorted(world.rows("SELECT id, name, city, manager_userid FROM store"))
    assert before == sorted((r["id"], r["name"], r["city"], r["manager_userid"])
                            for r in stores)

    renamed = [{**row, "name": row["name"] + "（新址）"} if row["id"] == "0012" else row
               for row in stores]
    added = [*renamed, {"id": "0999", "name": "新开店", "city": "上海", "manager_userid": "m0999"}]
    moved = [{**row, "store_id": "0999"} if row["userid"] == stores[0]["manager_userid"]
             else row for row in staff]
    await services.db.write(lambda c: repo.sync_directory(c, added, moved))

    after = dict((r[0], r[1]) for r in world.rows("SELECT id, name FROM store"))
    assert after["0012"].endswith("（新址）")
    assert after["0999"] == "新开店"
    assert len(after) == len(stores) + 1
    mover = stores[0]["manager_userid"]
    assert world.rows("SELECT store_id FROM staff WHERE userid = ?", mover) == [("0999",)]
    await services.db.write(lambda c: repo.sync_directory(c, added, moved))  # nothing differs
    assert dict((r[0], r[1]) for r in world.rows("SELECT id, name FROM store")) == after
