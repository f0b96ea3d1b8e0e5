"""The L2 fee models, pure: OP Stack's L1 data fee (Ecotone, Fjord) against numbers worked by
hand from GasPriceOracle's formulas and against the reference values of its own tests and of
op-geth's; the tip rule per fee model; the per-model config defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import rlp
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak
from pydantic import ValidationError

from floor.chain.fees import FeeHistory, base_fee_ceiling, fees_for, tip_for
from floor.chain.l2fees import (
    ARB_GAS_INFO,
    OP_GAS_PRICE_ORACLE,
    ArbitrumPrices,
    OpFeeParams,
    arbitrum_l1_component,
    calldata_gas,
    fjord_estimated_size,
    flz_compress_len,
    l1_data_fee,
    op_l1_fee,
    op_l1_fee_charged,
    op_l1_fee_upper_bound,
    op_l1_gas_used,
    oracle_address,
    unsigned_eip1559_tx,
)
from floor.config import TxConfig, load_settings
from floor.models import Priority

# GasPriceOracle.t.sol's L1 context: baseFee 2e6, blobBaseFee 3e6, baseFeeScalar 20,
# blobBaseFeeScalar 15. Both upgrades' fee factor: 20*16*2e6 + 15*3e6 = 685e6.
ECOTONE = OpFeeParams(
    l1_base_fee=2 * 10**6, blob_base_fee=3 * 10**6, base_fee_scalar=20, blob_base_fee_scalar=15, fjord=False
)
FJORD = OpFeeParams(l1_base_fee=2 * 10**6, blob_base_fee=3 * 10**6, base_fee_scalar=20, blob_base_fee_scalar=15)
SMALL = bytes.fromhex("0000010203")  # 2 zero bytes, 3 non-zero
# GasPriceOracle.t.sol's Fjord regression input: 161 bytes, FastLZ size 235 with the 68 added.
REGRESSION = bytes.fromhex(
    "1d2c3ec4f5a9b3f3cd2c024e455c1143a74bbd637c324adcbd4f74e346786ac44e23e78f47d932abedd8d1"
    "06daadcea350be16478461046273101034601364012364701331dfad43729dc486abd134bcad61b34d6ca1"
    "f2eb31655b7d61ca33ba6d172cdf7d8b5b0ef389a314ca7a9a831c09fc2ca9090d059b4dd25194f3de297b"
    "dba6d6d796e4f80be94f8a9151d685607826e7ba25177b40cb127ea9f1438470"
)
# A signed OP Mainnet transaction (0x8eb9dd4eb6d33f4dc25fb015919e4b1e9f7542f9b0322bf6622e268cd116b594,
# a contract call), op-geth's FlzCompressLen reference: 202.
OP_MAINNET_TX = bytes.fromhex(
    "02f901550a758302df1483be21b88304743f94f80e51afb613d764fa61751affd3313c190a86bb870151bd62fd12adb8"
    "e41ef24f3f000000000000000000000000000000000000000000000000000000000000006e0000000000000000000000"
    "00af88d065e77c8cc2239327c5edb3a432268e5831000000000000000000000000000000000000000000000000000000"
    "000003c1e500000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000a0000000000000000000000000000000000000000000000000000000"
    "00000000148c89ed219d02f1a5be012c689b4f5b731827bebe000000000000000000000000c001a033fd89cb37c31b2c"
    "ba46b6466e040c61fc9b2a3675a7f5f493ebd5ad77c497f8a07cdf65680e238392693019b4092f610222e71b7cec0644"
    "9cb922b93b6a12744e"
)


# ---------------------------------------------------------------- FastLZ


def test_fastlz_length_matches_op_geths_reference_vectors():
    # op-geth core/types/rollup_cost_test.go TestFlzCompressLen.
    empty_legacy_tx = rlp.encode([0, 0, 0, bytes.fromhex("095e7baea6a6c7c4c2dfeb977efac326af552d87"), 0, b"", 0, 0, 0])
    assert flz_compress_len(b"") == 0
    assert flz_compress_len(bytes([1]) * 1000) == 21
    assert flz_compress_len(bytes(1000)) == 21
    assert flz_compress_len(empty_legacy_tx) == 31
    assert len(OP_MAINNET_TX) == 345 and flz_compress_len(OP_MAINNET_TX) == 202


def test_fastlz_length_by_hand():
    # Under 16 bytes nothing is matched: one literal run, one control byte.
    assert flz_compress_len(b"abc") == 4
    assert flz_compress_len(bytes(range(15))) == 16
    # 40 distinct bytes: runs of 32 and 8, 33 + 9.
    assert flz_compress_len(bytes(range(40))) == 42
    # The regression input's 161 bytes: 235 - 68 = 167 (GasPriceOracle.t.sol).
    assert flz_compress_len(REGRESSION) == 167


# ---------------------------------------------------------------- Ecotone


def test_ecotone_by_hand_and_gas_price_oracles_test_values():
    # (2*4) + (3*16) + (68*16) = 1144; 1144 * 685e6 / 16e6 = 48977.5 -> 48977.
    assert calldata_gas(SMALL) == 56
    assert op_l1_gas_used(ECOTONE, SMALL) == 1144
    assert op_l1_fee(ECOTONE, SMALL) == 48977
    # Another by hand: l1 base fee 30 gwei, blob base fee 1 wei, scalars 1368 and 810949.
    params = OpFeeParams(30 * 10**9, 1, 1368, 810_949, fjord=False)
    data = bytes(10) + bytes([7]) * 90  # 10 zero, 90 non-zero: 40 + 1440 + 1088 = 2568
    assert op_l1_fee(params, data) == 2568 * (1368 * 16 * 30 * 10**9 + 810_949) // (16 * 10**6)


def test_ecotone_charged_on_a_signed_transaction_is_the_oracles_fee_without_padding():
    # The oracle adds 68 non-zero bytes for the signature; the chain charges the bytes themselves.
    assert op_l1_fee_charged(ECOTONE, SMALL + b"\x01" * 68) == op_l1_fee(ECOTONE, SMALL)
    assert op_l1_fee_charged(ECOTONE, SMALL) == 56 * 685 * 10**6 // (16 * 10**6)  # 2397


# ---------------------------------------------------------------- Fjord


def test_fjord_regression_by_hand():
    # -42_585_600 + 836_500 * size, at least 100e6: below 171 bytes the floor.
    assert fjord_estimated_size(170) == 100 * 10**6  # 99_619_400 floored
    assert fjord_estimated_size(171) == 100_455_900
    assert fjord_estimated_size(235) == 153_991_900


def test_fjord_gas_price_oracles_test_values():
    # GasPriceOracle.t.sol, Fjord: 5 bytes -> FastLZ 74 with the 68, under the minimum size:
    # 100e6 * 685e6 / 1e12 = 68500; getL1GasUsed 100 * 16 = 1600.
    assert op_l1_fee(FJORD, SMALL) == 68_500
    assert op_l1_gas_used(FJORD, SMALL) == 1_600
    # Upper bound of 5 bytes: 73 + 0 + 16 = 89, under the minimum: 68500.
    assert op_l1_fee_upper_bound(FJORD, 5) == 68_500
    # The regression input: 153_991_900 * 685e6 / 1e12 = 105484.45 -> 105484; gas 2463.
    assert op_l1_fee(FJORD, REGRESSION) == 105_484
    assert op_l1_gas_used(FJORD, REGRESSION) == 2_463
    # Upper bound of 161 bytes: 229 + 0 + 16 = 245 -> 162_356_900 * 685e6 / 1e12 = 111214.
    assert op_l1_fee_upper_bound(FJORD, 161) == 111_214


def test_fjord_charged_on_a_real_op_mainnet_transaction():
    # FastLZ 202 (op-geth's reference): -42_585_600 + 836_500 * 202 = 126_387_400, times the
    # test context's 685e6, / 1e12 = 86575.369 -> 86575. Through the oracle (unsigned input,
    # 68 added) the same bytes would be priced as 270.
    assert op_l1_fee_charged(FJORD, OP_MAINNET_TX) == 86_575
    assert op_l1_fee(FJORD, OP_MAINNET_TX) == fjord_estimated_size(270) * 685 * 10**6 // 10**12


def test_pre_ecotone_is_refused():
    bedrock = OpFeeParams(1, 1, 1, 1, ecotone=False, fjord=False)
    with pytest.raises(ValueError, match="Bedrock"):
        op_l1_fee(bedrock, SMALL)
    with pytest.raises(ValueError, match="Fjord"):
        op_l1_fee_upper_bound(ECOTONE, 5)


def test_unsigned_transaction_is_what_the_signature_covers():
    tx = {
        "type": 2,
        "chainId": 10,
        "nonce": 0xFFFF,
        "maxPriorityFeePerGas": 10**6,
        "maxFeePerGas": 2 * 10**8,
        "gas": 300_000,
        "to": "0x794a61358D6845594F94dc1DB02A252b5b4814aD",
        "value": 0,
        "data": "0x" + REGRESSION.hex(),
        "accessList": [],
    }
    raw = unsigned_eip1559_tx(10, 0xFFFF, 10**6, 2 * 10**8, 300_000, tx["to"], REGRESSION)
    assert raw[0] == 2
    assert keccak(raw) == TypedTransaction.from_dict(tx).hash()


# ---------------------------------------------------------------- Arbitrum


def test_arbitrum_l1_component_is_the_per_byte_price_times_the_bytes():
    # getPricesInWei at an L1 base fee estimate of 20 gwei: 320 gwei a byte, 140 bytes a simple tx.
    prices = ArbitrumPrices(140 * 320 * 10**9, 320 * 10**9, 0, 10**7, 0, 10**7)
    assert arbitrum_l1_component(prices, OP_MAINNET_TX) == 345 * 320 * 10**9


def test_ethereum_has_no_l1_data_fee_and_reads_nothing():
    assert l1_data_fee(None, TxConfig(), OP_MAINNET_TX) == 0  # type: ignore[arg-type]


# ---------------------------------------------------------------- tips per model


def history(rewards, ratios=None, base_fees=None) -> FeeHistory:
    fees = base_fees or [100] * (len(rewards) + 1)
    return FeeHistory(
        oldest_block=1,
        base_fees=fees,
        gas_used_ratios=ratios if ratios is not None else [0.5] * len(rewards),
        rewards=rewards,
        percentiles=[30, 50, 85, 99],
    )


def test_arbitrum_pays_no_tip_and_covers_the_minimum_gas_price():
    config = TxConfig(fee_model="arbitrum")
    market = history([[10**9] * 4] * 5)  # whatever blocks paid
    fees = fees_for(market, Priority.CRITICAL, config)
    assert fees.max_priority_fee_per_gas == 0
    assert fees.max_fee_per_gas == base_fee_ceiling(market.base_fees, 3)
    # ArbOS' minimum base fee above the predicted ceiling: the max fee covers it.
    assert fees_for(market, Priority.NORMAL, config, minimum_base_fee=10**7).max_fee_per_gas == 10**7
    # A configured tip floor is the tip.
    assert tip_for(market, Priority.NORMAL, TxConfig(fee_model="arbitrum", tip_floor_wei=5)) == 5


def test_op_stack_pays_the_minimum_tip_unless_the_last_block_was_full():
    config = TxConfig(fee_model="op_stack")
    rewards = [[3 * 10**8, 5 * 10**8, 8 * 10**8, 10**9]] * 4
    # Room in the latest block: the floor, however much others tipped.
    assert tip_for(history(rewards, [0.95, 0.95, 0.95, 0.5]), Priority.NORMAL, config) == 10**6
    # The latest block at capacity: 10% over its tip at the priority's percentile.
    full = history(rewards, [0.5, 0.5, 0.5, 0.95])
    assert tip_for(full, Priority.NORMAL, config) == 5 * 10**8 + 5 * 10**7
    assert tip_for(full, Priority.HIGH, config) == 8 * 10**8 + 8 * 10**7
    # ...never below the floor.
    assert tip_for(history([[0, 10, 0, 0]] * 4, [0.99] * 4), Priority.NORMAL, config) == 10**6
    fees = fees_for(history(rewards), Priority.NORMAL, config)
    assert fees.max_fee_per_gas == base_fee_ceiling([100] * 5, 7) + 10**6


def test_ethereum_keeps_the_percentile_rule():
    config = TxConfig()
    assert tip_for(history([[1, 2 * 10**9, 3, 4]] * 3), Priority.NORMAL, config) == 2 * 10**9
    assert tip_for(history([[1, 2, 3, 4]] * 3), Priority.NORMAL, config) == 10**9  # the floor


# ---------------------------------------------------------------- config


def test_each_model_has_its_oracle_and_tip_floor_by_default():
    assert (TxConfig().fee_model, TxConfig().tip_floor_wei, TxConfig().gas_price_oracle) == ("ethereum", 10**9, None)
    arbitrum = TxConfig(fee_model="arbitrum")
    assert (arbitrum.tip_floor_wei, arbitrum.gas_price_oracle) == (0, ARB_GAS_INFO)
    op = TxConfig.model_validate({"fee_model": "op_stack"})
    assert (op.tip_floor_wei, op.gas_price_oracle) == (10**6, OP_GAS_PRICE_ORACLE)
    assert oracle_address(op) == OP_GAS_PRICE_ORACLE and oracle_address(TxConfig()) is None


def test_the_config_overrides_the_models_defaults():
    other = "0x00000000000000000000000000000000000000aa"
    op = TxConfig(fee_model="op_stack", tip_floor_wei=5 * 10**7, gas_price_oracle=other)
    assert op.tip_floor_wei == 5 * 10**7 and op.gas_price_oracle == "0x00000000000000000000000000000000000000AA"
    assert oracle_address(op) == op.gas_price_oracle
    with pytest.raises(ValidationError):
        TxConfig(fee_model="zksync")  # type: ignore[arg-type]


def test_the_example_configs_arbitrum_chain_uses_arbitrums_model():
    settings = load_settings(Path(__file__).resolve().parents[2] / "floor.example.toml")
    assert settings.chain(1).tx.fee_model == "ethereum"
    arbitrum = settings.chain(42161).tx
    assert (arbitrum.fee_model, arbitrum.tip_floor_wei, arbitrum.gas_price_oracle) == ("arbitrum", 0, ARB_GAS_INFO)
