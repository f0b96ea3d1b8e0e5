"""The bench's wiring: its ADMIN key, and the worker's activities without Temporal
(`workers.plain`) for the plain-script baseline, so the engine's runs and the baseline differ
only by the durable path."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from workers.plain import chain_activities, deps, reconcile_activities

# The bench's engines are commanded by the bench's own ADMIN (a fixed key: it signs commands only).
BENCH_ADMIN: LocalAccount = Account.from_key(keccak(text="floor-bench-admin"))
BENCH_ACCESS = {"admins": [BENCH_ADMIN.address]}

__all__ = ["BENCH_ACCESS", "BENCH_ADMIN", "chain_activities", "deps", "reconcile_activities"]
