"""The local chains keep what a reorg returns to: on a chain with a long past, a reorg deeper
than anvil's default in-memory states, and one onto a block mined again after `evm_revert`,
leave every contract's code in place (floor/devnet/processes.py, STATES_IN_MEMORY)."""

from __future__ import annotations

import pytest
from web3 import Web3

from floor.devnet.processes import free_port, start_anvil, stop_process

# Init code that deploys a contract whose every call returns the word 1.
RUNTIME = "600160005260206000f3"
INIT = "600a600c600039600a6000f3" + RUNTIME


def rpc(w3: Web3, method: str, *params):
    answer = w3.provider.make_request(method, list(params))
    assert "error" not in answer, (method, answer["error"])
    return answer.get("result")


@pytest.fixture
def w3(tmp_path):
    port = free_port()
    proc = start_anvil(port, 31337, tmp_path / "anvil.log")
    try:
        yield Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}"))
    finally:
        stop_process(proc)


def deploy(w3: Web3) -> str:
    sent = rpc(w3, "eth_sendTransaction", {"from": w3.eth.accounts[0], "data": "0x" + INIT, "gas": hex(100_000)})
    return w3.eth.wait_for_transaction_receipt(sent, timeout=10)["contractAddress"]


def still_there(w3: Web3, address: str) -> bool:
    return w3.eth.get_code(address).hex() == RUNTIME and int(rpc(w3, "eth_call", {"to": address}, "latest"), 16) == 1


def test_a_reorg_on_a_chain_with_a_long_past_keeps_the_contracts(w3):
    address = deploy(w3)
    for _ in range(12):  # past the 500 states anvil would keep in memory by default
        rpc(w3, "anvil_mine", 100)
    rpc(w3, "anvil_reorg", 12, [])  # deeper than the 10 it would then keep
    assert still_there(w3, address)


def test_a_reorg_onto_a_block_mined_again_after_a_revert_keeps_the_contracts(w3):
    address = deploy(w3)
    for _ in range(12):
        rpc(w3, "anvil_mine", 100)
    snapshot = rpc(w3, "evm_snapshot")
    at = w3.eth.get_block("latest")["timestamp"] + 1

    def transfer() -> str:
        rpc(w3, "evm_setNextBlockTimestamp", at)
        tx = {"from": w3.eth.accounts[0], "to": w3.eth.accounts[1], "value": "0x1"}
        return w3.eth.wait_for_transaction_receipt(rpc(w3, "eth_sendTransaction", tx), timeout=10)["blockHash"]

    first = transfer()
    rpc(w3, "anvil_mine", 6)
    assert rpc(w3, "evm_revert", snapshot)
    assert transfer() == first  # the same block again: its state is stored a second time
    rpc(w3, "anvil_mine", 4)
    rpc(w3, "anvil_reorg", 4, [])  # back onto it
    assert still_there(w3, address)
