import asyncio

from bot.wecom.ratelimit import ApiQuota, SlidingWindow


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_window_admits_its_limit_then_waits_for_the_oldest_slot():
    window = SlidingWindow(3, 0.3)
    for _ in range(3):
        assert window.try_acquire()
    assert not window.try_acquire()
    waiter = asyncio.create_task(window.acquire())
    await asyncio.sleep(0.05)
    assert not waiter.done()  # the quota is honoured: no fourth call inside the window
    await asyncio.wait_for(waiter, 2.0)  # and the call goes out once the oldest slot frees


async def test_quota_takes_every_window_or_none():
    clock = FakeClock()
    minute, hour = SlidingWindow(2, 60.0, clock=clock), SlidingWindow(3, 3600.0, clock=clock)
    quota = ApiQuota([minute, hour])
    assert quota.try_acquire() and quota.try_acquire()
    assert not quota.try_acquire()  # the minute is full
    clock.now += 61
    assert quota.try_acquire()  # third of the hour
    clock.now += 61
    assert not quota.try_acquire()  # the hour is full now, although the minute is not
    assert len(minute._stamps) == 0  # nothing taken from the minute by the refused call


async def test_a_slot_counts_from_the_answer_when_the_call_ended():
    """WeCom counts a call when it arrives: a slow call's slot frees a window after it ended,
    not a window after it was taken."""
    clock = FakeClock()
    window = SlidingWindow(2, 60.0, clock=clock)
    slow = await window.acquire()
    await window.acquire()
    clock.now += 5  # the first call took 5 s to be answered
    window.ended(slow)
    clock.now += 56  # 61 s after the slots were taken, 56 s after the slow answer
    assert window.try_acquire()  # the quick call's slot is free
    assert not window.try_acquire()  # the slow one's is not yet
    clock.now += 5
    assert window.try_acquire()
