"""Callbacks as other SDKs' test suites feed them to their parsers (tests/wecom/samples/):
every one is acknowledged with 200 and recorded, typed where the bot has a class for it and
`unknown` otherwise. Before issue 18, the seven with child elements (ExtAttr, BatchJob,
ApprovalInfo, SendPicsInfo) were answered 400, so WeCom would have redelivered and dropped
them."""

from __future__ import annotations

import re
from pathlib import Path

from bot.wecom.events import UnknownEvent, parse_event
from tests.conftest import World

SAMPLES = Path(__file__).parent / "samples"
FILES = sorted(SAMPLES.glob("*.xml"))
# the samples the bot has a class for; every other one is recorded as "unknown"
TYPED = {
    "goworkwx_event_change_external_contact_edit_external_contact.xml": "contact.edited",
    "goworkwx_text.xml": "app.text",
    "wechatpy_text.xml": "app.text",
    "wxjava_event_change_external_contact_add_external_contact.xml": "contact.added",
    "wxjava_event_change_external_contact_del_external_contact.xml": "contact.deleted_by_staff",
    "wxjava_event_change_external_contact_msg_audit_approved.xml":
        "contact.msg_audit_approved",
    "wxjava_event_enter_agent.xml": "app.enter_agent",
    "wxjava_text.xml": "app.text",
    "wxjava_text_2.xml": "app.text",
    "wxjava_text_subscribe.xml": "app.text",
}


def sample(path: Path, corp_id: str) -> str:
    return re.sub(r"wwSAMPLECORP", corp_id, path.read_text(encoding="utf-8"))


def test_there_are_about_fifty_samples_from_three_sdks():
    assert len(FILES) >= 50
    assert {p.name.split("_")[0] for p in FILES} == {"goworkwx", "wechatpy", "wxjava"}
    assert set(TYPED) <= {p.name for p in FILES}


def test_every_sample_parses_into_its_class_or_unknown():
    for path in FILES:
        event = parse_event(sample(path, "ww1"))
        assert event.kind == TYPED.get(path.name, UnknownEvent.kind), path.name
        assert event.create_time > 0, path.name
        assert event.fields["ToUserName"] == "ww1"


def test_nested_elements_are_kept_whole():
    fields = parse_event(sample(SAMPLES / "wechatpy_event_batch_job_result.xml", "ww1")).fields
    assert dict(fields["BatchJob"])["JobType"] == "export_user"
    approval = dict(parse_event(sample(SAMPLES / "wxjava_event_open_approval_change.xml", "ww1"))
                    .fields["ApprovalInfo"])
    assert approval["OpenSpName"] == "付款"
    [[_, node]] = approval["ApprovalNodes"]
    assert dict(dict(node)["Items"][0][1])["ItemName"] == "xiaohong"


async def test_every_sample_is_acknowledged_and_recorded_through_the_endpoint(world: World):
    corp = world.secrets.corp_id
    statuses = {path.name: (await world.post_callback(sample(path, corp))).status
                for path in FILES}
    assert {name for name, status in statuses.items() if status != 200} == set()
    kinds = [kind for (kind,) in world.rows("SELECT kind FROM inbox_event ORDER BY id")]
    assert len(kinds) == len(FILES)  # each recorded once: no two samples share a dedupe key
    expected = sorted(TYPED.get(p.name, UnknownEvent.kind) for p in FILES)
    assert sorted(kinds) == expected
