import base64
from urllib.parse import unquote

import pytest

from bot.wecom.crypto import CallbackCrypto, CallbackRejected
from tests.wecom.vectors import (
    AES_KEY,
    CORP_ID,
    GET_ECHOSTR_SENT,
    GET_NONCE,
    GET_PLAIN,
    GET_SIGNATURE,
    GET_TIMESTAMP,
    POST_ENCRYPT,
    POST_NONCE,
    POST_PLAIN,
    POST_SIGNATURE,
    POST_TIMESTAMP,
    TOKEN,
)

CRYPTO = CallbackCrypto(TOKEN, AES_KEY, CORP_ID)


def test_official_vector_get_verifies_and_decrypts():
    echostr = unquote(GET_ECHOSTR_SENT)
    assert CRYPTO.verify_and_decrypt(GET_SIGNATURE, GET_TIMESTAMP, GET_NONCE, echostr) == GET_PLAIN


def test_official_vector_post_decrypts_byte_for_byte():
    plain = CRYPTO.verify_and_decrypt(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, POST_ENCRYPT)
    assert plain == POST_PLAIN
    assert len(plain.encode()) == 284


def test_signature_of_another_timestamp_is_refused():
    with pytest.raises(CallbackRejected, match="signature"):
        CRYPTO.verify(POST_SIGNATURE, str(int(POST_TIMESTAMP) + 1), POST_NONCE, POST_ENCRYPT)


def test_wrong_aes_key_is_a_rejection_not_a_crash():
    other = CallbackCrypto(TOKEN, "k" + AES_KEY[1:], CORP_ID)
    with pytest.raises(CallbackRejected):
        other.decrypt(POST_ENCRYPT)


def test_wrong_corp_id_is_refused():
    with pytest.raises(CallbackRejected, match="receive id"):
        CallbackCrypto(TOKEN, AES_KEY, "wwsomeoneelse").decrypt(POST_ENCRYPT)


@pytest.mark.parametrize("mangled", [
    POST_ENCRYPT[:-8] + "AAAAAA==",  # last block altered: padding garbage
    base64.b64encode(base64.b64decode(POST_ENCRYPT)[:-16]).decode(),  # not whole 32-byte blocks
    "not base64 at all!!",
    "",
])
def test_corrupt_ciphertext_is_refused(mangled):
    with pytest.raises(CallbackRejected):
        CRYPTO.decrypt(mangled)


def test_encrypt_round_trip_pads_to_32_bytes():
    message = CRYPTO.encrypt("<xml>欢迎光临</xml>", "1700000000", "nonce1")
    assert len(base64.b64decode(message.encrypted)) % 32 == 0
    assert CRYPTO.verify_and_decrypt(message.signature, "1700000000", "nonce1",
                                     message.encrypted) == "<xml>欢迎光临</xml>"
