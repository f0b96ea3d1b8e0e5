"""Curve StableSwap (old fixed-size pools and Stableswap-NG) with its LiquidityGauge and the
Minter's CRV: adapter, market config, named errors, and the pool, LP token, gauge, Minter
and CRV stand-ins (Vyper, ported from Curve's sources)."""

from __future__ import annotations

from floor.adapters.base import Asset
from floor.models import AdapterKey
from floor.protocols.base import ProtocolSpec
from floor.protocols.curve.adapter import CurveAdapter
from floor.protocols.curve.config import CurveMarketConfig
from floor.protocols.curve.errors import REVERTS

__all__ = ["PROTOCOL", "CurveAdapter", "CurveMarketConfig"]


def _build(key: AdapterKey, asset: Asset, market: CurveMarketConfig) -> CurveAdapter:
    return CurveAdapter(
        key=key,
        asset=asset,
        pool=market.pool,
        lp_token=market.lp_token,
        kind=market.kind,
        n_coins=market.n_coins,
        coin_index=market.coin_index,
        gauge=market.gauge,
        minter=market.minter,
        crv=market.crv,
        reward_tokens=market.reward_tokens,
    )


PROTOCOL = ProtocolSpec(
    adapter="curve",
    title="Curve",
    market_config=CurveMarketConfig,
    build=_build,
    reverts=REVERTS,
    contracts=(
        "CurveStableSwap3Pool",
        "CurveTokenV3",
        "CurveStableSwapNG",
        "CurveLiquidityGaugeV5",
        "CurveMinter",
        "CurveCRV",
    ),
    deploy="floor.protocols.curve.deploy:deploy_markets",
)
