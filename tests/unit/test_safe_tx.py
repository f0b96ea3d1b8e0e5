"""The owner Safe's transactions, pure: the EIP-712 SafeTx hash, owners' signatures and their
order, MultiSendCallOnly's packing, the canonical addresses and the Transaction Builder's file."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data

from floor.calls import call, selector
from floor.deploy.safe import (
    CALL,
    DELEGATE_CALL,
    DOMAIN_TYPEHASH,
    SAFE_TX_TYPEHASH,
    SafeSignature,
    SafeTx,
    batch,
    canonical_contracts,
    multi_send_data,
    recover_owner,
    safe_address,
    safe_artifact,
    safe_tx,
    safe_tx_hash,
    safe_tx_typed_data,
    sign_safe_tx,
    signatures_bytes,
    transaction_builder_checksum,
    transaction_builder_json,
)
from floor.models import Call

SAFE = "0x5aFE3855358E112B5647B952709E6165e1c1eEEe"
EXECUTOR = "0x1111111111111111111111111111111111111111"
KEYS = [f"0x{i:064x}" for i in (0xA11CE, 0xB0B, 0xCA401)]

TXS = [
    SafeTx(EXECUTOR, 0, bytes.fromhex("deadbeef"), CALL, 0),
    SafeTx(EXECUTOR, 10**18, b"", CALL, 7),
    SafeTx(
        "0x9641d764fc13c8B624c04430C7356C1C7C8102e2",
        0,
        bytes(range(200)),
        DELEGATE_CALL,
        2**64,
        safe_tx_gas=100_000,
        base_gas=21_000,
        gas_price=3,
        gas_token="0x2222222222222222222222222222222222222222",
        refund_receiver="0x3333333333333333333333333333333333333333",
    ),
]


@pytest.mark.parametrize("name", ["Safe", "SafeL2"])
def test_the_type_hashes_are_the_contracts_own(name):
    """The Safe's bytecode pushes both type hashes as constants (PUSH32)."""
    code = safe_artifact(name).deployed_bytecode
    assert b"\x7f" + SAFE_TX_TYPEHASH in code
    assert b"\x7f" + DOMAIN_TYPEHASH in code


@pytest.mark.parametrize("chain_id", [1, 11155111])
@pytest.mark.parametrize("tx", TXS)
def test_the_hash_is_the_eip712_digest_a_wallet_signs(tx, chain_id):
    typed = encode_typed_data(full_message=safe_tx_typed_data(chain_id, SAFE, tx))
    assert safe_tx_hash(chain_id, SAFE, tx) == _hash_eip191_message(typed)


def test_the_hash_binds_chain_safe_and_every_field():
    tx = TXS[2]
    hashes = {
        safe_tx_hash(1, SAFE, tx),
        safe_tx_hash(11155111, SAFE, tx),
        safe_tx_hash(1, EXECUTOR, tx),
        safe_tx_hash(1, SAFE, SafeTx(tx.to, tx.value, tx.data, tx.operation, tx.nonce + 1)),
        safe_tx_hash(1, SAFE, SafeTx(tx.to, tx.value, tx.data + b"\x00", tx.operation, tx.nonce)),
        safe_tx_hash(1, SAFE, SafeTx(tx.to, tx.value, tx.data, CALL, tx.nonce)),
    }
    assert len(hashes) == 6


def test_safe_tx_takes_hex_or_bytes_and_only_call_or_delegatecall():
    assert safe_tx(SAFE, EXECUTOR.lower(), 0, "0xdeadbeef", CALL, 0) == TXS[0]
    assert safe_tx(SAFE, EXECUTOR, 0, bytes.fromhex("deadbeef"), CALL, 0) == TXS[0]
    with pytest.raises(ValueError, match="operation 2"):
        SafeTx(EXECUTOR, 0, b"", 2, 0)


def test_an_owner_signature_is_a_plain_ecdsa_signature_of_the_digest():
    digest = safe_tx_hash(1, SAFE, TXS[0])
    account = Account.from_key(KEYS[0])
    signed = sign_safe_tx(digest, KEYS[0])
    assert signed.owner == account.address
    assert len(signed.signature) == 65 and signed.signature[64] in (27, 28)  # no eth_sign offset (+4)
    assert recover_owner(digest, signed.signature) == account.address
    # The same signature a wallet makes with eth_signTypedData_v4.
    typed = encode_typed_data(full_message=safe_tx_typed_data(1, SAFE, TXS[0]))
    assert Account.recover_message(typed, signature=signed.signature) == account.address
    assert account.sign_message(typed).signature == signed.signature


def test_signatures_are_ordered_by_owner_ascending():
    digest = safe_tx_hash(1, SAFE, TXS[1])
    sigs = [sign_safe_tx(digest, k) for k in KEYS]
    ordered = sorted(sigs, key=lambda s: int(s.owner, 16))
    packed = signatures_bytes(reversed(sigs))
    assert packed == b"".join(s.signature for s in ordered)
    assert [recover_owner(digest, packed[i : i + 65]) for i in range(0, len(packed), 65)] == [s.owner for s in ordered]
    with pytest.raises(ValueError, match="65 bytes"):
        SafeSignature(SAFE, b"\x00" * 64)


def test_multisend_packs_operation_target_value_length_data():
    calls = [
        call(EXECUTOR, "setLossBound((uint256,uint256,uint256,uint256))", (150, 1, 2, 3)),
        Call(target="0x2222222222222222222222222222222222222222", value=5, data="0x"),
    ]
    data = multi_send_data(calls)
    assert data[:4] == selector("multiSend(bytes)")
    (packed,) = decode(["bytes"], data[4:])
    entries, at = [], 0
    while at < len(packed):
        operation, to = packed[at], "0x" + packed[at + 1 : at + 21].hex()
        value = int.from_bytes(packed[at + 21 : at + 53], "big")
        length = int.from_bytes(packed[at + 53 : at + 85], "big")
        entries.append((operation, to, value, "0x" + packed[at + 85 : at + 85 + length].hex()))
        at += 85 + length
    assert entries == [(0, c.target.lower(), c.value, c.data) for c in calls]


def test_a_batch_is_one_delegatecall_to_multisend_call_only():
    calls = [call(EXECUTOR, "pause()"), call(EXECUTOR, "unpause()")]
    tx = batch(calls, nonce=4)
    assert (tx.to, tx.value, tx.operation, tx.nonce) == (canonical_contracts().multi_send_call_only, 0, 1, 4)
    assert tx.data == multi_send_data(calls)
    assert batch(calls, 4, multi_send=SAFE).to == SAFE
    single = batch(calls[:1], nonce=0)  # one call needs no MultiSend
    assert (single.to, single.operation, single.data) == (EXECUTOR, CALL, selector("pause()"))
    with pytest.raises(ValueError, match="at least one call"):
        batch([], 0)


def test_the_contracts_land_at_safe_141s_canonical_addresses():
    assert canonical_contracts() == canonical_contracts(l2=False)
    contracts = canonical_contracts()
    assert contracts.singleton == "0x41675C099F32341bf84BFc5382aF534df5C7461a"
    assert contracts.proxy_factory == "0x4e1DCf7AD4e460CfD30791CCC4F9c8a4f820ec67"
    assert contracts.fallback_handler == "0xfd0732Dc9E303f09fCEf3a7388Ad10A83459Ec99"
    assert contracts.multi_send_call_only == "0x9641d764fc13c8B624c04430C7356C1C7C8102e2"
    assert canonical_contracts(l2=True).singleton == "0x29fcB43b46531BcA003ddC8FCB67FFE91900C762"


def test_a_safes_address_follows_from_owners_threshold_and_salt():
    contracts = canonical_contracts()
    owners = [Account.from_key(k).address for k in KEYS]
    first = safe_address(contracts, owners, 2, 0)
    assert first == safe_address(contracts, [o.lower() for o in owners], 2, 0)
    assert len({first, safe_address(contracts, owners, 2, 1), safe_address(contracts, owners, 3, 0)}) == 3


def test_the_transaction_builder_file():
    calls = [
        Call(target="0x1111111111111111111111111111111111111111", value=0, data="0xdeadbeef"),
        Call(target="0x2222222222222222222222222222222222222222", value=5, data="0x"),
    ]
    safe = "0x3333333333333333333333333333333333333333"
    description = 'Rules "v2" — ünïcode\nline'
    built = transaction_builder_json(11155111, safe, calls, "Executor rules", description, 1_700_000_000_000)
    assert {k: v for k, v in built.items() if k != "meta"} == {
        "version": "1.0",
        "chainId": "11155111",
        "createdAt": 1_700_000_000_000,
        "transactions": [
            {
                "to": c.target,
                "value": str(c.value),
                "data": c.data,
                "contractMethod": None,
                "contractInputsValues": None,
            }
            for c in calls
        ],
    }
    assert built["meta"] == {
        "name": "Executor rules",
        "description": description,
        "txBuilderVersion": "1.16.5",
        "createdFromSafeAddress": safe,
        "createdFromOwnerAddress": "",
        # what the Builder's own checksum.ts computes for this file (checked with its code under node)
        "checksum": "0x3831a081b5ce3edcef8f319970aa154606bad130ebb5c87a1c1bc2e62f160173",
    }
    renamed = built | {"meta": built["meta"] | {"name": "another name"}}
    assert transaction_builder_checksum(renamed) == built["meta"]["checksum"]  # the name is not covered
    changed = built | {"transactions": built["transactions"][:1]}
    assert transaction_builder_checksum(changed) != built["meta"]["checksum"]
