"""What running the simulator on this machine needs: made-up credentials and a free port.

The demo, the tests and the benchmark scripts all start a simulated corp; its corp id,
secret, Token and EncodingAESKey only have to agree between the bot and the simulator, so
they are made up per run (never real secrets, never written to a file).
"""

from __future__ import annotations

import secrets
import socket
import string

from bot.config import Secrets

_ALNUM = string.ascii_letters + string.digits
SIM_AGENT_ID = 1000002


def throwaway_secrets(corp_prefix: str = "wwsim") -> Secrets:
    """Fresh credentials for one simulated corp (AES key: 43 characters, as WeCom's)."""
    return Secrets(corp_id=corp_prefix + secrets.token_hex(4),
                   secret=secrets.token_urlsafe(32),
                   token="".join(secrets.choice(_ALNUM) for _ in range(16)),
                   aes_key="".join(secrets.choice(_ALNUM) for _ in range(43)),
                   agent_id=SIM_AGENT_ID)


def secrets_env(creds: Secrets) -> dict[str, str]:
    """The same credentials as the environment variables the bot and simulator read."""
    return {"WECOM_CORP_ID": creds.corp_id, "WECOM_SECRET": creds.secret,
            "WECOM_TOKEN": creds.token, "WECOM_AES_KEY": creds.aes_key,
            "WECOM_AGENT_ID": str(creds.agent_id or SIM_AGENT_ID)}


def free_port() -> int:
    """A loopback port nobody listens on right now (for a child process to bind)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
