"""The exit drill's activities: the full exit run on an anvil fork of one chain, and its record.

`drill_chain_exits` forks the chain (`floor.chain.fork`), builds the full exit on the fork with
the panic exit's own activity (`ExitActivities.build_full_exit` on a `Deps` whose chain is the
fork), impersonates the executor's operator there and sends each step alone as one `execute`,
so one failing exit hides none of the others. Each step's outcome is read on the fork: a revert
decoded (the executor's named errors, the market's), the executor's balance of the asset before
and after (an instant exit), the requests its transaction made (a queued one). A market the plan
leaves because it lets nothing go now is still tried (an estimate only): its refusal is the
reason. The fork is stopped afterwards, also on failure; nothing reaches the chain itself.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.types import TxParams, Wei

from activities.deps import Deps
from activities.errors import named_errors
from activities.exits import ExitActivities
from floor.adapters.base import WithdrawAll
from floor.calls import decode_result, read
from floor.chain.executor import GAS_HEADROOM, encode_execute, revert_reason
from floor.chain.fork import Fork, anvil_fork
from floor.errors import FloorError
from floor.exit_drill import ChainDrill, DrillChainInput, DrilledExit
from floor.models import AdapterKey, Call
from floor.planning.exit import ExitLine, FullExitInput
from floor.protocols.lido.adapter import LidoAdapter
from floor.protocols.lido.withdrawal_logs import requests_made


class ExitDrillActivities:
    def __init__(self, deps: Deps):
        self.deps = deps

    @activity.defn
    @named_errors
    def drill_chain_exits(self, input: DrillChainInput) -> ChainDrill:
        """The full exit of every market of the strategy on `chain_id` (every configured market
        when the strategy has none there), each step alone on a fork of the chain."""
        config = self.deps.chain(input.chain_id).config
        account = self.deps.account(input.chain_id)
        keys = [
            AdapterKey(chain_id=t.chain_id, protocol=t.protocol, market=t.market)
            for t in self.deps.settings.strategy.targets
            if t.chain_id == input.chain_id
        ] or [a.key for a in self.deps.registry.on_chain(input.chain_id)]
        log_dir = Path(tempfile.gettempdir()) / "floor-exit-drills"
        with anvil_fork([str(u) for u in config.rpc_urls], input.chain_id, log_dir) as fork:
            activity.heartbeat("fork started")
            forked = self._forked_deps(fork)
            plan = ExitActivities(forked).build_full_exit(FullExitInput(chain_id=input.chain_id, keys=keys))
            operator = _operator(forked, input.chain_id, account)
            fork.impersonate(operator)
            exits = []
            for line in plan.lines:
                activity.heartbeat(str(line.step.key))
                step = _Step(fork, forked, account, operator, line)
                exits.append(step.run(plan.groups[line.group] if line.group is not None else None))
        return ChainDrill(
            chain_id=input.chain_id,
            run_id=input.run_id,
            drilled_at=datetime.now(UTC),
            block_number=plan.block_number,
            limit_bps=plan.limit_bps,
            exits=exits,
        )

    def _forked_deps(self, fork: Fork) -> Deps:
        """The worker's settings with this one chain, read and written through the fork."""
        chain = self.deps.chain(fork.chain_id).config
        settings = self.deps.settings.model_copy(update={"chains": [chain]})
        return Deps(settings, None, {fork.chain_id: fork.w3})

    @activity.defn
    @named_errors
    def record_exit_drill(self, drill: ChainDrill) -> None:
        """The chain's drill in the store (a retry writes nothing twice); no store, nothing."""
        if self.deps.store is not None:
            self.deps.store.record_exit_drill(drill)

    def all(self) -> list:
        return [self.drill_chain_exits, self.record_exit_drill]


class _Step:
    """One line of the plan, run on the fork."""

    def __init__(self, fork: Fork, deps: Deps, account: str, operator: str, line: ExitLine):
        self.fork, self.deps, self.account, self.operator, self.line = fork, deps, account, operator, line
        step = line.step
        config = deps.chain(fork.chain_id).config
        self.token = config.token(step.asset).address
        # An exit to WETH may pay part in ETH the executor holds unwrapped (a pool sale wraps its
        # min_out in the batch, the rest later): both are what it paid.
        self.with_eth = step.asset == config.flashbots.value_token  # the token worth one ETH
        self.base = {
            "market": str(step.key),
            "protocol": step.key.protocol,
            "asset": step.asset,
            "decimals": step.decimals,
            "position": step.position,
            "mode": step.mode,
            "action": step.action,
            "amount": step.amount,
            "quoted": line.quoted,
            "fair": line.fair,
            "min_out": line.min_out,
            "quoted_slippage_bps": line.slippage_bps,
            "wait_s": step.wait_s,
            "left": step.left,
        }

    def run(self, calls: list[Call] | None) -> DrilledExit:
        line, step = self.line, self.line.step
        if calls is None:
            if line.refusal:
                return DrilledExit(**self.base, status="failed", reason=line.refusal)
            if step.mode == "queued" or self.deps.registry.get(step.key).exit == "queued":
                return DrilledExit(**self.base, status="manual", reason=step.reason)  # a queue the engine cannot ask
            return DrilledExit(**self.base, status="failed", reason=f"{step.reason}; {self._probe()}")
        before = self._balance()
        tx: TxParams = {"from": self.operator, "to": self.account, "data": "0x" + encode_execute(calls).hex()}
        try:
            gas = self.fork.w3.eth.estimate_gas(tx)
        except ContractLogicError as exc:
            return DrilledExit(**self.base, status="failed", reason=f"reverts: {revert_reason(exc)}")
        tx_hash = self.fork.w3.eth.send_transaction({**tx, "gas": gas + GAS_HEADROOM, "value": Wei(0)})
        receipt = self.fork.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        if receipt["status"] != 1:
            return DrilledExit(**self.base, status="failed", reason="estimated, then reverted when mined")
        realised = self._queued(receipt) if step.mode == "queued" else self._balance() - before
        fair = line.fair or step.amount
        slippage = -((realised - fair) * 10_000 // fair) if fair > 0 else 0
        partial = step.left > 0
        return DrilledExit(
            **self.base,
            status="partial" if partial else "ok",
            realised=max(realised, 0),
            slippage_bps=slippage,
            reason=step.reason if partial else "",
            gas_used=receipt["gasUsed"],
        )

    def _balance(self) -> int:
        reader = self.deps.chain(self.fork.chain_id).reader
        (found,) = reader.read([read(self.token, "balanceOf(address)", self.account)]).results
        held = int(decode_result(["uint256"], found, f"{self.line.step.asset}.balanceOf(executor)")[0])
        return held + (self.fork.w3.eth.get_balance(self.account) if self.with_eth else 0)

    def _queued(self, receipt) -> int:
        """What the requests the step's transaction made hold (the queue records each exactly)."""
        adapter = self.deps.registry.get(self.line.step.key)
        if not isinstance(adapter, LidoAdapter):
            return self.line.step.amount
        return sum(r.amount for r in requests_made(receipt["logs"], adapter.withdrawal_queue, self.account))

    def _probe(self) -> str:
        """What the market says to a withdrawal of the whole position on the fork (an estimate:
        nothing is sent), for a position the plan leaves because nothing can leave now."""
        key = self.line.step.key
        adapter = self.deps.registry.get(key)
        reader = self.deps.chain(self.fork.chain_id).reader
        try:
            position = adapter.decode_position(reader.read(adapter.position_reads(self.account)).results)
            action = WithdrawAll(position)
            quote = adapter.decode_quote(action, reader.read(adapter.quote_reads(action, self.account)).results)
            calls = adapter.protected_calls(action, self.account, quote, self.deps.slippage_bps)
        except FloorError as exc:
            return f"its quote refuses: {type(exc).__name__}: {exc}"
        tx: TxParams = {"from": self.operator, "to": self.account, "data": "0x" + encode_execute(calls).hex()}
        try:
            self.fork.w3.eth.estimate_gas(tx)
        except ContractLogicError as exc:
            return f"a withdrawal of all of it reverts: {revert_reason(exc)}"
        return "a withdrawal of all of it would not revert on the fork"


def _operator(deps: Deps, chain_id: int, executor: str) -> str:
    """The executor's operator, as the fork holds it: whom the drill sends as."""
    (found,) = deps.chain(chain_id).reader.read([read(executor, "operator()")]).results
    return Web3.to_checksum_address(decode_result(["address"], found, "executor.operator()")[0])
