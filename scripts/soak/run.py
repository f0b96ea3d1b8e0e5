"""The soak's cycles: each an hour of chain time, the engine asked what an operator and its
schedules ask, faults and market events on the schedule, and the invariants checked after."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from client import Commander, Refused, engine_breakers, engine_status
from client.engine import result_types, roles_loaded
from client.reconcile import reconcile
from floor.devnet.strategy import STRATEGY, TREASURY, allocate_request, fund
from floor.engine import Operation
from floor.models import AdapterKey
from floor.txqueue import QueueStatus, queue_id
from scripts.soak.chain import Chains, Holdings
from scripts.soak.plan import Cycle
from scripts.soak.stack import SoakStack, admins

OPERATION_TIMEOUT_S = 180
TVL_MARKET = AdapterKey(chain_id=42161, protocol="metamorpho", market="gtUSDC")
STALE_FEED = (1, "WETH")
MAX_ATTEMPTS = 5  # a pending activity past this many attempts is a stuck workflow
MAX_APY = 1.0  # yield above 100% a year in an hour is not yield
ROUNDING_UNITS = 4  # per market touched: the protocols' rounding of shares and scaled balances


@dataclass
class Finding:
    cycle: int
    invariant: str
    detail: str
    explained_by: str | None = None  # the injected fault that explains it; None: a failure


@dataclass
class CycleRecord:
    index: int
    chain_time: int
    value_usd: float
    yield_usd: float
    gas_wei: int
    gas_usd: float
    seconds: float
    faults: list[str]
    events: list[str]
    operations: list[str]
    notes: list[str] = field(default_factory=list)
    reconciliation: str = ""


@dataclass
class FaultLog:
    cycle: int
    kind: str
    detail: str
    outcome: str = ""


class Soak:
    def __init__(self, stack: SoakStack):
        self.stack = stack
        assert stack.settings is not None and stack.store is not None
        self.settings, self.store = stack.settings, stack.store
        signer = self._signer()
        keys = [AdapterKey(chain_id=c, protocol=p, market=m) for c, p, m, _ in STRATEGY]
        self.chains = Chains(self.settings, stack.web3s, keys, signer)
        self.start_blocks = {cid: w3.eth.block_number for cid, w3 in stack.web3s.items()}
        self.chains.scanned = dict(self.start_blocks)
        self.asset_of = {str(a.key): a.asset.symbol for adapters in self.chains.adapters.values() for a in adapters}
        self.findings: list[Finding] = []
        self.records: list[CycleRecord] = []
        self.faults: list[FaultLog] = []
        self.events: list[FaultLog] = []
        self.previous: Holdings | None = None
        self.cumulative_yield_usd = 0.0
        self.tvl_taken = 0
        self.slippage_bps = self.settings.strategy.max_slippage_bps
        self._turn = 0
        self.journal_count = dict.fromkeys(stack.web3s, 0)
        self.signer = signer
        self.reconcile_explained: str | None = None  # what explained the last run's discrepancy

    def _signer(self) -> str:
        from floor.chain.signer import LocalKeySigner

        return LocalKeySigner.from_private_key(self.stack.operator_key).address

    # ------------------------------------------------------------------ asking the engine

    def commander(self) -> Commander:
        keys = admins()
        self._turn += 1
        return Commander(self.stack.client, self.settings, keys[self._turn % len(keys)])

    async def operate(self, kind: Operation, request: dict[str, Any], fault=None) -> Any:
        """Ask the engine for `kind`, inject `fault` (an async callable) while it runs, and wait
        for its end as the engine records it. None when the engine refused."""
        try:
            started = await self.commander().ask(kind, {"by": "soak", **request})
        except Refused as exc:
            if fault is not None:
                await fault()  # between operations, then
            return f"refused: {exc}"
        if fault is not None:
            await fault()
        deadline = time.monotonic() + OPERATION_TIMEOUT_S
        while True:
            try:
                handle = self.stack.client.get_workflow_handle(started.workflow_id, result_type=result_types()[kind])
                result = await asyncio.wait_for(handle.result(), max(1.0, deadline - time.monotonic()))
                break
            except WorkflowFailureError as exc:  # the engine records it (its own breaker trips)
                result = f"failed: {exc.cause}"
                break
            except RPCError:  # the server restarting: ask again
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        await self.engine_idle(deadline)
        return result

    async def engine_idle(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            with contextlib.suppress(RPCError):
                status = await engine_status(self.stack.client, self.settings.engine_id)
                if status.operation is None:
                    return
            await asyncio.sleep(0.1)
        raise TimeoutError("the engine did not record the operation's end")

    # ------------------------------------------------------------------ the cycles

    async def allocate_treasury(self) -> None:
        """The worker starts the engine; once it has its role book, the treasury is allocated."""
        deadline = time.monotonic() + 60
        while True:
            try:
                await roles_loaded(self.stack.client, self.settings.engine_id)
                break
            except RPCError:  # not started yet
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        fund(self.settings, self.stack.web3s)
        result = await self.operate(Operation.ALLOCATE, allocate_request(TREASURY, by="soak"))
        assert getattr(result, "status", None) == "done", f"the treasury's allocation: {result}"
        await self.settled()
        self.previous = self.chains.holdings()

    async def cycle(self, plan: Cycle) -> CycleRecord:
        began = time.monotonic()
        operations: list[str] = []
        notes: list[str] = []
        self.chains.warp()
        if plan.price_bps:
            self.chains.move_price("WETH", plan.price_bps)
        before = self.chains.holdings()
        assert self.previous is not None
        hour_yield = {k: v - self.previous.amounts.get(k, 0) for k, v in before.amounts.items()}
        self.check_yield(plan.index, hour_yield, before)
        yield_usd = sum(
            v * before.prices[k] / 10 ** self.chains.decimals[k[1]] / 1e8 for k, v in hour_yield.items() if v > 0
        )
        self.cumulative_yield_usd += yield_usd
        journal_block = {cid: w3.eth.block_number for cid, w3 in self.stack.web3s.items()}

        for event in plan.events:
            self.events.append(FaultLog(plan.index, event, await self.market_event(event)))
        if plan.tvl_recovers and self.tvl_taken:
            await self.tvl_recovers(plan.index, notes)
        await self.on_call(notes)
        expected = dict(before.amounts)
        deposit = dict(plan.deposit)
        if any(f in plan.faults for f in ("worker_kill", "temporal_restart", "reorg")) and not deposit:
            deposit = {(1, "USDC"): 25_000 * 10**6}  # transactions for the fault to fall among
        if deposit:
            fund(self.settings, self.stack.web3s, deposit)
            for k, v in deposit.items():
                expected[k] = expected.get(k, 0) + v

        fault = self.fault_injector(plan)
        if deposit:
            result = await self.operate(Operation.ALLOCATE, allocate_request(deposit, by="soak"), fault)
            operations.append(f"allocate: {summary(result)}")
            fault = None
        result = await self.operate(Operation.REBALANCE, {"reason": "hourly check"}, fault)
        operations.append(f"rebalance: {summary(result)}")
        if plan.harvest:
            result = await self.operate(Operation.HARVEST, {"reason": "daily"})
            operations.append(f"harvest: {summary(result)}")
        if plan.capital:
            chain_id, asset, amount = plan.capital
            destination = self.settings.chain(chain_id).destinations[0]
            request = {"chain_id": chain_id, "asset": asset, "amount": str(amount), "destination": destination}
            result = await self.operate(Operation.REQUEST_CAPITAL, request)
            operations.append(f"capital request: {summary(result)}")
            delivered = int(getattr(result, "delivered", 0) or 0)
            expected[(chain_id, asset)] -= delivered
        with contextlib.suppress(Refused):
            check = await self.commander().check_risk("hourly")
            for event in check.events:
                notes.append(f"breaker {event.scope}: {event.from_state} -> {event.to_state} ({event.trigger})")
        if "reorg" in plan.faults:
            await self.reorg(plan.index)
        await self.settled()
        reconciled = await self.reconcile(plan)
        after = self.chains.holdings()
        gas_wei = self.check_journal(plan, journal_block)
        self.check_value(plan, expected, after, journal_block)
        await self.check_workflows(plan.index)
        self.previous = after
        eth_price = after.prices[(1, "WETH")]
        record = CycleRecord(
            index=plan.index,
            chain_time=self.stack.web3s[1].eth.get_block("latest")["timestamp"],
            value_usd=after.usd(self.chains.decimals),
            yield_usd=yield_usd,
            gas_wei=gas_wei,
            gas_usd=gas_wei * eth_price / 10**18 / 1e8,
            seconds=time.monotonic() - began,
            faults=list(plan.faults),
            events=list(plan.events),
            operations=operations,
            notes=notes,
            reconciliation=reconciled,
        )
        self.records.append(record)
        return record

    # ------------------------------------------------------------------ faults and events

    def fault_injector(self, plan: Cycle):
        """The cycle's faults: the RPC ones armed now, the process ones as a callable run once
        the first operation has started (`plan.kill_after_s` into it)."""
        for kind in plan.faults:
            if kind == "rpc_error":
                chain_id = 1 if plan.index % 2 else 42161
                self.stack.proxies[chain_id].misbehave("bad_gateway", times=3)
                self.faults.append(FaultLog(plan.index, kind, f"chain {chain_id}: the next 3 requests answer 502"))
            elif kind == "rpc_latency":
                chain_id = 42161 if plan.index % 2 else 1
                self.stack.proxies[chain_id].misbehave("slow", times=40, delay_s=0.25)
                self.faults.append(FaultLog(plan.index, kind, f"chain {chain_id}: the next 40 requests wait 250 ms"))
        process_faults = [k for k in plan.faults if k in ("worker_kill", "temporal_restart")]
        if not process_faults:
            return None

        async def inject() -> None:
            await asyncio.sleep(plan.kill_after_s)  # a random step of the operation
            for kind in process_faults:
                began = time.monotonic()
                if kind == "worker_kill":
                    pid = self.stack.worker.pid if self.stack.worker else None
                    step = await self.current_step()
                    await self.stack.kill_worker()
                    detail = f"SIGKILL worker pid {pid} {plan.kill_after_s:.2f}s into the operation ({step})"
                else:
                    step = await self.current_step()
                    down = await self.stack.restart_temporal()
                    detail = f"dev server stopped and started {plan.kill_after_s:.2f}s into the operation ({step}); down {down:.1f}s"
                self.faults.append(FaultLog(plan.index, kind, detail, f"restarted in {time.monotonic() - began:.1f}s"))

        return inject

    async def current_step(self) -> str:
        with contextlib.suppress(RPCError, TimeoutError):
            status = await asyncio.wait_for(engine_status(self.stack.client, self.settings.engine_id), 2)
            if status.operation is not None:
                return f"{status.operation.kind.value} {status.operation.workflow_id}"
            return "between steps"
        return "unknown step"

    async def market_event(self, event: str) -> str:
        if event == "stale_feed":
            chain_id, asset = STALE_FEED
            heartbeat = self.chains.make_stale(chain_id, asset)
            return f"chain {chain_id} {asset}/USD feed's round backdated 2x its {heartbeat}s heartbeat"
        if event == "tvl_fall":
            if self.tvl_taken:
                return "the participant is still out of the vault: nothing more to take"
            self.tvl_taken = await asyncio.to_thread(self.chains.participant_leaves, TVL_MARKET, 8_000)
            return f"{TVL_MARKET}: the other participant redeemed {self.tvl_taken / 1e6:,.0f} USDC (its TVL falls)"
        raise ValueError(f"unknown event {event}")

    async def tvl_recovers(self, index: int, notes: list[str]) -> None:
        await asyncio.to_thread(self.chains.participant_returns, TVL_MARKET, self.tvl_taken)
        notes.append(f"{TVL_MARKET}: the participant's {self.tvl_taken / 1e6:,.0f} USDC came back")
        self.tvl_taken = 0

    async def on_call(self, notes: list[str]) -> None:
        """What the on-call engineer does at the start of the hour, by the runbooks: accept the
        discrepancies the last reconciliation found, once looked at (the engine closes their
        breakers; one no injected fault explains is an invariant failure already), half-open the
        breakers whose cause is gone (a feed fresh again, a market's TVL back), resume."""
        from floor.acceptance import accept_discrepancy
        from floor.risk.breakers import reconcile_scope

        why = (
            f"explained by the {self.reconcile_explained} injected"
            if self.reconcile_explained
            else "explained by no injected fault: an invariant failure"
        )
        for discrepancy in self.store.open_discrepancies():
            accept_discrepancy(self.store, discrepancy.id, "soak on-call", why)
            with contextlib.suppress(Refused):
                await self.commander().accept_reconciliation(reconcile_scope(discrepancy.market), why)
            notes.append(f"on-call accepted discrepancy #{discrepancy.id} ({discrepancy.market})")
        for breaker in await engine_breakers(self.stack.client, self.settings.engine_id):
            if breaker.state.value != "OPEN" or breaker.scope.startswith("reconcile:"):
                continue
            if self.tvl_taken and breaker.scope == f"protocol:{TVL_MARKET.protocol}":
                continue  # its market has not recovered yet
            try:
                await self.commander().half_open(breaker.scope, "soak on-call: the cause is gone")
                notes.append(f"on-call half-opened {breaker.scope}")
            except Refused as exc:
                notes.append(f"on-call could not half-open {breaker.scope}: {exc}")
        status = await engine_status(self.stack.client, self.settings.engine_id)
        if status.state.value == "PAUSED":
            try:
                await self.commander().resume("soak on-call: breakers dealt with")
                notes.append(f"on-call resumed the engine (paused: {status.pause_reason[:120]})")
            except Refused as exc:
                notes.append(f"on-call could not resume: {exc}")

    async def reorg(self, index: int) -> None:
        """Take back the blocks from chain 1's last transaction of the signer to the head."""
        w3 = self.stack.web3s[1]
        block = self.chains.last_signer_block(1)
        head = w3.eth.block_number
        depth = head - block + 1 if block is not None else 1
        taken = [h for number, hashes in self.chains.mined[1].items() if number > head - depth for h in hashes]
        self.chains.reorg(1, depth)
        fault = FaultLog(index, "reorg", f"chain 1: anvil_reorg {depth} deep (blocks {head - depth + 1}..{head})")
        self.faults.append(fault)
        await self.settled()
        mined_again = []
        for tx_hash in taken:
            receipt = w3.eth.get_transaction_receipt(tx_hash) if self._has_receipt(w3, tx_hash) else None
            mined_again.append(
                f"{tx_hash[:10]}: "
                + (
                    f"mined again in block {receipt['blockNumber']}, status {receipt['status']}"
                    if receipt
                    else "not on the chain"
                )
            )
        fault.outcome = "; ".join(mined_again) or "no transaction of the signer in those blocks"

    @staticmethod
    def _has_receipt(w3, tx_hash: str) -> bool:
        from web3.exceptions import TransactionNotFound

        try:
            w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return False
        return True

    async def settled(self, timeout_s: float = 120) -> None:
        """Until every queue is idle and each chain's nonce is the journal's count."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await self._queues_idle() and self._nonces_match():
                return
            await asyncio.sleep(0.2)
        self.findings.append(Finding(len(self.records), "settled", f"not settled within {timeout_s}s"))

    async def _queues_idle(self) -> bool:
        for cid in self.stack.web3s:
            handle = self.stack.client.get_workflow_handle(queue_id(cid, self.signer))
            try:
                status = await handle.query("status", result_type=QueueStatus)
            except RPCError:
                continue  # no queue yet on that chain, or the server restarting
            if status.pending or status.inflight:
                return False
        return True

    def _nonces_match(self) -> bool:
        for cid, w3 in self.stack.web3s.items():
            if w3.eth.get_transaction_count(self.signer) != len(self.store.transactions_since(cid, -1)):
                return False
        return True

    async def reconcile(self, plan: Cycle) -> str:
        try:
            result = await reconcile(self.stack.client, self.settings)
        except Exception as exc:
            self.findings.append(Finding(plan.index, "reconciliation", f"the run failed: {exc}"))
            return "failed"
        self.reconcile_explained = None
        if result.status != "clean":
            # A reorg is no explanation: the engine reconciles across one (the transaction it
            # took back and the queue sent again counts once).
            explained = next((e for e in plan.events if e in ("tvl_fall",)), None)
            self.reconcile_explained = explained
            self.findings.append(Finding(plan.index, "reconciliation", result.summary, explained))
        return result.status

    # ------------------------------------------------------------------ the invariants

    def check_yield(self, index: int, hour_yield: dict, holdings: Holdings) -> None:
        for key, amount in hour_yield.items():
            total = holdings.amounts[key]
            limit = total * MAX_APY * 3600 / (365 * 86_400) + ROUNDING_UNITS * 8
            if amount < -ROUNDING_UNITS * 8 or amount > limit:
                self.findings.append(
                    Finding(index, "value", f"{key}: the hour's yield {amount} outside [0, {limit:.0f}]")
                )

    def check_value(self, plan: Cycle, expected: dict, after: Holdings, journal_block: dict[int, int]) -> None:
        """What the chains hold now against what they held after the hour's yield, plus
        deposits, less deliveries: within the stated slippage of what moved, plus rounding,
        plus the interest of the seconds the cycle took."""
        moved: dict[tuple[int, str], int] = {}
        touched: dict[tuple[int, str], int] = {}
        for cid in self.stack.web3s:
            for tx in self.store.transactions_since(cid, journal_block[cid]):
                for market, amount in tx.effect_amounts().items():
                    parts = market.split(":")
                    if parts[1] in ("idle", "delivery"):
                        continue
                    asset = self.asset_of[market]
                    moved[(cid, asset)] = moved.get((cid, asset), 0) + abs(amount)
                    touched[(cid, asset)] = touched.get((cid, asset), 0) + 1
        for key, want in expected.items():
            have = after.amounts.get(key, 0)
            loss_limit = moved.get(key, 0) * self.slippage_bps // 10_000 + ROUNDING_UNITS * (touched.get(key, 0) + 8)
            gain_limit = want * MAX_APY * 600 / (365 * 86_400) + ROUNDING_UNITS * 8
            if have < want - loss_limit or have > want + gain_limit:
                explained = "tvl_fall" if "tvl_fall" in plan.events else None
                self.findings.append(
                    Finding(
                        plan.index,
                        "value",
                        f"{key}: {have} held, {want} expected (loss limit {loss_limit}, gain limit {gain_limit:.0f})",
                        explained,
                    )
                )

    def check_journal(self, plan: Cycle, journal_block: dict[int, int]) -> int:
        """Every transaction of the signer on the chain once in the journal, none twice, none
        the chain does not hold; the nonce is the journal's count. The cycle's gas, in wei."""
        mined = self.chains.signer_transactions()
        gas = 0
        for cid, w3 in self.stack.web3s.items():
            rows = self.store.transactions_since(cid, -1)
            hashes = [r.tx_hash for r in rows]
            if len(set(hashes)) != len(hashes):
                self.findings.append(Finding(plan.index, "journal", f"chain {cid}: a transaction journalled twice"))
            nonces = [r.nonce for r in rows]
            if len(set(nonces)) != len(nonces):
                self.findings.append(Finding(plan.index, "journal", f"chain {cid}: a nonce journalled twice"))
            on_chain = set(mined[cid])
            since_start = {r.tx_hash for r in rows if r.block_number > self.start_blocks[cid]}
            if missing := on_chain - set(hashes):
                self.findings.append(Finding(plan.index, "journal", f"chain {cid}: not journalled: {sorted(missing)}"))
            if gone := since_start - on_chain:
                self.findings.append(
                    Finding(plan.index, "journal", f"chain {cid}: journalled, not on chain: {sorted(gone)}")
                )
            nonce = w3.eth.get_transaction_count(self.signer)
            if nonce != len(rows):
                self.findings.append(
                    Finding(plan.index, "nonce", f"chain {cid}: nonce {nonce}, the journal holds {len(rows)}")
                )
            gas += sum(r.gas_used * r.effective_gas_price for r in rows if r.block_number > journal_block[cid])
        return gas

    async def check_workflows(self, index: int, timeout_s: float = 60) -> None:
        """No workflow stuck: none with an activity past MAX_ATTEMPTS attempts or a workflow
        task failing; none but the long-lived ones (the engine, the queues) still running once
        the cycle is over; the engine answering and idle. A workflow task retried after a worker
        was killed (its sticky queue gone) is given `timeout_s` to clear before it counts."""
        deadline = time.monotonic() + timeout_s
        while True:
            problems = await self.stuck_workflows()
            if not problems or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        self.findings += [Finding(index, "stuck", p) for p in problems]

    async def stuck_workflows(self) -> list[str]:
        problems: list[str] = []
        client = self.stack.client
        long_lived = {self.settings.engine_id, *(queue_id(c, self.signer) for c in self.stack.web3s)}
        async for wf in client.list_workflows("ExecutionStatus='Running'"):
            described = await client.get_workflow_handle(wf.id, run_id=wf.run_id).describe()
            raw = described.raw_description
            for pending in raw.pending_activities:
                if pending.attempt > MAX_ATTEMPTS:
                    problems.append(f"{wf.id}: {pending.activity_type.name} at attempt {pending.attempt}")
            if raw.pending_workflow_task.attempt > 2:
                problems.append(f"{wf.id}: its workflow task at attempt {raw.pending_workflow_task.attempt}")
            operation = wf.id not in long_lived and not wf.id.startswith(f"{self.settings.engine_id}/claim")
            if operation and not raw.pending_activities and not raw.pending_children:
                problems.append(f"{wf.id} ({wf.workflow_type}) runs with nothing pending")
        status = await engine_status(client, self.settings.engine_id)
        if status.operation is not None:
            problems.append(f"the engine still runs {status.operation.workflow_id}")
        return problems


def summary(result: Any) -> str:
    if isinstance(result, str):
        return result
    return f"{result.status}: {result.summary}"[:300]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def out_dir(path: str) -> Path:
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory
