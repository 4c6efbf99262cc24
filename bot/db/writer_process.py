"""SQLite's group commit in a process of its own, so the event loop's core stays for HTTP.

At 600 callbacks a second the bot's event loop was 96 % busy, and 0.43 ms of every
callback's 1.5 ms was SQLite: the records, a welcome's rows, the commit (docs/capacity.md,
eighth round). A writer *thread* does not help: every statement and commit takes the GIL
back from the loop (measured worse, seventh round). A process has its own GIL and runs on
the machine's other core.

What it runs is data, not code: a batch of `Statements` (bot.db.statements), pickled over a
pipe, run in one transaction on its own `sqlite3` connection exactly as the loop would run
them (each write alone in a savepoint if the batch fails), and answered with one result per
write. One batch is in flight at a time; the loop gathers the next meanwhile, so batches
grow with the load. Writes that are Python functions still run on the loop, never while a
batch is in flight: the two never wait for each other's lock (bot.db.engine).

The process is the bot's child: it loads the standard library and this module only (tens
of milliseconds; the loop writes inline until it says it is ready), checkpoints nothing
(the parent's checkpointer thread does), and ends when its pipe closes, which includes
the parent being killed. If it dies, the writes in flight fail (their callbacks are not
acknowledged, so WeCom sends them again) and the loop writes inline until a new one is up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import sqlite3
import struct
import subprocess
import sys
from typing import Any

from bot.db import pragmas
from bot.db.checkpoint import stop_checkpointing_on_commit
from bot.db.statements import Statements

log = logging.getLogger(__name__)
_HEADER = struct.Struct("!I")
READY = b"ready"
Result = tuple[bool, Any]  # (True, value) or (False, exception)


class WriterGone(RuntimeError):
    """The writer process ended with writes in flight: whether they committed is unknown."""


# -- the child ---------------------------------------------------------------------------

def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    for pragma in pragmas.CONNECTION:
        conn.execute(f"PRAGMA {pragma}")
    stop_checkpointing_on_commit(conn)
    return conn


def run_batch(conn: sqlite3.Connection, batch: list[Statements]) -> list[Result]:
    """One transaction for the batch; if it fails, again with each write in a savepoint
    (as bot.db.engine `Database._run_batch`, whose rules these are)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            results: list[Result] = [(True, write.run_sqlite(conn)) for write in batch]
            conn.execute("COMMIT")
            return results
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except Exception as exc:
        if len(batch) == 1:
            return [(False, exc)]
    results = []
    conn.execute("BEGIN IMMEDIATE")
    for write in batch:
        conn.execute("SAVEPOINT w")
        try:
            results.append((True, write.run_sqlite(conn)))
        except Exception as exc:
            conn.execute("ROLLBACK TO SAVEPOINT w")
            results.append((False, exc))
        conn.execute("RELEASE SAVEPOINT w")
    conn.execute("COMMIT")
    return results


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _send(fd: int, payload: bytes) -> None:
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    while data:
        data = data[os.write(fd, data):]


def _picklable(results: list[Result]) -> bytes:
    try:
        return pickle.dumps(results, pickle.HIGHEST_PROTOCOL)
    except Exception:  # an exception that does not pickle: its text does
        return pickle.dumps([(ok, value if ok else RuntimeError(repr(value)))
                             for ok, value in results], pickle.HIGHEST_PROTOCOL)


# A batch on the wire: (new statement texts, [(steps, returns), ...]), each step a
# (text number, parameters) pair. Plain tuples pickle and unpickle in C; each statement's
# text crosses the pipe once per child, then only its number (a welcome's seven statements
# are 3 KB of SQL, most of the bytes of a batch of one).
Wire = tuple[list[str], list[tuple[tuple[tuple[int, Any], ...], int | None]]]


class _Texts:
    """The statement texts one side has seen, by number (the same on both sides)."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}
        self.texts: list[str] = []

    def encode(self, batch: list[Statements]) -> Wire:
        new: list[str] = []
        writes = []
        for write in batch:
            steps = []
            for statement, params in write.steps:
                number = self.numbers.get(statement)
                if number is None:
                    number = self.numbers[statement] = len(self.numbers)
                    new.append(statement)
                steps.append((number, params))
            writes.append((tuple(steps), write.returns))
        return new, writes

    def decode(self, wire: Wire) -> list[Statements]:
        new, writes = wire
        self.texts.extend(new)
        texts = self.texts
        return [Statements(tuple((texts[n], params) for n, params in steps), returns)
                for steps, returns in writes]


def serve(path: str, requests: int, replies: int) -> None:
    """The child's life: batches in, results out, until the request pipe closes.

    Ctrl-C and a stop signal sent to the whole process group are the parent's to act on:
    the child finishes what it holds and ends when the parent closes the pipe (or dies)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = _connect(path)
    texts = _Texts()
    try:
        _send(replies, READY)
        while True:
            header = _read_exactly(requests, _HEADER.size)
            if header is None:
                break
            payload = _read_exactly(requests, _HEADER.unpack(header)[0])
            if payload is None:
                break
            batch = texts.decode(pickle.loads(payload))  # noqa: S301 (our parent's pipe)
            _send(replies, _picklable(run_batch(conn, batch)))
    except BrokenPipeError:
        pass  # the parent is gone: nobody is waiting for an answer
    finally:
        conn.close()


# -- the parent's handle -----------------------------------------------------------------

class WriterProcess:
    """The child and its two pipes, seen from the event loop (bot.db.engine drives it)."""

    def __init__(self, path: str) -> None:
        request_r, self._requests = os.pipe()
        self._replies, reply_w = os.pipe()
        try:
            self.process = subprocess.Popen(  # noqa: S603 (our own module)
                [sys.executable, "-m", "bot.db.writer_process", path, str(request_r),
                 str(reply_w)], pass_fds=(request_r, reply_w), stdin=subprocess.DEVNULL)
        except BaseException:
            for fd in (self._requests, self._replies):
                os.close(fd)
            raise
        finally:
            os.close(request_r)  # the child's ends: it has its own copies
            os.close(reply_w)
        os.set_blocking(self._replies, False)
        self._buffer = bytearray()
        self._texts = _Texts()
        self.ready = False

    @property
    def replies_fd(self) -> int:
        return self._replies

    def send(self, batch: list[Statements]) -> None:
        _send(self._requests, pickle.dumps(self._texts.encode(batch), pickle.HIGHEST_PROTOCOL))

    def receive(self) -> list[list[Result]] | None:
        """The replies that have arrived whole (READY is taken here); None once the child
        is gone."""
        gone = False
        while True:
            try:
                chunk = os.read(self._replies, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                gone = True
                break
            self._buffer += chunk
        replies: list[list[Result]] = []
        while len(self._buffer) >= _HEADER.size:
            size = _HEADER.unpack_from(self._buffer)[0]
            if len(self._buffer) < _HEADER.size + size:
                break
            payload = bytes(self._buffer[_HEADER.size:_HEADER.size + size])
            del self._buffer[:_HEADER.size + size]
            if payload == READY:
                self.ready = True
            else:
                replies.append(pickle.loads(payload))  # noqa: S301 (our child's pipe)
        if gone and not replies:
            return None
        return replies

    def stop(self, timeout_s: float = 10.0) -> None:
        """Close the request pipe (the child finishes and ends) and wait for it."""
        for fd in (self._requests, self._replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.error("the writer process did not end in %.0f s: killed", timeout_s)
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
