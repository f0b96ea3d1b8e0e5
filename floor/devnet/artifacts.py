"""Compiled contract artifacts (ABI and bytecode) produced by contracts/compile.mjs: in the
repository's contracts/build, or where $FLOOR_CONTRACTS_BUILD_DIR points (the image's copy)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

BUILD_DIR_ENV = "FLOOR_CONTRACTS_BUILD_DIR"
_REPO_BUILD_DIR = Path(__file__).resolve().parents[2] / "contracts" / "build"


def build_dir() -> Path:
    return Path(os.environ.get(BUILD_DIR_ENV) or _REPO_BUILD_DIR)


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache
def load_artifact(name: str) -> Artifact:
    path = build_dir() / f"{name}.json"
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
