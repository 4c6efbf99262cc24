"""The template sandbox: Jinja's immutable sandbox plus limits on size, loops and time.

Templates are written by operators, not developers. Jinja's sandbox stops attribute escapes;
this module adds cheap guards against runaway templates (a cap on output size, on
``range()``, on loop steps and on the operators that can build huge strings in one step), so
one bad template cannot take the bot's memory or its event loop. `bot.books.templating`
builds its library on `GuardedEnvironment` and runs every render inside `render_budget`.
"""

from __future__ import annotations

import contextlib
import functools
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

__all__ = ["MAX_OUTPUT_CHARS", "GuardedEnvironment", "render_budget"]

MAX_OUTPUT_CHARS = 20_000  # 5x the longest WeCom text (4000 bytes); anything above is a bug
MAX_RANGE = 1_000  # Jinja's sandbox allows 100,000; no message needs more than a few dozen
MAX_EXPONENT = 64
MAX_INT_BITS = 4096  # integers a message could print are far below; 2**(2**30) is not
MAX_ITERATIONS = 100_000  # loop steps per render, nested loops and recursion included
MAX_RENDER_S = 2.0  # a backstop for whatever the counters miss
_FORMAT_WIDTH = re.compile(r"%[-+ #0]*(\d+)")


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



@contextlib.contextmanager
def render_budget() -> Iterator[None]:
    """One render's budget of loop steps and time, for the duration of the `with`."""
    token = _BUDGET.set(_Budget())
    try:
        yield
    finally:
        _BUDGET.reset(token)


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


_SAFE_CACHE_SIZE = 4096  # (type, attribute name) answers kept by `is_safe_attribute`


class GuardedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox plus size and step limits on everything that can allocate or loop a lot.

    Jinja's sandbox stops attribute escapes (``''.__class__``, ``cycler.__init__``); it does
    not stop a template from allocating gigabytes in one expression or looping for hours.
    Each way found is closed here and has a case in tests/hostile/test_hostile_operator_files.py:
    ``*`` / ``+`` / ``~`` on big strings or lists, ``**`` and ``*`` on huge integers, width
    arguments (``center(10**9)``, ``"%*s"``, ``"{:>1000000000}".format``), ``join`` and
    ``replace`` that multiply, printing a huge list, ``lipsum(10**9)`` and nested loops.
    """

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *, max_output_chars: int, **options: Any) -> None:
        super().__init__(finalize=self._finalize, **options)
        self._safe_attributes: dict[tuple[type, str], bool] = {}
        self.max_output_chars = max_output_chars
        self.globals["range"] = _capped_range
        self.globals["lipsum"] = _capped_lipsum
        for name, fn in list(self.filters.items()):
            self.filters[name] = _guard_filter(self, name, fn)
        self.filters["_loop_budget"] = _loop_budget
        self.filters["_sized"] = self._sized

    # -- allocation guards ----------------------------------------------------------------

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Jinja's answer, cached: it depends only on the object's type and the name
        (isinstance checks and the name's prefix, never the value), and asking it for every
        ``store.name`` was a tenth of checking an SOP book of 10,000 stores."""
        key = (type(obj), attr)
        safe = self._safe_attributes.get(key)
        if safe is None:
            safe = super().is_safe_attribute(obj, attr, value)
            if len(self._safe_attributes) >= _SAFE_CACHE_SIZE:  # names from |attr(...) vary
                self._safe_attributes.clear()
            self._safe_attributes[key] = safe
        return safe

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
        return super().format_string(s, args, kwargs, format_func)  # type: ignore[misc]

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


def _guard_filter(env: GuardedEnvironment, name: str, fn: Callable[..., Any]
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

