"""Native ETH staking on chain 1 (the treasury's own validators): the beacon deposit contract
and EIP-7002's withdrawal request predeploy, deposit data from ethstaking-deposit-cli's
`deposit_data-*.json` checked before any ETH moves, and validators read from a Beacon node's
REST API; with stand-ins of both contracts (and `floor.devnet.beacon`, a Beacon API stand-in)."""

from __future__ import annotations

from floor.protocols.base import ProtocolSpec
from floor.protocols.native_eth.adapter import NativeEthAdapter
from floor.protocols.native_eth.config import NativeEthMarketConfig
from floor.protocols.native_eth.errors import REVERTS

__all__ = ["PROTOCOL", "NativeEthAdapter", "NativeEthMarketConfig"]


PROTOCOL = ProtocolSpec(
    adapter="native_eth",
    title="Native ETH staking",
    market_config=NativeEthMarketConfig,
    adapter_class=NativeEthAdapter,
    adapter_args=lambda market: {"beacon_api_url": market.beacon_url()},
    reverts=REVERTS,
    contracts=("BeaconDepositContract", "WithdrawalRequestPredeploy"),
    deploy="floor.protocols.native_eth.deploy:deploy_markets",
)
