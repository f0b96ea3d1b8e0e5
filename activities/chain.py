"""Chain activities: thin wrappers that get their dependencies injected and call floor.*.

Errors leave an activity as an ApplicationError named for the failure. A `FloorError` keeps
its own verdict (bad input, a revert found by gas estimation, a mined transaction that
failed, a nonce taken by someone else: non-retryable; a transport fault: retryable); any
other exception is an unexpected fault and is retried. Messages are scrubbed of registered
secrets (RPC URLs' keys) before they enter Temporal's history.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from temporalio import activity
from temporalio.exceptions import ApplicationError, FailureError
from web3 import Web3

from floor.adapters.base import Deposit
from floor.adapters.registry import AdapterRegistry
from floor.calls import decode_result, read
from floor.chain.multicall import MulticallReader
from floor.chain.positions import read_positions
from floor.chain.rpc import connect
from floor.chain.signer import Signer
from floor.config import ChainConfig, Settings
from floor.errors import BadInput, FloorError, InsufficientBalance, UnknownChain
from floor.logging import get_logger, scrub
from floor.messages import BuildDepositsInput, ReadPositionsInput
from floor.models import Call, Position


def _named_errors(fn):
    """Map errors to Temporal errors named for the failure, retryable as the failure means.

    `from None`: the original exception's text (which may quote a URL) stays out of the
    history; its traceback goes to the worker's log, where secrets are scrubbed.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FailureError:  # Temporal's own (a cancellation, an ApplicationError): as they are
            raise
        except FloorError as exc:
            raise ApplicationError(scrub(str(exc)), type=type(exc).__name__, non_retryable=not exc.retryable) from None
        except Exception as exc:
            get_logger(activity=fn.__name__).warning("activity failed; it will be retried", exc_info=True)
            raise ApplicationError(scrub(f"{type(exc).__name__}: {exc}"), type=type(exc).__name__) from None

    return wrapper


@dataclass
class ChainContext:
    config: ChainConfig
    w3: Web3
    reader: MulticallReader


class ChainActivities:
    def __init__(self, settings: Settings, signer: Signer | None, web3s: dict[int, Web3] | None = None):
        self.settings = settings
        self.registry = AdapterRegistry.from_settings(settings)
        self.signer = signer
        self.slippage_bps = settings.strategy.max_slippage_bps
        self.chains: dict[int, ChainContext] = {}
        for chain in settings.chains:
            w3 = (web3s or {}).get(chain.id) or connect(chain.rpc_urls, chain.rpc_timeout_s, chain_id=chain.id)
            reader = MulticallReader(w3, chain.multicall3, gas_cap=chain.multicall_gas_cap)
            self.chains[chain.id] = ChainContext(chain, w3, reader)

    def _chain(self, chain_id: int) -> ChainContext:
        if chain_id not in self.chains:
            raise UnknownChain(f"chain {chain_id} is not configured (configured: {sorted(self.chains)})")
        return self.chains[chain_id]

    def _account(self, chain_id: int) -> str:
        """The executor contract: the account whose positions the engine reads and moves."""
        account = self._chain(chain_id).config.executor
        if account is None:
            raise UnknownChain(f"chain {chain_id} has no executor address configured")
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
    def build_deposit_calls(self, input: BuildDepositsInput) -> list[list[Call]]:
        """One group of executor calls per deposit of one token, each guarded by a fresh quote
        and the configured slippage, after checking the executor holds enough. The balance
        and every quote are read in one Multicall3 batch, at one block. A group must land
        whole; the workflow packs groups into batches."""
        ctx = self._chain(input.chain_id)
        account = self._account(input.chain_id)
        token = ctx.config.token(input.asset)
        adapters = [self.registry.get(d.key) for d in input.deposits]
        for deposit, adapter in zip(input.deposits, adapters, strict=True):
            if adapter.asset.symbol != input.asset:
                raise BadInput(f"{deposit.key} takes {adapter.asset.symbol}, not {input.asset}")
        actions = [Deposit(d.amount) for d in input.deposits]
        quote_reads = [a.quote_reads(action, account) for a, action in zip(adapters, actions, strict=True)]
        batch = ctx.reader.read(
            [read(token.address, "balanceOf(address)", account)] + [r for reads in quote_reads for r in reads]
        )
        (held,) = decode_result(["uint256"], batch.results[0], f"{token.symbol}.balanceOf(executor)")
        needed = sum(action.amount for action in actions)
        if held < needed:
            raise InsufficientBalance(
                f"executor {account} on chain {input.chain_id} holds {held} base units of "
                f"{token.symbol} ({token.decimals} decimals), the allocation needs {needed}"
            )
        groups, offset = [], 1
        for adapter, action, reads in zip(adapters, actions, quote_reads, strict=True):
            quote = adapter.decode_quote(action, batch.results[offset : offset + len(reads)])
            offset += len(reads)
            groups.append(adapter.protected_calls(action, account, quote, self.slippage_bps))
        return groups

    def all(self) -> list:
        return [
            self.read_positions,
            self.build_deposit_calls,
        ]
