"""The engine's access activities: what its workflow reads from the worker's own settings (the
founders, the command domain, and a first run's strategy) and how its audit entries reach
the store. Never from a workflow's input: anyone who reaches Temporal can start a workflow
with any input."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from client.signing import SigningError, command_domain
from floor.access.audit import AuditEntry
from floor.access.roles import RoleBook
from floor.catalogue import engine_input
from floor.chain.signer import SignerError, signer_from_config
from floor.config import Settings
from floor.operations import EngineAccess


class AccessActivities:
    def __init__(self, settings: Settings, store=None):
        self.settings, self.store = settings, store

    @activity.defn
    def engine_access(self, _: object = None) -> EngineAccess:
        """This worker's access settings for the engine that asks (run as a local activity).
        Refused, non-retryable, for an engine whose workflow id is not this worker's engine id
        (a rogue engine started under another id with a forged input fails at once), or when
        the settings name no founding ADMIN."""
        asking, engine_id = activity.info().workflow_id, self.settings.engine_id
        if asking != engine_id:
            raise ApplicationError(
                f"workflow {asking!r} is not this worker's engine ({engine_id!r}): an engine runs only at"
                " its configured id",
                type="NotThisEngine",
                non_retryable=True,
            )
        access = self.settings.access
        if not access.admins:
            raise ApplicationError(
                "no founding ADMIN: set access.admins in the worker's config (every command is signed)",
                type="NoAdmins",
                non_retryable=True,
            )
        try:
            domain = command_domain(self.settings)
            scheduler = signer_from_config(access.scheduler_key).address if access.scheduler_key else None
        except (SigningError, SignerError) as exc:
            raise ApplicationError(str(exc), type="AccessMisconfigured", non_retryable=True) from None
        input = engine_input(self.settings)
        return EngineAccess(
            domain=domain, admins=access.admins, scheduler=scheduler, catalogue=input.catalogue, policy=input.policy
        )

    @activity.defn
    async def append_audit(self, raw: dict) -> int:
        """The engine's audit entries, appended to the store's hash-chained log (an entry whose id
        was appended before, a retry, appends nothing), and with them its role book when the
        entries changed it (the store's mirror, replaced whole). A worker without a store
        records none."""
        if self.store is None:
            return 0
        entries = [AuditEntry.model_validate(e) for e in raw["entries"]]
        appended = len(await asyncio.to_thread(self.store.append_audit, entries))
        if raw.get("roles") is not None:
            book = RoleBook.model_validate(raw["roles"])
            await asyncio.to_thread(self.store.mirror_roles, activity.info().workflow_id, book)
        return appended

    def all(self) -> list:
        return [self.engine_access, self.append_audit]
