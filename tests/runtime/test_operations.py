"""What an operator's tooling sees: /healthz, /readyz, /metrics and structured log lines."""

from __future__ import annotations

import json
import logging

from bot.db.engine import head_revision
from bot.logs import RedactingFormatter, set_context
from bot.wecom.crypto import CallbackCrypto
from tests.conftest import World


async def test_readyz_reports_database_migration_and_scheduler_role(world: World) -> None:
    async with world.http.get(f"{world.bot_url}/healthz") as resp:
        assert resp.status == 200
    async with world.http.get(f"{world.bot_url}/readyz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["status"] == "ready"
    assert body["database"] == "ok"
    assert body["migration"] == body["expected_migration"] == head_revision()
    assert body["scheduler"] == "leader"  # alone on its database: it leads
    assert world.runtime.replica is not None and body["replica"] == world.runtime.replica.id


async def test_readyz_is_503_when_the_schema_is_behind_the_code(world: World) -> None:
    world.db.rows("UPDATE alembic_version SET version_num = '0002'")
    async with world.http.get(f"{world.bot_url}/readyz") as resp:
        assert resp.status == 503
        body = await resp.json()
    assert body["migration"] == "0002" and body["status"] == "not ready"
    world.db.rows(f"UPDATE alembic_version SET version_num = '{head_revision()}'")


def _samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


async def test_metrics_count_callbacks_acks_calls_and_outbox(world: World) -> None:
    ext, _ = world.sim.scan_contact_qr("linxiaoyu", "takeout-card", "指标顾客")
    await world.settle()
    async with world.http.get(f"{world.bot_url}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        samples = _samples(await resp.text())
    assert samples['wecom_bot_callbacks_total{outcome="recorded",type="contact.added"}'] == 1
    assert samples["wecom_bot_callback_ack_seconds_count"] == 1
    assert samples['wecom_bot_callback_ack_seconds_bucket{le="+Inf"}'] == 1
    welcome = 'wecom_bot_wecom_calls_total{api="externalcontact/send_welcome_msg",errcode="0"}'
    assert samples[welcome] == 1
    assert samples['wecom_bot_outbox_depth{status="queued"}'] == 0
    assert samples["wecom_bot_outbox_oldest_queued_age_seconds"] == 0
    assert samples["wecom_bot_inbox_pending"] == 0
    assert samples["wecom_bot_scheduler_leader"] == 1
    assert samples["wecom_bot_callbacks_refused_total"] == 0

    # a redelivery is counted as a duplicate, not acted on
    [(payload,)] = world.rows("SELECT payload FROM inbox_event")
    fields = json.loads(payload)
    xml = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"
    resp = await world.post_callback(xml)
    assert resp.status == 200
    async with world.http.get(f"{world.bot_url}/metrics") as resp:
        samples = _samples(await resp.text())
    assert samples['wecom_bot_callbacks_total{outcome="duplicate",type="contact.added"}'] == 1
    assert len(world.sim.welcomes_for(ext)) == 1

    # a forgery (wrong Token) is refused and counted, nothing else
    forger = CallbackCrypto("not-the-token", world.secrets.aes_key, world.secrets.corp_id)
    resp = await world.post_callback(xml, crypto=forger)
    assert 400 <= resp.status < 500
    async with world.http.get(f"{world.bot_url}/metrics") as resp:
        samples = _samples(await resp.text())
    assert samples["wecom_bot_callbacks_refused_total"] == 1
    assert samples['wecom_bot_callbacks_total{outcome="recorded",type="contact.added"}'] == 1


def test_json_log_lines_carry_the_dedupe_key_and_hide_secrets() -> None:
    set_context(replica="7")
    formatter = RedactingFormatter(["s3cr3t-app-secret"], as_json=True)
    record = logging.LogRecord(
        "bot.dispatch", logging.WARNING, __file__, 1,
        "handler failed: postgresql+psycopg://bot:pa55word@db/bot with s3cr3t-app-secret",
        (), None)
    record.dedupe_key = "contact.added:wmABC:zhanghua:1700000000"
    record.event_id = 12
    entry = json.loads(formatter.format(record))
    assert entry["dedupe_key"] == "contact.added:wmABC:zhanghua:1700000000"
    assert entry["event_id"] == 12 and entry["replica"] == "7"
    assert "pa55word" not in entry["message"] and "s3cr3t" not in entry["message"]
    assert entry["level"] == "WARNING"
