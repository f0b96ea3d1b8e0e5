"""A whole local stack in one object: two anvil chains with everything deployed.

The test harness makes one per test session; the demo makes one and keeps it running.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import RPCEndpoint, TxData

from floor.chain.rpc import connect
from floor.devnet.context import ANVIL_MNEMONIC as ANVIL_MNEMONIC  # re-exported: the keys' home is context
from floor.devnet.context import anvil_account_key as anvil_account_key
from floor.devnet.deploy import DeployedChain, deploy_chain
from floor.devnet.processes import start_anvil, stop_process

CHAIN_IDS = (1, 42161)
SIGNER_FUNDING_WEI = 100 * 10**18


@dataclass
class LocalChain:
    chain_id: int
    port: int
    deployed: DeployedChain
    process: subprocess.Popen[bytes]

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def web3(self) -> Web3:
        return connect([self.rpc_url])


@dataclass
class LocalStack:
    chains: dict[int, LocalChain] = field(default_factory=dict)

    def chain_configs(self) -> list[dict[str, Any]]:
        return [c.deployed.chain_config(c.rpc_url) for c in self.chains.values()]

    def stop(self) -> None:
        for chain in self.chains.values():
            stop_process(chain.process)


def fund_signer(w3: Web3, address: str, wei: int = SIGNER_FUNDING_WEI) -> None:
    w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [address, hex(wei)])


def sent_by(w3: Web3, signer: str, from_block: int) -> list[TxData]:
    """Every transaction the signer got mined since `from_block`, in nonce order."""
    txs = []
    for number in range(from_block, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if isinstance(tx, Mapping) and tx["from"] == signer:  # full transactions, not hashes
                txs.append(tx)
    return sorted(txs, key=lambda t: t["nonce"])


def start_chains(ports: dict[int, int], operator: str, log_dir: Path) -> LocalStack:
    """Start one anvil per chain id on the given ports and deploy everything on each."""
    stack = LocalStack()
    started: list[subprocess.Popen[bytes]] = []
    try:
        for chain_id, port in ports.items():
            proc = start_anvil(port, chain_id, log_dir / f"anvil-{chain_id}.log")
            started.append(proc)
            w3 = connect([f"http://127.0.0.1:{port}"])
            stack.chains[chain_id] = LocalChain(chain_id, port, deploy_chain(w3, chain_id, operator), proc)
            fund_signer(w3, operator)
    except BaseException:
        for proc in started:
            stop_process(proc)
        raise
    return stack


# Account 3 is the executors' guardian (floor/devnet/deploy.py).
GUARDIAN_ACCOUNT = 3


def new_operator_key() -> str:
    """A fresh key for the engine's signer: never one of anvil's well-known accounts."""
    account: LocalAccount = Account.create()
    return account.key.hex()
