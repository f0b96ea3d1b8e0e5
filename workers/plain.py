"""The worker's activity code without Temporal: what a plain script (the bench's baseline, a
one-off operator script) calls directly, built on the same `Deps` as `build_worker`, so the
two differ only by the durable path. Doors (the CLI, the API) never use this: they ask the
engine through `client/`."""

from __future__ import annotations

from collections.abc import Mapping

from web3 import Web3

from activities.chain import ChainActivities
from activities.deps import Deps
from activities.reconcile import ReconcileActivities
from floor.chain.signer import LocalKeySigner
from floor.config import Settings
from floor.store import Store


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
