"""Which sandbox a worker runs (workers/sandbox.py): the one without context calls only when
nothing would use a payload's serialization context."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import PayloadCodec
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from workers.sandbox import ContextFreeSandboxRunner, workflow_runner


class _Identity(PayloadCodec):
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def test_a_codec_keeps_the_sdks_own_sandbox():
    assert type(workflow_runner(pydantic_data_converter)) is ContextFreeSandboxRunner
    with_codec = dataclasses.replace(pydantic_data_converter, payload_codec=_Identity())
    assert type(workflow_runner(with_codec)) is SandboxedWorkflowRunner
