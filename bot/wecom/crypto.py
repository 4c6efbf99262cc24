"""WeCom callback crypto: signature check, AES decrypt and encrypt (reference §1.4-1.6).

The SHA-1 signature is hashlib's (the sorted concatenation, §1.4); wechatpy does the
encryption (`PrpCrypto`, 32-byte PKCS#7 blocks), which the simulator uses to play WeCom's
side, imported only when first needed (a restart does not wait for it). Decryption, which runs for
every callback, is one AES-256-CBC pass of our own with what wechatpy lacks: a
constant-time signature compare, checks of the pad byte and the length prefix, and one
exception type for every way a forged or corrupt ciphertext can fail.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class CallbackRejected(Exception):
    """A callback that must be refused; `reason` is safe to log (holds no secret).

    `status` is the HTTP answer: 403 when the sender could not prove it is WeCom (bad
    signature), 400 for anything else that cannot be a valid callback.
    """

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def sign(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """msg_signature = sha1 of the sorted concatenation of the four strings (§1.4)."""
    # Sorted as str: the same order as wechatpy's sort of the UTF-8 bytes (UTF-8 keeps code
    # point order). hashlib, not wechatpy's signer: importing wechatpy pulls in `requests`
    # and its client, a third of a restart's imports (docs/capacity.md).
    joined = "".join(sorted((token, timestamp, nonce, encrypted)))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()  # noqa: S324 - WeCom's algorithm


class CallbackCrypto:
    """The three callback settings of one app: Token, EncodingAESKey and the receive id."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise ValueError("EncodingAESKey must be 43 characters")
        self._token = token
        self._key = base64.b64decode(encoding_aes_key + "=")
        self._iv = self._key[:16]
        self._receive_id = receive_id
        self._prp: Any = None  # wechatpy's PrpCrypto, imported on first `encrypt` (see `sign`)

    def verify(self, signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = sign(self._token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
            raise CallbackRejected("bad signature", status=403)

    def decrypt(self, encrypted: str) -> str:
        """Plaintext of a verified `Encrypt` value; raises CallbackRejected on any corruption.

        One AES-CBC pass over the message (this runs for every callback before the 200):
        wechatpy's `PrpCrypto.decrypt` has no check of the pad byte or the length prefix, so
        checking them around it took a second cipher set-up; here both are checked on the
        one plaintext. Layout (§1.5): 16 random bytes, 4-byte big-endian length, message,
        receive id, PKCS#7 padding to 32 bytes.
        """
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CallbackRejected("undecryptable body") from exc
        if not raw or len(raw) % 32:
            raise CallbackRejected("ciphertext is not a whole number of 32-byte blocks")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        # PKCS#7 to 32-byte blocks: every pad byte carries the pad length. Only the last
        # used to be looked at, so inconsistent padding was accepted.
        if not 1 <= pad <= 32 or plain[-pad:] != bytes((pad,)) * pad:
            raise CallbackRejected("bad padding")
        content = plain[16:-pad]
        length = int.from_bytes(content[:4], "big")
        if len(content) < 4 or length > len(content) - 4:
            raise CallbackRejected("undecryptable body")  # a wrong key: a random length
        try:
            message = content[4:4 + length].decode()
            receive_id = content[4 + length:].decode()
        except UnicodeDecodeError as exc:
            raise CallbackRejected("undecryptable body") from exc
        if not hmac.compare_digest(receive_id.encode(), self._receive_id.encode()):
            raise CallbackRejected("receive id does not match this corp")
        return message

    def verify_and_decrypt(self, signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        self.verify(signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    def encrypt(self, plaintext: str, timestamp: str, nonce: str | None = None) -> EncryptedMessage:
        """Encrypt and sign as WeCom does: used by the simulator and by passive replies."""
        nonce = nonce or secrets.token_hex(5)
        if self._prp is None:
            from wechatpy.enterprise.crypto import PrpCrypto

            self._prp = PrpCrypto(self._key)
        encrypted = self._prp.encrypt(plaintext, self._receive_id).decode()
        return EncryptedMessage(encrypted, sign(self._token, timestamp, nonce, encrypted),
                                timestamp, nonce)


class EncryptedMessage:
    """One encrypted callback: the `Encrypt` value and the query parameters that sign it."""

    __slots__ = ("encrypted", "nonce", "signature", "timestamp")

    def __init__(self, encrypted: str, signature: str, timestamp: str, nonce: str) -> None:
        self.encrypted = encrypted
        self.signature = signature
        self.timestamp = timestamp
        self.nonce = nonce

    def query(self) -> dict[str, str]:
        return {"msg_signature": self.signature, "timestamp": self.timestamp, "nonce": self.nonce}

    def post_body(self, corp_id: str, agent_id: int | None = None) -> bytes:
        agent = f"<AgentID><![CDATA[{agent_id}]]></AgentID>" if agent_id is not None else ""
        return (
            f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{self.encrypted}]]></Encrypt>{agent}</xml>"
        ).encode()
