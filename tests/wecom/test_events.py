import pytest

from bot.wecom import events
from bot.wecom.events import MalformedEvent, parse_event


def xml(**fields: str) -> str:
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return f"<xml>{body}</xml>"


def contact(change: str, **extra: str) -> str:
    return xml(ToUserName="wwcorp", FromUserName="sys", CreateTime="1700000000",
               MsgType="event", Event="change_external_contact", ChangeType=change,
               UserID="zhangsan", ExternalUserID="wmCUSTOMER1", **extra)


@pytest.mark.parametrize(("change", "cls"), [
    ("add_external_contact", events.ContactAdded),
    ("add_half_external_contact", events.ContactHalfAdded),
    ("edit_external_contact", events.ContactEdited),
    ("del_external_contact", events.ContactDeletedByStaff),
    ("del_follow_user", events.ContactDeletedByCustomer),
    ("transfer_fail", events.ContactTransferFailed),
    ("msg_audit_approved", events.ContactMsgAuditApproved),
])
def test_every_contact_change_type_has_its_class(change, cls):
    event = parse_event(contact(change))
    assert type(event) is cls
    assert event.external_user_id == "wmCUSTOMER1"
    assert event.lane == "contact:wmCUSTOMER1"


def test_add_contact_carries_state_and_welcome_code():
    event = parse_event(contact("add_external_contact", State="store-0012-counter",
                                WelcomeCode="WELCOME1"))
    assert isinstance(event, events.ContactAdded)
    assert (event.state, event.welcome_code) == ("store-0012-counter", "WELCOME1")


def test_deletion_source_and_transfer_reason():
    assert parse_event(contact("del_external_contact", Source="DELETE_BY_TRANSFER")).source == \
        "DELETE_BY_TRANSFER"
    assert parse_event(contact("transfer_fail", FailReason="customer_refused")).fail_reason == \
        "customer_refused"


MEMBER_UPDATE = (
    "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
    "<CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[CHAT_ID]]></ChatId>"
    "<ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[add_member]]></UpdateDetail>"
    "<JoinScene>1</JoinScene><QuitScene>0</QuitScene><MemChangeCnt>10</MemChangeCnt>"
    "<MemChangeList>{items}</MemChangeList>"
    "<LastMemVer>9c3f97c2ada667dfb5f6d03308d963e1</LastMemVer>"
    "<CurMemVer>71217227bbd112ecfe3a49c482195cb4</CurMemVer></xml>"
)


@pytest.mark.parametrize(("items", "expected"), [
    ("<Item>Jack</Item><Item>Rose</Item>", ("Jack", "Rose")),
    ("<Item>Jack</Item>", ("Jack",)),
    ("<![CDATA[Jack,Rose]]>", ("Jack", "Rose")),  # WxJava's sample shape
    ("", ()),
])
def test_mem_change_list_in_all_its_shapes(items, expected):
    event = parse_event(MEMBER_UPDATE.format(items=items))
    assert isinstance(event, events.ChatUpdated)
    assert event.members == expected
    assert (event.update_detail, event.join_scene, event.mem_change_cnt) == ("add_member", 1, 10)
    assert event.cur_mem_ver == "71217227bbd112ecfe3a49c482195cb4"


@pytest.mark.parametrize(("change", "cls"), [
    ("create", events.ChatCreated), ("dismiss", events.ChatDismissed),
])
def test_chat_create_and_dismiss(change, cls):
    event = parse_event(xml(ToUserName="c", CreateTime="1", MsgType="event",
                            Event="change_external_chat", ChatId="wrCHAT", ChangeType=change))
    assert type(event) is cls and event.chat_id == "wrCHAT"


@pytest.mark.parametrize("change", ["create", "update", "delete", "shuffle"])
def test_tag_changes(change):
    event = parse_event(xml(ToUserName="c", CreateTime="1", MsgType="event",
                            Event="change_external_tag", Id="etTAG", TagType="tag",
                            ChangeType=change, StrategyId="1"))
    assert isinstance(event, events.TagChanged)
    assert (event.change_type, event.tag_id, event.strategy_id) == (change, "etTAG", "1")


def test_app_text_and_enter_agent():
    text = parse_event(xml(ToUserName="c", FromUserName="lisi", CreateTime="1", MsgType="text",
                           Content="话术 痘痘", MsgId="4561255354251345929", AgentID="1000002"))
    assert isinstance(text, events.TextMessage)
    assert (text.content, text.agent_id, text.dedupe_key) == (
        "话术 痘痘", 1000002, "app.text:4561255354251345929")
    enter = parse_event(xml(ToUserName="c", FromUserName="lisi", CreateTime="1", MsgType="event",
                            Event="enter_agent", EventKey="", AgentID="1"))
    assert isinstance(enter, events.EnterAgent) and enter.from_user == "lisi"


def test_unknown_type_is_kept_not_refused():
    event = parse_event(xml(ToUserName="c", CreateTime="5", MsgType="event",
                            Event="kf_msg_or_event"))
    assert isinstance(event, events.UnknownEvent)
    assert event.fields["Event"] == "kf_msg_or_event"


def test_dedupe_key_tells_events_apart_and_matches_redeliveries():
    a = parse_event(contact("add_external_contact", State="s", WelcomeCode="W1"))
    again = parse_event(contact("add_external_contact", State="s", WelcomeCode="W1"))
    other_customer = parse_event(contact("add_external_contact", State="s", WelcomeCode="W2")
                                 .replace("wmCUSTOMER1", "wmCUSTOMER2"))
    edited = parse_event(contact("edit_external_contact"))
    assert a.dedupe_key == again.dedupe_key
    assert len({a.dedupe_key, other_customer.dedupe_key, edited.dedupe_key}) == 3


def test_tag_burst_from_sys_does_not_collide():
    # WxJava#2314: FromUserName+CreateTime dedupe dropped all but one tag of a burst.
    keys = {parse_event(xml(ToUserName="c", FromUserName="sys", CreateTime="7", MsgType="event",
                            Event="change_external_tag", Id=f"et{i}", TagType="tag",
                            ChangeType="create")).dedupe_key for i in range(20)}
    assert len(keys) == 20


@pytest.mark.parametrize(("document", "reason"), [
    ("<xml><unclosed></xml>", "invalid XML"),
    ("<notxml/>", "missing <xml>"),
    (contact("add_external_contact").replace("<UserID><![CDATA[zhangsan]]></UserID>", ""),
     "missing UserID"),
    (contact("add_external_contact").replace("1700000000", "soon"), "CreateTime"),
    (xml(ToUserName="c", CreateTime="1", MsgType="event", Event="change_external_chat",
         ChangeType="create"), "missing ChatId"),
])
def test_malformed_events_say_why(document, reason):
    with pytest.raises(MalformedEvent, match=reason):
        parse_event(document)


def test_entities_are_not_expanded():
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            "<xml><ToUserName>&b;</ToUserName><CreateTime>1</CreateTime></xml>")
    with pytest.raises(MalformedEvent):
        parse_event(bomb)
