"""What every activity class is handed: one `Deps`, built once by the worker
(`workers.temporal.build_worker`).

It holds the settings, each configured chain's context (its config, web3 connection and
Multicall3 reader), the executor account per chain, the signer, the store, the adapter
registry, the Beacon API clients and the deposit attester's client. Activity classes reach
chains only through its accessors, never through one another.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from floor.adapters.registry import AdapterRegistry
from floor.catalogue import queue_input
from floor.chain.attester import AttesterClient
from floor.chain.multicall import MulticallReader
from floor.chain.rpc import connect
from floor.chain.signer import Signer
from floor.config import ChainConfig, Settings
from floor.errors import UnknownChain
from floor.protocols.native_eth.position import with_beacon_views
from floor.txqueue import QueueInput


@dataclass
class ChainContext:
    config: ChainConfig
    w3: Web3
    reader: MulticallReader


class Deps:
    def __init__(
        self, settings: Settings, signer: Signer | None, web3s: dict[int, Web3] | None = None, store=None, attester=None
    ):
        self.settings = settings
        self.signer = signer
        # floor.store.Store: every read of holdings becomes a snapshot, the reconciliation's
        # cache. floor-worker always has one; a test worker without one records nothing.
        self.store = store
        # Asks the deposit attester's process to vouch for validator deposits (floor.chain.attester).
        self.attester = attester or (AttesterClient(settings.attester.url) if settings.attester.url else None)
        self.registry = AdapterRegistry.from_settings(settings)
        self.slippage_bps = settings.strategy.max_slippage_bps
        self.beacons: dict = {}  # Beacon API clients by URL (native ETH)
        self.chains: dict[int, ChainContext] = {}
        self._queue_inputs: dict[int, QueueInput] = {}
        for chain in settings.chains:
            w3 = (web3s or {}).get(chain.id) or connect(chain.rpc_urls, chain.rpc_timeout_s, chain_id=chain.id)
            reader = MulticallReader(w3, chain.multicall3, gas_cap=chain.multicall_gas_cap)
            self.chains[chain.id] = ChainContext(chain, w3, reader)

    def chain(self, chain_id: int) -> ChainContext:
        if chain_id not in self.chains:
            raise UnknownChain(f"chain {chain_id} is not configured (configured: {sorted(self.chains)})")
        return self.chains[chain_id]

    def account(self, chain_id: int) -> str:
        """The executor contract: the account whose positions the engine reads and moves."""
        account = self.chain(chain_id).config.executor
        if account is None:
            raise UnknownChain(f"chain {chain_id} has no executor address configured")
        return account

    def queue_input(self, chain_id: int) -> QueueInput:
        """The signer's queue's start input on a chain (`floor.catalogue.queue_input`), built once:
        deriving the executor's allowed calls takes milliseconds of the worker's event loop, and
        the queue's door and a pause's hold are on the way of an operation and of a pause."""
        if chain_id not in self._queue_inputs:
            if self.signer is None:
                raise UnknownChain(f"chain {chain_id}: this worker has no signer, so no transaction queue")
            self._queue_inputs[chain_id] = queue_input(self.settings, chain_id, self.signer.address)
        return self._queue_inputs[chain_id]

    def adapters(self, chain_id: int, keys) -> list:
        """The markets' adapters, native ETH's with its validators' beacon snapshot (one Beacon
        API request), so its position is the consensus layer's and a deposit takes the next
        validator not yet known there."""
        return with_beacon_views(self.chain(chain_id).reader, [self.registry.get(k) for k in keys], self.beacons)
