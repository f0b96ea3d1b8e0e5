"""Session-wide pytest hooks."""

from __future__ import annotations

import os
import sys

import pytest

# The longest files first (about two fifths of the suite's time between them): `make test`
# hands whole files to two workers in collection order (`--no-loadscope-reorder`: otherwise
# xdist orders files by their number of tests, which put these, some of one test each, last,
# and one worker ran the soak and the README's examples alone while the other idled).
SLOWEST_FILES = [
    "integration/test_runbook_drills.py",
    "integration/test_soak.py",
    "integration/test_readme_examples.py",
    "integration/test_cli.py",
    "integration/test_txqueue_crash.py",
    "integration/test_alerting.py",
    "integration/test_reconcile.py",
    "integration/test_reconcile_reorg.py",
    "integration/test_capital_queued.py",
    "integration/test_allowances_onchain.py",
]


def pytest_collection_modifyitems(config, items):
    """The slowest files first; every other file, and the tests inside each, in their order."""
    rank = {name: n for n, name in enumerate(SLOWEST_FILES)}

    def place(item) -> int:
        path = item.path.as_posix()
        return next((n for name, n in rank.items() if path.endswith(f"/tests/{name}")), len(rank))

    items.sort(key=place)


def pytest_sessionfinish(session, exitstatus):
    session.config._floor_exitstatus = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    # A process that used a Temporal client can crash while the interpreter finalises
    # (sdk-python#300: "PyGILState_Release", exit 134) after every test has passed. Once
    # pytest has reported, leave with its own exit status and skip finalisation.
    status = getattr(config, "_floor_exitstatus", None)
    if status is not None and "temporalio.client" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
