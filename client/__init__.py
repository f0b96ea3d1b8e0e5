"""The engine's client: everything outside a worker (the CLI, the demo, the bench, services,
and the engine's own door activities) uses to reach the engine through Temporal. Importable
without a worker: it imports neither `activities` nor `workers`, and the workflows only inside
the functions that need their typed handles."""

from client.commands import Commander, command_fields, send
from client.engine import (
    ANSWER_S,
    Finished,
    NotRunning,
    Refused,
    connect,
    current_step,
    engine_breakers,
    engine_config,
    engine_history,
    engine_roles,
    engine_status,
    ensure_engine,
    failure_text,
    follow,
    not_running,
    pending_signals,
    recorded,
    result_types,
    signal_pause,
)
from client.reconcile import reconcile
from client.schedules import CHECKS, RISK_CHECK, apply_schedules, schedule_id
from client.txqueue import configure_running_queues, submit, submit_many

__all__ = [
    "ANSWER_S",
    "CHECKS",
    "RISK_CHECK",
    "Commander",
    "Finished",
    "NotRunning",
    "Refused",
    "apply_schedules",
    "command_fields",
    "configure_running_queues",
    "connect",
    "current_step",
    "engine_breakers",
    "engine_config",
    "engine_history",
    "engine_roles",
    "engine_status",
    "ensure_engine",
    "failure_text",
    "follow",
    "not_running",
    "pending_signals",
    "reconcile",
    "recorded",
    "result_types",
    "schedule_id",
    "send",
    "signal_pause",
    "submit",
    "submit_many",
]
