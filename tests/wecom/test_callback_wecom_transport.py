"""The WeCom client's own HTTP/1.1 transport, against a scripted raw-socket server.

The simulator (aiohttp) always answers the same well-behaved way; real servers and proxies
do not. These tests feed the transport the framings and failures HTTP allows (chunked,
byte-by-byte, close-delimited, `Connection: close`, an idle connection closed by the server,
no answer, an error page) and check what the client makes of each.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.wecom.client import WeComClient
from bot.wecom.errors import WeComError, WeComUnanswered


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    conn: int  # which connection (0, 1, ...) carried it
    nth: int  # its index on that connection


Reply = Callable[[Request, asyncio.StreamWriter], Awaitable[bool]]  # True: close after


@dataclass
class Server:
    """Answers gettoken itself; every other request goes to `reply`."""

    reply: Reply
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = self.connections
        self.connections += 1
        nth = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                parts = urlsplit(target)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                request = Request(method, parts.path, query, headers, body, conn, nth)
                nth += 1
                if parts.path.endswith("/gettoken"):
                    close = await answer(writer, {"errcode": 0, "access_token": "TOKEN",
                                                  "expires_in": 7200})
                else:
                    self.requests.append(request)
                    close = await self.reply(request, writer)
                if close:
                    return
        finally:
            writer.close()


async def answer(writer: asyncio.StreamWriter, data: dict[str, Any], *, status: int = 200,
                 extra: str = "") -> bool:
    body = json.dumps(data).encode()
    writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    return False


OK = {"errcode": 0, "errmsg": "ok", "external_contact": {"name": "王丽"}}


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Reply], Awaitable[tuple[Server, WeComClient]]]]:
    servers: list[asyncio.Server] = []
    clients: list[WeComClient] = []

    async def start(reply: Reply, **client_options: Any) -> tuple[Server, WeComClient]:
        state = Server(reply)
        server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        client = WeComClient(f"http://127.0.0.1:{port}/cgi-bin/", "corp", "secret",
                             **({"backoff_s": 0.01} | client_options))
        clients.append(client)
        return state, client

    yield start
    for client in clients:
        await client.close()
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_keep_alive_query_encoding_and_json_body(serve):
    async def reply(request: Request, writer: asyncio.StreamWriter) -> bool:
        return await answer(writer, OK)

    server, client = await serve(reply)
    odd = "wm a+b&c=d/中文?#"
    for _ in range(3):
        await client.call("externalcontact/get", None, method="GET",
                          params={"external_userid": odd})
    await client.call("externalcontact/mark_tag", {"userid": "张三", "add_tag": ["et1"]})
    assert server.connections == 1  # gettoken and all four calls on one connection
    get, *_, post = server.requests
    assert get.method == "GET" and get.path == "/cgi-bin/externalcontact/get"
    assert get.query == {"external_userid": odd, "access_token": "TOKEN"}
    assert post.method == "POST" and post.headers["content-type"] == "application/json"
    assert json.loads(post.body) == {"userid": "张三", "add_tag": ["et1"]}


async def test_chunked_answer_in_small_pieces(serve):
    async def reply(request: Request, writer: asyncio.StreamWriter) -> bool:
        body = json.dumps(OK).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(body), 7):
            piece = body[i:i + 7]
            writer.write(f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.001)
        writer.write(b"0\r\nX-Trailer: 1\r\n\r\n")
        return False

    server, client = await serve(reply)
    for _ in range(2):
        data = await client.call("externalcontact/get", None, method="GET", params={})
        assert data["external_contact"] == {"name": "王丽"}
    assert server.connections == 1


async def test_answer_byte_by_byte_then_connection_close(serve):
    async def reply(request: Request, writer: asyncio.StreamWriter) -> bool:
        body = json.dumps(OK).encode()
        raw = (f"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
               .encode() + body)
        for i in range(len(raw)):
            writer.write(raw[i:i + 1])
            await writer.drain()
        return True

    server, client = await serve(reply)
    for _ in range(3):
        assert (await client.call("x/y", {}))["errcode"] == 0
    assert server.connections == 3  # gettoken's (reused once), then a new one after each close


async def test_answer_framed_by_the_end_of_the_connection(serve):
    async def reply(request: Request, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.0 200 OK\r\n\r\n" + json.dumps(OK).encode())
        return True

    _, client = await serve(reply)
    assert (await client.call("x/y", {}))["external_contact"]["name"] == "王丽"


async def test_idle_connection_closed_by_the_server_is_not_reused(serve):
    async def reply(request: Request, writer: asyncio.StreamWriter) -> bool:
        await answer(writer, OK)
        return True  # closes without saying so: the client finds out from the socket

    server, client = await serve(reply)
    for _ in range(3):
        await client.call("x/y", {})
        await asyncio.sleep(0.02)
    assert len(server.requests) == 3  # each call reached the server once


async def test_a_get_on_a_stale_connection_is_sent_again_a_post_is_not(serve):
    async def reply(request: Request, writer: asyncio.StreamWriter) -> bool:
        if request.nth > 0:
            return True  # reused connection: drop it unanswered, as a timed-out keep-alive
        return await answer(writer, OK)

    server, client = await serve(reply, max_retries=0)
    for _ in range(2):  # each on a kept-alive connection first, then at once on a new one
        await client.call("x/y", None, method="GET")
    assert [(r.method, r.nth) for r in server.requests] == [("GET", 1), ("GET", 0)] * 2
    with pytest.raises(WeComUnanswered):  # a POST is never repeated behind the caller's back
        await client.call("x/y", {"a": 1}, retry_unanswered=False)
    assert [(r.method, r.nth) for r in server.requests[4:]] == [("POST", 1)]


async def test_no_answer_times_out(serve):
    async def reply(request: Request, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return True

    _, client = await serve(reply, request_timeout_s=0.1, max_retries=1)
    started = time.monotonic()
    with pytest.raises(WeComError) as raised:
        await client.call("x/y", {})
    assert raised.value.errcode == -1 and "TimeoutError" in str(raised.value)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("bad", [
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\n\r\noops!",
    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n<html/>!!",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]",
    b"SSH-2.0-OpenSSH\r\n\r\n",
])
async def test_error_pages_and_garbage_are_retried_as_busy(serve, bad: bytes):
    async def reply(request: Request, writer: asyncio.StreamWriter) -> bool:
        if len(server.requests) == 1:
            writer.write(bad)
            return True
        return await answer(writer, OK)

    server, client = await serve(reply)
    assert (await client.call("x/y", {}))["errcode"] == 0
    assert len(server.requests) == 2


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1, to talk TLS to ourselves."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_https_with_certificate_verification(tmp_path: Path):
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    async def reply(request: Request, writer: asyncio.StreamWriter) -> bool:
        return await answer(writer, OK)

    state = Server(reply)
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0, ssl=server_tls)
    port = server.sockets[0].getsockname()[1]
    client = WeComClient(f"https://127.0.0.1:{port}/cgi-bin/", "corp", "secret",
                         max_retries=0, request_timeout_s=2.0)
    try:
        with pytest.raises(WeComError, match="transport"):  # not trusted: refused
            await client.call("x/y", {})
        client._lean()._ssl = ssl.create_default_context(cafile=str(cert))  # now trusted
        for _ in range(2):
            assert (await client.call("x/y", {}))["errcode"] == 0
        assert state.connections == 1 and len(state.requests) == 2
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
