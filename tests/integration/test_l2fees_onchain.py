"""The L2 fee models against the local stand-ins of the chains' gas price oracles, on a fresh
anvil of its own (the session's chains are not touched): OP Stack's GasPriceOracle and
Arbitrum's ArbGasInfo placed at their real addresses with anvil_setCode. The pure L1 fee equals
the stand-in's getL1Fee for many transactions, and a TxSender configured as op_stack or
arbitrum prices fees by its model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import rlp
from eth_abi import decode
from eth_account import Account
from web3 import HTTPProvider, Web3

from floor.calls import call, encode_call
from floor.chain.executor import encode_execute
from floor.chain.fees import base_fee_ceiling, read_fee_history
from floor.chain.gas_report import chain_gas_report, typical_executor_tx
from floor.chain.l2fees import (
    ARB_GAS_INFO,
    OP_GAS_PRICE_ORACLE,
    OpFeeParams,
    l1_data_fee,
    minimum_gas_price,
    op_l1_fee,
    op_l1_gas_used,
    read_arbitrum_prices,
    read_op_fee_params,
    unsigned_eip1559_tx,
)
from floor.chain.signer import LocalKeySigner
from floor.chain.txsender import TxSender
from floor.config import ChainConfig, TokenConfig, TxConfig
from floor.devnet.artifacts import load_artifact
from floor.models import Priority
from floor.txqueue import PlannedTx, TxIntent
from tests.integration.helpers import own_anvil

pytestmark = pytest.mark.integration

CHAIN_ID = 31_010
GWEI = 10**9
# An executor stand-in that accepts any call: code STOP, so execute(calls) simulates and mines.
EXECUTOR = Web3.to_checksum_address("0x00000000000000000000000000000000000e0e0e")
TOKEN = Web3.to_checksum_address("0x0b2c639c533813f4aa9d7837caf62653d097ff85")  # USDC on OP Mainnet
# Mainnet-like parameters: L1 base fee 12 gwei, blob base fee 3 wei, and OP Mainnet's scalars.
OP_PARAMS = OpFeeParams(l1_base_fee=12 * GWEI, blob_base_fee=3, base_fee_scalar=5_227, blob_base_fee_scalar=1_014_213)


@pytest.fixture(scope="module")
def w3(tmp_path_factory) -> Iterator[Web3]:
    with own_anvil(tmp_path_factory, CHAIN_ID, "l2fees") as url:
        yield Web3(HTTPProvider(url))


def rpc(w3: Web3, method: str, *params):
    response = w3.provider.make_request(method, list(params))
    assert "error" not in response, response
    return response.get("result")


def transact(w3: Web3, to: str, signature: str, *args) -> None:
    tx = {"from": w3.eth.accounts[0], "to": to, "data": "0x" + encode_call(signature, *args).hex()}
    assert w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))["status"] == 1


def view(w3: Web3, to: str, signature: str, types: list[str], *args) -> tuple:
    raw = w3.eth.call({"to": to, "data": "0x" + encode_call(signature, *args).hex()})
    return decode(types, bytes(raw))


def set_op_params(w3: Web3, params: OpFeeParams) -> None:
    transact(w3, OP_GAS_PRICE_ORACLE, "setUpgrades(bool,bool)", params.ecotone, params.fjord)
    transact(
        w3,
        OP_GAS_PRICE_ORACLE,
        "setL1FeeParameters(uint256,uint256,uint32,uint32)",
        params.l1_base_fee,
        params.blob_base_fee,
        params.base_fee_scalar,
        params.blob_base_fee_scalar,
    )


@pytest.fixture(scope="module")
def oracles(w3) -> None:
    rpc(w3, "anvil_setCode", OP_GAS_PRICE_ORACLE, load_artifact("GasPriceOracle").deployed_bytecode)
    rpc(w3, "anvil_setCode", ARB_GAS_INFO, load_artifact("ArbGasInfo").deployed_bytecode)
    rpc(w3, "anvil_setCode", EXECUTOR, "0x00")


def signed_transactions() -> list[bytes]:
    """Signed EIP-1559 transactions of several sizes and shapes: a transfer, executor batches
    (compressible ABI words), random calldata (incompressible), long runs of zeros."""
    account = Account.from_key(b"\x11" * 32)
    deposit = [
        call(TOKEN, "approve(address,uint256)", EXECUTOR, 10**9),
        call(EXECUTOR, "supply(address,uint256,address,uint16)", TOKEN, 10**9, EXECUTOR, 0),
    ]
    pseudo_random = b"".join(Web3.keccak(i.to_bytes(4, "big")) for i in range(64))  # 2,048 bytes
    payloads = [
        b"",
        encode_execute(deposit),
        encode_execute(deposit * 10),
        pseudo_random[:200],
        pseudo_random,
        bytes(3_000),
        bytes([0xAB]) * 777 + pseudo_random[:50],
    ]
    out = []
    for nonce, data in enumerate(payloads):
        tx = {
            "type": 2,
            "chainId": 10,
            "nonce": nonce * 1_000,
            "to": EXECUTOR,
            "value": 0,
            "gas": 1_000_000,
            "maxFeePerGas": 2 * 10**8,
            "maxPriorityFeePerGas": 10**6,
            "data": data,
        }
        out.append(bytes(account.sign_transaction(tx).raw_transaction))
    return out


def unsigned_of(signed: bytes) -> bytes:
    """The same transaction unsigned: its first nine fields, re-encoded."""
    fields = rlp.decode(signed[1:])
    return b"\x02" + rlp.encode(fields[:9])


@pytest.mark.parametrize("fjord", [False, True], ids=["ecotone", "fjord"])
def test_the_pure_l1_fee_equals_the_oracles(w3, oracles, fjord):
    params = OpFeeParams(**{**OP_PARAMS.__dict__, "fjord": fjord})
    set_op_params(w3, params)
    assert read_op_fee_params(w3) == params
    config = TxConfig(fee_model="op_stack")
    checked = 0
    for signed in signed_transactions():
        for tx in (unsigned_of(signed), signed):
            on_chain = view(w3, OP_GAS_PRICE_ORACLE, "getL1Fee(bytes)", ["uint256"], tx)[0]
            assert op_l1_fee(params, tx) == on_chain > 0
            assert l1_data_fee(w3, config, tx) == on_chain
            gas = view(w3, OP_GAS_PRICE_ORACLE, "getL1GasUsed(bytes)", ["uint256"], tx)[0]
            assert op_l1_gas_used(params, tx) == gas
            checked += 1
    assert checked == 14


def test_the_stand_in_gives_gas_price_oracles_own_test_values(w3, oracles):
    # GasPriceOracle.t.sol's context and expected values.
    context = OpFeeParams(2 * 10**6, 3 * 10**6, 20, 15, fjord=False)
    set_op_params(w3, context)
    assert view(w3, OP_GAS_PRICE_ORACLE, "getL1Fee(bytes)", ["uint256"], bytes.fromhex("0000010203"))[0] == 48_977
    set_op_params(w3, OpFeeParams(**{**context.__dict__, "fjord": True}))
    assert view(w3, OP_GAS_PRICE_ORACLE, "getL1Fee(bytes)", ["uint256"], bytes.fromhex("0000010203"))[0] == 68_500
    assert view(w3, OP_GAS_PRICE_ORACLE, "getL1FeeUpperBound(uint256)", ["uint256"], 161)[0] == 111_214
    assert view(w3, OP_GAS_PRICE_ORACLE, "decimals()", ["uint256"])[0] == 6


def test_the_arbitrum_stand_in_answers_as_nitro(w3, oracles):
    l1_estimate, minimum = 20 * GWEI, 10**7
    transact(w3, ARB_GAS_INFO, "setPrices(uint256,uint256)", l1_estimate, minimum)
    prices = read_arbitrum_prices(w3)
    assert prices.per_l1_calldata_byte == 16 * l1_estimate
    assert prices.per_l2_tx == 140 * 16 * l1_estimate
    assert minimum_gas_price(w3) == minimum
    assert view(w3, ARB_GAS_INFO, "getL1BaseFeeEstimate()", ["uint256"])[0] == l1_estimate
    raw = signed_transactions()[1]
    assert l1_data_fee(w3, TxConfig(fee_model="arbitrum"), raw) == 16 * l1_estimate * len(raw)


def sender(w3: Web3, config: TxConfig) -> TxSender:
    signer = LocalKeySigner.from_private_key("0x" + "22" * 32)
    rpc(w3, "anvil_setBalance", signer.address, hex(10**20))
    return TxSender(w3, CHAIN_ID, EXECUTOR, signer, config)


def plan(i: int) -> PlannedTx:
    calls = [call(TOKEN, "approve(address,uint256)", EXECUTOR, 10**6 + i)]
    return PlannedTx(intents=[TxIntent(id=f"l2fees-{i}", chain_id=CHAIN_ID, groups=[calls])], priority=Priority.NORMAL)


def send(w3: Web3, s: TxSender, prepared) -> dict:
    """Signs and sends the prepared transaction at the signer's next nonce; its receipt."""
    tx = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": w3.eth.get_transaction_count(s.signer.address),
        "to": EXECUTOR,
        "value": 0,
        "gas": prepared.gas,
        "data": prepared.data,
        "maxFeePerGas": prepared.fees.max_fee_per_gas,
        "maxPriorityFeePerGas": prepared.fees.max_priority_fee_per_gas,
    }
    raw = s.signer.sign_transaction({**tx, "from": s.signer.address}).raw
    return w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw), timeout=30)


def test_an_op_stack_sender_pays_the_minimum_tip_and_prices_the_l1_fee(w3, oracles):
    set_op_params(w3, OP_PARAMS)
    config = TxConfig(fee_model="op_stack", fee_history_blocks=20)
    s = sender(w3, config)
    (prepared,) = s.prepare([plan(1)])
    assert prepared.intents == ["l2fees-1"] and prepared.gas > 21_000
    # anvil's blocks are far from full: the tip is the model's minimum, 0.001 gwei.
    assert prepared.fees.max_priority_fee_per_gas == 10**6
    # The L1 fee: the oracle's, for the unsigned transaction as it will be sent (nonce aside).
    fees = prepared.fees
    unsigned = unsigned_eip1559_tx(
        CHAIN_ID,
        0xFFFF,
        fees.max_priority_fee_per_gas,
        fees.max_fee_per_gas,
        prepared.gas,
        EXECUTOR,
        bytes.fromhex(prepared.data[2:]),
    )
    assert prepared.l1_fee_wei == op_l1_fee(OP_PARAMS, unsigned) > 0
    assert send(w3, s, prepared)["status"] == 1
    # The same sender on Ethereum's model: the 1 gwei floor, no L1 fee.
    (plain,) = sender(w3, TxConfig(fee_history_blocks=20)).prepare([plan(2)])
    assert plain.fees.max_priority_fee_per_gas == GWEI and plain.l1_fee_wei == 0


def test_an_arbitrum_sender_pays_no_tip_and_covers_the_minimum_gas_price(w3, oracles):
    config = TxConfig(fee_model="arbitrum", fee_history_blocks=20)
    next_base_fee = w3.eth.get_block("pending")["baseFeePerGas"]
    ceiling = base_fee_ceiling(read_fee_history(w3, config).base_fees, config.fee_horizon_blocks["NORMAL"])
    minimum = 3 * ceiling  # ArbOS' floor above anything predicted: the max fee must cover it
    transact(w3, ARB_GAS_INFO, "setPrices(uint256,uint256)", 20 * GWEI, minimum)
    s = sender(w3, config)
    (prepared,) = s.prepare([plan(3)])
    assert prepared.fees.max_priority_fee_per_gas == 0
    assert prepared.fees.max_fee_per_gas == minimum
    assert prepared.l1_fee_wei == 0  # paid inside gas on Arbitrum
    receipt = send(w3, s, prepared)
    assert receipt["status"] == 1 and receipt["effectiveGasPrice"] <= max(next_base_fee, minimum)
    # Without the minimum above it, the max fee is the predicted ceiling alone: no tip on top.
    transact(w3, ARB_GAS_INFO, "setPrices(uint256,uint256)", 20 * GWEI, 1)
    (again,) = s.prepare([plan(4)])
    assert again.fees.max_priority_fee_per_gas == 0
    history = read_fee_history(w3, config)
    assert again.fees.max_fee_per_gas == base_fee_ceiling(history.base_fees, config.fee_horizon_blocks["NORMAL"])


def test_floor_gas_shows_the_model_and_the_l1_fee_of_a_typical_transaction(w3, oracles):
    set_op_params(w3, OP_PARAMS)
    url = w3.provider.endpoint_uri
    tokens = [TokenConfig(symbol="USDC", address=TOKEN, decimals=6)]
    op_chain = ChainConfig(
        id=CHAIN_ID, name="op", rpc_urls=[url], executor=EXECUTOR, tokens=tokens, tx=TxConfig(fee_model="op_stack")
    )
    report = chain_gas_report(w3, op_chain, blocks=20)
    assert report.fee_model == "op_stack" and report.gas_price_oracle == OP_GAS_PRICE_ORACLE
    typical = typical_executor_tx(op_chain, report.next_base_fee_wei)
    assert report.typical_tx_bytes == len(typical)
    assert report.l1_data_fee_wei == op_l1_fee(OP_PARAMS, typical) > 0 and not report.l1_fee_in_gas
    transact(w3, ARB_GAS_INFO, "setPrices(uint256,uint256)", 20 * GWEI, 10**7)
    arb_chain = op_chain.model_copy(update={"tx": TxConfig(fee_model="arbitrum")})
    arb = chain_gas_report(w3, arb_chain, blocks=20)
    assert arb.fee_model == "arbitrum" and arb.l1_fee_in_gas
    assert arb.l1_data_fee_wei == 16 * 20 * GWEI * arb.typical_tx_bytes
    plain = chain_gas_report(w3, op_chain.model_copy(update={"tx": TxConfig()}), blocks=20)
    assert plain.fee_model == "ethereum" and plain.l1_data_fee_wei is None
