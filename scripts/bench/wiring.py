"""The one place the bench builds the worker's activities: the engine's runs get them through
`build_worker`, and the plain-script baseline calls the same activity code directly, without
Temporal, so the two differ only by the durable path."""

from __future__ import annotations

from collections.abc import Mapping

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3

from activities.chain import ChainActivities
from activities.deps import Deps
from activities.reconcile import ReconcileActivities
from floor.chain.signer import LocalKeySigner
from floor.config import Settings
from floor.store import Store

# The bench's engines are commanded by the bench's own ADMIN (a fixed key: it signs commands only).
BENCH_ADMIN: LocalAccount = Account.from_key(keccak(text="floor-bench-admin"))
BENCH_ACCESS = {"admins": [BENCH_ADMIN.address]}


def deps(
    settings: Settings, signer: LocalKeySigner, web3s: Mapping[int, Web3] | None = None, store: Store | None = None
) -> Deps:
    """What the activities use; with no `web3s`, connections of their own."""
    return Deps(settings, signer, web3s, store=store)


def chain_activities(
    settings: Settings, signer: LocalKeySigner, web3s: Mapping[int, Web3] | None = None, store: Store | None = None
) -> ChainActivities:
    return ChainActivities(deps(settings, signer, web3s, store))


def reconcile_activities(
    settings: Settings, signer: LocalKeySigner, web3s: Mapping[int, Web3], store: Store
) -> ReconcileActivities:
    return ReconcileActivities(deps(settings, signer, web3s, store))
