"""Multicall3 reads: many positions in one eth_call per chain (the block's number and
timestamp read inside it: one request, nothing else), failures decoded per call, chunks under
the gas cap pinned to the first chunk's block, Arbitrum's L2 block number from ArbSys."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3 import Web3

from floor.adapters.registry import AdapterRegistry
from floor.calls import ReadFailed, ReadResult, decode_result, read
from floor.chain.multicall import ARB_SYS, MULTICALL3_ADDRESS, MulticallReader
from floor.chain.positions import read_positions
from floor.chain.rpc import FallbackHTTPProvider, connect, request_counts
from floor.devnet.artifacts import load_artifact
from floor.protocols.morpho_blue.adapter import MarketState, expected_market, to_assets_down


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


def single(w3: Web3, r) -> ReadResult:
    """One read sent alone, as a plain eth_call."""
    return ReadResult(True, w3.eth.call({"to": r.target, "data": r.data}))


def test_positions_match_single_reads(stack, settings, web3s):
    """The batched, decoded positions equal what each contract says when asked alone."""
    chain_id = 1
    w3 = web3s[chain_id]
    adapters = AdapterRegistry.from_settings(settings).on_chain(chain_id)
    participant = stack.chains[chain_id].deployed.participant
    positions = read_positions(MulticallReader(w3), adapters, participant)
    # The protocols compared here; a package added later compares its own in its tests.
    compared = {"a_token", "comet", "steth", "reth", "morpho", "vault"}
    assert {a for adapter in adapters for a in compared if hasattr(adapter, a)} == compared
    for adapter, position in zip(adapters, positions, strict=True):
        if hasattr(adapter, "a_token"):
            expected = w3.eth.call(
                {"to": adapter.a_token, "data": read(adapter.a_token, "balanceOf(address)", participant).data}
            )
            assert position.amount == int.from_bytes(expected, "big") > 0
        elif hasattr(adapter, "comet"):
            expected = w3.eth.call(
                {"to": adapter.comet, "data": read(adapter.comet, "balanceOf(address)", participant).data}
            )
            assert position.amount == int.from_bytes(expected, "big") > 0
        elif hasattr(adapter, "steth"):
            (balance,) = decode_result(
                ["uint256"], single(w3, read(adapter.steth, "balanceOf(address)", participant)), "balanceOf"
            )
            (shares,) = decode_result(
                ["uint256"], single(w3, read(adapter.steth, "sharesOf(address)", participant)), "sharesOf"
            )
            assert position.amount == balance > 0 and position.shares == shares > 0
        elif hasattr(adapter, "reth"):
            # rETH's ETH value at the exchange rate, rounded down: at most a wei per rETH under getEthValue.
            (held,) = decode_result(
                ["uint256"], single(w3, read(adapter.reth, "balanceOf(address)", participant)), "rETH"
            )
            (value,) = decode_result(["uint256"], single(w3, read(adapter.reth, "getEthValue(uint256)", held)), "value")
            assert value - held // 10**18 - 1 <= position.amount <= value and position.shares == held > 0
        elif hasattr(adapter, "morpho"):
            # Asked alone, Morpho's totals are as of its last interaction: accrue them to the block
            # with the IRM's rate, as MorphoBalancesLib does (the batch accrues them in its eth_call).
            stored = MarketState(
                *decode_result(
                    ["uint128"] * 6, single(w3, read(adapter.morpho, "market(bytes32)", adapter.id)), "market"
                )
            )
            (rate,) = decode_result(["uint256"], single(w3, adapter.borrow_rate_reads(stored)[0]), "borrowRateView")
            market = expected_market(stored, rate, w3.eth.get_block("latest")["timestamp"])
            (shares, _, _) = decode_result(
                ["uint256", "uint128", "uint128"],
                single(w3, read(adapter.morpho, "position(bytes32,address)", adapter.id, participant)),
                "position",
            )
            assets = to_assets_down(shares, market.total_supply_assets, market.total_supply_shares)
            assert position.amount == assets > 0 and position.shares == shares
        elif hasattr(adapter, "vault"):
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
    with pytest.raises(ReadFailed, match="transferFrom: call reverted"):
        decode_result(["bool"], batch.results[1], "USDC.transferFrom")


class MiningProvider(FallbackHTTPProvider):
    """Mines a block after every eth_call, so each chunk of a batch runs at a later head."""

    def make_request(self, method, params):
        response = super().make_request(method, params)
        if method == "eth_call":
            super().make_request("evm_mine", [])
        return response


def test_chunks_stay_under_the_gas_cap_at_one_block(stack, settings):
    w3 = Web3(MiningProvider([stack.chains[1].rpc_url]))
    usdc = settings.chain(1).token("USDC").address
    # Every chunk reads the block number it runs at, beside balances.
    reads = [read(MULTICALL3_ADDRESS, "getBlockNumber()")] + [
        read(usdc, "balanceOf(address)", Account.create().address) for _ in range(9)
    ]
    # 10 reads per chunk: the first holds the batch's 3 block reads and 7 of these, then 10, 10, 3.
    reader = MulticallReader(w3, gas_cap=1_000_000, gas_per_read=100_000)
    start = w3.eth.block_number
    batch = reader.read(reads * 3)
    assert batch.eth_calls == 4 == request_counts(w3)["eth_call"] and len(batch.results) == 30
    assert "eth_getBlockByNumber" not in request_counts(w3)  # no header request
    assert w3.eth.block_number == start + 4  # the head moved between chunks...
    seen = [decode_result(["uint256"], batch.results[i], "getBlockNumber")[0] for i in (0, 10, 20)]
    assert seen == [batch.block_number] * 3 == [start] * 3  # ...and every chunk read the first block
    assert batch.timestamp == w3.eth.get_block(start)["timestamp"]


# ArbSys' arbBlockNumber() as anvil can run it: any call returns block.number (NUMBER, MSTORE,
# RETURN 32 bytes). On Arbitrum it is the L2 block number, which block.number is not there.
ARB_SYS_CODE = "0x4360005260206000f3"


def test_the_block_comes_from_arbsys_on_arbitrum_not_multicall3(stack, web3s):
    """On Arbitrum, Multicall3's getBlockNumber() is an L1 block number; the batch's block is
    ArbSys' L2 number, read in the same eth_call. (The test's snapshot revert puts the real
    Multicall3 back and 0x64 empty again.)"""
    w3 = web3s[42161]
    l1_block = load_artifact("L1BlockMulticall3").deployed_bytecode
    w3.provider.make_request("anvil_setCode", [MULTICALL3_ADDRESS, l1_block])
    w3.provider.make_request("anvil_setCode", [ARB_SYS, ARB_SYS_CODE])
    fresh = connect([stack.chains[42161].rpc_url])
    batch = MulticallReader(fresh).read([read(MULTICALL3_ADDRESS, "getBlockNumber()")])
    assert request_counts(fresh) == {"eth_call": 1}
    header = w3.eth.get_block("latest")
    assert (batch.block_number, batch.timestamp) == (header["number"], header["timestamp"])
    [multicall_block] = decode_result(["uint256"], batch.results[0], "getBlockNumber")
    assert multicall_block == header["number"] // 48 < header["number"]
    # At an earlier block, too: ArbSys answers that block's L2 number.
    w3.provider.make_request("evm_mine", [])
    assert MulticallReader(w3).read([], block=header["number"]).block_number == header["number"]


def test_without_arbsys_the_block_is_multicall3s(stack, web3s):
    """Elsewhere 0x64 holds no code: the call returns no data and block.number is the block's."""
    w3 = web3s[1]
    assert w3.eth.get_code(ARB_SYS) == b""
    batch = MulticallReader(w3).read([])
    header = w3.eth.get_block("latest")
    assert (batch.block_number, batch.timestamp, batch.results) == (header["number"], header["timestamp"], [])


def test_reads_at_a_given_block(stack, web3s):
    w3 = web3s[1]
    then = w3.eth.block_number
    w3.provider.make_request("evm_mine", [])
    batch = MulticallReader(w3).read([read(MULTICALL3_ADDRESS, "getBlockNumber()")], block=then)
    assert batch.block_number == then and batch.timestamp == w3.eth.get_block(then)["timestamp"]
    assert decode_result(["uint256"], batch.results[0], "getBlockNumber") == (then,)


def test_a_required_read_that_fails_reverts_the_batch(stack, settings, web3s):
    from web3.exceptions import ContractLogicError

    chain = settings.chain(1)
    usdc = chain.token("USDC").address
    with pytest.raises(ContractLogicError, match="Multicall3: call failed"):
        MulticallReader(web3s[1]).read(
            [read(usdc, "transferFrom(address,address,uint256)", usdc, usdc, 1, allow_failure=False)]
        )
