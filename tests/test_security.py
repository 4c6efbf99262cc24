"""Security properties of the running bot that are not about one request (docs/security.md).

* Secrets never reach the logs: a real bot process with known secrets, logging at DEBUG,
  is driven through its error paths (forged and undecryptable callbacks, token errors,
  failing handlers with tracebacks, transport faults); its whole output is then searched
  for the corp secret, the Token, the EncodingAESKey, the AES key bytes and every
  access_token the simulated WeCom issued.
* The signature and receive-id compares are constant-time (hmac.compare_digest): checked
  by reading what `CallbackCrypto` calls, not by timing (timings make flaky tests).
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.simulator import FaultPlan, SimOptions, Simulator
from bot.simulator.local import free_port, secrets_env
from bot.wecom import crypto
from tests.conftest import REPO, add_demo_staff, make_secrets

MANAGER = "linxiaoyu"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    secrets_ = make_secrets()
    simulator = Simulator(secrets_.corp_id, secrets_.secret, secrets_.token, secrets_.aes_key,
                          agent_id=1000002, options=SimOptions(callback_retry_interval_s=0.05))
    await simulator.start()
    add_demo_staff(simulator)
    simulator.secrets = secrets_  # type: ignore[attr-defined]
    try:
        yield simulator
    finally:
        await simulator.stop()


async def _run_bot(sim: Simulator, tmp_path: Path) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n'
        f'[wecom]\napi_base_url = "{sim.base_url}"\nrequest_timeout_s = 1.0\n'
        f'[paths]\nsop_dir = "{REPO / "sop"}"\ntemplates_dir = "{REPO / "templates"}"\n'
        '[logging]\nlevel = "DEBUG"\n')
    with (tmp_path / "bot.log").open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "--config", str(config),
            env={**os.environ, **secrets_env(sim.secrets)},  # type: ignore[attr-defined]
            cwd=tmp_path, stdout=log_file, stderr=asyncio.subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(1200):
            try:
                async with http.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return proc, url
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError((tmp_path / "bot.log").read_text(errors="replace"))


async def test_secrets_never_appear_in_the_logs(sim: Simulator, tmp_path: Path) -> None:
    secrets_ = sim.secrets  # type: ignore[attr-defined]
    sim.fail_next("gettoken", 40001)  # the start-up tag sync fails: an error with context
    proc, url = await _run_bot(sim, tmp_path)
    try:
        sim.callback_url = url + "/wecom/callback"
        sim.fail_next("externalcontact/get", 42001)
        sim.fail_next("externalcontact/send_welcome_msg", 40014)
        sim.fail_next("externalcontact/mark_tag", -1, times=2)
        sim.reset_next("externalcontact/get")
        sim.lose_next_answer("externalcontact/send_welcome_msg")
        sim.gateway_error_next("externalcontact/mark_tag")
        for i in range(3):
            sim.scan_contact_qr(MANAGER, "takeout-card", f"顾客{i}")
        sim.faults = FaultPlan(busy=0.2, token_expired=0.1, reset=0.1)
        sim.staff_sends_app_text(MANAGER, "hello")
        await sim.wait_callbacks_delivered(timeout=20)

        crypt = crypto.CallbackCrypto(secrets_.token, secrets_.aes_key, secrets_.corp_id)
        stamp = str(int(time.time()))
        message = crypt.encrypt("<xml><Bad>", stamp)
        async with aiohttp.ClientSession() as http:
            for params, body in [
                ({**message.query(), "msg_signature": "0" * 40}, message.post_body("x")),
                (message.query(), message.post_body(secrets_.corp_id)),
                ({"msg_signature": "a", "timestamp": stamp, "nonce": "n"}, b"<xml>"),
            ]:
                async with http.post(url + "/wecom/callback", params=params,
                                     data=body) as resp:
                    assert 400 <= resp.status < 500
        await asyncio.sleep(3)  # let retries and failing handlers log what they log
    finally:
        sim.clear_faults()
        proc.kill()
        await proc.wait()

    log = (tmp_path / "bot.log").read_text(errors="replace")
    assert "DEBUG" in log and "refused callback" in log  # the error paths really ran
    assert "errcode 40001" in log  # and the start-up credential error was reported
    aes_bytes = base64.b64decode(secrets_.aes_key + "=")
    issued = list(sim.tokens._tokens)
    assert issued, "the bot never got a token: the test did not exercise the API"
    for leak in [secrets_.secret, secrets_.token, secrets_.aes_key, aes_bytes.hex(),
                 base64.b64encode(aes_bytes).decode(), *issued]:
        assert leak not in log, "a secret appears in the bot's log"


def test_signature_and_receive_id_compares_are_constant_time() -> None:
    source = inspect.getsource(crypto.CallbackCrypto)
    assert source.count("hmac.compare_digest(") >= 2
    assert "signature ==" not in source and "== signature" not in source
