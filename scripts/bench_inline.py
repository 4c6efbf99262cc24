"""The welcome handler a team would write without the bot: the yardstick of bench_callbacks.py.

    python scripts/bench_inline.py --port 8081    # WECOM_* secrets and WECOM_API in the env

One aiohttp process that, for each callback and before answering it: verifies the
signature, decrypts, parses, reads the customer (`externalcontact/get`), renders the
welcome (one Jinja template, compiled once), sends it (`send_welcome_msg`), marks the
channel's tag (`mark_tag`), and answers 200. No database, no dedupe, no retry: a
redelivery runs the whole welcome again (WeCom refuses the second send with 41051, which
is the only reason nobody is welcomed twice), and a callback that arrives while it is down
is simply lost.

It uses the bot's own callback crypto and event parser (so the comparison is about what
happens after decryption) and a plain `aiohttp.ClientSession` for the API calls, with the
access token fetched once at start. `GET /received` lists when each customer's callback was
first received, so the benchmark computes receipt-to-welcome latency the same way as for
the bot (receipt here to the simulator's receipt of send_welcome_msg).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from jinja2 import Environment

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.wecom.crypto import CallbackCrypto, CallbackRejected  # noqa: E402
from bot.wecom.events import ContactAdded, MalformedEvent, parse_event, parse_xml  # noqa: E402

WELCOME = ("{{ name }}，你好！我是{{ staff }}，欢迎来到果田鲜生{{ channel }}。"
           "每周二会员日全场水果9折，有新鲜到货我第一时间告诉你。")
CHANNELS = {"store-0012-counter": "收银台", "takeout-card": "外卖卡片",
            "tuesday-fruit-day": "会员日", "store-0215-counter": "收银台",
            "persona-xiaoxian": "小鲜", "poster-unknown": "海报"}


class InlineWelcome:
    """State of the inline handler: the crypto, one HTTP session, the token, the tag ids."""

    def __init__(self, api: str) -> None:
        env = os.environ
        self.corp_id = env["WECOM_CORP_ID"]
        self.crypto = CallbackCrypto(env["WECOM_TOKEN"], env["WECOM_AES_KEY"], self.corp_id)
        self.api = api.rstrip("/") + "/"
        self.template = Environment(autoescape=False).from_string(WELCOME)  # noqa: S701
        self.http: aiohttp.ClientSession | None = None
        self.token = ""
        self.tag_ids: dict[str, str] = {}
        self.received: dict[str, float] = {}

    async def start(self, _app: web.Application) -> None:
        self.http = aiohttp.ClientSession()
        env = os.environ
        async with self.http.get(self.api + "gettoken", params={
                "corpid": self.corp_id, "corpsecret": env["WECOM_SECRET"]}) as resp:
            self.token = (await resp.json())["access_token"]
        names = sorted(set(CHANNELS.values()))
        group = await self._call("externalcontact/add_corp_tag",
                                 {"group_name": "渠道", "tag": [{"name": n} for n in names]})
        self.tag_ids = {t["name"]: t["id"] for t in group["tag_group"]["tag"]}

    async def stop(self, _app: web.Application) -> None:
        if self.http is not None:
            await self.http.close()

    async def _call(self, api: str, body: dict[str, Any] | None = None,
                    params: dict[str, str] | None = None) -> dict[str, Any]:
        assert self.http is not None
        query = {"access_token": self.token, **(params or {})}
        if body is None:
            request = self.http.get(self.api + api, params=query)
        else:
            request = self.http.post(self.api + api, params=query, json=body)
        async with request as resp:
            data: dict[str, Any] = await resp.json()
        return data

    async def receive(self, request: web.Request) -> web.Response:
        received_at = time.time()
        q = request.query
        try:
            body = await request.read()
            encrypted = parse_xml(body).get("Encrypt")
            if not isinstance(encrypted, str):
                return web.Response(status=400, text="no Encrypt")
            xml = self.crypto.verify_and_decrypt(q["msg_signature"], q["timestamp"],
                                                 q["nonce"], encrypted)
            event = parse_event(xml)
        except (KeyError, CallbackRejected, MalformedEvent) as exc:
            return web.Response(status=400, text=str(exc))
        if isinstance(event, ContactAdded):
            self.received.setdefault(event.external_user_id, received_at)
            await self.welcome(event)
        return web.Response()

    async def welcome(self, ev: ContactAdded) -> None:
        contact = await self._call("externalcontact/get",
                                   params={"external_userid": ev.external_user_id})
        name = contact.get("external_contact", {}).get("name", "")
        channel = CHANNELS.get(ev.state, "门店")
        text = self.template.render(name=name, staff=ev.user_id, channel=channel)
        if ev.welcome_code:
            await self._call("externalcontact/send_welcome_msg",
                             {"welcome_code": ev.welcome_code, "text": {"content": text}})
        await self._call("externalcontact/mark_tag", {
            "userid": ev.user_id, "external_userid": ev.external_user_id,
            "add_tag": [self.tag_ids[channel]], "remove_tag": []})

    async def received_times(self, _request: web.Request) -> web.Response:
        return web.json_response(self.received)


def serve_inline(port: int, api: str) -> None:
    from bot.loop import new_event_loop

    handler = InlineWelcome(api)
    app = web.Application()
    app.router.add_post("/wecom/callback", handler.receive)
    app.router.add_get("/received", handler.received_times)
    app.router.add_get("/healthz", lambda _r: web.Response(text="ok"))
    app.on_startup.append(handler.start)
    app.on_cleanup.append(handler.stop)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None,
                loop=new_event_loop())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", default=os.environ.get("WECOM_API", ""),
                        help="WeCom API base, e.g. http://127.0.0.1:8080/cgi-bin/")
    args = parser.parse_args()
    serve_inline(args.port, args.api)


if __name__ == "__main__":
    main()
