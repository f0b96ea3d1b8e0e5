"""No allowance outlives a batch, for every protocol on the local stack's chain 1.

Every market of the chain's config (native ETH aside: a deposit needs validator deposit data)
is deposited into, partly withdrawn from and then left entirely (Lido: a queued request,
finalised by the oracle, then claimed) through the executor with the engine's guarded calls
(`protected_calls`). After EACH batch every ERC-20 allowance the executor has given is read
(every token the chain knows, plus every market-config address that answers `allowance` as an
ERC-20 does: aTokens, vault shares, stETH, rETH, LP tokens; each against every address of
every market config and every token) and all must be zero.

One pair is not the executor's doing and is left out: a Balancer V2 pool token answers
`allowance(anyone, Vault)` with 2**256-1 by design (BalancerPoolToken.allowance: the Vault may
always move BPT); the test checks that it does, so the exclusion cannot hide anything else.

The chain is the module's own anvil with the full chain-1 deployment (`deploy_chain`, as the
session stack does), its clock moved only by the test (`anvil_setBlockTimestampInterval 0`,
as the Curve tests do): a Curve gauge's checkpoint costs more once a second has passed, so a
gas estimate made in one second and mined in the next can run out of gas (seen on the
session's wall-clock chain: a crvUSD-USDC withdrawal estimated at 341,811 gas used all of it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from floor.adapters.base import Deposit, PositionReading, Withdraw, WithdrawAll
from floor.adapters.registry import AdapterRegistry
from floor.calls import decode_result, read
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.chain.rpc import connect
from floor.chain.signer import LocalKeySigner
from floor.config import Settings
from floor.devnet.deploy import deploy_chain
from floor.devnet.stack import fund_signer, new_operator_key
from floor.guards import ETH as ETH_TOKEN
from floor.guards import Expected, guarded
from floor.models import AdapterKey
from floor.protocols.balancer_v2.adapter import EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, BalancerV2Adapter
from floor.protocols.lido.adapter import LidoAdapter
from floor.protocols.lido.requests import read_requests
from tests.integration.helpers import advance_time, contract, freeze_clock, mint, own_anvil, protected_calls

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
SKIPPED = {"native_eth"}  # a deposit needs validator deposit data: not a token flow
SLIPPAGE_BPS = 10  # the guards' tolerance (as the Curve and Balancer tests use); allowances are what is checked
EXPECTED = {"aave_v3", "erc4626", "compound_v3", "morpho_blue", "lido", "rocket_pool", "balancer_v2"}


def addresses_in(value) -> set[str]:
    """Every address anywhere in a config value (nested models, lists, dicts)."""
    if isinstance(value, str):
        return {value.lower()} if ADDRESS.match(value) else set()
    if isinstance(value, dict):
        return set().union(*(addresses_in(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(addresses_in(v) for v in value)) if value else set()
    return set()


class Allowances:
    """Every (token, spender) pair the executor could have approved, read in one Multicall3 round."""

    def __init__(self, w3, chain, executor: str):
        self.reader = MulticallReader(w3, chain.multicall3)
        self.executor = executor
        config = set().union(*(addresses_in(m.model_dump()) for m in chain.markets))
        tokens = {t.address.lower() for t in chain.tokens}
        self.spenders = sorted((config | tokens) - {executor.lower()})
        # A config address is a token if it answers allowance(executor, x) with one word.
        candidates = sorted(config - tokens)
        probe = self.reader.read([read(a, "allowance(address,address)", executor, executor) for a in candidates])
        found = {a for a, r in zip(candidates, probe.results, strict=True) if r.success and len(r.data) == 32}
        self.tokens = sorted(tokens | found)
        # Balancer V2's BPT: the Vault's allowance is built in, not given (see the docstring).
        self.built_in = {(m.pool.lower(), m.vault.lower()) for m in chain.markets if m.adapter == "balancer_v2"}
        self.pairs = [(t, s) for t in self.tokens for s in self.spenders if t != s and (t, s) not in self.built_in]

    def built_in_values(self) -> list[int]:
        pairs = sorted(self.built_in)
        results = self.reader.read([read(t, "allowance(address,address)", self.executor, s) for t, s in pairs])
        return [decode_result(["uint256"], r, "BPT.allowance")[0] for r in results.results]

    def nonzero(self) -> list[tuple[str, str, int]]:
        results = self.reader.read(
            [read(t, "allowance(address,address)", self.executor, s) for t, s in self.pairs]
        ).results
        out = []
        for (token, spender), r in zip(self.pairs, results, strict=True):
            assert r.success, f"allowance read failed on {token}"
            (value,) = decode_result(["uint256"], r, f"{token}.allowance")
            if value:
                out.append((token, spender, value))
        return out


@pytest.fixture(scope="module")
def chain1(tmp_path_factory) -> Iterator[dict]:
    signer = LocalKeySigner.from_private_key(new_operator_key())
    with own_anvil(tmp_path_factory, 1, "allowances") as url:
        w3 = connect([url])
        freeze_clock(w3)
        deployed = deploy_chain(w3, 1, signer.address)
        fund_signer(w3, signer.address)
        settings = Settings(chains=[deployed.chain_config(url)])
        yield {"w3": w3, "signer": signer, "settings": settings, "oracle": deployed.admin}


def test_every_protocol_leaves_every_allowance_at_zero_after_each_batch(chain1):
    w3, signer, settings = chain1["w3"], chain1["signer"], chain1["settings"]
    chain = settings.chain(1)
    executor = chain.executor
    client = ExecutorClient(w3, 1, executor, signer)
    registry = AdapterRegistry.from_settings(settings)
    reader = MulticallReader(w3, chain.multicall3)
    allowances = Allowances(w3, chain, executor)
    assert len(allowances.tokens) > len(chain.tokens)  # market tokens were found too (aTokens, shares, stETH...)
    assert allowances.nonzero() == []
    assert allowances.built_in and allowances.built_in_values() == [2**256 - 1] * len(allowances.built_in)
    oracle = chain1["oracle"]
    done: list[str] = []

    def run(what: str, calls) -> None:
        client.execute(calls)
        left = allowances.nonzero()
        assert left == [], f"after {what}: allowances left (token, spender, amount): {left}"
        done.append(what)

    markets = [m for m in chain.markets if m.adapter not in SKIPPED]
    assert {m.adapter for m in markets} >= EXPECTED, sorted({m.adapter for m in markets})
    for m in markets:
        key = AdapterKey(chain_id=1, protocol=m.protocol, market=m.market)
        adapter = registry.get(key)
        amount = 100 * 10**adapter.asset.decimals
        mint(w3, adapter.asset.address, executor, amount)
        run(f"{key} deposit", protected_calls(w3, adapter, Deposit(amount), executor, SLIPPAGE_BPS))
        liquidity = adapter.decode_liquidity(reader.read(adapter.liquidity_reads(executor)).results)
        if isinstance(adapter, LidoAdapter):
            run(f"{key} withdrawal request", protected_calls(w3, adapter, Withdraw(liquidity.position // 2), executor))
            run(f"{key} request of the rest", protected_calls(w3, adapter, Withdraw(liquidity.position // 2), executor))
            advance_time(w3, 5 * 24 * 3600)
            steth = contract(w3, "LidoStETH", adapter.steth)
            tx = steth.functions.oracleReport(10**18).transact({"from": oracle})
            assert w3.eth.wait_for_transaction_receipt(tx, timeout=30)["status"] == 1
            ready = [r for r in read_requests(reader, adapter, executor) if r.finalized]
            assert len(ready) == 2
            total = sum(r.claimable for r in ready)
            claim = adapter.claim_withdrawal_calls([r.id for r in ready], [r.hint for r in ready], total, executor)
            run(
                f"{key} claim",
                guarded(executor, claim, [Expected(adapter.asset.address, total), Expected(ETH_TOKEN, 0)], 0),
            )
            continue
        assert liquidity.withdrawable > 0, f"{key}: nothing can leave now ({liquidity.reason})"
        part = min(liquidity.withdrawable, liquidity.position) // 2
        if isinstance(adapter, BalancerV2Adapter):  # exits burn an exact BPT amount: half of it, to one coin
            bpt = adapter.decode_position(reader.read(adapter.position_reads(executor)).results).shares
            kind = EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT
            quote = adapter.decode_exit_quote(
                kind, reader.read(adapter.exit_quote_reads(kind, bpt // 2, executor)).results
            )
            run(
                f"{key} exit of half its BPT",
                adapter.exit_calls(kind, bpt // 2, adapter.exit_bound(quote, 5), executor),
            )
        else:
            run(f"{key} withdrawal", protected_calls(w3, adapter, Withdraw(part), executor, SLIPPAGE_BPS))
        position = adapter.decode_position(reader.read(adapter.position_reads(executor)).results)
        liquidity = adapter.decode_liquidity(reader.read(adapter.liquidity_reads(executor)).results)
        if liquidity.withdrawable >= position.amount:
            whole = WithdrawAll(PositionReading(position.amount, position.shares))
            run(f"{key} withdraw all", protected_calls(w3, adapter, whole, executor, SLIPPAGE_BPS))
    print("\n".join(done))
    assert len(done) >= 3 * len(markets)
