"""The dispatcher on its own: bounded pool, per-lane order, urgent lanes first, retries.

A fake database stands in (it records the writes without running them): these tests are
about scheduling, which the end-to-end tests cannot pin down (they pass with any order).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from bot.dispatch import MAX_ATTEMPTS, Context, Dispatcher, Router
from bot.inbox import Recorded
from bot.wecom.events import ChatUpdated, ContactAdded, Event, from_fields


@dataclass
class FakeDb:
    writes: list[Callable[[Any], Any]] = field(default_factory=list)

    async def write(self, fn: Callable[[Any], Any], *, linger: bool = False) -> None:
        self.writes.append(fn)

    async def read(self, fn: Callable[[Any], Any]) -> list[Recorded]:
        return []


def services(deadline_s: float = 20.0) -> Any:
    settings = SimpleNamespace(wecom=SimpleNamespace(welcome_deadline_s=deadline_s))
    return SimpleNamespace(db=FakeDb(), settings=settings)


def added(ext: str, code: str = "CODE", received_at: float | None = None,
          event_id: int = 1) -> Recorded:
    event = from_fields({"ToUserName": "c", "CreateTime": "1", "MsgType": "event",
                         "Event": "change_external_contact", "ChangeType": "add_external_contact",
                         "UserID": "u", "ExternalUserID": ext, "WelcomeCode": code})
    return Recorded(event_id, event, time.time() if received_at is None else received_at)


def chat(chat_id: str, event_id: int = 1) -> Recorded:
    event = from_fields({"ToUserName": "c", "CreateTime": "1", "MsgType": "event",
                         "Event": "change_external_chat", "ChangeType": "update",
                         "ChatId": chat_id, "UpdateDetail": "add_member"})
    return Recorded(event_id, event, time.time())


class Recorder:
    """Handlers that log start/end and hold until released, to observe the schedule."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.running = 0
        self.peak = 0
        self.gate = asyncio.Event()
        self.fail_first: set[str] = set()
        self.hold_s = 0.0  # after the gate: how long a handler takes
        self.running_at_start: list[int] = []

    def router(self) -> Router:
        router = Router()

        @router.on(ContactAdded, ChatUpdated)
        async def handle(ctx: Context, ev: Event) -> None:
            key = getattr(ev, "chat_id", None) or getattr(ev, "external_user_id", "")
            self.log.append(("start", key))
            self.running += 1
            self.running_at_start.append(self.running)
            self.peak = max(self.peak, self.running)
            try:
                await self.gate.wait()
                if self.hold_s:
                    await asyncio.sleep(self.hold_s)
                if key in self.fail_first:
                    self.fail_first.discard(key)
                    raise RuntimeError("transient")
            finally:
                self.running -= 1
            self.log.append(("end", key))

        return router

    def started(self) -> list[str]:
        return [key for what, key in self.log if what == "start"]


async def test_at_most_max_concurrency_handlers_run_at_once():
    rec = Recorder()
    dispatcher = Dispatcher(services(), rec.router(), max_concurrency=3)
    for i in range(10):
        dispatcher.submit(added(f"wm{i}", event_id=i))
    await asyncio.sleep(0.05)
    assert rec.running == 3 and dispatcher.busy == 10
    rec.gate.set()
    assert await dispatcher.drain(5)
    assert rec.peak == 3 and dispatcher.handled == 10 and dispatcher.busy == 0


async def test_events_of_one_lane_run_in_arrival_order_one_at_a_time():
    rec = Recorder()
    dispatcher = Dispatcher(services(), rec.router(), max_concurrency=8)
    for i in range(4):
        dispatcher.submit(chat("wrSAME", event_id=i))
    dispatcher.submit(chat("wrOTHER", event_id=9))
    await asyncio.sleep(0.05)
    assert rec.started() == ["wrSAME", "wrOTHER"]  # the second wrSAME waits for the first
    rec.gate.set()
    assert await dispatcher.drain(5)
    same = [what for what, key in rec.log if key == "wrSAME"]
    assert same == ["start", "end"] * 4  # never two of one lane at once


async def test_welcomes_go_before_older_non_urgent_events():
    rec = Recorder()
    dispatcher = Dispatcher(services(), rec.router(), max_concurrency=1)
    dispatcher.submit(chat("wrBUSY", event_id=1))  # takes the only worker
    await asyncio.sleep(0.01)
    dispatcher.submit(chat("wrLATER", event_id=2))
    dispatcher.submit(added("wmNOCODE", code="", event_id=3))  # no code: nothing to hurry
    dispatcher.submit(added("wmNEW", event_id=4))
    rec.gate.set()
    assert await dispatcher.drain(5)
    assert rec.started() == ["wrBUSY", "wmNEW", "wrLATER", "wmNOCODE"]


async def test_a_welcome_whose_code_died_waiting_loses_its_place():
    rec = Recorder()
    dispatcher = Dispatcher(services(deadline_s=20.0), rec.router(), max_concurrency=1)
    dispatcher.submit(chat("wrBUSY", event_id=1))
    await asyncio.sleep(0.01)
    dispatcher.submit(added("wmDEAD", received_at=time.time() - 25, event_id=2))
    dispatcher.submit(chat("wrLATER", event_id=3))
    dispatcher.submit(added("wmLIVE", event_id=4))
    rec.gate.set()
    assert await dispatcher.drain(5)
    # the live code first; the dead one back among the rest, in arrival order
    assert rec.started() == ["wrBUSY", "wmLIVE", "wmDEAD", "wrLATER"]


async def test_a_retry_waits_without_holding_a_worker_and_keeps_the_lane_order():
    rec = Recorder()
    rec.fail_first = {"wrFLAKY"}
    rec.gate.set()
    dispatcher = Dispatcher(services(), rec.router(), max_concurrency=1, retry_delay_s=0.2)
    dispatcher.submit(chat("wrFLAKY", event_id=1))
    dispatcher.submit(chat("wrFLAKY", event_id=2))  # must wait for the retried first one
    dispatcher.submit(chat("wrOTHER", event_id=3))
    assert await dispatcher.drain(5)
    assert rec.started() == ["wrFLAKY", "wrOTHER", "wrFLAKY", "wrFLAKY"]
    assert dispatcher.handled == 3 and dispatcher.failed == 0


async def test_an_event_that_keeps_failing_is_given_up_after_max_attempts():
    router = Router()
    calls: list[int] = []

    @router.on(ChatUpdated)
    async def broken(ctx: Context, ev: ChatUpdated) -> None:
        calls.append(ctx.event_id)
        raise RuntimeError("permanent")

    svc = services()
    dispatcher = Dispatcher(svc, router, retry_delay_s=0.01)
    dispatcher.submit(chat("wrX", event_id=7))
    assert await dispatcher.drain(5)
    assert calls == [7] * MAX_ATTEMPTS
    assert dispatcher.failed == 1 and dispatcher.handled == 0
    assert len(svc.db.writes) == MAX_ATTEMPTS  # each failure recorded (the last as final)


async def test_drain_times_out_and_cancel_all_stops_everything():
    rec = Recorder()
    dispatcher = Dispatcher(services(), rec.router(), max_concurrency=2)
    for i in range(5):
        dispatcher.submit(added(f"wm{i}", event_id=i))
    assert not await dispatcher.drain(0.05)
    await dispatcher.cancel_all()
    assert rec.running == 0 and dispatcher.handled == 0
    assert dispatcher.busy == 0 and await dispatcher.drain(0.01)


@pytest.mark.parametrize("n", [1, 50])
async def test_busy_counts_every_submitted_event_until_it_is_done(n: int):
    rec = Recorder()
    rec.gate.set()
    dispatcher = Dispatcher(services(), rec.router(), max_concurrency=4)
    for i in range(n):
        dispatcher.submit(added(f"wm{i % 7}", event_id=i))
    assert dispatcher.busy == n
    assert await dispatcher.drain(5)
    assert dispatcher.busy == 0 and dispatcher.handled == n




async def test_an_event_offered_as_the_last_worker_leaves_is_not_stranded():
    """The worker's whole job runs in its first step (nothing blocks); the callback below is
    queued behind that step and ahead of the task's done-callbacks, so it submits exactly
    when the worker has left but a done-callback would not yet have forgotten it."""
    rec = Recorder()
    rec.gate.set()
    dispatcher = Dispatcher(services(), rec.router(), max_concurrency=1)
    dispatcher.submit(chat("wrFIRST", event_id=1))
    asyncio.get_running_loop().call_soon(dispatcher.submit, chat("wrSECOND", event_id=2))
    assert await dispatcher.drain(1)
    assert rec.started() == ["wrFIRST", "wrSECOND"]


def two_part_router(log: list[tuple[str, str]]) -> Router:
    """A welcome handler's shape: the urgent part, `after_urgent`, then the bookkeeping."""
    router = Router()

    @router.on(ContactAdded, ChatUpdated)
    async def handle(ctx: Context, ev: Event) -> None:
        key = getattr(ev, "chat_id", None) or getattr(ev, "external_user_id", "")
        log.append(("urgent part", key))
        await asyncio.sleep(0.01)
        await ctx.after_urgent()
        log.append(("bookkeeping", key))
        await asyncio.sleep(0.01)

    return router


async def test_bookkeeping_steps_aside_for_new_customers_waiting_for_a_worker():
    log: list[tuple[str, str]] = []
    dispatcher = Dispatcher(services(), two_part_router(log), max_concurrency=1)
    for i in range(3):
        dispatcher.submit(added(f"wm{i}", event_id=i))
    dispatcher.submit(chat("wrLATER", event_id=9))  # not urgent: no one steps aside for it
    assert await dispatcher.drain(5)
    assert log[:3] == [("urgent part", "wm0"), ("urgent part", "wm1"), ("urgent part", "wm2")]
    assert sorted(log[3:6]) == [("bookkeeping", f"wm{i}") for i in range(3)]
    assert log[6:] == [("urgent part", "wrLATER"), ("bookkeeping", "wrLATER")]
    assert dispatcher.handled == 4 and dispatcher.busy == 0


async def test_a_lane_stays_blocked_while_its_event_has_stepped_aside():
    log: list[tuple[str, str]] = []
    dispatcher = Dispatcher(services(), two_part_router(log), max_concurrency=1)
    dispatcher.submit(added("wmSAME", event_id=1))
    dispatcher.submit(added("wmOTHER", event_id=2))
    dispatcher.submit(added("wmSAME", event_id=3))  # same customer: after the first is done
    assert await dispatcher.drain(5)
    same = [what for what, key in log if key == "wmSAME"]
    assert same == ["urgent part", "bookkeeping"] * 2


@dataclass
class CountingDb(FakeDb):
    """Records every event as new (the inbox's insert answers with the next id's row)."""

    ids: int = 0

    async def write(self, fn: Callable[[Any], Any], *, linger: bool = False) -> Any:  # type: ignore[override]
        self.ids += 1
        return (self.ids,)


async def test_the_answer_waits_while_new_customers_are_backed_up():
    rec = Recorder()
    svc = services()
    svc.db = CountingDb()
    dispatcher = Dispatcher(svc, rec.router(), max_concurrency=1)
    received = time.time()
    for i in range(3):  # one running, two waiting: 2 x max_concurrency, not more
        await dispatcher.accept(added(f"wm{i}").event, received)
    held = asyncio.ensure_future(dispatcher.accept(added("wm3").event, received))
    await asyncio.sleep(0.05)
    assert not held.done() and dispatcher.recorded == 4  # recorded, the 200 held
    rec.gate.set()
    await asyncio.wait_for(held, 1.0)
    assert await dispatcher.drain(5)
    assert rec.started() == ["wm0", "wm1", "wm2", "wm3"] and dispatcher.handled == 4


async def test_each_held_answer_goes_when_its_own_customer_is_taken():
    """Not all at once when the queue shrinks: answers go at the rate welcomes start."""
    rec = Recorder()
    rec.hold_s = 0.05
    svc = services()
    svc.db = CountingDb()
    dispatcher = Dispatcher(svc, rec.router(), max_concurrency=1)
    received = time.time()
    for i in range(3):  # one running, two waiting: not held yet
        await dispatcher.accept(added(f"wo{i}").event, received)
    third = asyncio.ensure_future(dispatcher.accept(added("wo3").event, received))
    fourth = asyncio.ensure_future(dispatcher.accept(added("wo4").event, received))
    await asyncio.sleep(0.01)
    assert not third.done() and not fourth.done()
    rec.gate.set()
    await asyncio.wait_for(third, 1.0)
    assert "wo3" in rec.started()
    assert not fourth.done() and "wo4" not in rec.started()  # its customer is still waiting
    await asyncio.wait_for(fourth, 1.0)
    assert "wo4" in rec.started()
    assert await dispatcher.drain(5)
