"""The operator's documents stay true to the code: floor.example.toml shows every settings
field and one market of every adapter; the README's command table names every `floor`
command and its port list every port variable of the demo's stack. (The README's examples are
run against a demo stack by tests/integration/test_readme_examples.py.)"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

from pydantic import BaseModel

from cli.main import app
from floor.adapters.registry import AdapterRegistry
from floor.config import Settings, load_settings
from floor.protocols import adapter_kinds
from scripts.stack import Ports
from tests.readme import README, documented_commands, floor_examples

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "floor.example.toml"

# Settings kept out of the file on purpose: secrets come from the environment only, so the
# file shows the variables that carry them (each must appear in its comments) instead of keys.
FROM_THE_ENVIRONMENT = {
    "signer": ["FLOOR_SIGNER__PRIVATE_KEY", "FLOOR_SIGNER__KEYSTORE_PATH", "FLOOR_SIGNER__KEYSTORE_PASSWORD"],
    "flashbots_reputation_key": ["FLOOR_FLASHBOTS_REPUTATION_KEY"],
    "watchdog.guardian": ["FLOOR_WATCHDOG__GUARDIAN__PRIVATE_KEY"],
    "attester.key": ["FLOOR_ATTESTER__KEY__PRIVATE_KEY"],
}


def models_in(annotation) -> list[type[BaseModel]]:
    """The models a field holds: itself, or inside Optional, list, dict, a union (the markets')."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def settings_fields(model: type[BaseModel] = Settings, path: str = "") -> list[tuple[str, str]]:
    """(dotted path, name) of every field of the settings and the models nested in them,
    every market config of the union included; not below a path kept out of the file."""
    out = []
    for name, field in model.model_fields.items():
        where = f"{path}{name}"
        out.append((where, name))
        if where not in FROM_THE_ENVIRONMENT:
            for nested in models_in(field.annotation):
                out += settings_fields(nested, f"{where}.")
    return out


def documented(name: str, text: str) -> bool:
    """`name = ...` (as a key, in an inline table too, or commented out as an example) or a
    table header naming it."""
    key = rf"(?<![\w.\"-]){re.escape(name)}\s*="
    header = rf"^\[\[?[\w.]*\b{re.escape(name)}\]\]?"
    return bool(re.search(key, text) or re.search(header, text, re.MULTILINE))


def test_the_example_config_documents_every_settings_field():
    text = EXAMPLE.read_text()
    fields = settings_fields()
    assert {"strategy.cluster_limit_bps", "risk.breakers.tvl_fall_bps", "chains.markets.pool_id"} <= {
        path for path, _ in fields
    }
    missing = [path for path, name in fields if path not in FROM_THE_ENVIRONMENT and not documented(name, text)]
    assert not missing, f"floor.example.toml does not show: {missing}"
    for path, variables in FROM_THE_ENVIRONMENT.items():
        assert all(v in text for v in variables), (path, variables)


def test_the_example_config_loads_with_one_market_of_every_adapter():
    settings = load_settings(EXAMPLE)
    assert {m.adapter for c in settings.chains for m in c.markets} == set(adapter_kinds())
    assert len(adapter_kinds()) == 10
    AdapterRegistry.from_settings(settings)  # each market builds its adapter (a pool's tokens, ...)
    assert "not yet routed" not in EXAMPLE.read_text()


def cli_commands() -> set[str]:
    """Every `floor` command, sub-commands as "risk scores"."""

    def name(info) -> str:
        return info.name or info.callback.__name__.replace("_", "-")

    found = {name(c) for c in app.registered_commands}
    for group in app.registered_groups:
        found |= {f"{group.name} {name(c)}" for c in group.typer_instance.registered_commands}
    return found


def test_every_cli_command_is_in_the_readmes_command_table():
    commands = cli_commands()
    assert {"status", "gas", "risk scores", "schedules apply"} <= commands
    assert commands - documented_commands() == set()
    assert documented_commands() - commands == set()  # nor one that is not there
    # Each command has an example too (the integration test runs them).
    examples = {
        " ".join(e.args[:2]) if e.args[0] in ("risk", "schedules", "audit", "roles", "alerts", "deploy") else e.args[0]
        for e in floor_examples()
    }
    assert commands - examples == set()


def test_the_readme_lists_every_port_variable_of_the_demo_stack():
    ports = dict(re.findall(r'port\("(FLOOR_\w+_PORT)", (\d+)\)', (ROOT / "scripts" / "stack.py").read_text()))
    # One variable per port of `Ports`, whose `chains` holds two.
    assert len(ports) == len(dataclasses.fields(Ports)) - 1 + len(Ports.from_env().chains) == 14
    text = README.read_text()
    for variable, default in ports.items():
        assert re.search(rf"`{variable}`\s+\({default}\b", text), f"the README's ports miss {variable} ({default})"
