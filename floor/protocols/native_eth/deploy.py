"""The local stack's native ETH staking market, on Ethereum (chain 1) only: the deposit
contract stand-in at the mainnet deposit contract's address and EIP-7002's predeploy stand-in
at its own address, placed with `anvil_setCode` (anvil 1.7's Prague genesis has no code at
0x00000961Ef480Eb55e80D19ad83579A64c007002, so the stand-in is what answers there).

The deposit contract's constructor fills `zero_hashes` (slots 33..64): it is deployed once
normally and its code and those slots copied to the mainnet address. The market has no
deposit data: validator keys are the operator's (ethstaking-deposit-cli writes them, with
credentials pointing at the executor, which does not exist yet when the hooks run). The
Beacon API stand-in (`python -m floor.devnet.beacon`, started by `scripts/stack.py`) serves
the validators; its URL is `FLOOR_BEACON_API_URL`, else 127.0.0.1 on `FLOOR_BEACON_PORT` (5052).

Needs web3: imported by `floor.devnet.deploy` only when the local stack deploys.
"""

from __future__ import annotations

import os
from typing import Any

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.types import RPCEndpoint

from floor.devnet.artifacts import load_artifact
from floor.devnet.context import DeployContext, Deployer
from floor.protocols.native_eth import PROTOCOL
from floor.protocols.native_eth.config import (
    BEACON_URL_ENV,
    MAINNET_DEPOSIT_CONTRACT,
    WITHDRAWAL_REQUEST_PREDEPLOY,
)

DEPOSIT_CONTRACT, WITHDRAWAL_REQUEST = PROTOCOL.contracts
ZERO_HASH_SLOTS = range(33, 65)  # DepositContract.zero_hashes
CHAINS = (1,)
DEFAULT_BEACON_PORT = 5052


def beacon_url() -> str:
    return (
        os.environ.get(BEACON_URL_ENV) or f"http://127.0.0.1:{os.environ.get('FLOOR_BEACON_PORT', DEFAULT_BEACON_PORT)}"
    )


def install_contracts(w3: Web3, deployer: Deployer | None = None) -> tuple[str, str]:
    """Both stand-ins at their real addresses; returns (deposit contract, predeploy)."""
    d = deployer or Deployer(w3)
    built = d.deploy(DEPOSIT_CONTRACT)
    code = w3.eth.get_code(built.address)
    w3.provider.make_request(RPCEndpoint("anvil_setCode"), [MAINNET_DEPOSIT_CONTRACT, "0x" + bytes(code).hex()])
    for slot in ZERO_HASH_SLOTS:
        value = w3.eth.get_storage_at(built.address, slot)
        w3.provider.make_request(
            RPCEndpoint("anvil_setStorageAt"), [MAINNET_DEPOSIT_CONTRACT, hex(slot), "0x" + bytes(value).hex()]
        )
    if not bytes(w3.eth.get_code(to_checksum_address(WITHDRAWAL_REQUEST_PREDEPLOY))):
        runtime = load_artifact(WITHDRAWAL_REQUEST).deployed_bytecode
        w3.provider.make_request(RPCEndpoint("anvil_setCode"), [WITHDRAWAL_REQUEST_PREDEPLOY, runtime])
    return MAINNET_DEPOSIT_CONTRACT, WITHDRAWAL_REQUEST_PREDEPLOY


def deploy_markets(ctx: DeployContext) -> list[dict[str, Any]]:
    if ctx.chain_id not in CHAINS:
        return []
    deposit, predeploy = install_contracts(ctx.deployer.w3, ctx.deployer)
    return [
        {
            "protocol": "native-eth",
            "adapter": "native_eth",
            "market": "validators",
            "asset": "WETH",
            "deposit_contract": deposit,
            "withdrawal_request": predeploy,
            "beacon_api_url": beacon_url(),
        }
    ]
