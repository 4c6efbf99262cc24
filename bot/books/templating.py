"""Jinja templates for everything the bot says: compiled once, rendered in a sandbox.

Rendering sits on the hot path of every new-customer callback (the WelcomeCode lives 20 s),
so templates are compiled once and kept: compiling per render is about 80 times slower
(design notes). Templates are written by operators, not developers, hence:

* a sandbox (`ImmutableSandboxedEnvironment`, the read-only flavour of Jinja's
  `SandboxedEnvironment`): no ``''.__class__`` escapes, and no template can mutate a dict the
  bot passes in and so change what the next customer gets;
* `StrictUndefined`: a misspelt ``{{ custmer.name }}`` is an error found by `check` when the
  files are loaded, not an empty gap in a message a customer reads;
* cheap guards against runaway templates: a cap on output size, on ``range()``, and on the
  ``*``, ``**`` and ``%`` operators that can build huge strings in one step.

Customer data (nicknames etc.) is only ever passed in the context; it is never compiled, so a
nickname such as ``{{ 7*7 }}`` is printed as written.

The sandbox and its limits live in `bot.books.sandbox`, the shop's filters (``cn_date``,
``yuan``) in `bot.books.filters`; this module is the library the books use.
"""

from __future__ import annotations

import difflib
import re
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    meta,
    nodes,
)
from jinja2.exceptions import SecurityError
from jinja2.runtime import new_context

from bot.books.filters import SHOP_FILTERS, WEEKDAYS_CN, cn_date, yuan
from bot.books.sandbox import MAX_OUTPUT_CHARS, GuardedEnvironment, render_budget
from bot.i18n import t

__all__ = [
    "WEEKDAYS_CN",
    "TemplateError",
    "TemplateLibrary",
    "TemplateLoadError",
    "TemplateRenderError",
    "TemplateSecurityError",
    "TemplateUndefinedName",
    "cn_date",
    "on_none",
    "yuan",
]

_STRING_TEMPLATE = "<template>"  # Jinja's filename for templates compiled from strings
# Jinja's UndefinedError text for a missing attribute or key: 'X object' has no attribute 'y'
_NO_ATTRIBUTE = re.compile(r"^'(?P<owner>[^']+)' has no attribute '(?P<name>[^']+)'$")


class TemplateError(Exception):
    """A template could not be loaded or rendered; `line` is the template's own line."""

    def __init__(self, name: str, line: int | None, reason: str) -> None:
        super().__init__(name, line, reason)
        self.name = name
        self.line = line
        self.reason = reason

    def __str__(self) -> str:
        where = f"{self.name}:{self.line}" if self.line else self.name
        return f"{where}: {self.reason}"


class TemplateLoadError(TemplateError):
    """The template file is missing or is not valid Jinja."""


class TemplateRenderError(TemplateError):
    """Rendering failed: an undefined value, a runtime error, or output that is too long."""


class TemplateUndefinedName(TemplateRenderError):
    """The template names a variable the context never has (found without rendering)."""


class TemplateSecurityError(TemplateRenderError):
    """The sandbox refused something (``''.__class__``, a huge string, ...)."""


class TemplateLibrary:
    """All templates under one folder, compiled at most once each.

    `get` and `render` are safe to call from concurrent tasks: the worst a race can do is
    compile the same template twice and keep one.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        max_output_chars: int = MAX_OUTPUT_CHARS,
        filters: Mapping[str, Callable[..., Any]] | None = None,
        images: Callable[[str], str | None] | None = None,
    ) -> None:
        self.root = Path(root)
        # The check every rendered picture passes (bot.media.images.ImageRule: local files
        # exist and fit, URLs are WeCom's); None: https:// or a local image name.
        self.images = images
        self.max_output_chars = max_output_chars
        self.env = GuardedEnvironment(
            max_output_chars=max_output_chars,
            loader=FileSystemLoader(self.root, encoding="utf-8"),
            undefined=StrictUndefined,
            autoescape=False,  # WeCom text is plain text, not HTML
            keep_trailing_newline=False,
            trim_blocks=True,  # {% if %} lines leave no blank line behind
            lstrip_blocks=True,
            auto_reload=False,  # no stat() per render; reload = build a new library
        )
        self.env.filters.update(SHOP_FILTERS)
        if filters:
            self.env.filters.update(filters)
        self._globals: dict[int, tuple[Template, dict[str, Any]]] = {}  # `_flat_globals`
        self._files: dict[str, Template] = {}
        self._strings: dict[str, Template] = {}

    # ------------------------------------------------------------------ compiling

    def get(self, name: str) -> Template:
        """The compiled template `name` (a path relative to the root, with ``/``)."""
        template = self._files.get(name)
        if template is None:
            template = self._files[name] = self._compile_file(name)
        return template

    def compile_string(self, source: str) -> Template:
        """A compiled inline template (e.g. an attachment title), cached by its source."""
        template = self._strings.get(source)
        if template is None:
            template = self._compile_source(source)
            if len(self._strings) >= 4096:  # inline strings come from files; this is a backstop
                self._strings.clear()
            self._strings[source] = template
        return template

    def _compile_file(self, name: str) -> Template:
        try:
            return self.env.get_template(name)
        except TemplateNotFound as exc:
            missing = exc.name if exc.name and exc.name != name else None
            reason = (
                t("template.include_missing", name=missing)
                if missing
                else t("template.not_found", root=self.root)
            )
            raise TemplateLoadError(name, None, reason) from None
        except TemplateSyntaxError as exc:
            raise self._syntax_error(TemplateLoadError, exc, name) from None

    def _compile_source(self, source: str) -> Template:
        try:
            return self.env.from_string(source)
        except TemplateSyntaxError as exc:
            raise self._syntax_error(TemplateLoadError, exc, _STRING_TEMPLATE) from None

    def exists(self, name: str) -> bool:
        """Whether `name` is a template file under the root (without compiling it)."""
        try:
            self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        except TemplateNotFound:
            return False
        return True

    # ------------------------------------------------------------------ rendering

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render a template file; every failure is a `TemplateError` naming file and line."""
        return self._render(self.get(name), name, context)

    def render_string(self, source: str, context: Mapping[str, Any]) -> str:
        """Render an inline template; plain text without ``{{``/``{%`` skips Jinja entirely."""
        if "{" not in source:
            return source
        return self._render(self.compile_string(source), _STRING_TEMPLATE, context)

    def _render(self, template: Template, name: str, context: Mapping[str, Any]) -> str:
        try:
            with render_budget():
                return self._generate(template, name, context)
        except TemplateError:
            raise
        except Exception as exc:  # a template bug must not surface as a bare TypeError
            raise self._failure(exc, template, name) from exc

    def _generate(self, template: Template, name: str, context: Mapping[str, Any]) -> str:
        """Straight from the compiled template's render function; only when that fails is
        it rendered again through `Template.generate`, which rewrites the traceback to the
        template's own lines for `_failure` (the wrapper cost a fifth of each render)."""
        try:
            ctx = new_context(template.environment, template.name, template.blocks,
                              dict(context), False, self._flat_globals(template))
            return self._collect(template.root_render_func(ctx), name)
        except TemplateError:
            raise
        except Exception:  # noqa: S110 - rendered again below, for the template's line
            pass
        return self._collect(template.generate(context), name)

    def _flat_globals(self, template: Template) -> dict[str, Any]:
        """The template's globals as one dict, made once per template: Jinja keeps them as
        a ChainMap over the environment's, and copying that for every render was a tenth
        of checking an SOP book of 10,000 stores (the globals are set up front and never
        change afterwards)."""
        entry = self._globals.get(id(template))
        if entry is None or entry[0] is not template:
            if len(self._globals) >= 1024:
                self._globals.clear()
            entry = self._globals[id(template)] = (template, dict(template.globals))
        return entry[1]

    def _collect(self, chunks: Iterator[str], name: str) -> str:
        parts: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > self.max_output_chars:
                raise TemplateSecurityError(
                    name, None, t("template.too_long", limit=self.max_output_chars)
                )
            parts.append(chunk)
        return "".join(parts)

    def _failure(self, exc: Exception, template: Template, name: str) -> TemplateError:
        """The `TemplateError`, naming file and line, for what rendering raised."""
        if isinstance(exc, SecurityError):
            return TemplateSecurityError(
                name, self._line_of(exc, template), t("template.sandbox", detail=exc)
            )
        if isinstance(exc, UndefinedError):
            return TemplateRenderError(name, self._line_of(exc, template), _undefined(exc))
        if isinstance(exc, TemplateSyntaxError):  # from an {% include %} compiled at render time
            return self._syntax_error(TemplateRenderError, exc, name)
        if isinstance(exc, TemplateNotFound):
            return TemplateRenderError(
                name, self._line_of(exc, template), t("template.include_missing", name=exc.name)
            )
        if isinstance(exc, RecursionError):
            return TemplateSecurityError(name, None, t("template.recursion"))
        if isinstance(exc, MemoryError):
            return TemplateSecurityError(name, None, t("template.memory"))
        return TemplateRenderError(
            name, self._line_of(exc, template), f"{type(exc).__name__}: {exc}"
        )

    # ------------------------------------------------------------------ checking

    def check(self, name: str, sample_context: Mapping[str, Any]) -> list[str]:
        """Problems with a template, as ``name:line: reason`` lines (empty = fine).

        Finds syntax errors, names used anywhere in the template (even in a branch the sample
        does not take) that the context does not provide, and anything that fails when
        rendered against the sample context (misspelt attributes, sandbox refusals).
        """
        return [str(p) for p in self.problems(name, sample_context)]

    def problems(self, name: str, sample_context: Mapping[str, Any]) -> list[TemplateError]:
        """`check`'s problems as `TemplateError`s: each names the template file it is in
        (an include's, for a mistake there) and that file's own line."""
        try:
            template = self.get(name)
            source, _, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        except TemplateError as exc:
            return [exc]
        return self._check(template, source, name, sample_context)

    def check_string(
        self, source: str, sample_context: Mapping[str, Any], *, label: str = _STRING_TEMPLATE
    ) -> list[str]:
        """Like `check`, for an inline template; `label` names it in the messages.

        Inline strings are one line as a rule, so the line number is given only past line 1.
        """
        if "{" not in source:
            return []  # render_string passes it through untouched
        try:
            problems = self._check(self.compile_string(source), source, label, sample_context)
        except TemplateError as exc:
            problems = [exc]
        return [
            f"{label}:{p.line}: {p.reason}" if p.line and p.line > 1 else f"{label}: {p.reason}"
            for p in problems
        ]

    def check_source(
        self, source: str, sample_context: Mapping[str, Any]
    ) -> list[TemplateError]:
        """Like `check_string`, as `TemplateError`s whose `line` is the source's own line
        (for callers that map it into the file the source came from, e.g. a YAML block)."""
        try:
            return self._check(
                self.compile_string(source), source, _STRING_TEMPLATE, sample_context
            )
        except TemplateError as exc:
            return [exc]

    def _check(
        self, template: Template, source: str, name: str, sample_context: Mapping[str, Any]
    ) -> list[TemplateError]:
        problems: list[TemplateError] = []
        ast = self.env.parse(source)
        known = set(sample_context) | set(self.env.globals)
        for variable in sorted(meta.find_undeclared_variables(ast) - known):
            line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == variable), None)
            close = difflib.get_close_matches(variable, sorted(known), n=1)
            hint = t("hint.did_you_mean", name=close[0]) if close else ""
            problems.append(TemplateUndefinedName(
                name, line, t("template.undefined_variable", name=variable, hint=hint)))
        if problems:
            return problems  # rendering would only repeat the first of them
        try:
            self._render(template, name, sample_context)
        except TemplateError as exc:
            exc.name = name
            problems.append(exc)
        return problems

    # ------------------------------------------------------------------ helpers

    def _syntax_error(
        self, kind: type[TemplateError], exc: TemplateSyntaxError, name: str
    ) -> TemplateError:
        """A Jinja syntax error as `kind`, in the file it is in (an include's, if there)."""
        return kind(self._name_of(exc.filename) or name, exc.lineno,
                    t("template.syntax", detail=exc.message))

    def _name_of(self, filename: str | None) -> str | None:
        if not filename or filename == _STRING_TEMPLATE:
            return None
        try:
            return Path(filename).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return filename

    def _line_of(self, exc: BaseException, template: Template) -> int | None:
        """The template line being rendered when `exc` was raised.

        Jinja rewrites tracebacks so that template frames carry the template's file name and
        line; the deepest such frame is the one that failed.
        """
        wanted = {template.filename or _STRING_TEMPLATE}
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename in wanted:
                return frame.lineno
        return None


def _undefined(exc: UndefinedError) -> str:
    """A value the template asked for that is not there, in the operators' words."""
    found = _NO_ATTRIBUTE.match(str(exc))
    if found is None:
        return t("template.undefined_value", detail=exc)
    owner = found["owner"].rsplit(".", 1)[-1]  # 'bot.books.stores.Store object': Store object
    return t("template.no_attribute", owner=owner, name=found["name"])


def on_none(reason: str) -> bool:
    """Whether a render problem is an attribute asked of None (``store.name`` for a
    customer without a store), in whichever language `reason` was written."""
    marker = t("template.no_attribute", owner="None", name="\0").split("\0")[0]
    return marker in reason
