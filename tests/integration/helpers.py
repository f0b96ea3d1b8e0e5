"""Small helpers the integration tests share."""

from __future__ import annotations

from web3 import Web3

from floor.devnet.artifacts import load_artifact
from floor.devnet.deploy import Deployer


def contract(w3: Web3, name: str, address: str):
    return w3.eth.contract(address=address, abi=load_artifact(name).abi)


def mint(w3: Web3, token: str, to: str, amount: int) -> None:
    Deployer(w3).send(contract(w3, "TestERC20", token).functions.mint(to, amount))


def balance(w3: Web3, token: str, holder: str) -> int:
    return contract(w3, "TestERC20", token).functions.balanceOf(holder).call()


def advance_time(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])
