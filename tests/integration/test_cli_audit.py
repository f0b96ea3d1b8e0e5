"""`floor audit list` and `floor audit verify`, in-process on a SQLite store the config names:
the rows as people and programs read them (the JSON against its schema in cli/outputs.py), the
filters, a row edited by hand named with exit 1, and a store missing or not migrated refused
in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from cli.outputs import AuditListOutput, AuditVerifyOutput, schema
from floor.access.audit import AuditEntry, AuditRow
from floor.store import Store
from tests.json_schema import problems

OPERATOR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
T0 = 1_800_000_000  # 2027-01-15T08:00:00Z


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("FLOOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "floor.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/floor.db"\n\n[[chains]]\nid = 1\nname = "ethereum"\n'
        'rpc_urls = ["https://rpc.example.invalid"]\n'
    )
    return path


@pytest.fixture
def store(config: Path) -> Store:
    with Store(f"sqlite:///{config.parent}/floor.db") as s:
        s.migrate()
        s.append_audit(
            [
                AuditEntry(
                    id=f"engine-floor/{i}",
                    row=AuditRow(
                        at=T0 + 60 * i,
                        workflow_id="engine-floor",
                        signer=OPERATOR if i else "",
                        role="OPERATOR" if i else "",
                        kind=["pause", "allocate", "rebalance"][i],
                        digest="0x" + "cd" * 32 if i else "",
                        outcome="refused" if i == 2 else "accepted",
                        reason="[cooldown] 3600 s left" if i == 2 else "",
                    ),
                )
                for i in range(3)
            ]
        )
        return s


def floor(config: Path, *args: str):
    from cli.main import app

    return CliRunner().invoke(app, ["audit", *args, "--config", str(config)])


def test_list_prints_the_rows_oldest_first_and_filters_them(store: Store, config: Path) -> None:
    ran = floor(config, "list")
    assert ran.exit_code == 0, ran.output
    assert ran.stdout.splitlines() == [
        "#1 2027-01-15T08:00:00+00:00 accepted pause by unsigned in engine-floor",
        f"#2 2027-01-15T08:01:00+00:00 accepted allocate by {OPERATOR} (OPERATOR) in engine-floor",
        f"#3 2027-01-15T08:02:00+00:00 refused rebalance by {OPERATOR} (OPERATOR) in engine-floor: "
        "[cooldown] 3600 s left",
    ]
    ran = floor(config, "list", "--json", "--signer", OPERATOR.lower(), "--since", "2027-01-15T08:01:00Z")
    assert ran.exit_code == 0, ran.output
    data = json.loads(ran.stdout)
    assert problems(data, schema(AuditListOutput)) == []
    assert [(r["seq"], r["at"], r["kind"]) for r in data["rows"]] == [
        (2, "2027-01-15T08:01:00+00:00", "allocate"),
        (3, "2027-01-15T08:02:00+00:00", "rebalance"),
    ]
    assert data["rows"][1]["prev"] == data["rows"][0]["hash"]
    outcomes = floor(config, "list", "--outcome", "refused", "--json", "--until", "2027-01-15T09:05:00+01:00")
    assert [r["seq"] for r in json.loads(outcomes.stdout)["rows"]] == [3]
    assert floor(config, "list", "--kind", "harvest").stdout == "no audit row matches\n"
    assert floor(config, "list", "--limit", "1", "--json").stdout.count('"seq"') == 1


def test_list_refuses_bad_input_in_one_line(store: Store, config: Path) -> None:
    ran = floor(config, "list", "--outcome", "maybe")
    assert ran.exit_code == 2 and "--outcome 'maybe': accepted or refused" in ran.stderr
    ran = floor(config, "list", "--since", "2027-01-15T08:00:00")
    assert ran.exit_code == 2 and "give its time zone" in ran.stderr


def test_verify_says_intact_then_names_a_row_edited_by_hand(store: Store, config: Path) -> None:
    ran = floor(config, "verify")
    assert ran.exit_code == 0, ran.output
    head = store.audit_head()
    assert head is not None
    assert ran.stdout == f"intact: 3 row(s), the head is row 3 ({head.hash})\n"
    with store.engine.begin() as connection:  # as someone with the file can: the trigger gone
        connection.execute(text("DROP TRIGGER audit_log_no_update"))
        connection.execute(text("UPDATE audit_log SET outcome = 'accepted', reason = '' WHERE seq = 3"))
    ran = floor(config, "verify")
    assert ran.exit_code == 1
    assert ran.stdout == "broken at row 3: row 3: its fields do not match its hash (edited)\n"
    ran = floor(config, "verify", "--json")
    assert ran.exit_code == 1
    data = json.loads(ran.stdout)
    assert problems(data, schema(AuditVerifyOutput)) == []
    assert data == {
        "intact": False,
        "head_seq": 3,
        "head_hash": head.hash,
        "bad_row": 3,
        "why": "row 3: its fields do not match its hash (edited)",
    }


def test_a_store_missing_or_not_migrated_is_refused_and_not_created(config: Path) -> None:
    ran = floor(config, "verify")
    assert ran.exit_code == 1 and ran.stderr.startswith("error: no store at ")
    assert not (config.parent / "floor.db").exists()
    with Store(f"sqlite:///{config.parent}/floor.db") as s:
        s.migrate()
        s.downgrade("0005")  # a store of before the audit log
    ran = floor(config, "list")
    assert ran.exit_code == 1 and "has no audit log yet" in ran.stderr
