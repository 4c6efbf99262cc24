"""Hostile operator files: templates that try to escape or exhaust, edits that break a live bot.

Templates are written by operators, not developers, and rendered inside the process that
holds the WeCom secret. What must hold:

* no template reads a file, reaches Python objects it was not given, or runs code;
* no template can make one render take unbounded memory or time (each case below once
  allocated gigabytes or ran for hours before `bot.books.templating` was hardened);
* every mistake is reported as file:line, and a live bot that is handed a broken edit keeps
  running the last good SOPs (tested through the real scheduler, outbox and simulator).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.app import load_sop_book
from bot.books.stores import StoreDirectory
from bot.books.templating import TemplateError, TemplateLibrary, TemplateSecurityError
from bot.books.yamlfile import OperatorFileError, OperatorFileErrors
from bot.channels.book import ChannelBook
from tests.conftest import REPO, World
from tests.outbox.test_sop_delivery import MORNING, deliver, make_groups, scheduler_for

# -- escapes: the sandbox must refuse each (or find nothing), never hand out an object ----

ESCAPES = {
    "str-class-mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "cycler-globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "joiner-globals": "{{ joiner.__init__.__globals__ }}",
    "namespace-globals": "{{ namespace.__init__.__globals__['__builtins__'] }}",
    "lipsum-globals": "{{ lipsum.__globals__ }}",
    "range-self": "{{ range.__self__ }}",
    "self-context": "{{ self._TemplateReference__context }}",
    "self-globals": "{{ self.__init__.__globals__ }}",
    "format-attr": "{{ '{0.__class__.__mro__}'.format('') }}",
    "format-map-attr": "{{ '{x.__class__}'.format_map({'x': ''}) }}",
    "dict-pop": "{{ {}.pop('x', 1) }}",
    "list-append": "{% set l = [] %}{{ l.append(1) }}",
    "customer-globals": "{{ customer.__init__.__globals__ }}",
    "customer-dict": "{{ customer.__dict__ }}",
    "func-code": "{{ (cycler.__init__).__code__ }}",
    "attr-filter": "{{ ''|attr('__class__') }}",
    "getitem-dunder": "{{ ''['__class__'] }}",
    "mro-via-filter": "{{ (''|attr('__class__')|attr('__mro__')) }}",
}

# -- exhaustion: each must be refused quickly, not run ------------------------------------

EXHAUSTION = {
    "range-1e9": "{% for i in range(10**9) %}x{% endfor %}",
    "nested-loops-no-output": "{% for a in range(1000) %}{% for b in range(1000) %}"
                              "{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
    "nested-loops-over-a-string": "{% set s = 'a' * 20000 %}{% for a in s %}{% for b in s %}"
                                  "{% endfor %}{% endfor %}",
    "recursive-loop": "{% for x in range(2) recursive %}{% if loop.depth < 40 %}"
                      "{{ loop(range(2)) }}{% endif %}{% endfor %}",
    "recursive-macro": "{% macro f(n) %}{% for i in range(3) %}{{ f(n + 1) }}{% endfor %}"
                       "{% endmacro %}{{ f(0) }}",
    "string-times": "{{ 'x' * 10**9 }}",
    "list-times": "{{ ['x'] * 10**9 }}",
    "list-of-big-strings": "{% set l = ['a' * 20000] * 20000 %}{{ l|join }}",
    "print-a-big-list": "{% set l = ['a' * 20000] * 20000 %}{{ l }}",
    "string-of-a-big-list": "{% set l = ['a' * 20000] * 20000 %}{{ l|string|length }}",
    "doubling-with-tilde": "{% set ns = namespace(s='a' * 10000) %}{% for i in range(40) %}"
                           "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "doubling-with-plus": "{% set ns = namespace(s='a' * 10000) %}{% for i in range(40) %}"
                          "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
    "int-squaring": "{% set ns = namespace(n=10**60) %}{% for i in range(40) %}"
                    "{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n > 0 }}",
    "power-tower": "{{ ((10**64)**64)**64 }}",
    "power-1e9": "{{ 9 ** 999999999 }}",
    "center-method": "{{ 'x'.center(10**9) }}",
    "ljust-method": "{{ 'x'.ljust(10**9)|length }}",
    "zfill-method": "{{ '1'.zfill(10**9)|length }}",
    "expandtabs": "{{ '\t'.expandtabs(10**9)|length }}",
    "replace-method": "{{ ('a' * 20000).replace('', 'b' * 20000)|length }}",
    "replace-filter": "{{ ('a' * 20000)|replace('', 'b' * 20000)|length }}",
    "join-method": "{{ ('x' * 20000).join(['y'] * 20000)|length }}",
    "center-filter": "{{ 'x'|center(10**9) }}",
    "indent-filter": "{{ 'x\ny'|indent(10**9) }}",
    "format-width": "{{ '%1000000000s'|format('x') }}",
    "percent-star": "{{ '%*s' % (10**9, 'x') }}",
    "str-format-width": "{{ '{:>1000000000}'.format('x') }}",
    "str-format-nested-width": "{{ '{:>{w}}'.format('x', w=10**9) }}",
    "lipsum": "{{ lipsum(10**6) }}",
    "output-flood": "{% for i in range(1000) %}{{ 'x' * 1000 }}{% endfor %}",
    "wordwrap-big": "{{ ('a ' * 20000)|wordwrap(10**9) }}",
}


@pytest.fixture
def library(tmp_path: Path) -> TemplateLibrary:
    (tmp_path / "welcome").mkdir()
    (tmp_path / "welcome" / "ok.j2").write_text("你好 {{ customer.name }}", encoding="utf-8")
    return TemplateLibrary(tmp_path)


class Customer:
    """A context object like the ones the bot passes (attributes, no methods to abuse)."""

    def __init__(self) -> None:
        self.name = "小王"


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_sandbox_escape_attempts_are_refused(library: TemplateLibrary, name: str) -> None:
    with pytest.raises(TemplateError) as caught:
        library.render_string(ESCAPES[name], {"customer": Customer()})
    assert "<function" not in str(caught.value) and "<module" not in str(caught.value)


@pytest.mark.parametrize("name", sorted(EXHAUSTION))
def test_resource_exhaustion_is_refused(library: TemplateLibrary, name: str) -> None:
    with pytest.raises(TemplateSecurityError):
        library.render_string(EXHAUSTION[name], {})


@pytest.mark.parametrize("name", sorted(EXHAUSTION))
def test_exhaustion_templates_are_refused_as_files_with_their_line(
        tmp_path: Path, name: str) -> None:
    """The same templates as operator files: the error names the file (and the line where
    the sandbox can tell it), so `sop check` points at it."""
    (tmp_path / "sop").mkdir()
    (tmp_path / "sop" / "bad.j2").write_text("第一行\n" + EXHAUSTION[name] + "\n",
                                            encoding="utf-8")
    problems = TemplateLibrary(tmp_path).check("sop/bad.j2", {})
    assert len(problems) == 1 and problems[0].startswith("sop/bad.j2"), problems


@pytest.mark.parametrize("source", [
    "{% include '/etc/passwd' %}",
    "{% include '../../../../etc/passwd' %}",
    "{% include 'welcome/../../../etc/passwd' %}",
    "{% import '/etc/hostname' as h %}",
    "{% extends '/proc/self/environ' %}",
])
def test_templates_cannot_read_files_outside_their_folder(library: TemplateLibrary,
                                                          source: str) -> None:
    with pytest.raises(TemplateError) as caught:
        library.render_string(source, {})
    assert "root:" not in str(caught.value)  # no content of the file leaks into the error


def test_legitimate_templates_still_work(library: TemplateLibrary) -> None:
    """The guards must not get in the way of what operators really write."""
    source = ("{% for p in products %}{{ loop.index }}. {{ p.name }} {{ p.price|yuan }}"
              "{{ '\n' if not loop.last }}{% endfor %}\n{{ '%-6s|' % '苹果' }}{{ 'ab' * 3 }}"
              "{{ ['a', 'b']|join('、') }}{{ '{}元'.format(12) }}{{ 'x'.center(9) }}"
              "{{ 2 ** 10 }}{{ (range(30)|list)|length }}{{ 'a' ~ 'b' ~ 3 }}")
    products = [{"name": "苹果", "price": 9.9}, {"name": "香蕉", "price": 4}]
    text = library.render_string(source, {"products": products})
    assert text.startswith("1. 苹果 ¥9.9\n2. 香蕉 ¥4")
    assert "苹果    |ababab" in text and "a、b12元    x    1024" in text and text.endswith("30ab3")
    assert library.render("welcome/ok.j2", {"customer": Customer()}) == "你好 小王"


def test_a_customer_nickname_is_never_evaluated(library: TemplateLibrary) -> None:
    hostile = "{{ cycler.__init__.__globals__ }}{% for i in range(10**9) %}{% endfor %}"
    customer = Customer()
    customer.name = hostile
    assert library.render("welcome/ok.j2", {"customer": customer}) == f"你好 {hostile}"


# -- operator YAML files: file:line:col for each kind of mistake ---------------------------

STORE_FILES = {
    "yaml-syntax": ("stores:\n  \"0012\": {name: 店\n", ":3:"),
    "tab-indent": ("stores:\n\t\"0012\":\n", ":2:"),
    "wrong-type": ("stores:\n  \"0012\":\n    name: [1, 2]\n", ":3:"),
    "unquoted-id": ("stores:\n  0012:\n    name: 店\n", ":2:"),
    "yaml-bomb": ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c]\n"
                  "stores: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n", ":"),
    "python-tag": ("stores: !!python/object/apply:os.system ['id']\n", ":1:"),
    "binary-junk": ("\x00\x01\x02stores:\n", ":1:"),
}


@pytest.mark.parametrize("name", sorted(STORE_FILES))
def test_broken_store_files_are_reported_with_their_line(tmp_path: Path, name: str) -> None:
    text, where = STORE_FILES[name]
    path = tmp_path / "stores.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises((OperatorFileError, OperatorFileErrors)) as caught:
        StoreDirectory.load(path)
    assert f"stores.yaml{where}" in str(caught.value), str(caught.value)


CHANNEL_FILES = {
    "yaml-syntax": ("channels:\n  default: {template: welcome/ok.j2\n", ":3:"),
    "wrong-type": ("channels:\n  default:\n    template: [1]\n", ":3:"),
    "unknown-template": ("channels:\n  default:\n    template: welcome/nope.j2\n", ":3:"),
    "escape-template": ("channels:\n  default:\n    template: welcome/escape.j2\n", ":3:"),
    "loop-template": ("channels:\n  default:\n    template: welcome/loop.j2\n", ":3:"),
    "template-traversal": ("channels:\n  default:\n    template: ../../etc/passwd\n", ":3:"),
    "python-tag": ("channels: !!python/name:os.system\n", ":1:"),
}


@pytest.mark.parametrize("name", sorted(CHANNEL_FILES))
def test_broken_channel_files_are_reported_with_their_line(tmp_path: Path, name: str) -> None:
    templates = tmp_path / "templates"
    (templates / "welcome").mkdir(parents=True)
    (templates / "welcome" / "ok.j2").write_text("你好 {{ customer.name }}", encoding="utf-8")
    (templates / "welcome" / "escape.j2").write_text("{{ cycler.__init__.__globals__ }}",
                                                     encoding="utf-8")
    (templates / "welcome" / "loop.j2").write_text(EXHAUSTION["nested-loops-no-output"],
                                                   encoding="utf-8")
    text, where = CHANNEL_FILES[name]
    path = tmp_path / "channels.yaml"
    path.write_text(text, encoding="utf-8")
    stores = StoreDirectory.load(REPO / "sop" / "stores.yaml")
    with pytest.raises((OperatorFileError, OperatorFileErrors)) as caught:
        ChannelBook.load(path, TemplateLibrary(templates), stores)
    assert f"channels.yaml{where}" in str(caught.value), str(caught.value)


# -- a live bot handed broken edits keeps the last good SOPs --------------------------------


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sop": {"check_after_minutes": 0.001}, "wecom": {"request_timeout_s": 1.0}}


def _edit_template(root: Path, text: str) -> tuple[Path, str]:
    path = root / "templates" / "sop" / "goodnight.j2"
    path.write_text("{# edited #}\n" + text + "\n", encoding="utf-8")
    return path, "goodnight.j2:2"


def _edit_daily(root: Path, old: str, new: str) -> tuple[Path, str]:
    path = root / "sop" / "daily.yaml"
    source = path.read_text(encoding="utf-8")
    assert old in source
    path.write_text(source.replace(old, new, 1), encoding="utf-8")
    line = source[:source.index(old)].count("\n") + 1
    return path, f"daily.yaml:{line}:"


BROKEN_EDITS = {
    "yaml-syntax": lambda root: _edit_daily(root, "    days: daily\n", "    days: daily: x\n"),
    "wrong-type": lambda root: _edit_daily(root, "    days: daily\n", "    days: 42\n"),
    "unknown-template": lambda root: _edit_daily(
        root, "template: sop/morning_new_arrivals.j2", "template: sop/nope.j2"),
    "template-syntax": lambda root: _edit_template(root, "{{ store.name }"),
    "undefined-variable": lambda root: _edit_template(root, "{{ stroe.name }}"),
    "sandbox-escape": lambda root: _edit_template(root, "{{ cycler.__init__.__globals__ }}"),
    "huge-loop": lambda root: _edit_template(root, "{% for i in range(10**9) %}x{% endfor %}"),
    "huge-string": lambda root: _edit_template(root, "{{ 'x' * 10**9 }}"),
    "broken-stores": lambda root: (
        (root / "sop" / "stores.yaml").write_text("stores:\n  0012: {name: x}\n",
                                                  encoding="utf-8"), "stores.yaml:2:")[1],
}


@pytest.mark.parametrize("edit", sorted(BROKEN_EDITS))
async def test_a_live_bot_refuses_a_broken_edit_and_keeps_sending(
        world: World, tmp_path: Path, edit: str) -> None:
    await make_groups(world)
    root = tmp_path / "ops"
    shutil.copytree(REPO / "sop", root / "sop")
    shutil.copytree(REPO / "templates", root / "templates")
    settings = world.settings.with_overrides(
        paths={"sop_dir": root / "sop", "templates_dir": root / "templates"})
    scheduler = scheduler_for(world, lambda: load_sop_book(settings))
    before = scheduler.book

    result = BROKEN_EDITS[edit](root)
    where = result[1] if isinstance(result, tuple) else result
    assert await scheduler.reload() is False
    assert scheduler.last_error is not None and where in scheduler.last_error, \
        scheduler.last_error
    assert scheduler.book is before  # the last good SOPs, untouched
    plan = await scheduler.plan("morning-new-arrivals", MORNING, now=MORNING.timestamp())
    assert plan.sends == 2 and not plan.errors
    await deliver(world, 2)
    assert world.sim.groupsend_doubles() == {}
