"""The executor's CREATE2 address: EIP-1014's own examples, and the same inputs give the same
address (on every chain: the chain id is no input) while any other input moves it."""

from __future__ import annotations

from eth_account import Account
from eth_utils.crypto import keccak

from floor.deploy.create2 import PROXY, Inputs, create2_address, runtime_code_hash
from floor.deploy.network import load_network
from floor.deploy.safe import canonical_contracts, safe_address
from floor.devnet.stack import anvil_account_key

OWNER = "0x5eD28B876127cb9a90a67Ff571E74feA50bB56F9"
OPERATOR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
GUARDIAN = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"


def test_eip_1014_examples():
    zero = "0x" + "00" * 20
    assert create2_address(zero, bytes(32), b"\x00") == "0x4D1A2e2bB4F88F0250f26Ffff098B0b30B26BF38"
    deadbeef = "0xdeadbeef00000000000000000000000000000000"
    assert create2_address(deadbeef, bytes(32), b"\x00") == "0xB928f69Bb1D91Cd65274e3c79d8986362984fDA3"
    salt = bytes.fromhex("00000000000000000000000000000000000000000000000000000000cafebabe")
    low = "0x00000000000000000000000000000000deadbeef"
    assert create2_address(low, salt, bytes.fromhex("deadbeef")) == "0x60f3f640a8508fC6a86d45DF051962668E1e8AC7"


def test_the_address_is_keccak_of_ff_proxy_salt_and_the_initcode_hash():
    inputs = Inputs(OWNER, OPERATOR, GUARDIAN)
    raw = b"\xff" + bytes.fromhex(PROXY[2:]) + inputs.salt + keccak(inputs.initcode)
    assert inputs.address.lower() == "0x" + keccak(raw)[12:].hex()
    assert inputs.deploy_data() == inputs.salt + inputs.initcode


def test_same_inputs_same_address_any_other_input_another():
    base = Inputs(OWNER, OPERATOR, GUARDIAN)
    assert Inputs(OWNER.lower(), OPERATOR, GUARDIAN).address == base.address
    others = {
        Inputs(OPERATOR, OWNER, GUARDIAN).address,
        Inputs(OWNER, GUARDIAN, OPERATOR).address,
        Inputs(OWNER, OPERATOR, OWNER).address,
        Inputs(OWNER, OPERATOR, GUARDIAN, "floor.executor.2").address,
    }
    assert base.address not in others and len(others) == 4


def test_the_networks_share_inputs_and_their_owner_is_the_2_of_3_safe():
    testnet, mainnet = load_network("testnet"), load_network("mainnet")
    assert (testnet.chain_id, mainnet.chain_id) == (11155111, 1)
    assert (
        Inputs(testnet.owner, testnet.operator, testnet.guardian, testnet.label).address
        == Inputs(mainnet.owner, mainnet.operator, mainnet.guardian, mainnet.label).address
    )
    owners = [Account.from_key(anvil_account_key(i)).address for i in (5, 6, 7)]
    assert safe_address(canonical_contracts(), owners, 2, 0) == testnet.owner


def test_runtime_code_hash_is_of_the_compiled_runtime():
    assert runtime_code_hash().startswith("0x") and len(runtime_code_hash()) == 66
