"""RPC access: a dead URL falls through to the next; when every URL is dead the error says so."""

import pytest

from floor.chain.errors import RpcUnavailable
from floor.chain.rpc import connect, request_counts
from floor.devnet.processes import free_port


def test_falls_back_to_the_next_url_and_keeps_it(stack):
    dead = f"http://127.0.0.1:{free_port()}"
    w3 = connect([dead, stack.chains[1].rpc_url], timeout_s=2)
    assert w3.eth.chain_id == 1
    assert w3.eth.chain_id == 1
    assert w3.provider._preferred == 1  # the healthy URL stays preferred: no second try of the dead one
    assert request_counts(w3)["eth_chainId"] == 2


def test_every_url_dead_names_them(stack):
    dead = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    w3 = connect(dead, timeout_s=1)
    with pytest.raises(RpcUnavailable, match=r"eth_blockNumber: every RPC URL failed .*ConnectionError"):
        _ = w3.eth.block_number


def test_a_json_rpc_error_is_not_a_transport_failure(stack):
    """A node's verdict (here: an unknown method) comes back as is, without trying other URLs."""
    w3 = connect([stack.chains[1].rpc_url, f"http://127.0.0.1:{free_port()}"])
    response = w3.provider.make_request("floor_noSuchMethod", [])
    assert "error" in response
    assert w3.provider._preferred == 0
