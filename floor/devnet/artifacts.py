"""Compiled contract artifacts (ABI and bytecode) produced by contracts/compile.mjs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_BUILD_DIR = Path(__file__).resolve().parents[2] / "contracts" / "build"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache
def load_artifact(name: str) -> Artifact:
    path = _BUILD_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"contract artifact {name!r} not found at {path}; run `make contracts` to compile the contracts"
        )
    data = json.loads(path.read_text())
    return Artifact(
        name=name,
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
    )
