"""Local-key signing: recovery, keystores, and keeping key material private."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from eth_account import Account
from pydantic import SecretStr

from floor.chain.signer import (
    LocalKeySigner,
    SignedTransaction,
    Signer,
    SignerError,
    signer_from_config,
)
from floor.config import SignerConfig
from floor.logging import configure_logging, get_logger

KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ADDRESS = Account.from_key(KEY).address


def tx(**extra: object) -> dict:
    base = {
        "chainId": 1,
        "nonce": 7,
        "to": "0x0000000000000000000000000000000000000001",
        "value": 1_000,
        "gas": 21_000,
        "maxFeePerGas": 30 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        "data": b"",
    }
    return base | extra


def test_sign_and_recover_sender() -> None:
    signer = LocalKeySigner.from_private_key(KEY)
    assert isinstance(signer, Signer)
    assert signer.address == ADDRESS
    signed = signer.sign_transaction(tx())
    assert isinstance(signed, SignedTransaction)
    assert signed.nonce == 7
    assert signed.hash.startswith("0x") and len(signed.hash) == 66
    assert Account.recover_transaction(signed.raw) == ADDRESS
    # Same tx signed by eth_account directly gives the same bytes.
    assert signed.raw == bytes(Account.sign_transaction(tx(), KEY).raw_transaction)


def test_secretstr_key_and_bare_hex() -> None:
    assert LocalKeySigner.from_private_key(SecretStr(KEY)).address == ADDRESS
    assert LocalKeySigner.from_private_key(KEY[2:]).address == ADDRESS


def test_from_field_must_match_and_nonce_required() -> None:
    signer = LocalKeySigner.from_private_key(KEY)
    assert signer.sign_transaction(tx(**{"from": ADDRESS.lower()})).nonce == 7
    with pytest.raises(SignerError, match="signer is"):
        signer.sign_transaction(tx(**{"from": "0x0000000000000000000000000000000000000002"}))
    no_nonce = tx()
    del no_nonce["nonce"]
    with pytest.raises(SignerError, match="no nonce"):
        signer.sign_transaction(no_nonce)


@pytest.mark.parametrize("bad", ["0x1234", KEY + "00", KEY[:-1] + "g", "0x" + "00" * 32])
def test_invalid_key_not_echoed(bad: str) -> None:
    with pytest.raises(SignerError) as info:
        LocalKeySigner.from_private_key(bad)
    assert str(info.value) == "private key is not a valid 32-byte hex key"
    assert info.value.__cause__ is None


def test_repr_has_no_key() -> None:
    signer = LocalKeySigner.from_private_key(KEY)
    for text in (repr(signer), str(signer), f"{signer}"):
        assert ADDRESS in text
        assert KEY[2:].lower() not in text.lower()
    assert not hasattr(signer, "key") and not hasattr(signer, "__dict__")


def keystore(tmp_path: Path, password: str) -> Path:
    path = tmp_path / "ks.json"
    path.write_text(json.dumps(Account.encrypt(KEY, password, kdf="pbkdf2", iterations=2)))
    return path


def test_keystore_round_trip(tmp_path: Path) -> None:
    path = keystore(tmp_path, "correct horse battery")
    signer = LocalKeySigner.from_keystore(path, SecretStr("correct horse battery"))
    assert signer.address == ADDRESS
    assert Account.recover_transaction(signer.sign_transaction(tx()).raw) == ADDRESS


def test_keystore_wrong_password(tmp_path: Path) -> None:
    path = keystore(tmp_path, "correct horse battery")
    with pytest.raises(SignerError) as info:
        LocalKeySigner.from_keystore(path, "wrong-password-123")
    assert str(info.value) == f"keystore {path}: wrong password or corrupt file"
    assert "wrong-password-123" not in repr(info.value)


def test_keystore_missing_and_not_json(tmp_path: Path) -> None:
    with pytest.raises(SignerError, match="cannot read"):
        LocalKeySigner.from_keystore(tmp_path / "absent.json", "whatever-pass")
    junk = tmp_path / "junk.json"
    junk.write_text("not json")
    with pytest.raises(SignerError, match="not a JSON keystore"):
        LocalKeySigner.from_keystore(junk, "whatever-pass")


def test_signer_from_config(tmp_path: Path) -> None:
    assert signer_from_config(SignerConfig(private_key=SecretStr(KEY))).address == ADDRESS
    path = keystore(tmp_path, "pw-for-config")
    cfg = SignerConfig(keystore_path=path, keystore_password=SecretStr("pw-for-config"))
    assert signer_from_config(cfg).address == ADDRESS


def test_constructors_register_secrets_for_redaction(tmp_path: Path) -> None:
    buf = io.StringIO()
    configure_logging(stream=buf)
    try:
        path = keystore(tmp_path, "keystore-pass-xyz")
        LocalKeySigner.from_keystore(path, "keystore-pass-xyz")
        get_logger().info("oops", note=f"pw keystore-pass-xyz key {KEY[2:].upper()}")
    finally:
        root = logging.getLogger()
        for h in [h for h in root.handlers if getattr(h, "_floor_engine_handler", False)]:
            root.removeHandler(h)
    out = buf.getvalue()
    assert "oops" in out
    assert "keystore-pass-xyz" not in out
    assert KEY[2:].lower() not in out.lower()
