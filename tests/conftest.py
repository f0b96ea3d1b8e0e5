"""Session-wide pytest hooks."""

from __future__ import annotations

import os
import sys

import pytest


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
