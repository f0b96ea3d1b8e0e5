"""What people and programs read: amounts in token units with their symbol in every summary and
note, every `--json` output one object whose amounts are strings (docs/cli-json.md, generated
from cli/outputs.py, and checked against the commands' real output)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.outputs import OUTPUTS, PositionsOutput, RiskScoresOutput, schema
from cli.render import note_lines
from floor.models import short, units
from floor.risk.liquidity import position_liquidity
from tests.json_schema import problems


def test_the_cli_json_doc_is_what_the_script_writes():
    from scripts.cli_json_schemas import DOC, render

    assert DOC.read_text() == render(), "docs/cli-json.md is stale: run .venv/bin/python scripts/cli_json_schemas.py"


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_every_output_is_an_object_whose_amounts_are_strings(name):
    found = schema(OUTPUTS[name])
    assert found["type"] == "object"
    text = json.dumps(found)
    assert (
        '"title": "Amount", "type": "integer"' not in text and '"title": "SignedAmount", "type": "integer"' not in text
    )


def test_an_amount_written_as_a_json_integer_does_not_fit():
    from floor.models import AdapterKey

    key = AdapterKey(chain_id=1, protocol="aave-v3", market="USDC")
    liquidity = position_liquidity(key, 5 * 10**20, 10**21, 5 * 10**20, "instant", 0)
    row = {
        "chain_id": 1,
        "protocol": "aave-v3",
        "market": "USDC",
        "asset": "WETH",
        "decimals": 18,
        "amount": str(5 * 10**20),
        "withdrawable": str(5 * 10**20),
        "liquidity": liquidity.model_dump(mode="json"),
        "value": "1500000.00000000",
        "apy": 0.03,
        "apy_source": "quoted",
        "apy_window_s": None,
        "block_number": 7,
        "exit_slippage_bps": None,
    }
    output = {"positions": [row], "idle": [], "total_value": "1500000.00000000"}
    spec = schema(PositionsOutput)
    assert problems(output, spec) == []
    assert liquidity.model_dump(mode="json")["max_safe_withdrawal"] == str(liquidity.max_safe_withdrawal)
    row["liquidity"] = {**row["liquidity"], "position": 5 * 10**20}  # what jq would read as 5e20
    assert problems(output, spec) == [
        "$.positions[0].liquidity.position: expected string, got int 500000000000000000000"
    ]


def test_risk_scores_json_is_an_object_that_fits_its_schema(monkeypatch, tmp_path):
    from cli.main import app

    monkeypatch.delenv("FLOOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    ran = CliRunner().invoke(app, ["risk", "scores", "--json", "--today", "2026-11-25"])
    assert ran.exit_code == 0, ran.output
    data = json.loads(ran.stdout)
    assert problems(data, schema(RiskScoresOutput)) == [] and data["scores"]


def test_amounts_for_people_are_token_units_with_the_symbol():
    assert units(50_000 * 10**6, 6, "USDC") == "50,000 USDC"
    assert units(100_000 * 10**18, 18, "WETH") == "100,000 WETH"
    assert units(-1_500_250_000, 6, "USDC") == "-1,500.25 USDC"
    assert units(12, None, "CRV") == "12 base units of CRV"  # decimals unknown: said so
    assert short(10**18 + 1, 18) == "1.000000000000000001"


def test_notes_are_printed_in_words():
    lines = note_lines(
        [
            "protocol_cap: protocol aave-v3 is capped at 2000 bps ($1.00): ...",
            "min_trade: a deposit of 1 USDC ($1.00) in 1:aave-v3:USDC is below the minimum trade",
            "chain 1 USDC: 1:aave-v3:USDC can give back 0.1 USDC of its 0.3 USDC excess now",
        ]
    )
    assert lines == [
        "  note (a protocol's cap): protocol aave-v3 is capped at 2000 bps ($1.00): ...",
        "  note (below the minimum trade): a deposit of 1 USDC ($1.00) in 1:aave-v3:USDC is below the minimum trade",
        "  note: chain 1 USDC: 1:aave-v3:USDC can give back 0.1 USDC of its 0.3 USDC excess now",
    ]


def test_positions_show_idle_balances_and_a_total():
    from decimal import Decimal

    from rich.console import Console

    from cli.render import positions_table
    from floor.chain.report import IdleReport, MarketReport
    from floor.models import AdapterKey

    key = AdapterKey(chain_id=1, protocol="aave-v3", market="USDC")
    row = MarketReport(
        chain_id=1,
        protocol="aave-v3",
        market="USDC",
        asset="USDC",
        decimals=6,
        amount=600_000 * 10**6,
        withdrawable=600_000 * 10**6,
        liquidity=position_liquidity(key, 600_000 * 10**6, 10**13, 600_000 * 10**6, "instant", 0),
        value=Decimal("600000.00000000"),
        apy=0.03,
        apy_source="quoted",
        apy_window_s=None,
        block_number=7,
    )
    idle = IdleReport(chain_id=1, asset="WETH", decimals=18, amount=5 * 10**17, value=Decimal("1500.5"), block_number=7)
    console = Console(width=200, record=True)
    console.print(positions_table([row], [idle]))
    text = console.export_text()
    assert "│ 1     │ idle     │ executor │ WETH  │     0.5 │    1,500.50 │" in text, text
    assert "│ total │" in text and "│  601,500.50 │" in text, text
