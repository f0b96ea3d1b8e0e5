"""batch.kK: the gas of K guarded deposits in one execute(calls) against K transactions of one
deposit each, and the gas saved per extra operation batched; executor.*: the loss bound's gas."""

from __future__ import annotations

from dataclasses import replace

from floor.adapters.base import Deposit
from floor.adapters.registry import adapters_of_chain, executor_setup
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.chain.signer import LocalKeySigner
from floor.config import ChainConfig
from floor.devnet.context import Deployer
from floor.devnet.deploy import configure_executor, deploy_executor
from floor.permissions import ExecutorSetup, PermissionSet


def bench_batch_gas(w3, chain: ChainConfig, signer: LocalKeySigner) -> dict[str, float]:
    """K guarded deposits into one vault: one execute of K groups against K executes."""
    adapter = next(a for a in adapters_of_chain(chain) if a.key.market == "steakUSDC")
    client = ExecutorClient(w3, 1, chain.executor, signer)
    reader = MulticallReader(w3)

    def guarded(amount: int, account: str = chain.executor):
        quote = adapter.decode_quote(
            Deposit(amount), reader.read(adapter.quote_reads(Deposit(amount), account)).results
        )
        return adapter.protected_calls(Deposit(amount), account, quote, 50)

    out: dict[str, float] = {}
    for k in (2, 5, 10):
        separate = sum(client.execute(guarded(10**6)).gas_used for _ in range(k))
        batched = client.execute([c for _ in range(k) for c in guarded(10**6)]).gas_used
        out[f"batch.k{k}.separate_gas"] = separate
        out[f"batch.k{k}.batched_gas"] = batched
        out[f"batch.k{k}.gas_saving_per_op"] = round((separate - batched) / (k - 1))
    out |= bench_guard_overhead(w3, chain, signer, guarded)
    return out


def bench_guard_overhead(w3, chain: ChainConfig, signer: LocalKeySigner, guarded) -> dict[str, float]:
    """The executor's loss bound in gas: 10 guarded deposits through the chain's executor against
    the same batch through an executor with the same rules naming no assets (nothing valued):
    into one vault (2 assets valued), and spread over the chain's USDC markets (one asset more
    per market, up to 10 markets)."""
    setup = executor_setup(chain)
    bare = PermissionSet(
        tuple(replace(p, assets=(), key_word=0) for p in setup.permissions.rules), setup.permissions.members
    )
    d = Deployer(w3)
    plain = deploy_executor(w3, signer.address)
    configure_executor(w3, plain, ExecutorSetup(bare, setup.feeds, setup.bound, setup.tokens))
    usdc = chain.token("USDC").address
    for holder in (chain.executor, plain):
        d.send(d.at("TestERC20", usdc).functions.mint(holder, 100 * 10**6))
    markets = [a for a in adapters_of_chain(chain) if a.asset.symbol == "USDC"][:10]
    reader = MulticallReader(w3)

    def spread(account: str):
        calls = []
        for a in markets:
            quote = a.decode_quote(Deposit(10**6), reader.read(a.quote_reads(Deposit(10**6), account)).results)
            calls += a.protected_calls(Deposit(10**6), account, quote, 50)
        return calls

    def gas(account: str, calls) -> int:
        return ExecutorClient(w3, 1, account, signer).execute(calls).gas_used

    bounded, unbounded = (
        gas(chain.executor, [c for _ in range(10) for c in guarded(10**6)]),
        gas(plain, [c for _ in range(10) for c in guarded(10**6, plain)]),
    )
    bounded_spread, unbounded_spread = gas(chain.executor, spread(chain.executor)), gas(plain, spread(plain))
    return {
        "executor.k10.bounded_gas": bounded,
        "executor.k10.unbounded_gas": unbounded,
        "executor.guard_gas_overhead_pct": round(100 * (bounded - unbounded) / unbounded, 1),
        "executor.spread.markets": len(markets),
        "executor.spread.bounded_gas": bounded_spread,
        "executor.spread.unbounded_gas": unbounded_spread,
        "executor.spread.guard_gas_overhead_pct": round(
            100 * (bounded_spread - unbounded_spread) / unbounded_spread, 1
        ),
    }
