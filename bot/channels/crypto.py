"""WeChat / WeCom callback signatures and message encryption (AES-256-CBC, Tencent's layout)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # Tencent pads to 32 bytes, not AES's 16


class CryptoError(Exception):
    """A callback could not be verified or decrypted; the message says why (safe to log)."""


def signature(*parts: str) -> str:
    """sha1 of the parts sorted and joined: the `signature` / `msg_signature` of a callback."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_matches(expected_parts: tuple[str, ...], given: str | None) -> bool:
    """Whether `given` is the signature of the parts, compared in constant time."""
    return hmac.compare_digest(signature(*expected_parts).encode(), (given or "").encode())


class MessageCrypto:
    """Verifies, decrypts and encrypts callback payloads for one token, EncodingAESKey and AppId/CorpID."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str):
        try:
            self.key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            raise CryptoError("EncodingAESKey is not valid base64") from None
        if len(self.key) != 32:
            raise CryptoError("EncodingAESKey must decode to 32 bytes (43 characters)")
        self.token = token
        self.receive_id = receive_id.encode("utf-8")

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def decrypt(self, encrypted: str, msg_signature: str | None, timestamp: str, nonce: str) -> str:
        """The plaintext of `encrypted` after checking msg_signature and the AppId/CorpID inside."""
        if not signature_matches((self.token, timestamp, nonce, encrypted), msg_signature):
            raise CryptoError("bad msg_signature (check the Token, and that msg_signature, not signature, is used)")
        try:
            data = base64.b64decode(encrypted, validate=True)
        except binascii.Error:
            raise CryptoError("Encrypt is not valid base64") from None
        if not data or len(data) % 16:
            raise CryptoError("Encrypt is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad or len(plain) < 20 + pad:
            raise CryptoError("cannot decrypt: bad padding (wrong EncodingAESKey?)")
        body = plain[16:-pad]
        (length,) = struct.unpack(">I", body[:4])
        if length > len(body) - 4:
            raise CryptoError("cannot decrypt: bad length (wrong EncodingAESKey?)")
        xml, receive_id = body[4:4 + length], body[4 + length:]
        if not hmac.compare_digest(receive_id, self.receive_id):
            raise CryptoError("AppId/CorpID inside the message is not ours (wechat.app_id, wecom.corp_id)")
        try:
            return xml.decode("utf-8")
        except UnicodeDecodeError:
            raise CryptoError("cannot decrypt: the plaintext is not UTF-8 (wrong EncodingAESKey?)") from None

    def encrypt(self, plaintext: str, random16: bytes | None = None) -> str:
        """Base64 of the encrypted plaintext, in Tencent's layout (random, length, text, AppId)."""
        text = plaintext.encode("utf-8")
        body = (random16 or os.urandom(16)) + struct.pack(">I", len(text)) + text + self.receive_id
        pad = BLOCK - len(body) % BLOCK
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(body + bytes([pad]) * pad) + encryptor.finalize()).decode()

    def sign(self, encrypted: str, timestamp: str, nonce: str) -> str:
        """The msg_signature of an encrypted reply."""
        return signature(self.token, timestamp, nonce, encrypted)
