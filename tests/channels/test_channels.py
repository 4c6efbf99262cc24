"""Channels: state matching, welcome rendering, and operator-file errors with file:line.

The happy-path tests use the real files in sop/ and templates/, so a broken demo file fails
here. Error tests write small bad files into tmp_path and check both the reason and the exact
line:column an operator's editor would jump to.
"""

from __future__ import annotations

import json
import logging
import textwrap
from datetime import date
from pathlib import Path

import pytest

from bot.books import yamlfile
from bot.books.stores import StoreDirectory
from bot.books.templating import (
    TemplateLibrary,
    TemplateLoadError,
    TemplateRenderError,
    TemplateSecurityError,
)
from bot.books.yamlfile import OperatorFileError, OperatorFileErrors, load_yaml
from bot.channels import (
    MAX_TEXT_BYTES,
    ChannelBook,
    ChannelMatch,
    Tag,
    WelcomeError,
    compile_pattern,
)
from tests.conftest import REPO

TUESDAY = date(2025, 3, 4)
THURSDAY = date(2025, 3, 6)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def stores() -> StoreDirectory:
    return StoreDirectory.load(REPO / "sop" / "stores.yaml")


@pytest.fixture(scope="module")
def book(stores: StoreDirectory) -> ChannelBook:
    templates = TemplateLibrary(REPO / "templates")
    return ChannelBook.load(REPO / "sop" / "channels.yaml", templates, stores)


@pytest.fixture
def tmp_templates(tmp_path: Path) -> Path:
    """A template folder with one good template, for channel files written by the tests."""
    root = tmp_path / "templates"
    (root / "welcome").mkdir(parents=True)
    (root / "welcome" / "hello.j2").write_text(
        "{{ customer.name }}，你好！{% if store %}这里是{{ store.name }}。{% endif %}\n",
        encoding="utf-8",
    )
    return root


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load_book(tmp_path: Path, text: str, templates: Path, stores: StoreDirectory) -> ChannelBook:
    path = write(tmp_path, "channels.yaml", text)
    return ChannelBook.load(path, TemplateLibrary(templates), stores)


def problems(tmp_path: Path, text: str, templates: Path, stores: StoreDirectory) -> list[str]:
    """The error lines a bad channel file produces; fails the test if it loads."""
    with pytest.raises(OperatorFileErrors) as caught:  # one type, whatever went wrong
        load_book(tmp_path, text, templates, stores)
    return [str(e) for e in caught.value.errors]


def only(lines: list[str]) -> str:
    assert len(lines) == 1, lines
    return lines[0]


# --------------------------------------------------------------------------- matching


def test_exact_state_matches_its_channel(book: ChannelBook) -> None:
    found = book.match("tuesday-fruit-day")
    assert found.channel == "tuesday-fruit-day"
    assert found.name == "tuesday-fruit-day"
    assert found.store is None
    assert dict(found.captures) == {}
    assert not found.is_default
    assert Tag("活动", "周二水果日") in found.tags


def test_pattern_captures_the_store_into_store_and_tags(book: ChannelBook) -> None:
    found = book.match("store-0012-counter")
    assert found.channel == "store-counter"
    assert dict(found.captures) == {"store": "0012"}
    assert found.store is not None and found.store.name == "天钥桥路店"
    assert found.tags == (Tag("渠道", "门店收银台"), Tag("门店", "天钥桥路店"), Tag("城市", "上海"))
    assert found.perk is not None and found.perk.code == "JOIN5"


def test_takeout_card_with_and_without_store(book: ChannelBook) -> None:
    with_store = book.match("takeout-0107")
    assert with_store.channel == "takeout-store"
    assert with_store.store is not None and with_store.store.city == "杭州"
    generic = book.match("takeout-card")
    assert generic.channel == "takeout-card"
    assert generic.store is None
    assert generic.tags == (Tag("渠道", "外卖卡片"),)


@pytest.mark.parametrize("state", ["", None, "no-such-channel", "store-12-counter-x"])
def test_unknown_or_missing_state_gets_the_default(book: ChannelBook, state: str | None) -> None:
    found = book.match(state)
    assert found.channel == "default"
    assert found.is_default
    assert found.tags == (Tag("渠道", "未知渠道"),)
    assert found.state == (state or "")


def test_unknown_store_falls_through_to_the_next_channel(
    book: ChannelBook, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.channels"):
        found = book.match("store-9999-counter")
    assert found.channel == "default"
    assert "9999" in caplog.text


def test_exact_wins_over_an_earlier_pattern_and_patterns_keep_file_order(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    book = load_book(
        tmp_path,
        """
        channels:
          promo-any:
            match: "promo-{code}"
            tags: {活动: ["{code}"]}
            template: welcome/hello.j2
          promo-later:
            match: "promo-*"
            template: welcome/hello.j2
          promo-vip:
            match: promo-vip
            template: welcome/hello.j2
          default:
            template: welcome/hello.j2
        """,
        tmp_templates,
        stores,
    )
    assert book.match("promo-vip").channel == "promo-vip"  # exact, though listed last
    first = book.match("promo-spring")
    assert first.channel == "promo-any"  # the first pattern in file order wins
    assert first.tags == (Tag("活动", "spring"),)
    assert book.match("promo-spring-2").channel == "promo-later"  # {x} spans no '-'
    assert book.match("promo-").channel == "promo-later"  # '*' matches nothing too
    assert book.match("xpromo-a").channel == "default"  # patterns match the whole state


def test_match_list_and_store_from_a_capture(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    book = load_book(
        tmp_path,
        """
        channels:
          poster:
            match: ["poster-{store}", "flyer-{store}-*"]
            store: "{store}"
            tags: {门店: ["{store_name}（{store_city}）"]}
            template: welcome/hello.j2
          default:
            template: welcome/hello.j2
        """,
        tmp_templates,
        stores,
    )
    found = book.match("flyer-0201-spring")
    assert found.store is not None and found.store.id == "0201"
    assert found.tags == (Tag("门店", "观前街店（苏州）"),)
    assert book.match("poster-0015").store.name == "长寿路店"  # type: ignore[union-attr]


def test_matches_are_cached_and_immutable(book: ChannelBook) -> None:
    first = book.match("store-0015-counter")
    assert book.match("store-0015-counter") is first
    with pytest.raises(TypeError):
        first.captures["store"] = "0012"  # type: ignore[index]


def test_compile_pattern() -> None:
    exact = compile_pattern("takeout-card")
    assert exact.regex is None
    pattern = compile_pattern("store-{store}-counter")
    assert pattern.captures == ("store",)
    assert pattern.regex is not None
    hit = pattern.regex.fullmatch("store-0012-counter")
    assert hit is not None and hit["store"] == "0012"
    assert pattern.regex.fullmatch("store-00-12-counter") is None
    assert compile_pattern("a.b+*").regex.fullmatch("a.b+xyz")  # type: ignore[union-attr]
    for bad in ["", "x-{", "x-}", "x-{A}", "x-{a}{b}", "x-{a}-{a}", "x-{store_name}"]:
        with pytest.raises(ValueError):
            compile_pattern(bad)


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize(
    ("state", "store_name", "perk_title"),
    [
        ("store-0012-counter", "天钥桥路店", "5元无门槛券"),
        ("store-0201-counter", "观前街店", "5元无门槛券"),
        ("takeout-0107", "文三路店", "外卖复购券 满30减5"),
        ("takeout-card", None, "外卖复购券 满30减5"),
        ("tuesday-fruit-day", None, "水果日会员券 满39减8"),
        ("persona-xiaoxian", None, "3元无门槛券"),
        ("somebody-searched-my-phone", None, None),
    ],
)
@pytest.mark.parametrize("today", [TUESDAY, THURSDAY])
def test_every_demo_channel_renders(
    book: ChannelBook,
    stores: StoreDirectory,
    state: str,
    store_name: str | None,
    perk_title: str | None,
    today: date,
) -> None:
    found = book.match(state)
    staff = found.store.manager_name if found.store else "小鲜"
    message = book.render_welcome(found, "王小美", staff, today)
    assert message.text.startswith("王小美")
    assert len(message.text.encode("utf-8")) <= MAX_TEXT_BYTES
    assert "None" not in message.text and "{{" not in message.text
    if store_name is not None:
        assert store_name in message.text
    if perk_title is not None:
        assert found.perk is not None
        assert perk_title in message.text
        assert found.perk.code in message.text
    assert len(message.attachments) <= 9
    for attachment in message.attachments:
        kind = attachment["msgtype"]
        assert set(attachment) == {"msgtype", kind}
        for value in attachment[kind].values():
            assert value and "{{" not in value
    json.dumps(message.payload("WELCOMECODE"), ensure_ascii=False)  # JSON-ready


def test_store_counter_welcome_has_the_store_details(book: ChannelBook) -> None:
    found = book.match("store-0012-counter")
    message = book.render_welcome(found, "王小美", "林晓雨", TUESDAY)
    assert "店长林晓雨" in message.text
    assert "3月10日前" in message.text  # 7 days, today included
    assert "果田鲜生·天钥桥路店福利群" in message.text
    assert "08:00-22:30" in message.text
    assert "周二水果日" in message.text  # member day line
    assert message.attachments == [
        {"msgtype": "image", "image": {"pic_url": "images/group-qr/0012.png"}}  # uploaded on send
    ]
    plain_day = book.render_welcome(found, "王小美", "林晓雨", THURSDAY)
    assert "周二水果日" not in plain_day.text


def test_store_without_group_qr_leaves_the_image_out(book: ChannelBook) -> None:
    found = book.match("store-0023-counter")
    message = book.render_welcome(found, "王小美", "陈萌", THURSDAY)
    assert message.attachments == []
    assert "进群" in message.text


def test_fruit_day_names_the_next_tuesday_on_other_days(book: ChannelBook) -> None:
    found = book.match("tuesday-fruit-day")
    assert "今天就是水果日" in book.render_welcome(found, "王小美", "小果", TUESDAY).text
    later = book.render_welcome(found, "王小美", "小果", THURSDAY).text
    assert "3月11日" in later
    link = book.render_welcome(found, "王小美", "小果", THURSDAY).attachments[0]
    assert link["msgtype"] == "link"
    assert link["link"]["url"].startswith("https://")


def test_payload_is_the_send_welcome_msg_body(book: ChannelBook) -> None:
    message = book.render_welcome(book.match("takeout-card"), "王小美", "小果", TUESDAY)
    body = message.payload("CODE123")
    assert body["welcome_code"] == "CODE123"
    assert body["text"] == {"content": message.text}
    assert body["attachments"][0]["msgtype"] == "link"


def test_customer_name_is_printed_never_evaluated(book: ChannelBook) -> None:
    found = book.match("persona-xiaoxian")
    message = book.render_welcome(found, "{{ 7*7 }}{% raw %}", "小鲜", TUESDAY)
    assert message.text.startswith("{{ 7*7 }}{% raw %}")
    blank = book.render_welcome(found, "  ", "小鲜", TUESDAY)
    assert blank.text.startswith("朋友")


def test_attachments_render_with_the_same_context(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    book = load_book(
        tmp_path,
        """
        channels:
          counter:
            match: "c-{store}"
            store: "{store}"
            template: welcome/hello.j2
            perk: {title: 5元券, code: JOIN5, valid_days: 3}
            attachments:
              - link:
                  title: "{{ store.name }}专属福利"
                  url: "https://m.guotian.example/s/{{ store.id }}?code={{ perk.code }}"
                  desc: "{{ perk.expires | cn_date }}前有效"
              - miniprogram:
                  title: 果田鲜生小程序
                  appid: wx0000000000000000
                  page: "pages/store/index?id={{ store.id }}"
                  pic_media_id: MEDIA_ID
              - image: {media_id: MEDIA_ID_2}
          default:
            template: welcome/hello.j2
        """,
        tmp_templates,
        stores,
    )
    message = book.render_welcome(book.match("c-0015"), "小李", "周建国", TUESDAY)
    assert message.attachments == [
        {
            "msgtype": "link",
            "link": {
                "title": "长寿路店专属福利",
                "url": "https://m.guotian.example/s/0015?code=JOIN5",
                "desc": "3月6日前有效",
            },
        },
        {
            "msgtype": "miniprogram",
            "miniprogram": {
                "title": "果田鲜生小程序",
                "pic_media_id": "MEDIA_ID",
                "appid": "wx0000000000000000",
                "page": "pages/store/index?id=0015",
            },
        },
        {"msgtype": "image", "image": {"media_id": "MEDIA_ID_2"}},
    ]


def test_text_over_4000_bytes_is_a_clear_render_error(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    book = load_book(
        tmp_path, "channels:\n  default:\n    template: welcome/hello.j2\n", tmp_templates, stores
    )
    with pytest.raises(WelcomeError, match=r"bytes, WeCom allows 4000"):
        book.render_welcome(book.match(""), "长" * 1400, "店长", TUESDAY)


# --------------------------------------------------------------------------- sandbox


def test_sandbox_refuses_class_escape_at_render(tmp_templates: Path) -> None:
    (tmp_templates / "welcome" / "escape.j2").write_text(
        "你好\n{{ ''.__class__.__mro__ }}\n", encoding="utf-8"
    )
    library = TemplateLibrary(tmp_templates)
    with pytest.raises(TemplateSecurityError) as caught:
        library.render("welcome/escape.j2", {})
    assert str(caught.value).startswith("welcome/escape.j2:2: refused by the template sandbox")
    assert "__class__" in str(caught.value)
    with pytest.raises(TemplateSecurityError):
        library.render_string("{{ customer.__init__.__globals__ }}", {"customer": object()})


def test_sandbox_escape_only_some_customers_hit_is_a_welcome_error(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    # the sample customer at load time never takes this branch: the refusal happens live
    (tmp_templates / "welcome" / "sneaky.j2").write_text(
        "你好 {{ customer.name }}\n"
        "{% if customer.name == '黑客' %}{{ ''.__class__.__mro__ }}{% endif %}\n",
        encoding="utf-8",
    )
    book = load_book(
        tmp_path, "channels:\n  default:\n    template: welcome/sneaky.j2\n", tmp_templates, stores
    )
    assert book.render_welcome(book.match(""), "小王", "店长", TUESDAY).text == "你好 小王"
    with pytest.raises(WelcomeError) as caught:
        book.render_welcome(book.match(""), "黑客", "店长", TUESDAY)
    assert "channel 'default'" in str(caught.value)
    assert "welcome/sneaky.j2:2: refused by the template sandbox" in str(caught.value)
    assert isinstance(caught.value.__cause__, TemplateSecurityError)


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 100000000 }}",
        "{{ 9 ** 99999999 }}",
        "{% for i in range(50000) %}{% endfor %}",
        "{% for i in range(900) %}{% for j in range(900) %}xy{% endfor %}{% endfor %}",
        "{{ {}.update({'a': 1}) }}",
    ],
)
def test_runaway_or_mutating_templates_are_refused(tmp_templates: Path, source: str) -> None:
    with pytest.raises(TemplateSecurityError):
        TemplateLibrary(tmp_templates).render_string(source, {})


def test_templates_compile_once(tmp_templates: Path) -> None:
    library = TemplateLibrary(tmp_templates)
    assert library.get("welcome/hello.j2") is library.get("welcome/hello.j2")
    source = "{{ a }}-{{ b }}"
    assert library.render_string(source, {"a": 1, "b": 2}) == "1-2"
    assert library.compile_string(source) is library.compile_string(source)
    assert library.render_string("plain text", {}) == "plain text"


def test_template_errors_name_file_and_line(tmp_templates: Path) -> None:
    (tmp_templates / "welcome" / "broken.j2").write_text("a\nb {{ x }\n", encoding="utf-8")
    library = TemplateLibrary(tmp_templates)
    with pytest.raises(TemplateLoadError, match=r"^welcome/broken\.j2:2: syntax error"):
        library.get("welcome/broken.j2")
    with pytest.raises(TemplateRenderError, match=r"^<template>:3: undefined value"):
        library.render_string("1\n2\n{{ nope }}", {})
    assert library.check("welcome/hello.j2", {"customer": {"name": "x"}, "store": None}) == []
    assert library.check("welcome/nothere.j2", {}) == [
        f"welcome/nothere.j2: template not found under {tmp_templates}"
    ]


# --------------------------------------------------------------------------- file errors


def test_yaml_syntax_error(tmp_path: Path, tmp_templates: Path, stores: StoreDirectory) -> None:
    text = """
    channels:
      default:
        template: welcome/hello.j2
        tags: [渠道: [a]
    """
    line = only(problems(tmp_path, text, tmp_templates, stores))
    assert line.startswith(f"{tmp_path / 'channels.yaml'}:5:1: YAML syntax error")
    assert "line 4" in line  # where the unclosed '[' opened


def test_tabs_are_explained(tmp_path: Path, tmp_templates: Path, stores: StoreDirectory) -> None:
    line = only(problems(tmp_path, "channels:\n\tdefault: {}\n", tmp_templates, stores))
    assert ":2:1: YAML syntax error" in line
    assert "not tabs" in line


def test_duplicate_key(tmp_path: Path, tmp_templates: Path, stores: StoreDirectory) -> None:
    text = """
    channels:
      default:
        template: welcome/hello.j2
      promo:
        template: welcome/hello.j2
      promo:
        template: welcome/hello.j2
    """
    line = only(problems(tmp_path, text, tmp_templates, stores))
    assert line == (
        f"{tmp_path / 'channels.yaml'}:6:3: duplicate key 'promo' "
        "(the mapping starts at line 2); each key may appear once"
    )


def test_unknown_key(tmp_path: Path, tmp_templates: Path, stores: StoreDirectory) -> None:
    text = """
    channels:
      default:
        template: welcome/hello.j2
        tagz: {渠道: [未知渠道]}
    """
    line = only(problems(tmp_path, text, tmp_templates, stores))
    assert line == (
        f"{tmp_path / 'channels.yaml'}:4:5: channels.default: unknown key 'tagz' "
        "(did you mean 'tags'?)"
    )


def test_wrong_types_are_all_reported_at_once(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    text = """
    channels:
      default:
        template: welcome/hello.j2
        tags: {渠道: 未知渠道}
      promo:
        template: 5
        perk: {title: 券, valid_days: 很多}
    """
    lines = problems(tmp_path, text, tmp_templates, stores)
    path = tmp_path / "channels.yaml"
    assert lines == [
        f"{path}:4:16: channels.default.tags.渠道: expected a list, found '未知渠道'",
        f"{path}:6:15: channels.promo.template: expected text, found the number 5; YAML reads "
        'unquoted digits as a number, so write the value in quotes as you mean it (e.g. "0012", '
        "not 0012)",
        f"{path}:7:34: channels.promo.perk.valid_days: expected a whole number, found '很多'",
    ]


def test_missing_template_key(tmp_path: Path, tmp_templates: Path, stores: StoreDirectory) -> None:
    line = only(problems(tmp_path, "channels:\n  default:\n    tags: {}\n", tmp_templates, stores))
    assert line.endswith(":2:3: channels.default: missing required key 'template'")


def test_unknown_template(tmp_path: Path, tmp_templates: Path, stores: StoreDirectory) -> None:
    text = """
    channels:
      default:
        template: welcome/helo.j2
    """
    line = only(problems(tmp_path, text, tmp_templates, stores))
    assert line.startswith(f"{tmp_path / 'channels.yaml'}:3:15: channels.default: ")
    assert "welcome/helo.j2: template not found" in line


def test_template_syntax_error(tmp_path: Path, tmp_templates: Path, stores: StoreDirectory) -> None:
    (tmp_templates / "welcome" / "broken.j2").write_text(
        "{{ customer.name }}\n{% if perk %}\n送你{{ perk.title }\n{% endif %}\n", encoding="utf-8"
    )
    text = """
    channels:
      default:
        template: welcome/hello.j2
      promo:
        template: welcome/broken.j2
    """
    line = only(problems(tmp_path, text, tmp_templates, stores))
    assert line.startswith(f"{tmp_path / 'channels.yaml'}:5:15: channels.promo: ")
    assert "welcome/broken.j2:3: syntax error" in line


def test_undefined_variable_even_in_a_branch_not_taken(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    (tmp_templates / "welcome" / "typo.j2").write_text(
        "你好\n{% if false %}\n{{ custmer.name }}\n{% endif %}\n", encoding="utf-8"
    )
    line = only(
        problems(
            tmp_path,
            "channels:\n  default:\n    template: welcome/typo.j2\n",
            tmp_templates,
            stores,
        )
    )
    assert line.endswith(":3:15: channels.default: welcome/typo.j2:3: undefined variable 'custmer' "
                         "(did you mean 'customer'?)")


def test_undefined_attribute_found_by_sample_render(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    (tmp_templates / "welcome" / "typo.j2").write_text(
        "你好\n{{ customer.nmae }}\n", encoding="utf-8"
    )
    line = only(
        problems(
            tmp_path,
            "channels:\n  default:\n    template: welcome/typo.j2\n",
            tmp_templates,
            stores,
        )
    )
    assert ":3:15: channels.default: welcome/typo.j2:2: undefined value" in line
    assert "'nmae'" in line


def test_store_in_a_channel_without_store(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    (tmp_templates / "welcome" / "store.j2").write_text(
        "{{ store.name }}欢迎你\n", encoding="utf-8"
    )
    line = only(
        problems(
            tmp_path,
            "channels:\n  default:\n    template: welcome/store.j2\n",
            tmp_templates,
            stores,
        )
    )
    assert "welcome/store.j2:1: undefined value: 'None' has no attribute 'name'" in line
    assert "`store` and `perk` are None" in line


def test_sandbox_escape_is_a_load_error(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    (tmp_templates / "welcome" / "escape.j2").write_text(
        "你好\n{{ ''.__class__.__mro__ }}\n", encoding="utf-8"
    )
    line = only(
        problems(
            tmp_path,
            "channels:\n  default:\n    template: welcome/escape.j2\n",
            tmp_templates,
            stores,
        )
    )
    assert ":3:15: channels.default: welcome/escape.j2:2: refused by the template sandbox" in line


def test_missing_default(tmp_path: Path, tmp_templates: Path, stores: StoreDirectory) -> None:
    text = """
    # no default here
    channels:
      promo:
        template: welcome/hello.j2
    """
    line = only(problems(tmp_path, text, tmp_templates, stores))
    assert line.startswith(f"{tmp_path / 'channels.yaml'}:2:1: no 'default' channel")


def test_bad_patterns(tmp_path: Path, tmp_templates: Path, stores: StoreDirectory) -> None:
    text = """
    channels:
      default:
        template: welcome/hello.j2
      a:
        match: ["ok-{x}", "store-{st ore}"]
        template: welcome/hello.j2
      b:
        match: "b-{x}*"
        template: welcome/hello.j2
    """
    lines = problems(tmp_path, text, tmp_templates, stores)
    path = tmp_path / "channels.yaml"
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:5:23: channels.a.match[1]: bad capture '{{st ore}}'")
    assert lines[1].startswith(f"{path}:8:12: channels.b.match: pattern 'b-{{x}}*' is ambiguous")


def test_duplicate_states_and_placeholders(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    text = """
    channels:
      default:
        template: welcome/hello.j2
      a:
        match: "x-{s}"
        store: "{store}"
        template: welcome/hello.j2
      b:
        store: "9999"
        template: welcome/hello.j2
      c:
        template: welcome/hello.j2
        tags: {门店: ["{store_name}"]}
      d:
        match: [c, "x-{s}"]
        template: welcome/hello.j2
    """
    lines = problems(tmp_path, text, tmp_templates, stores)
    path = tmp_path / "channels.yaml"
    assert lines == [
        f"{path}:6:12: channels.a.store: '{{store}}' is not captured by every 'match' pattern "
        "of this channel",
        f"{path}:9:12: channels.b.store: store '9999' is not in stores.yaml",
        f"{path}:13:17: channels.c.tags.门店: unknown placeholder '{{store_name}}' "
        "(store_* names need a 'store:' in the channel)",
        f"{path}:15:13: channels.d.match: state 'c' is already used by channel 'c'",
        f"{path}:15:16: channels.d.match: pattern 'x-{{s}}' is already used by channel 'a'",
    ]


def test_more_than_nine_attachments(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    items = "".join(
        "      - image: {pic_url: https://img.guotian.example/a.png}\n" for _ in range(10)
    )
    text = "channels:\n  default:\n    template: welcome/hello.j2\n    attachments:\n" + items
    line = only(problems(tmp_path, text, tmp_templates, stores))
    assert line.endswith(":4:5: channels.default.attachments: at most 9 allowed, found 10")


def test_attachment_shape_errors(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    text = """
    channels:
      default:
        template: welcome/hello.j2
        attachments:
          - image: {}
          - {link: {title: a, url: "https://a.example"}, image: {pic_url: "https://b.example"}}
          - video: {media_id: x}
    """
    lines = problems(tmp_path, text, tmp_templates, stores)
    assert any(
        ":5:9: channels.default.attachments[0].image: an image needs exactly one" in x
        for x in lines
    )
    assert any(
        ":6:9: channels.default.attachments[1]: each attachment is exactly one" in x for x in lines
    )
    assert any(":7:9: channels.default.attachments[2]: unknown key 'video'" in x for x in lines)


def test_attachment_limits_checked_at_load(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    text = f"""
    channels:
      default:
        template: welcome/hello.j2
        attachments:
          - miniprogram: {{title: "{"果" * 30}", appid: wx1, page: p, pic_media_id: m}}
    """
    line = only(problems(tmp_path, text, tmp_templates, stores))
    assert "miniprogram title is 90 bytes, WeCom allows 64" in line


def test_empty_and_wrongly_shaped_files(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    assert only(problems(tmp_path, "", tmp_templates, stores)).endswith(":1:1: the file is empty")
    assert "expected a mapping" in only(problems(tmp_path, "- a\n", tmp_templates, stores))
    line = only(
        problems(tmp_path, "channels:\n  default: !python/object x\n", tmp_templates, stores)
    )
    assert "unsupported YAML tag" in line


def test_missing_file_is_an_error(tmp_path: Path, stores: StoreDirectory) -> None:
    with pytest.raises(OperatorFileErrors, match=r"nope\.yaml:1:1: file not found"):
        ChannelBook.load(tmp_path / "nope.yaml", TemplateLibrary(tmp_path), stores)
    with pytest.raises(OperatorFileError, match="file not found"):
        load_yaml(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- stores / yaml


def test_store_directory(stores: StoreDirectory) -> None:
    store = stores.get("0012")
    assert store is not None
    assert (store.name, store.city, store.opens, store.hours) == (
        "天钥桥路店",
        "上海",
        "08:00",
        "08:00-22:30",
    )
    assert stores.get("12") is None
    assert {s.city for s in stores.all()} == {"上海", "杭州", "苏州"}
    assert stores.staff_name("linxiaoyu") == "林晓雨"
    assert stores.staff_name("xiaoxian") == "小鲜"
    assert stores.staff_name("nobody") == ""
    with pytest.raises(AttributeError):
        store.name = "x"  # type: ignore[misc]


def test_store_file_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "stores.yaml",
        """
        stores:
          0012:
            name: 天钥桥路店
            city: 上海
            address: 某路 1 号
            manager_userid: lin
            manager_name: 林
            group_name: 群
            opens: 8:00
            closes: "22:30"
        """,
    )
    with pytest.raises(OperatorFileErrors) as caught:
        StoreDirectory.load(path)
    lines = [str(e) for e in caught.value.errors]
    assert lines == [
        f"{path}:2:3: stores.12: expected text, found the number 12; YAML reads unquoted digits "
        'as a number, so write the value in quotes as you mean it (e.g. "0012", not 0012)',
        f"{path}:9:12: stores.12.opens: expected a time like \"08:30\" (found '8:00')",
    ]


def _stores_text(n: int, last_opens: str = '"08:00"') -> str:
    lines = ["stores:"]
    for i in range(n):
        opens = last_opens if i == n - 1 else '"08:00"'
        lines += [f'  "{i:04d}":', f"    name: 果园{i:04d}店", "    city: 上海",
                  f"    address: 果园路 {i + 1} 号", f"    manager_userid: m{i:04d}",
                  f"    manager_name: 店长{i:04d}", f"    group_name: 果园{i:04d}店福利群",
                  f"    opens: {opens}", '    closes: "22:00"']
    return "\n".join(lines) + "\n"


def test_operator_files_read_the_same_fast_and_with_positions() -> None:
    """The C reader that stores.yaml goes through must see every shipped operator file as
    the positioned reader does; files with a tag (!) are left to the positioned one."""
    paths = sorted([*(REPO / "sop").rglob("*.yaml"), *(REPO / "templates").rglob("*.yaml")])
    assert len(paths) > 10
    for path in paths:
        text = path.read_text("utf-8")
        fast = yamlfile._fast_load(text)
        if "!" in text:
            assert fast is None, path
            continue
        assert fast is not None, f"{path}: the C reader is missing or refused the file"
        assert fast == load_yaml(path), path


def test_a_large_store_file_keeps_error_positions(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(_stores_text(400), "utf-8")
    assert len(StoreDirectory.load(good).all()) == 400
    bad = tmp_path / "bad.yaml"
    bad.write_text(_stores_text(400, last_opens="25:00"), "utf-8")
    with pytest.raises(OperatorFileErrors) as caught:
        StoreDirectory.load(bad)
    assert [str(e) for e in caught.value.errors] == [
        f"{bad}:3600:12: stores.0399.opens: expected a time like \"08:30\" (found '25:00')"]


def test_duplicate_store_in_a_large_file_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "stores.yaml"
    path.write_text(_stores_text(300) + _stores_text(1).removeprefix("stores:\n"), "utf-8")
    with pytest.raises(OperatorFileErrors) as caught:
        StoreDirectory.load(path)
    (error,) = caught.value.errors
    assert (error.line, "duplicate key '0000'" in error.reason) == (2702, True)


def test_yaml_1_2_keeps_times_as_text(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", "at: 08:30\nlate: 9:30\nflag: yes\nid: !!str 0012\n")
    data = load_yaml(path)
    assert dict(data) == {"at": "08:30", "late": "9:30", "flag": "yes", "id": "0012"}


def test_match_result_type(book: ChannelBook) -> None:
    assert isinstance(book.match("store-0107-counter"), ChannelMatch)
    assert book.names()[-1] == "default"


def test_tag_names_over_30_characters_are_reported_where_they_are_written(
    tmp_path: Path, tmp_templates: Path, stores: StoreDirectory
) -> None:
    """WeCom refuses corp tag names over 30 characters (40072): the check says so, at the
    name's line, counting {store_*} at the longest store's value."""
    longest_store = max(len(s.name) for s in stores.all())
    filler = "会" * (31 - longest_store)  # 31 with the longest store name
    text = f"""
    channels:
      default:
        template: welcome/hello.j2
      counter:
        match: ["store-{{store}}-counter"]
        store: "{{store}}"
        tags:
          门店: ["{{store_name}}{filler}", "{"好" * 30}"]
          {"组" * 31}: [ok]
        template: welcome/hello.j2
    """
    lines = problems(tmp_path, text, tmp_templates, stores)
    path = tmp_path / "channels.yaml"
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{path}:8:12: channels.counter.tags.门店: tag name")
    assert "can be 31 characters; WeCom allows at most 30" in lines[0]
    assert lines[1].startswith(f"{path}:9:") and "group name" in lines[1]
