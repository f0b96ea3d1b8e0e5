"""RPC access: a dead or garbling URL falls through to the next; a URL on another chain is
refused or disabled; when every URL fails the error says which and why, never with a key."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from floor.chain.errors import ChainMismatch, RpcUnavailable
from floor.chain.rpc import RPC_BATCH_MAX, batch_request, connect, request_counts
from floor.devnet.faultproxy import RpcProxy
from floor.devnet.processes import free_port
from floor.logging import REDACTED


@pytest.fixture
def proxy(stack) -> Iterator[RpcProxy]:
    with RpcProxy(stack.chains[1].rpc_url) as p:
        yield p


@pytest.fixture
def second_proxy(stack) -> Iterator[RpcProxy]:
    with RpcProxy(stack.chains[1].rpc_url) as p:
        yield p


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


@pytest.mark.parametrize("fault", ["html", "bad_gateway", "not_json_rpc"])
def test_a_bad_answer_falls_back_to_the_next_url(stack, proxy, fault):
    proxy.misbehave(fault)
    w3 = connect([proxy.url("/rpc"), stack.chains[1].rpc_url])
    assert w3.eth.block_number > 0
    assert proxy.methods == {"eth_blockNumber": 1} and w3.provider._preferred == 1


@pytest.mark.parametrize(("fault", "named"), [("html", "JSONDecodeError"), ("not_json_rpc", "not JSON-RPC")])
def test_a_bad_answer_from_the_only_url_is_retryable_and_passes(proxy, fault, named):
    proxy.misbehave(fault)
    w3 = connect([proxy.url()])
    with pytest.raises(RpcUnavailable, match=f"every RPC URL failed \\(http://127.0.0.1:\\d+: {named}\\)") as info:
        _ = w3.eth.block_number
    assert info.value.retryable
    assert w3.eth.block_number > 0


def test_a_primary_on_another_chain_is_refused_at_start(stack, proxy):
    proxy.misbehave("wrong_chain", chain_id=5)
    with pytest.raises(ChainMismatch, match=r"RPC URL http://127.0.0.1:\d+ serves chain 5, not the configured chain 1"):
        connect([proxy.url(), stack.chains[1].rpc_url], chain_id=1)
    with pytest.raises(ChainMismatch, match="serves chain 42161, not the configured chain 1"):
        connect([stack.chains[42161].rpc_url], chain_id=1)


def test_a_fallback_on_another_chain_is_never_used(stack, proxy, second_proxy, log_text):
    """The wrong-chain fallback forwards to the right node, so a read through it would succeed:
    only the disabling stops it."""
    primary, fallback = proxy, second_proxy
    fallback.misbehave("wrong_chain", chain_id=5, times=None)
    w3 = connect([primary.url(), fallback.url()], chain_id=1)
    [warning] = [line for line in log_text.getvalue().splitlines() if '"level": "warning"' in line]
    assert f"RPC URL {fallback.url()} serves chain 5, not the configured chain 1: disabled" in warning

    assert w3.eth.block_number > 0 and primary.methods["eth_blockNumber"] == 1
    primary.misbehave("bad_gateway", times=None)
    with pytest.raises(RpcUnavailable, match=f"{fallback.url()}: serves chain 5"):
        _ = w3.eth.block_number
    assert fallback.methods == {"eth_chainId": 1}


def test_a_url_down_at_start_is_checked_before_it_serves(stack, proxy, second_proxy, log_text):
    """Down at start-up, then on another chain: disabled when first reached, the next URL serves."""
    primary, late = proxy, second_proxy
    late.misbehave("bad_gateway")
    late.misbehave("wrong_chain", chain_id=5, times=None)
    w3 = connect([primary.url(), late.url(), stack.chains[1].rpc_url], chain_id=1)
    assert "disabled" not in log_text.getvalue()

    primary.misbehave("bad_gateway", times=None)
    assert w3.eth.block_number > 0
    assert late.methods == {"eth_chainId": 2} and w3.provider._preferred == 2
    assert f"RPC URL {late.url()} serves chain 5, not the configured chain 1: disabled" in log_text.getvalue()


def test_a_url_down_at_start_serves_once_checked(stack, proxy, second_proxy):
    primary, late = proxy, second_proxy
    late.misbehave("bad_gateway")
    w3 = connect([primary.url(), late.url()], chain_id=1)
    primary.misbehave("bad_gateway", times=None)
    assert w3.eth.block_number > 0
    assert late.methods == {"eth_chainId": 2, "eth_blockNumber": 1}


def _block_reads(w3, count: int) -> tuple[list[tuple[str, list]], list[int]]:
    """`count` reads of block numbers (some repeated) and the numbers their answers must give."""
    head = w3.eth.block_number
    numbers = [i % (head + 1) for i in range(count)]
    return [("eth_getBlockByNumber", [hex(n), False]) for n in numbers], numbers


def test_a_batch_is_answered_in_order_in_bounded_chunks(proxy):
    """The answers come back in the order asked, a node's JSON-RPC error stays its request's
    answer, and no HTTP request carries more than RPC_BATCH_MAX of them."""
    w3 = connect([proxy.url()])
    reads, numbers = _block_reads(w3, 2 * RPC_BATCH_MAX + 5)
    reads[7] = ("floor_noSuchMethod", [])
    answers = batch_request(w3, reads)
    assert "error" in answers[7]
    del answers[7], numbers[7]
    assert [int(a["result"]["number"], 16) for a in answers] == numbers
    assert proxy.batches == 3 and proxy.methods["eth_getBlockByNumber"] == 2 * RPC_BATCH_MAX + 4
    assert request_counts(w3)["eth_getBlockByNumber"] == 2 * RPC_BATCH_MAX + 4


@pytest.mark.parametrize("status", [200, 400, 413])
def test_a_url_that_refuses_batches_is_asked_one_request_at_a_time(proxy, log_text, status):
    """A provider that answers a batch with one error (it takes none, or not that many; with
    an HTTP status of its own or not) still answers every request, one by one, and is not
    sent a batch again."""
    w3 = connect([proxy.url()])
    proxy.misbehave("no_batches", times=None, status=status)
    reads, numbers = _block_reads(w3, 5)
    for _ in range(2):
        assert [int(a["result"]["number"], 16) for a in batch_request(w3, reads)] == numbers
    assert proxy.batches == 1 and proxy.methods["eth_getBlockByNumber"] == 5 + 5 + 5
    assert log_text.getvalue().count(f"RPC URL {proxy.url()} does not answer batches") == 1


def test_a_batch_falls_back_to_the_next_url(stack, proxy):
    w3 = connect([proxy.url(), stack.chains[1].rpc_url])
    reads, numbers = _block_reads(w3, 3)
    proxy.misbehave("bad_gateway", times=None)
    assert [int(a["result"]["number"], 16) for a in batch_request(w3, reads)] == numbers
    assert w3.provider._preferred == 1 and proxy.batches == 1
    proxy.reset()
    dead = connect([proxy.url()])
    proxy.misbehave("no_batches", times=None, status=429)  # rate limited: unhealthy, not a refusal
    with pytest.raises(RpcUnavailable, match=r"a batch of 3: every RPC URL failed"):
        batch_request(dead, reads)
    assert not dead.provider._no_batches
    proxy.reset()
    proxy.misbehave("bad_gateway", times=None)
    with pytest.raises(RpcUnavailable, match=r"a batch of 3: every RPC URL failed \(http://127.0.0.1:\d+: HTTPError\)"):
        batch_request(dead, reads)


def test_a_key_in_the_url_never_shows(stack, proxy, second_proxy, log_text):
    """Keys in the path and query stay out of every error and log line (web3's DEBUG ones too)."""
    key, other_key = secrets.token_hex(16), secrets.token_urlsafe(24)
    keyed = f"/v3/{key}?apikey={other_key}"
    errors = []

    proxy.misbehave("wrong_chain", chain_id=5)
    with pytest.raises(ChainMismatch) as refused:
        connect([proxy.url(keyed)], chain_id=1)
    errors.append(str(refused.value))

    second_proxy.misbehave("wrong_chain", chain_id=5)  # a disabled fallback: a warning
    w3 = connect([proxy.url(keyed), second_proxy.url(keyed)], chain_id=1)
    assert w3.eth.block_number > 0
    for fault in ("html", "bad_gateway", "not_json_rpc"):
        proxy.misbehave(fault)
        with pytest.raises(RpcUnavailable) as failed:
            _ = w3.eth.block_number
        errors.append(str(failed.value))
    logs = log_text.getvalue()

    assert all(proxy.url(f"/{REDACTED}") in error for error in errors)
    assert f"RPC URL {second_proxy.url(f'/{REDACTED}')} serves chain 5" in logs
    assert "Making request HTTP" in logs  # web3 logs the URL it posts to
    for text in [*errors, logs]:
        assert key not in text and other_key not in text
