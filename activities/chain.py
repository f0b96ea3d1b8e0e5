"""Chain activities: thin wrappers that get their dependencies injected and call floor.*.

Every ChainError that is not worth retrying (a revert found by gas estimation, a mined
transaction that failed, a nonce taken by someone else) becomes a non-retryable
ApplicationError of the same name, so the workflow's retry policy stops at once and the
error names what went wrong.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from eth_abi import decode
from temporalio import activity
from temporalio.exceptions import ApplicationError
from web3 import Web3

from floor.adapters.registry import AdapterRegistry
from floor.calls import read
from floor.chain.errors import ChainError
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.chain.positions import read_positions
from floor.chain.rpc import connect
from floor.chain.signer import SignedTransaction, Signer
from floor.config import ChainConfig, Settings
from floor.logging import get_logger
from floor.messages import (
    BuildDepositsInput,
    ConfirmInput,
    ExecuteInput,
    ReadPositionsInput,
    SignedTx,
)
from floor.models import Call, Position, TxRecord


class InsufficientFunds(Exception):
    """The executor holds less of a token than an operation needs."""


def _named_errors(fn):
    """Map domain errors to Temporal errors named for the failure."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ChainError as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=not exc.retryable) from exc
        except (InsufficientFunds, KeyError, ValueError) as exc:
            message = (
                exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            )  # KeyError's str() adds quotes
            raise ApplicationError(str(message), type=type(exc).__name__, non_retryable=True) from exc

    return wrapper


@dataclass
class ChainContext:
    config: ChainConfig
    w3: Web3
    reader: MulticallReader
    executor: ExecutorClient | None


class ChainActivities:
    def __init__(self, settings: Settings, signer: Signer | None, web3s: dict[int, Web3] | None = None):
        self.registry = AdapterRegistry.from_settings(settings)
        self.signer = signer
        self.chains: dict[int, ChainContext] = {}
        for chain in settings.chains:
            w3 = (web3s or {}).get(chain.id) or connect(chain.rpc_urls, chain.rpc_timeout_s)
            executor = None
            if chain.executor and signer is not None:
                executor = ExecutorClient(w3, chain.id, chain.executor, signer, confirmations=chain.confirmations)
            reader = MulticallReader(w3, chain.multicall3, gas_cap=chain.multicall_gas_cap)
            self.chains[chain.id] = ChainContext(chain, w3, reader, executor)

    def _chain(self, chain_id: int) -> ChainContext:
        if chain_id not in self.chains:
            raise KeyError(f"chain {chain_id} is not configured (configured: {sorted(self.chains)})")
        return self.chains[chain_id]

    def _executor(self, chain_id: int) -> ExecutorClient:
        executor = self._chain(chain_id).executor
        if executor is None:
            raise KeyError(f"chain {chain_id} has no executor address or no signer configured")
        return executor

    def _account(self, chain_id: int) -> str:
        """The executor contract: the account whose positions the engine reads and moves."""
        account = self._chain(chain_id).config.executor
        if account is None:
            raise KeyError(f"chain {chain_id} has no executor address configured")
        return account

    def _log(self, chain_id: int, **bound):
        info = activity.info()
        return get_logger(chain_id=chain_id, workflow_id=info.workflow_id, activity=info.activity_type, **bound)

    @activity.defn
    @_named_errors
    def read_positions(self, input: ReadPositionsInput) -> list[Position]:
        adapters = [self.registry.get(key) for key in input.keys]
        positions = read_positions(self._chain(input.chain_id).reader, adapters, self._account(input.chain_id))
        self._log(input.chain_id).info(
            "positions read", markets=len(positions), block=positions[0].block_number if positions else None
        )
        return positions

    @activity.defn
    @_named_errors
    def build_deposit_calls(self, input: BuildDepositsInput) -> list[Call]:
        """The executor calls for a set of deposits of one token, after checking it holds enough."""
        ctx = self._chain(input.chain_id)
        account = self._account(input.chain_id)
        token = ctx.config.token(input.asset)
        needed = sum(d.amount for d in input.deposits)
        batch = ctx.reader.read([read(token.address, "balanceOf(address)", account, allow_failure=False)])
        (held,) = decode(["uint256"], batch.results[0].data)
        if held < needed:
            raise InsufficientFunds(
                f"executor {account} on chain {input.chain_id} holds {held} base units of "
                f"{token.symbol} ({token.decimals} decimals), the allocation needs {needed}"
            )
        calls: list[Call] = []
        for deposit in input.deposits:
            adapter = self.registry.get(deposit.key)
            if adapter.asset.symbol != input.asset:
                raise ValueError(f"{deposit.key} takes {adapter.asset.symbol}, not {input.asset}")
            calls += adapter.deposit_calls(deposit.amount, account)
        return calls

    @activity.defn
    @_named_errors
    def sign_execute(self, input: ExecuteInput) -> SignedTx:
        """Estimate (a revert stops here, with no nonce used) and sign one execute(calls)."""
        signed: SignedTransaction = self._executor(input.chain_id).sign(input.calls)
        self._log(input.chain_id, tx_hash=signed.hash).info(
            "execute signed", nonce=signed.nonce, calls=len(input.calls)
        )
        return SignedTx(
            chain_id=input.chain_id,
            raw="0x" + signed.raw.hex(),
            tx_hash=signed.hash,
            nonce=signed.nonce,
            calls=len(input.calls),
        )

    @activity.defn
    @_named_errors
    def submit_transaction(self, input: SignedTx) -> str:
        signed = SignedTransaction(
            raw=bytes.fromhex(input.raw.removeprefix("0x")), hash=input.tx_hash, nonce=input.nonce
        )
        tx_hash = self._executor(input.chain_id).submit(signed)
        self._log(input.chain_id, tx_hash=tx_hash).info("transaction submitted", nonce=input.nonce)
        return tx_hash

    @activity.defn
    @_named_errors
    def confirm_transaction(self, input: ConfirmInput) -> TxRecord:
        record = self._executor(input.chain_id).wait(input.tx_hash, input.calls, heartbeat=activity.heartbeat)
        self._log(input.chain_id, tx_hash=input.tx_hash).info(
            "transaction confirmed", block=record.block_number, gas_used=record.gas_used
        )
        return record

    def all(self) -> list:
        return [
            self.read_positions,
            self.build_deposit_calls,
            self.sign_execute,
            self.submit_transaction,
            self.confirm_transaction,
        ]
