"""Native ETH staking on chain 1 (the treasury's own validators): the beacon deposit contract
and EIP-7002's withdrawal request predeploy, deposit data from ethstaking-deposit-cli's
`deposit_data-*.json` checked before any ETH moves, and validators read from a Beacon node's
REST API; with stand-ins of both contracts (and `floor.devnet.beacon`, a Beacon API stand-in)."""

from __future__ import annotations

from floor.adapters.base import Asset
from floor.models import AdapterKey
from floor.protocols.base import ProtocolSpec
from floor.protocols.native_eth.adapter import NativeEthAdapter
from floor.protocols.native_eth.config import NativeEthMarketConfig
from floor.protocols.native_eth.errors import REVERTS

__all__ = ["PROTOCOL", "NativeEthAdapter", "NativeEthMarketConfig"]


def _build(key: AdapterKey, asset: Asset, market: NativeEthMarketConfig) -> NativeEthAdapter:
    return NativeEthAdapter(
        key=key,
        asset=asset,
        deposit_contract=market.deposit_contract,
        withdrawal_request=market.withdrawal_request,
        deposit_data=market.deposit_data,
        verify_signatures=market.verify_signatures,
        beacon_api_url=market.beacon_url(),
    )


PROTOCOL = ProtocolSpec(
    adapter="native_eth",
    title="Native ETH staking",
    market_config=NativeEthMarketConfig,
    build=_build,
    reverts=REVERTS,
    contracts=("BeaconDepositContract", "WithdrawalRequestPredeploy"),
    deploy="floor.protocols.native_eth.deploy:deploy_markets",
)
