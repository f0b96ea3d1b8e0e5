"""Multicall3 reads: many positions in one eth_call per chain, failures decoded per call,
chunks under the gas cap pinned to one block."""

from __future__ import annotations

import pytest
from eth_account import Account

from floor.adapters.registry import AdapterRegistry
from floor.calls import ReadFailed, read
from floor.chain.multicall import MulticallReader
from floor.chain.positions import read_positions
from floor.chain.rpc import connect, request_counts


def fifty_position_reads(settings, chain_id: int, holders: list[str]):
    """50 (market, holder) positions: every market of the chain, for as many holders as needed."""
    adapters = AdapterRegistry.from_settings(settings).on_chain(chain_id)
    pairs = [(a, h) for h in holders for a in adapters][:50]
    assert len(pairs) == 50
    return pairs


def test_fifty_positions_cost_one_eth_call_per_chain(stack, settings):
    holders = [settings.chain(1).executor] + [Account.create().address for _ in range(20)]
    for chain_id, chain in stack.chains.items():
        w3 = connect([chain.rpc_url])  # a fresh connection, so the count is this test's alone
        reader = MulticallReader(w3)
        pairs = fifty_position_reads(settings, chain_id, holders)
        reads = [r for adapter, holder in pairs for r in adapter.position_reads(holder)]
        batch = reader.read(reads)
        assert len(batch.results) == len(reads) and all(r.success for r in batch.results)
        assert request_counts(w3) == {"eth_call": 1}, f"chain {chain_id}: {dict(request_counts(w3))}"


def test_positions_match_single_reads(stack, settings, web3s):
    """The batched, decoded positions equal what each contract says when asked alone."""
    chain_id = 1
    w3 = web3s[chain_id]
    adapters = AdapterRegistry.from_settings(settings).on_chain(chain_id)
    participant = stack.chains[chain_id].deployed.participant
    positions = read_positions(MulticallReader(w3), adapters, participant)
    for adapter, position in zip(adapters, positions, strict=True):
        if hasattr(adapter, "a_token"):
            expected = w3.eth.call(
                {"to": adapter.a_token, "data": read(adapter.a_token, "balanceOf(address)", participant).data}
            )
            assert position.amount == int.from_bytes(expected, "big") > 0
        else:
            shares = int.from_bytes(
                w3.eth.call({"to": adapter.vault, "data": read(adapter.vault, "balanceOf(address)", participant).data}),
                "big",
            )
            assets = int.from_bytes(
                w3.eth.call(
                    {"to": adapter.vault, "data": read(adapter.vault, "convertToAssets(uint256)", shares).data}
                ),
                "big",
            )
            # The participant's vault position is liquidity-limited (40% lent out), so the
            # value comes from the share price: at most one base unit under the vault's figure.
            assert assets - 1 <= position.amount <= assets and position.shares == shares > 0


def test_failures_are_decoded_per_call(stack, settings, web3s):
    chain = settings.chain(1)
    usdc = chain.token("USDC").address
    reader = MulticallReader(web3s[1])
    batch = reader.read(
        [
            read(usdc, "balanceOf(address)", chain.executor),
            read(usdc, "transferFrom(address,address,uint256)", chain.executor, usdc, 1),  # reverts
            read(chain.executor, "owner()"),
        ]
    )
    assert [r.success for r in batch.results] == [True, False, True]
    from floor.calls import decode_result

    with pytest.raises(ReadFailed, match="transferFrom: call reverted"):
        decode_result(["bool"], batch.results[1], "USDC.transferFrom")


def test_chunks_stay_under_the_gas_cap_at_one_block(stack, settings, web3s):
    w3 = connect([stack.chains[1].rpc_url])
    usdc = settings.chain(1).token("USDC").address
    reads = [read(usdc, "balanceOf(address)", Account.create().address) for _ in range(25)]
    reader = MulticallReader(w3, gas_cap=1_000_000, gas_per_read=100_000)  # 8 reads per chunk
    batch = reader.read(reads)
    assert batch.eth_calls == 4 == request_counts(w3)["eth_call"]
    assert len(batch.results) == 25 and batch.block_number == w3.eth.block_number


def test_a_required_read_that_fails_reverts_the_batch(stack, settings, web3s):
    from web3.exceptions import ContractLogicError

    chain = settings.chain(1)
    usdc = chain.token("USDC").address
    with pytest.raises(ContractLogicError, match="Multicall3: call failed"):
        MulticallReader(web3s[1]).read(
            [read(usdc, "transferFrom(address,address,uint256)", usdc, usdc, 1, allow_failure=False)]
        )
