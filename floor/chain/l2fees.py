"""L2 fee models: the L1 data fee an OP Stack chain charges on top of gas, and the L1
component Arbitrum folds into gas, read from each chain's gas price oracle.

Pure (ints in wei, no web3), after OP Stack's GasPriceOracle predeploy (contracts-bedrock
src/L2/GasPriceOracle.sol 1.3.0) and op-geth's L1 cost function (core/types/rollup_cost.go):

- Ecotone: calldata gas (4 a zero byte, 16 any other) times
  (baseFeeScalar * 16 * l1BaseFee + blobBaseFeeScalar * blobBaseFee) / (16 * 1e6).
- Fjord: the FastLZ-compressed size (`flz_compress_len`, FastLZ level 1 as Solady's
  LibZip.flzCompress and op-geth's FlzCompressLen count it) through the linear regression
  max(-42_585_600 + 836_500 * size, 100e6) (the Brotli size, scaled 1e6), times the same fee
  scalars, / 1e12.

The oracle's `getL1Fee` takes an unsigned transaction and adds 68 bytes for the signature it
lacks (`op_l1_fee`); the chain charges a signed one on its own bytes (`op_l1_fee_charged`).
Pre-Ecotone (Bedrock) pricing is not modelled: every OP Stack chain is past Ecotone.

Chain side: `l1_data_fee` (one eth_call to the oracle) and the oracle reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import rlp
from eth_abi.abi import decode
from eth_typing import HexStr
from web3 import Web3

from floor.calls import encode_call
from floor.config import ARB_GAS_INFO, OP_GAS_PRICE_ORACLE, TxConfig

__all__ = [
    "ARB_GAS_INFO",
    "OP_GAS_PRICE_ORACLE",
    "ArbitrumPrices",
    "OpFeeParams",
    "arbitrum_l1_component",
    "calldata_gas",
    "fjord_estimated_size",
    "flz_compress_len",
    "l1_data_fee",
    "minimum_gas_price",
    "op_l1_fee",
    "op_l1_fee_charged",
    "op_l1_fee_upper_bound",
    "op_l1_gas_used",
    "oracle_address",
    "read_arbitrum_prices",
    "read_op_fee_params",
    "unsigned_eip1559_tx",
]

# GasPriceOracle's constants.
DECIMALS: Final = 6
COST_INTERCEPT = -42_585_600
COST_FASTLZ_COEF = 836_500
MIN_TRANSACTION_SIZE = 100
SIGNATURE_BYTES = 68  # what the oracle adds to an unsigned transaction for its signature
# Calldata gas per byte (EIP-2028), which is also L1 gas units per byte on Arbitrum.
ZERO_BYTE_GAS = 4
NON_ZERO_BYTE_GAS = 16


# ---------------------------------------------------------------- FastLZ


def flz_compress_len(data: bytes) -> int:
    """The length of `data` compressed by FastLZ level 1, as the oracle's Fjord estimate
    counts it: a greedy LZ77 parse with an 8,192-entry hash table of 3-byte sequences, matches
    at most 8,191 bytes back, literal runs of up to 32 bytes behind one control byte each, and
    a 2- or 3-byte code per match (3 more bytes for every further 262 of a long one)."""
    n = 0
    size = len(data)
    table = [0] * 8192  # per hash, the last position of a sequence with it

    def u24(i: int) -> int:
        return data[i] | data[i + 1] << 8 | data[i + 2] << 16

    def hash_of(v: int) -> int:
        return ((2654435769 * v) >> 19) & 0x1FFF

    def literals(runs: int) -> int:
        return 0x21 * (runs // 0x20) + (runs % 0x20 + 1 if runs % 0x20 else 0)

    def match_code(length: int) -> int:
        length -= 1
        return 3 * (length // 262) + (3 if length % 262 >= 6 else 2)

    anchor = 0  # the first byte not yet emitted
    ip_limit = size - 13 if size >= 13 else 0
    ip = 2
    while ip < ip_limit:
        ref = 0
        while True:
            seq = u24(ip)
            h = hash_of(seq)
            ref = table[h]
            table[h] = ip
            distance = ip - ref
            if ip >= ip_limit:
                break
            ip += 1
            if distance <= 0x1FFF and seq == u24(ref):
                break
        if ip >= ip_limit:
            break
        ip -= 1
        if ip > anchor:
            n += literals(ip - anchor)
        # Bytes compared until the first mismatch, which is counted too (as FastLZ does).
        end = ip_limit + 9 - (ip + 3)
        length = 0
        while length < end:
            if data[ref + 3 + length] != data[ip + 3 + length]:
                end = 0
            length += 1
        n += match_code(length)
        ip += length
        table[hash_of(u24(ip))] = ip
        ip += 1
        table[hash_of(u24(ip))] = ip
        ip += 1
        anchor = ip
    return n + literals(size - anchor)


# ---------------------------------------------------------------- OP Stack


@dataclass(frozen=True)
class OpFeeParams:
    """What GasPriceOracle prices the L1 data fee with (from the L1Block predeploy)."""

    l1_base_fee: int
    blob_base_fee: int
    base_fee_scalar: int
    blob_base_fee_scalar: int
    ecotone: bool = True
    fjord: bool = True

    @property
    def fee_scaled(self) -> int:
        """baseFeeScalar * 16 * l1BaseFee + blobBaseFeeScalar * blobBaseFee (both upgrades' factor)."""
        return self.base_fee_scalar * 16 * self.l1_base_fee + self.blob_base_fee_scalar * self.blob_base_fee

    def check(self) -> None:
        if not self.ecotone:
            raise ValueError("pre-Ecotone (Bedrock) L1 fee pricing is not modelled")


def calldata_gas(data: bytes) -> int:
    """Calldata gas of the bytes: 4 a zero byte, 16 any other."""
    zeros = data.count(0)
    return ZERO_BYTE_GAS * zeros + NON_ZERO_BYTE_GAS * (len(data) - zeros)


def fjord_estimated_size(fastlz_size: int) -> int:
    """Fjord's linear regression from the FastLZ size to the Brotli size, scaled by 1e6, at least
    100 bytes (GasPriceOracle._fjordLinearRegression)."""
    return max(COST_INTERCEPT + COST_FASTLZ_COEF * fastlz_size, MIN_TRANSACTION_SIZE * 10**6)


def _ecotone_fee(params: OpFeeParams, gas: int) -> int:
    return gas * params.fee_scaled // (16 * 10**DECIMALS)


def _fjord_fee(params: OpFeeParams, fastlz_size: int) -> int:
    return fjord_estimated_size(fastlz_size) * params.fee_scaled // (10**DECIMALS) ** 2


def op_l1_fee(params: OpFeeParams, unsigned_tx: bytes) -> int:
    """GasPriceOracle.getL1Fee(unsigned_tx): the L1 data fee of a transaction from its unsigned
    RLP encoding, 68 bytes added for the signature."""
    params.check()
    if params.fjord:
        return _fjord_fee(params, flz_compress_len(unsigned_tx) + SIGNATURE_BYTES)
    return _ecotone_fee(params, calldata_gas(unsigned_tx) + SIGNATURE_BYTES * NON_ZERO_BYTE_GAS)


def op_l1_fee_charged(params: OpFeeParams, signed_tx: bytes) -> int:
    """The L1 data fee the chain charges a signed transaction (op-geth's L1 cost function on its
    own bytes: no padding)."""
    params.check()
    if params.fjord:
        return _fjord_fee(params, flz_compress_len(signed_tx))
    return _ecotone_fee(params, calldata_gas(signed_tx))


def op_l1_gas_used(params: OpFeeParams, unsigned_tx: bytes) -> int:
    """GasPriceOracle.getL1GasUsed(unsigned_tx)."""
    params.check()
    if params.fjord:
        return fjord_estimated_size(flz_compress_len(unsigned_tx) + SIGNATURE_BYTES) * 16 // 10**6
    return calldata_gas(unsigned_tx) + SIGNATURE_BYTES * NON_ZERO_BYTE_GAS


def op_l1_fee_upper_bound(params: OpFeeParams, unsigned_tx_size: int) -> int:
    """GasPriceOracle.getL1FeeUpperBound(size) (Fjord): FastLZ's practical worst case for the size."""
    if not params.fjord:
        raise ValueError("getL1FeeUpperBound only supports Fjord")
    size = unsigned_tx_size + SIGNATURE_BYTES
    return _fjord_fee(params, size + size // 255 + 16)


def unsigned_eip1559_tx(
    chain_id: int, nonce: int, tip: int, max_fee: int, gas: int, to: str, data: bytes, value: int = 0
) -> bytes:
    """The unsigned EIP-1559 transaction as GasPriceOracle takes it: 0x02 || rlp([chainId, nonce,
    maxPriorityFeePerGas, maxFeePerGas, gas, to, value, data, accessList])."""
    to_bytes = bytes.fromhex(to.removeprefix("0x"))
    encoded: bytes = rlp.encode([chain_id, nonce, tip, max_fee, gas, to_bytes, value, data, []])
    return b"\x02" + encoded


# ---------------------------------------------------------------- Arbitrum


@dataclass(frozen=True)
class ArbitrumPrices:
    """ArbGasInfo.getPricesInWei(), in wei."""

    per_l2_tx: int
    per_l1_calldata_byte: int
    per_storage_allocation: int
    per_arb_gas_base: int
    per_arb_gas_congestion: int
    per_arb_gas_total: int


def arbitrum_l1_component(prices: ArbitrumPrices, tx: bytes) -> int:
    """The L1 component of a transaction's cost on Arbitrum: perL1CalldataByteWei (the L1 base fee
    estimate * 16) per byte. ArbOS charges the Brotli-compressed size of the signed
    transaction, so for compressible bytes this is an upper end; it is paid inside gas used
    (eth_estimateGas includes it), not on top."""
    return prices.per_l1_calldata_byte * len(tx)


# ---------------------------------------------------------------- chain side


def oracle_address(config: TxConfig) -> str | None:
    """The chain's gas price oracle: the configured one, else the model's (None on Ethereum)."""
    defaults = {"arbitrum": ARB_GAS_INFO, "op_stack": OP_GAS_PRICE_ORACLE}
    return config.gas_price_oracle or defaults.get(config.fee_model)


def _call(w3: Web3, to: str, signature: str, types: Sequence[str], *args: Any) -> tuple[Any, ...]:
    raw = w3.eth.call({"to": Web3.to_checksum_address(to), "data": HexStr("0x" + encode_call(signature, *args).hex())})
    return decode(list(types), bytes(raw))


def _call_int(w3: Web3, to: str, signature: str, *args: Any) -> int:
    """A call answering one uint256."""
    value: int = _call(w3, to, signature, ["uint256"], *args)[0]
    return value


def read_op_fee_params(w3: Web3, oracle: str = OP_GAS_PRICE_ORACLE) -> OpFeeParams:
    """The oracle's parameters now (six eth_calls: for reports, not the hot path)."""

    def one(sig: str, t: str = "uint256") -> Any:
        return _call(w3, oracle, sig, [t])[0]

    return OpFeeParams(
        l1_base_fee=one("l1BaseFee()"),
        blob_base_fee=one("blobBaseFee()"),
        base_fee_scalar=one("baseFeeScalar()", "uint32"),
        blob_base_fee_scalar=one("blobBaseFeeScalar()", "uint32"),
        ecotone=one("isEcotone()", "bool"),
        fjord=one("isFjord()", "bool"),
    )


def read_arbitrum_prices(w3: Web3, oracle: str = ARB_GAS_INFO) -> ArbitrumPrices:
    return ArbitrumPrices(*_call(w3, oracle, "getPricesInWei()", ["uint256"] * 6))


def minimum_gas_price(w3: Web3, oracle: str = ARB_GAS_INFO) -> int:
    """ArbGasInfo.getMinimumGasPrice(): ArbOS' floor under the L2 base fee."""
    return _call_int(w3, oracle, "getMinimumGasPrice()")


def l1_data_fee(w3: Web3, config: TxConfig, raw_tx: bytes | str) -> int:
    """The L1 data fee of a transaction on this chain, in wei, by its fee model: OP Stack, the
    oracle's getL1Fee(raw_tx) (give the unsigned encoding, as the oracle expects: a signed one is
    priced 68 bytes high); Arbitrum, the L1 component (perL1CalldataByteWei per byte), paid
    inside gas; Ethereum, none. One eth_call."""
    data = bytes.fromhex(raw_tx.removeprefix("0x")) if isinstance(raw_tx, str) else bytes(raw_tx)
    oracle = oracle_address(config)
    if config.fee_model == "op_stack" and oracle:
        return _call_int(w3, oracle, "getL1Fee(bytes)", data)
    if config.fee_model == "arbitrum" and oracle:
        return arbitrum_l1_component(read_arbitrum_prices(w3, oracle), data)
    return 0
