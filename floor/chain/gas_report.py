"""The base-fee predictor measured on the chain the engine runs against, now: the recent
blocks' base fees (eth_feeHistory, up to 1,024 blocks), the next blocks' predictions with
their intervals, and the predictor's error over those blocks against "fee in h blocks = fee
now" (`floor gas`). What the queue's fee policy rests on, checked where it is used. With it,
the chain's fee model and, on an L2, the L1 data fee of a typical executor transaction."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from web3 import Web3

from floor.calls import call
from floor.chain.basefee import HORIZONS, predict, replay
from floor.chain.executor import encode_execute
from floor.chain.l2fees import l1_data_fee, oracle_address, unsigned_eip1559_tx
from floor.chain.rpc import connect
from floor.config import ChainConfig, Settings
from floor.models import Amount, Call

LIVE_BLOCKS = 1024  # eth_feeHistory's maximum on geth and anvil
# A typical executor transaction: a deposit of 1,000 tokens of the chain's first token into an
# Aave V3 pool (approve, then supply), at a gas limit such a deposit takes with the buffer.
AAVE_V3_POOL_L2 = "0x794a61358D6845594F94dc1DB02A252b5b4814aD"  # Aave V3's Pool on Arbitrum and Optimism
TYPICAL_GAS = 300_000
_NO_EXECUTOR = "0x" + "f" * 40


class HorizonReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    horizon: int
    point_wei: Amount  # wei per gas (JSON: a string of digits, as every amount)
    low_wei: Amount
    high_wei: Amount
    measured_over: int  # blocks with an outcome in the recent history (0: too few)
    mae_wei: float | None
    naive_mae_wei: float | None
    ratio: float | None
    coverage: float | None


class ChainGasReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    chain_id: int
    latest_block: int
    next_base_fee_wei: Amount
    blocks: int
    horizons: list[HorizonReport]
    fee_model: str = "ethereum"
    gas_price_oracle: str | None = None
    # L2s: the L1 data fee of a typical executor transaction (`typical_executor_tx`), its size,
    # and whether it is paid on top of gas (OP Stack) or inside it (Arbitrum).
    l1_data_fee_wei: Amount | None = None
    typical_tx_bytes: int | None = None
    l1_fee_in_gas: bool = False


def typical_executor_calls(chain: ChainConfig) -> list[Call]:
    """approve + supply of 1,000 of the chain's first token into an Aave V3 pool, the engine's
    most common write."""
    token = chain.tokens[0] if chain.tokens else None
    asset = token.address if token else _NO_EXECUTOR
    amount = 1_000 * 10 ** (token.decimals if token else 18)
    account = chain.executor or _NO_EXECUTOR
    return [
        call(asset, "approve(address,uint256)", AAVE_V3_POOL_L2, amount),
        call(AAVE_V3_POOL_L2, "supply(address,uint256,address,uint16)", asset, amount, account, 0),
    ]


def typical_executor_tx(chain: ChainConfig, base_fee: int) -> bytes:
    """That deposit as the executor's execute(calls), unsigned, as the gas price oracle prices it."""
    tip = chain.tx.tip_floor_wei
    data = encode_execute(typical_executor_calls(chain))
    to = chain.executor or _NO_EXECUTOR
    return unsigned_eip1559_tx(chain.id, 0xFFFF, tip, 2 * base_fee + tip, TYPICAL_GAS, to, data)


def chain_gas_report(w3: Web3, chain: ChainConfig, blocks: int = LIVE_BLOCKS) -> ChainGasReport:
    raw = w3.eth.fee_history(blocks, "latest", [])
    fees = [int(f) for f in raw["baseFeePerGas"]]  # the last is the next block's
    positive = [f for f in fees if f > 0]
    ahead = predict(positive, horizons=HORIZONS) if positive else {}
    rows = []
    for h in HORIZONS:
        p = ahead.get(h)
        try:
            stats = replay(positive, h)
        except ValueError:  # too few blocks for an outcome this far ahead
            stats = None
        rows.append(
            HorizonReport(
                horizon=h,
                point_wei=p.point if p else 0,
                low_wei=p.low if p else 0,
                high_wei=p.high if p else 0,
                measured_over=stats.n if stats else 0,
                mae_wei=stats.mae if stats else None,
                naive_mae_wei=stats.naive_mae if stats else None,
                ratio=round(stats.ratio, 4) if stats and stats.naive_mae else None,
                coverage=round(stats.coverage, 4) if stats else None,
            )
        )
    oldest = int(raw["oldestBlock"])
    l1: dict[str, Any] = {}
    if chain.tx.fee_model != "ethereum":
        tx = typical_executor_tx(chain, fees[-1])
        l1 = {
            "l1_data_fee_wei": l1_data_fee(w3, chain.tx, tx),
            "typical_tx_bytes": len(tx),
            "l1_fee_in_gas": chain.tx.fee_model == "arbitrum",
        }
    return ChainGasReport(
        chain_id=chain.id,
        latest_block=oldest + len(fees) - 2,
        next_base_fee_wei=fees[-1],
        blocks=len(fees) - 1,
        horizons=rows,
        fee_model=chain.tx.fee_model,
        gas_price_oracle=oracle_address(chain.tx),
        **l1,
    )


def gas_report(settings: Settings, web3s: dict[int, Web3] | None = None) -> list[ChainGasReport]:
    return [
        chain_gas_report((web3s or {}).get(c.id) or connect(c.rpc_urls, c.rpc_timeout_s, chain_id=c.id), c)
        for c in settings.chains
    ]
