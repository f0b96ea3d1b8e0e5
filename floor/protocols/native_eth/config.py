"""A native ETH staking market in the engine's configuration (chain 1 only): the beacon deposit
contract, EIP-7002's withdrawal request predeploy, the Beacon node's REST API, and where the
validators' deposit data lies. The market's `asset` is the chain's WETH: a deposit unwraps 32
ETH per validator in the same batch, as Lido's and Rocket Pool's do.

The Beacon API URL is secret-free here (a node's URL can carry an API key: give it in the
environment instead, `FLOOR_BEACON_API_URL`, which wins over the file)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from floor.configbase import Address
from floor.protocols.base import MarketBase

DEPOSIT_WEI = 32 * 10**18  # one validator (deposit_data.DEPOSIT_WEI, kept here so the config stays light)

MAINNET_DEPOSIT_CONTRACT = "0x00000000219ab540356cBB839Cbe05303d7705Fa"
WITHDRAWAL_REQUEST_PREDEPLOY = "0x00000961Ef480Eb55e80D19ad83579A64c007002"  # EIP-7002
BEACON_URL_ENV = "FLOOR_BEACON_API_URL"


class NativeEthMarketConfig(MarketBase):
    adapter: Literal["native_eth"]
    deposit_contract: Address = MAINNET_DEPOSIT_CONTRACT
    withdrawal_request: Address = WITHDRAWAL_REQUEST_PREDEPLOY
    beacon_api_url: str = Field(default="http://127.0.0.1:5052", min_length=1)
    # A deposit_data-*.json file, or a directory of them (every file, in name order); none
    # means no validator can be deposited yet (positions and exits are still read).
    deposit_data: str | None = None
    # Verify each deposit's BLS signature before sending (py_ecc; about a second each). The
    # deposit contract never does, and a deposit with a bad signature is lost.
    verify_signatures: bool = True

    @property
    def lot(self) -> int:
        return DEPOSIT_WEI  # one validator: 32 ETH

    def beacon_url(self) -> str:
        return os.environ.get(BEACON_URL_ENV) or self.beacon_api_url
