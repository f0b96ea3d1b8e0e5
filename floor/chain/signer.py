"""Transaction signing for the engine's hot wallet.

``Signer`` is the seam: callers depend only on it, so a remote signer (KMS,
HSM, signing service) can replace ``LocalKeySigner`` later. Signers only sign;
nonces are allocated by the transaction queue and arrive in the tx dict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from pydantic import SecretStr

from floor.config import SignerConfig
from floor.logging import register_secret

__all__ = ["LocalKeySigner", "SignedTransaction", "Signer", "SignerError", "decrypt_keystore", "signer_from_config"]

_KEY_HEX = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class SignerError(Exception):
    """A signer could not be built or could not sign. Never carries key material."""


@dataclass(frozen=True)
class SignedTransaction:
    raw: bytes  # RLP / typed-envelope bytes for eth_sendRawTransaction
    hash: str  # 0x-prefixed hex
    nonce: int


@runtime_checkable
class Signer(Protocol):
    @property
    def address(self) -> ChecksumAddress:
        """Checksummed address of the signing account."""
        ...

    def sign_transaction(self, tx: Mapping[str, Any]) -> SignedTransaction: ...


def _reveal(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class LocalKeySigner:
    """Signs with a private key held in process memory."""

    __slots__ = ("__account", "_address")

    def __init__(self, account: LocalAccount) -> None:
        # Name-mangled so the key isn't reachable as a plain attribute.
        self.__account = account
        self._address = to_checksum_address(account.address)

    @classmethod
    def from_private_key(cls, key: str | SecretStr) -> LocalKeySigner:
        raw = _reveal(key).strip()
        register_secret(raw)  # even if invalid: it may still reach a log line
        if not _KEY_HEX.match(raw):
            raise SignerError("private key is not a valid 32-byte hex key")
        try:
            account = Account.from_key(raw)
        except Exception:
            # e.g. zero or above the curve order; `from None` keeps the key out of tracebacks.
            raise SignerError("private key is not a valid 32-byte hex key") from None
        return cls(account)

    @classmethod
    def from_keystore(cls, path: str | Path, password: str | SecretStr) -> LocalKeySigner:
        return cls(decrypt_keystore(path, password))

    @property
    def address(self) -> ChecksumAddress:
        return self._address

    def sign_transaction(self, tx: Mapping[str, Any]) -> SignedTransaction:
        if "nonce" not in tx:
            raise SignerError("transaction has no nonce (the transaction queue assigns it)")
        if "chainId" not in tx:
            # Without EIP-155 chain binding the signature could be replayed on another chain.
            raise SignerError("transaction has no chainId")
        sender = tx.get("from")
        if sender is not None and str(sender).lower() != self._address.lower():
            raise SignerError(f"transaction is from {sender}, signer is {self._address}")
        unsigned = {k: v for k, v in tx.items() if k != "from"}
        try:
            signed = self.__account.sign_transaction(unsigned)
        except Exception as e:
            raise SignerError(f"cannot sign transaction: {type(e).__name__}: {e}") from None
        return SignedTransaction(
            raw=bytes(signed.raw_transaction),
            hash="0x" + bytes(signed.hash).hex(),
            nonce=int(tx["nonce"]),
        )

    def sign_typed_data(self, full_message: dict[str, Any]) -> tuple[int, bytes, bytes]:
        """An EIP-712 signature (v, r, s) of `full_message` (domain, types, primaryType, message):
        the deposit attester's, never a transaction."""
        from eth_account.messages import encode_typed_data

        signed = self.__account.sign_message(encode_typed_data(full_message=full_message))
        return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")

    def __repr__(self) -> str:
        return f"LocalKeySigner(address={self._address})"

    __str__ = __repr__


def decrypt_keystore(path: str | Path, password: str | SecretStr) -> LocalAccount:
    """The account in an encrypted keystore file (eth-account's `Account.decrypt`); SignerError
    in one line naming the file and what is wrong, never the password."""
    path = Path(path)
    secret = _reveal(password)
    register_secret(secret)
    try:
        keystore = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SignerError(f"keystore {path}: cannot read ({e.strerror or e})") from None
    except (ValueError, UnicodeDecodeError):
        raise SignerError(f"keystore {path}: not a JSON keystore file") from None
    try:
        key = Account.decrypt(keystore, secret)
    except Exception:
        # eth_account reports a bad password as "MAC mismatch"; a corrupt file looks the same.
        raise SignerError(f"keystore {path}: wrong password or corrupt file") from None
    register_secret(bytes(key).hex())
    try:
        account: LocalAccount = Account.from_key(key)
    except Exception:
        raise SignerError(f"keystore {path}: holds an invalid private key") from None
    return account


def signer_from_config(cfg: SignerConfig) -> LocalKeySigner:
    if cfg.private_key is not None:
        return LocalKeySigner.from_private_key(cfg.private_key)
    if cfg.keystore_path is None or cfg.keystore_password is None:
        # SignerConfig validation rules this out; kept for configs built unvalidated.
        raise SignerError("signer config needs private_key or keystore_path with keystore_password")
    return LocalKeySigner.from_keystore(cfg.keystore_path, cfg.keystore_password)
