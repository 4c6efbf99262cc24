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
"""

from __future__ import annotations

import functools
import re
import string
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import date
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
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

__all__ = [
    "WEEKDAYS_CN",
    "TemplateError",
    "TemplateLibrary",
    "TemplateLoadError",
    "TemplateRenderError",
    "TemplateSecurityError",
    "cn_date",
    "yuan",
]

WEEKDAYS_CN = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

MAX_OUTPUT_CHARS = 20_000  # 5x the longest WeCom text (4000 bytes); anything above is a bug
MAX_RANGE = 1_000  # Jinja's sandbox allows 100,000; no message needs more than a few dozen
MAX_EXPONENT = 64
MAX_INT_BITS = 4096  # integers a message could print are far below; 2**(2**30) is not
MAX_ITERATIONS = 100_000  # loop steps per render, nested loops and recursion included
MAX_RENDER_S = 2.0  # a backstop for whatever the counters miss
_STRING_TEMPLATE = "<template>"  # Jinja's filename for templates compiled from strings
_FORMAT_WIDTH = re.compile(r"%[-+ #0]*(\d+)")


def cn_date(value: date) -> str:
    """``date(2025, 3, 4)`` -> ``3月4日``, the way a Chinese shop writes a date in a message."""
    return f"{value.month}月{value.day}日"


def cn_weekday(value: date) -> str:
    """``date(2025, 3, 4)`` -> ``周二``."""
    return WEEKDAYS_CN[value.weekday()]


def yuan(value: float | int | str) -> str:
    """``19.9`` -> ``¥19.9``, ``29`` / ``29.0`` -> ``¥29``, ``12.5`` -> ``¥12.5``.

    Prices come from YAML data files as numbers; shops write them without trailing zeros.
    Text that is not a number (``时价``) is printed as it is.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{number:.2f}".rstrip("0").rstrip(".")
    return f"¥{text}"


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


class TemplateSecurityError(TemplateRenderError):
    """The sandbox refused something (``''.__class__``, a huge string, ...)."""


class _Budget:
    """What one render may still spend: loop steps, and time as a backstop."""

    __slots__ = ("deadline", "steps")

    def __init__(self) -> None:
        self.steps = MAX_ITERATIONS
        self.deadline = time.monotonic() + MAX_RENDER_S

    def step(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise SecurityError(f"loops ran more than {MAX_ITERATIONS} steps")
        if not self.steps % 1024 and time.monotonic() > self.deadline:
            raise SecurityError(f"rendering took longer than {MAX_RENDER_S} s")


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _loop_budget(iterable: Iterable[Any]) -> Iterator[Any]:
    """Wrapped around every ``{% for %}`` (and ``loop()`` of a recursive one) at parse time:
    three nested ``range(1000)`` loops are 10**9 steps and print nothing, so neither the
    range cap nor the output cap would stop them."""
    budget = _BUDGET.get()
    for item in iterable:
        if budget is not None:
            budget.step()
        yield item


def _size(value: Any, limit: int) -> int:
    """What `value` would be as text, counted only up to just past `limit`: a list that
    repeats one 20,000-character string 20,000 times is 400 MB once printed or joined,
    though the list itself is tiny."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, int | float | bool) or item is None:
            total += 8
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 + len(item) * 2
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            total += 16
    return total


class _GuardedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox plus size and step limits on everything that can allocate or loop a lot.

    Jinja's sandbox stops attribute escapes (``''.__class__``, ``cycler.__init__``); it does
    not stop a template from allocating gigabytes in one expression or looping for hours.
    Each way found is closed here and has a case in tests/test_hostile_operator_files.py:
    ``*`` / ``+`` / ``~`` on big strings or lists, ``**`` and ``*`` on huge integers, width
    arguments (``center(10**9)``, ``"%*s"``, ``"{:>1000000000}".format``), ``join`` and
    ``replace`` that multiply, printing a huge list, ``lipsum(10**9)`` and nested loops.
    """

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *, max_output_chars: int, **options: Any) -> None:
        super().__init__(finalize=self._finalize, **options)
        self.max_output_chars = max_output_chars

    # -- allocation guards ----------------------------------------------------------------

    def _too_big(self, value: Any, what: str = "value") -> None:
        if _size(value, self.max_output_chars) > self.max_output_chars:
            raise SecurityError(f"{what} longer than {self.max_output_chars} characters")

    def _finalize(self, value: Any) -> Any:
        if not isinstance(value, str | int | float) and value is not None:
            self._too_big(value, "printed value")
        return value

    def _sized(self, value: Any) -> Any:
        self._too_big(value)
        return value

    def _wide_ints(self, args: Iterable[Any]) -> None:
        for arg in args:
            if isinstance(arg, int) and not isinstance(arg, bool) \
                    and abs(arg) > self.max_output_chars:
                raise SecurityError(f"a width or count of {arg} is not allowed")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        cap = self.max_output_chars
        if operator == "*":
            if (isinstance(left, int) and isinstance(right, int)
                    and left.bit_length() + right.bit_length() > MAX_INT_BITS):
                raise SecurityError("integer too large")
            for seq, count in ((left, right), (right, left)):
                if (isinstance(seq, str | list | tuple) and isinstance(count, int)
                        and count > 0 and _size(seq, cap) * count > cap):
                    raise SecurityError("repeating a value that many times is not allowed")
        elif operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponents above {MAX_EXPONENT} are not allowed")
            if isinstance(left, int) and isinstance(right, int) \
                    and left.bit_length() * max(right, 0) > MAX_INT_BITS:
                raise SecurityError("integer too large")
        elif operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple) \
                    and _size(left, cap) + _size(right, cap) > cap:
                raise SecurityError(f"value longer than {cap} characters")
        elif operator == "%" and isinstance(left, str):
            widths = (int(w) for w in _FORMAT_WIDTH.findall(left))
            if any(w > cap for w in widths):
                raise SecurityError("format width too large")
            self._wide_ints(right if isinstance(right, tuple) else (right,))  # "%*s"
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        """Method calls from templates (``'x'.center(10**9)``, ``s.replace('', s)``)."""
        if isinstance(getattr(__obj, "__self__", None), str):
            __self._wide_ints(args)
            __self._wide_ints(kwargs.values())
            __self._check_replace_join(__obj.__name__, __obj.__self__, args)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, str) and len(result) > __self.max_output_chars:
            raise SecurityError(f"value longer than {__self.max_output_chars} characters")
        return result

    def _check_replace_join(self, name: str, target: str, args: tuple[Any, ...]) -> None:
        cap = self.max_output_chars
        if name == "replace" and len(args) >= 2 and isinstance(args[1], str):
            if len(target) + (len(target) + 1) * len(args[1]) > cap:
                raise SecurityError(f"value longer than {cap} characters")
        elif name == "join" and args:
            self._too_big(args[0])

    def format_string(self, s: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                      format_func: Callable[..., Any] | None = None) -> str:
        """``"{:>1000000000}".format(x)`` and ``"{:{w}}".format(x, w=10**9)``."""
        self._wide_ints(args)
        self._wide_ints(kwargs.values())
        for _, _, spec, _ in string.Formatter().parse(s):
            if spec and any(int(w) > self.max_output_chars for w in re.findall(r"\d+", spec)):
                raise SecurityError("format width too large")
        return super().format_string(s, args, kwargs, format_func)  # type: ignore[arg-type]

    # -- parse-time rewriting -------------------------------------------------------------

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Every loop counts its steps; every ``~`` checks its parts and its result."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "_loop_budget", [], [], None, None,
                                     lineno=loop.lineno)
        for call in tree.find_all(nodes.Call):
            if isinstance(call.node, nodes.Name) and call.node.name == "loop" and call.args:
                call.args[0] = nodes.Filter(call.args[0], "_loop_budget", [], [], None, None,
                                            lineno=call.lineno)
        for concat in list(tree.find_all(nodes.Concat)):
            concat.nodes = [nodes.Filter(part, "_sized", [], [], None, None,
                                         lineno=concat.lineno) for part in concat.nodes]
        return tree


def _guard_filter(env: _GuardedEnvironment, name: str, fn: Callable[..., Any]
                  ) -> Callable[..., Any]:
    """A built-in filter with its arguments and result checked: ``center(10**9)``,
    ``indent(10**9)``, ``format``, ``join``/``replace`` that multiply, ``string``/``tojson``
    of a huge list."""
    skip = 2 if getattr(fn, "jinja_pass_arg", None) is not None else 1
    cap = env.max_output_chars

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        value = args[skip - 1] if len(args) >= skip else None
        extra = args[skip:]
        env._wide_ints(extra)
        env._wide_ints(kwargs.values())
        if name in ("join", "string", "tojson", "pprint", "list", "format", "urlize",
                    "wordwrap", "indent", "center", "truncate"):
            env._too_big(value)
            env._too_big(list(extra))
        if name == "replace" and isinstance(value, str) and len(extra) >= 2:
            env._check_replace_join("replace", value, tuple(extra))
        if name == "format" and isinstance(value, str):
            widths = (int(w) for w in _FORMAT_WIDTH.findall(value))
            if any(w > cap for w in widths):
                raise SecurityError("format width too large")
        result = fn(*args, **kwargs)
        if isinstance(result, str) and len(result) > cap:
            raise SecurityError(f"value longer than {cap} characters")
        return result

    return guarded


def _capped_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range() is limited to {MAX_RANGE} items in templates")
    return rng


def _capped_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Jinja's placeholder text, at most 5 paragraphs of at most 100 words."""
    if n > 5 or max > 100 or min > max:
        raise SecurityError("lipsum() is limited to 5 paragraphs of 100 words")
    return str(generate_lorem_ipsum(n, html, min, max))


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
    ) -> None:
        self.root = Path(root)
        self.max_output_chars = max_output_chars
        self.env = _GuardedEnvironment(
            max_output_chars=max_output_chars,
            loader=FileSystemLoader(self.root, encoding="utf-8"),
            undefined=StrictUndefined,
            autoescape=False,  # WeCom text is plain text, not HTML
            keep_trailing_newline=False,
            trim_blocks=True,  # {% if %} lines leave no blank line behind
            lstrip_blocks=True,
            auto_reload=False,  # no stat() per render; reload = build a new library
        )
        self.env.globals["range"] = _capped_range
        self.env.globals["lipsum"] = _capped_lipsum
        for name, fn in list(self.env.filters.items()):
            self.env.filters[name] = _guard_filter(self.env, name, fn)
        self.env.filters["_loop_budget"] = _loop_budget
        self.env.filters["_sized"] = self.env._sized
        self.env.filters["cn_date"] = cn_date
        self.env.filters["cn_weekday"] = cn_weekday
        self.env.filters["yuan"] = yuan
        if filters:
            self.env.filters.update(filters)
        self._files: dict[str, Template] = {}
        self._strings: dict[str, Template] = {}

    # ------------------------------------------------------------------ compiling

    def get(self, name: str) -> Template:
        """The compiled template `name` (a path relative to the root, with ``/``)."""
        template = self._files.get(name)
        if template is None:
            try:
                template = self.env.get_template(name)
            except TemplateNotFound as exc:
                missing = exc.name if exc.name and exc.name != name else None
                reason = (
                    f"includes '{missing}', which does not exist"
                    if missing
                    else f"template not found under {self.root}"
                )
                raise TemplateLoadError(name, None, reason) from None
            except TemplateSyntaxError as exc:
                raise TemplateLoadError(
                    self._name_of(exc.filename) or name, exc.lineno, f"syntax error: {exc.message}"
                ) from None
            self._files[name] = template
        return template

    def compile_string(self, source: str) -> Template:
        """A compiled inline template (e.g. an attachment title), cached by its source."""
        template = self._strings.get(source)
        if template is None:
            try:
                template = self.env.from_string(source)
            except TemplateSyntaxError as exc:
                raise TemplateLoadError(
                    _STRING_TEMPLATE, exc.lineno, f"syntax error: {exc.message}"
                ) from None
            if len(self._strings) >= 4096:  # inline strings come from files; this is a backstop
                self._strings.clear()
            self._strings[source] = template
        return template

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
        parts: list[str] = []
        size = 0
        budget = _BUDGET.set(_Budget())
        try:
            chunks: Iterator[str] = template.generate(context)
            for chunk in chunks:
                size += len(chunk)
                if size > self.max_output_chars:
                    raise TemplateSecurityError(
                        name, None, f"output longer than {self.max_output_chars} characters"
                    )
                parts.append(chunk)
        except TemplateError:
            raise
        except SecurityError as exc:
            raise TemplateSecurityError(
                name, self._line_of(exc, template), f"refused by the template sandbox: {exc}"
            ) from exc
        except UndefinedError as exc:
            raise TemplateRenderError(
                name, self._line_of(exc, template), f"undefined value: {exc}"
            ) from exc
        except TemplateSyntaxError as exc:  # from an {% include %} compiled at render time
            raise TemplateRenderError(
                self._name_of(exc.filename) or name, exc.lineno, f"syntax error: {exc.message}"
            ) from exc
        except TemplateNotFound as exc:
            raise TemplateRenderError(
                name, self._line_of(exc, template), f"included template '{exc.name}' not found"
            ) from exc
        except RecursionError as exc:
            raise TemplateSecurityError(name, None, "recursion too deep") from exc
        except MemoryError as exc:
            raise TemplateSecurityError(name, None, "ran out of memory") from exc
        except Exception as exc:  # a template bug must not surface as a bare TypeError
            raise TemplateRenderError(
                name, self._line_of(exc, template), f"{type(exc).__name__}: {exc}"
            ) from exc
        finally:
            _BUDGET.reset(budget)
        return "".join(parts)

    # ------------------------------------------------------------------ checking

    def check(self, name: str, sample_context: Mapping[str, Any]) -> list[str]:
        """Problems with a template, as ``name:line: reason`` lines (empty = fine).

        Finds syntax errors, names used anywhere in the template (even in a branch the sample
        does not take) that the context does not provide, and anything that fails when
        rendered against the sample context (misspelt attributes, sandbox refusals).
        """
        try:
            template = self.get(name)
            source, _, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        except TemplateError as exc:
            return [str(exc)]
        return [str(p) for p in self._check(template, source, name, sample_context)]

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
            problems.append(TemplateRenderError(name, line, f"undefined variable '{variable}'"))
        if problems:
            return problems  # rendering would only repeat the first of them
        try:
            self._render(template, name, sample_context)
        except TemplateError as exc:
            exc.name = name
            problems.append(exc)
        return problems

    # ------------------------------------------------------------------ helpers

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
