"""WeCom's side of callbacks: encrypt, POST, wait at most 5 s, retry, keep a log.

Each callback is encrypted at send time with a fresh timestamp and nonce, so a retry is a
different request carrying the same plaintext — exactly why the bot must dedupe. HTTP 200
means delivered; any other status, a connection error or no answer within
`callback_timeout_s` is a failure, retried `callback_retries` more times.

Callbacks wait in lanes (one per customer, group, staff member, or the tag list): a lane
is delivered strictly in order, different lanes concurrently, with at most
`callback_concurrency` POSTs in flight. Without a callback_url, callbacks stay queued.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import aiohttp

from bot.wecom.crypto import CallbackCrypto

from .messages import Callback, FieldValue
from .options import SimOptions

Status = Literal["queued", "delivered", "failed"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST of a callback."""

    at: float  # time.time() when sent
    timestamp: str
    nonce: str
    signature: str
    status: int | None  # HTTP status, None when there was no answer
    error: str = ""
    elapsed_s: float = 0.0


@dataclass
class DeliveryRecord:
    """A callback and what became of it."""

    seq: int
    callback: Callback = field(repr=False)
    plaintext: str = field(repr=False)
    queued_at: float
    status: Status = "queued"
    attempts: list[Attempt] = field(default_factory=list)
    finished_at: float | None = None

    @property
    def lane(self) -> str:
        return self.callback.lane

    def get(self, name: str) -> FieldValue | None:
        """A plaintext field of the callback, e.g. `record.get("ChangeType")`."""
        return self.callback.get(name)


def _nonce() -> str:
    # Numeric, like the nonces in WeCom's own samples.
    return str(10**9 + secrets.randbelow(9 * 10**9))


class CallbackPusher:
    def __init__(self, crypto: CallbackCrypto, corp_id: str, options: SimOptions,
                 url: str | None = None) -> None:
        self._crypto = crypto
        self._corp_id = corp_id
        self._options = options
        self._url = url
        self.deliveries: list[DeliveryRecord] = []
        self._lanes: dict[str, deque[DeliveryRecord]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._unfinished = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def url(self) -> str | None:
        return self._url

    @url.setter
    def url(self, value: str | None) -> None:
        self._url = value
        self._kick()

    @property
    def pending(self) -> int:
        """Callbacks queued or being delivered."""
        return self._unfinished

    def push(self, callback: Callback) -> DeliveryRecord:
        record = DeliveryRecord(len(self.deliveries) + 1, callback, callback.to_xml(),
                                time.time())
        self.deliveries.append(record)
        self._lanes.setdefault(callback.lane, deque()).append(record)
        self._unfinished += 1
        self._idle.clear()
        self._kick()
        return record

    async def start(self) -> None:
        concurrency = max(1, self._options.callback_concurrency)
        self._slots = asyncio.Semaphore(concurrency)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency))
        self._kick()

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def wait_idle(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Until nothing is queued or in flight; TimeoutError (with the count) otherwise."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            raise TimeoutError(f"{self._unfinished} callbacks still pending "
                               f"(callback_url={'set' if self._url else 'unset'})") from None

    def _kick(self) -> None:
        if self._session is None or self._url is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # called outside the loop: start() or the next push will kick
        for lane, queue in self._lanes.items():
            if queue and lane not in self._tasks:
                self._tasks[lane] = loop.create_task(self._run_lane(lane))

    async def _run_lane(self, lane: str) -> None:
        try:
            queue = self._lanes[lane]
            while queue and self._url is not None and self._session is not None:
                record = queue[0]
                await self._deliver(record)
                queue.popleft()
                record.finished_at = time.time()
                self._unfinished -= 1
                if not self._unfinished:
                    self._idle.set()
        finally:
            self._tasks.pop(lane, None)
            if not self._lanes.get(lane):
                self._lanes.pop(lane, None)

    async def _deliver(self, record: DeliveryRecord) -> None:
        for n in range(1 + max(0, self._options.callback_retries)):
            if n:
                await asyncio.sleep(self._options.callback_retry_interval_s)
            attempt = await self._attempt(record)
            record.attempts.append(attempt)
            if attempt.status == 200:
                record.status = "delivered"
                return
        record.status = "failed"

    async def _attempt(self, record: DeliveryRecord) -> Attempt:
        assert self._session is not None and self._slots is not None
        sent_at = time.time()
        enc = self._crypto.encrypt(record.plaintext, str(int(sent_at)), _nonce())
        body = enc.post_body(self._corp_id, record.callback.agent_id)
        url = self._url
        status: int | None = None
        error = ""
        async with self._slots:
            started = time.monotonic()
            if url is None:
                error = "no callback_url"
            else:
                try:
                    async with self._session.post(
                        url, params=enc.query(), data=body,
                        headers={"Content-Type": "text/xml"},
                        timeout=aiohttp.ClientTimeout(total=self._options.callback_timeout_s),
                    ) as resp:
                        await resp.read()
                        status = resp.status
                except TimeoutError:
                    error = f"no answer within {self._options.callback_timeout_s}s"
                except aiohttp.ClientError as exc:
                    error = f"{type(exc).__name__}: {exc}"
            elapsed = time.monotonic() - started
        return Attempt(sent_at, enc.timestamp, enc.nonce, enc.signature, status, error, elapsed)
