"""Rate limits and fault injection: the ways real WeCom says "not now".

Two kinds of trouble, checked before any handler runs so that a faulted call never
changes state (an injected -1 on send_welcome_msg must leave the WelcomeCode usable):

* `RateLimiter`: per API path, a fixed window of `rate_window_s`; past the limit every call
  gets 45009 until the window ends ("blocks last the window", reference §5.2).
* `FaultInjector`: random faults from a seeded `random.Random` (reproducible runs), global
  or per path, plus deterministic one-shots (`fail_next`, `delay_next`, `reset_next`,
  `transport_next`) that tests use to hit one exact call.

Three transport faults differ in whether the call took effect, which is what decides if a
client may simply retry: `timeout` (never answered, never run: retrying is safe),
`lost_answer` (run, then the connection dropped) and `gateway_error` (run, then HTTP 502
from a front end): retrying those blindly sends a second welcome attempt or a second 群发.

Paths are written as below /cgi-bin/ ("externalcontact/get"); "*" in a one-shot means any.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from . import codes

TRANSPORT_FAULTS = ("timeout", "lost_answer", "gateway_error")

def normalise_path(path: str) -> str:
    """'/cgi-bin/gettoken', 'cgi-bin/gettoken' and 'gettoken' all name the same API."""
    path = path.strip("/")
    return path.removeprefix("cgi-bin/")


@dataclass
class FaultRates:
    """Per-call probabilities (0..1). The error kinds are exclusive: one draw picks at most one."""

    busy: float = 0.0  # errcode -1
    rate_limited: float = 0.0  # errcode 45009 (a one-off, unlike the real window block)
    concurrency_limited: float = 0.0  # errcode 45033
    token_expired: float = 0.0  # errcode 42001, and the presented token stops working
    token_invalid: float = 0.0  # errcode 40014, and the presented token stops working
    reset: float = 0.0  # the TCP connection is aborted without an answer
    timeout: float = 0.0  # no answer for `hang_ms`, then aborted; the call never runs
    lost_answer: float = 0.0  # the call runs, then the connection is aborted: answer lost
    gateway_error: float = 0.0  # the call runs, then a front end answers HTTP 502
    slow: float = 0.0  # probability of answering `delay_ms` late (the call still runs)
    delay_ms: int = 0
    hang_ms: int = 15_000  # how long a `timeout` holds the connection (past client timeouts)

    def error_table(self) -> tuple[tuple[float, int | str | None], ...]:
        """(probability, errcode) pairs; None stands for a connection reset, a string for
        one of the transport faults (`timeout`, `lost_answer`, `gateway_error`)."""
        return (
            (self.reset, None),
            (self.timeout, "timeout"),
            (self.lost_answer, "lost_answer"),
            (self.gateway_error, "gateway_error"),
            (self.busy, codes.SYSTEM_BUSY),
            (self.rate_limited, codes.FREQUENCY_LIMITED),
            (self.concurrency_limited, codes.CONCURRENCY_LIMITED),
            (self.token_expired, codes.TOKEN_EXPIRED),
            (self.token_invalid, codes.INVALID_TOKEN),
        )


@dataclass
class FaultPlan(FaultRates):
    """Global rates, with `per_path` entries that replace them for one API path."""

    per_path: dict[str, FaultRates] = field(default_factory=dict)

    def rates_for(self, path: str) -> FaultRates:
        return self.per_path.get(normalise_path(path), self)

    def update(self, data: dict[str, Any]) -> None:
        """Set fields from JSON (the /sim/faults control route); unknown keys are an error."""
        names = {f.name for f in fields(FaultRates)}
        for key, value in data.items():
            if key == "per_path":
                self.per_path = {
                    normalise_path(path): _rates_from(rates) for path, rates in value.items()
                }
            elif key in names:
                setattr(self, key, int(value) if key in _INT_FIELDS else float(value))
            else:
                raise ValueError(f"unknown fault setting {key!r}")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(FaultRates)}
        data["per_path"] = {
            path: {f.name: getattr(rates, f.name) for f in fields(FaultRates)}
            for path, rates in self.per_path.items()
        }
        return data


_INT_FIELDS = frozenset({"delay_ms", "hang_ms"})


def _rates_from(data: dict[str, Any]) -> FaultRates:
    names = {f.name for f in fields(FaultRates)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown fault settings {sorted(unknown)}")
    return FaultRates(**data)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the injector decided for one call."""

    delay_s: float = 0.0
    errcode: int | None = None
    reset: bool = False
    transport: str = ""  # "timeout", "lost_answer" or "gateway_error"
    hang_s: float = 0.0


@dataclass
class _OneShot:
    path: str
    remaining: int
    errcode: int | None = None  # None together with reset=False means "delay only"
    delay_s: float = 0.0
    reset: bool = False
    transport: str = ""


class FaultInjector:
    """Decides, per call, whether to delay it, fail it or drop the connection."""

    def __init__(self, plan: FaultPlan, seed: int) -> None:
        self.plan = plan
        # A generator of its own: fault draws do not shift the ids the world generates.
        self._rng = random.Random(f"faults-{seed}")
        self._shots: list[_OneShot] = []

    def fail_next(self, path: str, errcode: int, times: int = 1) -> None:
        self._shots.append(_OneShot(normalise_path(path), times, errcode=errcode))

    def delay_next(self, path: str, seconds: float, times: int = 1) -> None:
        self._shots.append(_OneShot(normalise_path(path), times, delay_s=seconds))

    def reset_next(self, path: str, times: int = 1) -> None:
        self._shots.append(_OneShot(normalise_path(path), times, reset=True))

    def transport_next(self, path: str, kind: str, times: int = 1) -> None:
        """`kind`: "timeout", "lost_answer" or "gateway_error" (see FaultRates)."""
        if kind not in TRANSPORT_FAULTS:
            raise ValueError(f"unknown transport fault {kind!r}")
        self._shots.append(_OneShot(normalise_path(path), times, transport=kind))

    def pending(self, path: str) -> int:
        """One-shots of `path` not yet used up: a test knows its calls have arrived."""
        path = normalise_path(path)
        return sum(s.remaining for s in self._shots if s.path == path)

    def clear(self) -> None:
        """Forget pending one-shots (random rates stay as set in `plan`)."""
        self._shots.clear()

    def decide(self, path: str, *, has_token: bool) -> Decision:
        delay = 0.0
        errcode: int | None = None
        reset = False
        transport = ""
        # One-shots first, in the order they were queued; a delay and a failure may combine.
        for shot in list(self._shots):
            if shot.path not in (path, "*"):
                continue
            failed = errcode is not None or reset or transport
            if shot.delay_s and not delay:
                delay = shot.delay_s
            elif (shot.errcode is not None or shot.reset or shot.transport) and not failed:
                errcode, reset, transport = shot.errcode, shot.reset, shot.transport
            else:
                continue
            shot.remaining -= 1
            if shot.remaining <= 0:
                self._shots.remove(shot)
        rates = self.plan.rates_for(path)
        if rates.slow and rates.delay_ms and not delay and self._rng.random() < rates.slow:
            delay = rates.delay_ms / 1000
        if errcode is None and not reset and not transport:
            draw = self._rng.random()
            for probability, code in rates.error_table():
                if code in (codes.TOKEN_EXPIRED, codes.INVALID_TOKEN) and not has_token:
                    continue  # gettoken has no token to invalidate
                if draw < probability:
                    if isinstance(code, str):
                        transport = code
                    else:
                        errcode, reset = code, code is None
                    break
                draw -= probability
        return Decision(delay_s=delay, errcode=errcode, reset=reset, transport=transport,
                        hang_s=rates.hang_ms / 1000)


class RateLimiter:
    """Fixed windows per API path; a window starts with the first call after the last ended."""

    def __init__(self, limit: Callable[[], int], window_s: Callable[[], float],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # path -> (start, calls)

    def allow(self, path: str) -> bool:
        now = self._clock()
        start, calls = self._windows.get(path, (now, 0))
        if now - start >= self._window_s():
            start, calls = now, 0
        calls += 1
        self._windows[path] = (start, calls)
        return calls <= self._limit()

    def reset(self) -> None:
        self._windows.clear()
