"""The workflow sandbox the engine's workers run, without the SDK's per-payload context calls.

For every payload of every workflow activation and completion, temporalio 1.35 asks the
workflow's sandbox which serialization context applies to it, for a payload codec or external
payload storage to use: each answer is an `exec` of a code string inside the sandbox, about
90 microseconds on the worker's event loop, some 300 times in one rebalance (25 ms that every
workflow's tasks wait behind). The engine's data converter has neither a codec nor external
storage (`pydantic_data_converter`), and the payload converter never sees those contexts:
every answer was thrown away. Workflows still run sandboxed exactly as before (the same
restrictions, the same per-run module isolation); only those two questions are not asked.
A client with a codec or external storage gets the SDK's own runner (`workflow_runner`).
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import DataConverter, StorageDriverStoreContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import Info


class _ContextFree(WorkflowInstance):
    """A sandboxed workflow run, as the SDK makes it, that answers "no context" without entering
    its sandbox: the SDK's visitor then uses the data converter as the client has it."""

    def __init__(self, sandboxed: WorkflowInstance):
        self.sandboxed = sandboxed

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self.sandboxed.activate(act)

    def get_info(self) -> Info:
        return self.sandboxed.get_info()

    def get_thread_id(self) -> int | None:  # the SDK's deadlock detection names the thread
        return self.sandboxed.get_thread_id()

    def get_serialization_context(self, command_info: object) -> None:
        return None

    def get_external_store_context(self, command_info: object) -> StorageDriverStoreContext:
        return StorageDriverStoreContext(target=None)


@dataclass(frozen=True)
class ContextFreeSandboxRunner(SandboxedWorkflowRunner):
    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _ContextFree(super().create_instance(det))


def workflow_runner(data_converter: DataConverter) -> WorkflowRunner:
    """The sandbox without context calls when nothing would use a context; else the SDK's."""
    if data_converter.payload_codec is None and data_converter.external_storage is None:
        return ContextFreeSandboxRunner()
    return SandboxedWorkflowRunner()
