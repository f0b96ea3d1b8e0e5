"""The base-fee predictor measured on the chain the engine runs against, now: the recent
blocks' base fees (eth_feeHistory, up to 1,024 blocks), the next blocks' predictions with
their intervals, and the predictor's error over those blocks against "fee in h blocks = fee
now" (`floor gas`). What the queue's fee policy rests on, checked where it is used."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from web3 import Web3

from floor.chain.basefee import HORIZONS, predict, replay
from floor.chain.rpc import connect
from floor.config import ChainConfig, Settings

LIVE_BLOCKS = 1024  # eth_feeHistory's maximum on geth and anvil


class HorizonReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    horizon: int
    point_wei: int
    low_wei: int
    high_wei: int
    measured_over: int  # blocks with an outcome in the recent history (0: too few)
    mae_wei: float | None
    naive_mae_wei: float | None
    ratio: float | None
    coverage: float | None


class ChainGasReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    chain_id: int
    latest_block: int
    next_base_fee_wei: int
    blocks: int
    horizons: list[HorizonReport]


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
    return ChainGasReport(
        chain_id=chain.id,
        latest_block=oldest + len(fees) - 2,
        next_base_fee_wei=fees[-1],
        blocks=len(fees) - 1,
        horizons=rows,
    )


def gas_report(settings: Settings, web3s: dict[int, Web3] | None = None) -> list[ChainGasReport]:
    return [
        chain_gas_report((web3s or {}).get(c.id) or connect(c.rpc_urls, c.rpc_timeout_s, chain_id=c.id), c)
        for c in settings.chains
    ]
