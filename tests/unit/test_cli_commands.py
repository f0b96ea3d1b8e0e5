"""The client's side of signed commands: the doors' requests mapped to the signed structs'
fields (client.commands.command_fields), a refusal's audit row, and the command line's rule
that a command changing the engine needs a key (exit 2, nothing sent) while a pause does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from cli.main import app
from client.commands import command_fields, refusal_entry, seconds
from client.signing import new_command
from floor.access.audit import row_hash
from floor.access.commands import STRUCTS, CommandDomain, digest, sign_command
from floor.access.roles import Kind
from tests.unit.test_signing import CHAINS, EXECUTOR_10, PASSWORD, config, keystore

KEY = Account.from_key("0x" + "42" * 32)
DESTINATION = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
DOMAIN = CommandDomain(chain_id=10, executor=EXECUTOR_10, engine="engine-t")


def test_an_allocation_request_becomes_the_allocate_struct_without_by():
    request = {
        "by": "cli:alice",
        "reason": "new capital",
        "amounts": [
            {"chain_id": 1, "asset": "USDC", "amount": "600000000000"},
            {"chain_id": 42161, "asset": "WETH", "amount": 5},
        ],
    }
    fields = command_fields("allocate", request)
    assert fields == {
        "amounts": [
            {"chainId": 1, "asset": "USDC", "amount": "600000000000"},
            {"chainId": 42161, "asset": "WETH", "amount": "5"},
        ],
        "reason": "new capital",
    }
    command = new_command(Kind.ALLOCATE, fields, now=1_000)  # the struct takes them as they are
    assert command.amounts[1].amount == 5


def test_a_capital_request_becomes_the_request_capital_struct():
    request = {"chain_id": 1, "asset": "USDC", "amount": "5", "destination": DESTINATION}
    assert command_fields(Kind.REQUEST_CAPITAL, request) == {
        "chainId": 1,
        "asset": "USDC",
        "amount": "5",
        "destination": DESTINATION,
        "deliverBy": 0,  # no deadline
        "partial": False,
        "exitPollSeconds": 3600,
        "reason": "",
    }
    dated = request | {"deadline": "2030-07-01T12:00:00Z", "partial": True, "exit_poll_s": 60, "reason": "payroll"}
    fields = command_fields("request_capital", dated)
    assert (fields["deliverBy"], fields["partial"], fields["exitPollSeconds"]) == (1_909_137_600, True, 60)
    assert new_command(Kind.REQUEST_CAPITAL, fields, now=1_000).reason == "payroll"


def test_breakers_pause_and_reasons_map_to_their_structs():
    for kind in (Kind.TRIP_BREAKER, Kind.HALF_OPEN_BREAKER, Kind.ACCEPT_RECONCILIATION):
        fields = command_fields(kind, {"scope": "chain:1", "by": "oncall", "reason": "incident"})
        assert fields == {"scope": "chain:1", "reason": "incident"}
        new_command(kind, fields, now=1_000)
    for kind in (Kind.PAUSE, Kind.RESUME, Kind.REBALANCE, Kind.HARVEST, Kind.CHECK_RISK):
        assert command_fields(kind, {"by": "test"}) == {"reason": ""}  # an empty reason is a reason
        assert set(command_fields(kind, {"reason": "x"})) == set(STRUCTS[kind].model_fields) - {"nonce", "deadline"}
    with pytest.raises(ValueError, match="configure is not made from a request"):
        command_fields(Kind.CONFIGURE, {})


def test_a_deadline_in_seconds():
    assert seconds(None) == seconds("") == 0
    assert seconds("1970-01-01T00:01:00+00:00") == 60
    with pytest.raises(ValueError, match="no time zone"):
        seconds("2030-01-01T00:00:00")


def test_a_refusal_is_an_audit_row_of_its_signer_kind_and_digest():
    command = sign_command(Kind.RESUME, new_command(Kind.RESUME, {"reason": "x"}, now=1_000), KEY, DOMAIN)
    entry = refusal_entry("engine-t", command, "0xabc has no role; resume needs OPERATOR", now=1_001)
    row = entry.row
    assert (row.outcome, row.kind, row.signer, row.workflow_id, row.at) == (
        "refused",
        "resume",
        KEY.address,
        "engine-t",
        1_001,
    )
    fields = STRUCTS[Kind.RESUME].model_validate(command.message)
    assert row.digest == "0x" + digest(Kind.RESUME, fields, DOMAIN).hex()
    assert row.reason.endswith("resume needs OPERATOR") and row_hash(row).startswith("0x")
    assert entry.id != refusal_entry("engine-t", command, "again", now=1_001).id  # each refusal appended once


ACCESS = '[access]\nadmins = ["0x' + "42" * 20 + '"]\n'


@pytest.mark.parametrize(
    "args",
    [
        ["resume", "--reason", "x"],
        ["rebalance"],
        ["harvest"],
        ["allocate"],  # before the chains are read for idle funds
        ["configure"],
        ["schedules", "apply"],
        ["risk", "check"],
        ["risk", "trip", "chain:10", "--reason", "x"],
        ["risk", "half-open", "chain:10", "--reason", "x"],
        ["reconcile", "--accept", "1", "--reason", "x"],
        ["roles", "grant", KEY.address, "OPERATOR"],
        ["roles", "revoke", KEY.address],
    ],
)
def test_a_command_that_changes_the_engine_needs_a_key(tmp_path: Path, args):
    path = config(tmp_path, ACCESS, CHAINS)
    ran = CliRunner().invoke(app, [*args, "-c", str(path)], env={"FLOOR_KEY": "", "FLOOR_KEY_PASSWORD": ""})
    assert ran.exit_code == 2, ran.output
    assert ran.stdout == ""
    assert ran.stderr.startswith("error: no key: give --key KEYSTORE or set $FLOOR_KEY"), ran.stderr
    assert ran.stderr.count("\n") == 1


def test_a_wrong_password_is_bad_input_too(tmp_path: Path):
    path, key = config(tmp_path, ACCESS, CHAINS), str(keystore(tmp_path))
    ran = CliRunner().invoke(
        app, ["resume", "--reason", "x", "-c", str(path), "--key", key], env={"FLOOR_KEY_PASSWORD": "no"}
    )
    assert ran.exit_code == 2 and ran.stderr.startswith(f"error: keystore {key}: wrong password"), ran.stderr
    assert PASSWORD not in ran.stderr
