"""What `/metrics` exposes, in Prometheus' text format.

prometheus_client rather than a hand-written exposition: it is small, dependency-free and
the reference implementation of the format (escaping, histogram buckets with `+Inf`,
`_total`/`_created` series, HELP/TYPE lines) that Prometheus itself parses; writing that
again would be code to get subtly wrong. One registry per runtime, never the global one:
two bots in one test process must not share counters.

Two kinds of numbers:
* this replica's own events, counted as they happen: callbacks by type and outcome, the
  time from receipt to acknowledgement, WeCom calls by API and errcode;
* the deployment's state, read from the database when scraped (every replica reports the
  same figures): outbox depth and the age of its oldest queued call, pending inbox events,
  SOP slots and group deliveries of the last 24 h by outcome (owner posts count as `due`,
  `reminded` once the owner's reminder went out, and `posted`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.engine import Connection

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# acknowledgement budget is WeCom's 5 s; the interesting part is well under 50 ms
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SOP_WINDOW_S = 86400.0

_OUTBOX = text("""SELECT status, COUNT(*), MIN(created_at) FROM outbox_send
                  WHERE status IN ('queued', 'sending', 'unknown', 'created') GROUP BY status""")
_INBOX = text("SELECT COUNT(*), MIN(received_at) FROM inbox_event WHERE status = 'pending'")
_SLOTS = text("SELECT status, COUNT(*) FROM sop_slot WHERE slot_at >= :since GROUP BY status")
_DELIVERIES = text("""SELECT d.status, COUNT(*) FROM outbox_delivery d
                      WHERE d.slot_id IN (SELECT id FROM sop_slot WHERE slot_at >= :since)
                      GROUP BY d.status""")
# Owner posts (via owner_post) per group: posted; else reminded (the owner's app message
# went out); else due.
_OWNER_POSTS = text("""SELECT CASE WHEN p.status = 'posted' THEN 'posted'
                         WHEN EXISTS (SELECT 1 FROM outbox_send s WHERE s.slot_id = p.slot_id
                                      AND s.sender = p.owner AND s.via = 'owner_remind'
                                      AND s.status = 'done') THEN 'reminded'
                         ELSE 'due' END AS outcome, COUNT(*)
                       FROM owner_post p WHERE p.slot_at >= :since GROUP BY 1""")


@dataclass
class DbSnapshot:
    """The deployment's state at the last scrape."""

    at: float = 0.0
    outbox: dict[str, tuple[int, float | None]] = field(default_factory=dict)
    inbox_pending: int = 0
    inbox_oldest: float | None = None
    slots: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)


def read_snapshot(conn: Connection) -> DbSnapshot:
    now = time.time()
    since = now - SOP_WINDOW_S
    snap = DbSnapshot(at=now)
    snap.outbox = {str(s): (int(n), None if oldest is None else float(oldest))
                   for s, n, oldest in conn.execute(_OUTBOX)}
    pending, oldest = conn.execute(_INBOX).one()
    snap.inbox_pending, snap.inbox_oldest = int(pending), oldest
    snap.slots = {str(s): int(n) for s, n in conn.execute(_SLOTS, {"since": since})}
    snap.deliveries = {str(s): int(n) for s, n in conn.execute(_DELIVERIES, {"since": since})}
    for outcome, n in conn.execute(_OWNER_POSTS, {"since": since}):
        snap.deliveries[str(outcome)] = snap.deliveries.get(str(outcome), 0) + int(n)
    return snap


class _StateCollector(Collector):
    """Gauges computed at scrape time from the snapshot and the runtime's own counters."""

    def __init__(self, state: Callable[[], dict[str, Any]]) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        state = self._state()
        snap: DbSnapshot = state["snapshot"]
        depth = GaugeMetricFamily("wecom_bot_outbox_depth",
                                  "WeCom calls not finished, by state", labels=["status"])
        for status in ("queued", "sending", "unknown", "created"):
            depth.add_metric([status], snap.outbox.get(status, (0, None))[0])
        yield depth
        oldest = snap.outbox.get("queued", (0, None))[1]
        yield GaugeMetricFamily("wecom_bot_outbox_oldest_queued_age_seconds",
                                "Age of the oldest queued WeCom call (0 when none)",
                                value=max(snap.at - oldest, 0.0) if oldest else 0.0)
        yield GaugeMetricFamily("wecom_bot_inbox_pending",
                                "Callbacks recorded and not handled yet",
                                value=snap.inbox_pending)
        yield GaugeMetricFamily(
            "wecom_bot_inbox_oldest_pending_age_seconds",
            "Age of the oldest callback recorded and not handled (0 when none)",
            value=max(snap.at - snap.inbox_oldest, 0.0) if snap.inbox_oldest else 0.0)
        slots = GaugeMetricFamily("wecom_bot_sop_slots_24h",
                                  "SOP slots of the last 24 h by outcome", labels=["status"])
        for status, n in sorted(snap.slots.items()):
            slots.add_metric([status], n)
        yield slots
        deliveries = GaugeMetricFamily("wecom_bot_sop_deliveries_24h",
                                       "Group deliveries of SOP slots of the last 24 h, "
                                       "by outcome (owner posts: due, reminded, posted)",
                                       labels=["status"])
        for status, n in sorted(snap.deliveries.items()):
            deliveries.add_metric([status], n)
        yield deliveries
        yield GaugeMetricFamily("wecom_bot_scheduler_leader",
                                "1 if this replica runs the SOP scheduler",
                                value=1.0 if state["leader"] else 0.0)
        yield CounterMetricFamily("wecom_bot_callbacks_refused",
                                  "Callbacks refused before anything was written (4xx: "
                                  "signature, timestamp, size, parse)",
                                  value=state["refused"])
        yield GaugeMetricFamily("wecom_bot_handlers_in_progress",
                                "Events submitted to handlers and not finished",
                                value=state["busy"])


class BotMetrics:
    def __init__(self, state: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.callbacks = Counter(
            "wecom_bot_callbacks", "Callbacks accepted, by event type and outcome "
            "(recorded: new; duplicate: a redelivery, recorded before)",
            ["type", "outcome"], registry=self.registry)
        self.ack_seconds = Histogram(
            "wecom_bot_callback_ack_seconds",
            "From receipt of a callback to its durable record (the 200 follows at once)",
            buckets=ACK_BUCKETS, registry=self.registry)
        self.api_calls = Counter(
            "wecom_bot_wecom_calls", "WeCom API answers by API and errcode "
            "(-1 also for no answer)", ["api", "errcode"], registry=self.registry)
        self.snapshot = DbSnapshot()
        self._children: dict[tuple[Any, ...], Any] = {}  # (metric, *labels) -> its child
        self._state = state
        self.registry.register(_StateCollector(self._full_state))

    def _full_state(self) -> dict[str, Any]:
        return {**self._state(), "snapshot": self.snapshot}

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once: `labels` takes a lock and builds a key,
        and a welcome counts one callback and three calls to WeCom."""
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def callback(self, kind: str, outcome: str, received_at: float) -> None:
        self._child(self.callbacks, kind, outcome).inc()
        self.ack_seconds.observe(max(time.time() - received_at, 0.0))

    def api_call(self, api: str, errcode: int) -> None:
        self._child(self.api_calls, api, str(errcode)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
