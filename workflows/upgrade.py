"""The long-lived workflows (the engine, the transaction queues) under worker versioning.

Every run is pinned to the build it started on (the worker's default, `workers/temporal.py`):
its history replays only on that code. A run continues as new onto the deployment's current
build once that build changes (as it does when its history is full), so an upgrade reaches the
engine and the queues at their next task, and a rollback takes them back. Unversioned workers
(no `temporal.build_id`): nothing changes.
"""

from __future__ import annotations

from temporalio import workflow


def new_build_current() -> bool:
    """The deployment's current build is no longer the one this run is pinned to."""
    return workflow.info().is_target_worker_deployment_version_changed()


def next_run_versioning() -> workflow.ContinueAsNewVersioningBehavior | None:
    """How the next run (continue-as-new) picks its build: the current one on a versioned
    worker, the default on an unversioned one (which may not name a behavior)."""
    if workflow.info().get_current_deployment_version() is None:
        return None
    return workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE
