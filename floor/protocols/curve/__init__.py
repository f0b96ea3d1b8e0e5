"""Curve StableSwap (old fixed-size pools and Stableswap-NG) with its LiquidityGauge and the
Minter's CRV: adapter, market config, named errors, and the pool, LP token, gauge, Minter
and CRV stand-ins (Vyper, ported from Curve's sources)."""

from __future__ import annotations

from floor.protocols.base import ProtocolSpec
from floor.protocols.curve.adapter import CurveAdapter
from floor.protocols.curve.config import CurveMarketConfig
from floor.protocols.curve.errors import REVERTS

__all__ = ["PROTOCOL", "CurveAdapter", "CurveMarketConfig"]


PROTOCOL = ProtocolSpec(
    adapter="curve",
    title="Curve",
    market_config=CurveMarketConfig,
    adapter_class=CurveAdapter,
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
