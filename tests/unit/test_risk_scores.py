"""Smart-contract risk scores (floor/risk/scores.py): the worked example of docs/risk.md, exactly;
monotonicity; the packaged data file; the `floor risk scores --json` shape."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from floor.risk.protocol_data import (
    DATA_FILE,
    FLOOR_PROTOCOLS,
    Audit,
    Incident,
    ProtocolData,
    load_protocol_data,
    parse_protocol_data,
)
from floor.risk.scores import (
    REPUTABLE_FIRMS,
    age_part,
    audit_part,
    incident_penalty,
    incidents_part,
    max_weight_bps,
    overall_of,
    round_half_up,
    score,
    score_all,
    severity,
    tvl_part,
)

TODAY = dt.date(2026, 11, 25)
URL = "https://example.org/report"

# ---------------------------------------------------------------------------- the worked example
# docs/risk.md, "Worked example": three protocols, scored as of 2026-11-25.


def alpha() -> ProtocolData:
    return ProtocolData.model_validate(
        {
            "id": "alpha",
            "name": "Alpha",
            "category": "lending",
            "deployments": [{"chain_id": 1, "launched": "2022-11-25", "source": URL}],
            "audits": [
                {
                    "firm": "OpenZeppelin",
                    "date": "2025-11-25",
                    "scope": "core",
                    "source": URL,
                    "open_findings": {"critical": 0, "high": 1, "medium": 2, "low": 4},
                },
                {
                    "firm": "Trail of Bits",
                    "date": "2024-05-01",
                    "scope": "core",
                    "source": URL,
                    "open_findings": {"critical": 0, "high": 0, "medium": 0, "low": 0},
                },
                {
                    "firm": "Sigma Prime",
                    "date": "2023-01-01",
                    "scope": "core",
                    "source": URL,
                    "open_findings_unknown": "PDF",
                },
                {
                    "firm": "Acme Audits",  # not a listed firm: does not count
                    "date": "2026-01-01",
                    "scope": "core",
                    "source": URL,
                    "open_findings": {"critical": 1, "high": 0, "medium": 0, "low": 0},
                },
            ],
            "incidents": [
                {
                    "date": "2024-11-25",
                    "what": "pool drained",
                    "layer": "core",
                    "loss_usd": 50_000_000,
                    "recovered": "partial",
                    "resolution": "part returned",
                    "sources": [URL],
                }
            ],
        }
    )


def beta() -> ProtocolData:
    return ProtocolData.model_validate(
        {
            "id": "beta",
            "name": "Beta",
            "category": "stable_lp",
            "deployments": [{"chain_id": 1, "launched": "2020-01-03", "source": URL}],
            "audits": [
                {
                    "firm": "ChainSecurity",
                    "date": "2021-09-27",
                    "scope": "pools",
                    "source": URL,
                    "open_findings_unknown": "PDF",
                },
                {
                    "firm": "Quantstamp",
                    "date": "2020-10-15",
                    "scope": "pools",
                    "source": URL,
                    "open_findings": {"critical": 0, "high": 0, "medium": 1, "low": 0},
                },
            ],
            "incidents": [
                {
                    "date": "2023-07-30",
                    "what": "compiler bug",
                    "layer": "core",
                    "loss_usd": 73_000_000,
                    "recovered": "partial",
                    "resolution": "part returned",
                    "sources": [URL],
                }
            ],
        }
    )


def gamma() -> ProtocolData:
    return ProtocolData.model_validate(
        {
            "id": "gamma",
            "name": "Gamma",
            "category": "vault",
            "deployments": [{"chain_id": 1, "launched": "2024-01-01", "precision": "month", "source": URL}],
            "audits": [
                {
                    "firm": "Cantina",
                    "date": "2024-01-05",
                    "scope": "vault",
                    "source": URL,
                    "open_findings_unknown": "contest",
                }
            ],
            "incidents": [
                {
                    "date": "2024-10-13",
                    "what": "oracle misconfigured",
                    "layer": "market",
                    "loss_usd": 230_000,
                    "recovered": "partial",
                    "resolution": "most retrieved",
                    "sources": [URL],
                }
            ],
        }
    )


TOTALS = [100, 102, 104, 100, 96, 98, 100, 101, 103, 105]  # x 10^12 base units, one a day
ALPHA_TVL = [(dt.datetime(2026, 11, 16 + i, 12, tzinfo=dt.UTC), v * 10**12) for i, v in enumerate(TOTALS)]


def test_example_alpha_parts() -> None:
    # audit: 3 listed firms x 10 = 30; newest 365 days old: 30; findings 30 - (6 + 0) / 2 = 27
    assert audit_part(alpha().audits, TODAY) == (87, ["open findings unknown for 1 of 3 counted audits"])
    # tvl: peak 104, trough 96: drawdown 1/13: 100 - 200/13 = 84.6
    assert tvl_part(ALPHA_TVL, TODAY)[:2] == (85, False)
    assert age_part(dt.date(2022, 11, 25), TODAY) == 100  # 1461 days, capped at 1460
    # incident 730 days ago: 50 x (1 - 3/4 x 730/1460) x 3/4 = 50 x 5/8 x 3/4
    (incident,) = alpha().incidents
    assert incident_penalty(incident, TODAY) == Fraction(375, 16)
    assert incidents_part(alpha().incidents, TODAY)[0] == 77  # 100 - 23.4375
    s = score(alpha(), ALPHA_TVL, TODAY)
    assert (s.audit, s.tvl, s.age, s.incidents, s.overall, s.max_weight_bps) == (87, 85, 100, 77, 86, 3000)
    assert not s.tvl_neutral


def test_example_beta_parts() -> None:
    # 2 firms: 20; newest 1885 days old: 0; findings 30 - 1 = 29
    assert audit_part(beta().audits, TODAY)[0] == 49
    (incident,) = beta().incidents
    assert (TODAY - incident.date).days == 1214
    assert incident_penalty(incident, TODAY) == 50 * Fraction(1099, 2920) * Fraction(3, 4)
    s = score(beta(), [], TODAY)
    assert (s.audit, s.tvl, s.age, s.incidents, s.overall, s.max_weight_bps) == (49, 50, 100, 86, 72, 2000)
    assert s.tvl_neutral and "no tvl observations: tvl neutral" in s.notes


def test_example_gamma_parts() -> None:
    # 1 firm: 10; newest 1055 days old: 30 x 405/1095; findings unknown: 15
    assert audit_part(gamma().audits, TODAY)[0] == round_half_up(10 + Fraction(30 * 405, 1095) + 15) == 36
    assert age_part(dt.date(2024, 1, 1), TODAY) == round_half_up(Fraction(100 * 1059, 1460)) == 73
    (incident,) = gamma().incidents
    assert incident_penalty(incident, TODAY) == 10 * Fraction(3521, 5840) * Fraction(3, 4)
    s = score(gamma(), ALPHA_TVL[:3], TODAY)  # 3 observations over 2 days: too few
    assert (s.audit, s.tvl, s.age, s.incidents, s.overall, s.max_weight_bps) == (36, 50, 73, 95, 66, 1000)
    assert s.tvl_neutral


def test_overall_and_weight_steps() -> None:
    assert overall_of(87, 85, 100, 77) == 86  # 85.8
    assert overall_of(49, 50, 100, 86) == 72  # 72.3
    assert overall_of(36, 50, 73, 95) == 66  # 66.15
    assert [max_weight_bps(o) for o in (100, 80, 79, 70, 69, 60, 59, 50, 49, 0)] == [
        3000,
        3000,
        2000,
        2000,
        1000,
        1000,
        500,
        500,
        0,
        0,
    ]


def test_severity_steps_and_rounding() -> None:
    assert [severity(x) for x in (0, 1, 999_999, 1_000_000, 9_999_999, 10_000_000, 100_000_000, None)] == [
        0,
        10,
        10,
        25,
        25,
        50,
        80,
        25,
    ]
    assert [round_half_up(Fraction(n, 2)) for n in range(6)] == [0, 1, 1, 2, 2, 3]


def test_tvl_per_market_takes_the_least_stable_and_ignores_thin_markets() -> None:
    steady = [(dt.date(2026, 11, 10 + i), 1000) for i in range(10)]
    falling = [(dt.date(2026, 11, 10 + i), 1000 - 50 * i) for i in range(10)]  # 45% down
    part, neutral, notes = tvl_part({"1:x:A": steady, "1:x:B": falling, "1:x:C": steady[:2]}, TODAY)
    assert (part, neutral) == (10, False)
    assert any("1:x:C" in n and "too few" in n for n in notes)
    # observations outside the 90-day window or after today do not count
    old = [(dt.date(2026, 1, 1 + i), 1000 - 90 * i) for i in range(10)]
    assert tvl_part(old + steady, TODAY)[0] == 100
    assert tvl_part([(dt.date(2026, 12, 1 + i), 1) for i in range(10)], TODAY)[:2] == (50, True)


def test_unknown_launch_falls_back_to_the_earliest_sourced_one() -> None:
    p = ProtocolData.model_validate(
        {
            "id": "p",
            "name": "P",
            "category": "lending",
            "deployments": [
                {"chain_id": 1, "launched_unknown": "no source"},
                {"chain_id": 42161, "launched": "2025-11-25", "source": URL},
            ],
        }
    )
    s = score(p, [], TODAY)
    assert s.age == 25 and any("earliest sourced launch (chain 42161)" in n for n in s.notes)
    assert score(p, [], TODAY, chain_id=10).age == 25
    unknown = p.model_copy(update={"deployments": [p.deployments[0]]})
    assert score(unknown, [], TODAY).age == 50


def test_events_after_today_are_ignored() -> None:
    past = score(alpha(), ALPHA_TVL, dt.date(2024, 11, 24))
    assert past.incidents == 100  # the incident happens the next day
    assert past.audit < score(alpha(), ALPHA_TVL, TODAY).audit  # the 2025 audit is not there yet


# ---------------------------------------------------------------------------- monotonicity

dates = st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2027, 12, 31))
incidents = st.builds(
    lambda d, loss, rec: Incident(
        date=d,
        what="x",
        layer="core",
        loss_usd=loss,
        loss_unknown=None if loss is not None else "not reported",
        recovered=rec,
        resolution="y",
        sources=[URL],
    ),
    dates,
    st.none() | st.integers(0, 10**10),
    st.sampled_from(["full", "partial", "none", "unknown", "not_applicable"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(incidents, max_size=6), incidents, dates)
def test_an_extra_incident_never_raises_a_score(base, extra, today) -> None:
    p = alpha().model_copy(update={"incidents": base})
    with_extra = p.model_copy(update={"incidents": [*base, extra]})
    a, b = score(p, ALPHA_TVL, today), score(with_extra, ALPHA_TVL, today)
    assert b.incidents <= a.incidents
    assert b.overall <= a.overall
    assert b.max_weight_bps <= a.max_weight_bps


@settings(max_examples=200, deadline=None)
@given(dates, dates, dates)
def test_an_older_launch_never_lowers_age(d1, d2, today) -> None:
    older, newer = min(d1, d2), max(d1, d2)
    assert age_part(older, today) >= age_part(newer, today)

    def launched(d: dt.date) -> ProtocolData:
        return alpha().model_copy(update={"deployments": [alpha().deployments[0].model_copy(update={"launched": d})]})

    a, b = score(launched(older), ALPHA_TVL, today), score(launched(newer), ALPHA_TVL, today)
    assert a.age >= b.age and a.overall >= b.overall


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3), st.integers(0, 5), st.integers(0, 9), st.integers(0, 20))
def test_more_open_findings_never_raise_the_audit_part(critical, high, medium, low) -> None:
    base = audit_part(alpha().audits, TODAY)[0]
    first = alpha().audits[0]
    worse = first.model_copy(
        update={
            "open_findings": first.open_findings.model_copy(
                update={"critical": critical, "high": 1 + high, "medium": 2 + medium, "low": 4 + low}
            )
        }
    )
    assert audit_part([worse, *alpha().audits[1:]], TODAY)[0] <= base


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 10**6), min_size=7, max_size=30), st.integers(0, 29), st.integers(1, 99))
def test_a_deeper_fall_never_raises_tvl(totals, at, cut_percent) -> None:
    """A point already below an earlier peak (a fall) cut deeper: the drawdown can only grow.
    (Cutting a peak itself lowers the drawdown measured from it: that is not a deeper fall.)"""
    points = [(dt.date(2026, 10, 1) + dt.timedelta(days=i), v) for i, v in enumerate(totals)]
    at %= len(points)
    assume(totals[at] < max(totals[:at], default=0))
    deeper = list(points)
    deeper[at] = (points[at][0], points[at][1] * (100 - cut_percent) // 100)
    assert tvl_part(deeper, TODAY)[0] <= tvl_part(points, TODAY)[0]


# ---------------------------------------------------------------------------- the data file


def test_data_file_validates_and_covers_the_floor() -> None:
    data = load_protocol_data()
    assert data.version >= 1
    ids = [p.id for p in data.protocols]
    assert sorted(ids) == sorted(FLOOR_PROTOCOLS) and len(ids) == len(set(ids))
    for p in data.protocols:
        assert p.deployment(1) is not None, f"{p.id}: no Ethereum deployment recorded"
        assert p.audits, f"{p.id}: no audit recorded"
        for d in p.deployments:
            assert d.launched is not None or d.launched_unknown
            assert d.launched is None or (d.source and d.launched <= data.as_of)
        for a in p.audits:
            assert a.source.startswith("http")
            assert (a.date is None) != (a.date_unknown is None)
            assert a.date is None or a.date <= data.as_of
            assert (a.open_findings is None) != (a.open_findings_unknown is None)
            if a.date_precision == "month":
                assert a.date is not None and a.date.day == 1
        for i in p.incidents:
            assert i.sources and all(s.startswith("http") for s in i.sources)
            assert (i.loss_usd is None) != (i.loss_unknown is None)
            assert i.date <= data.as_of


def test_data_file_records_the_known_incidents() -> None:
    data = load_protocol_data()
    by_date = {(p.id, str(i.date)): i for p in data.protocols for i in p.incidents}
    balancer = by_date[("balancer-v2", "2025-11-03")]
    assert 120_000_000 <= balancer.loss_usd <= 130_000_000 and balancer.recovered == "partial"
    curve = by_date[("curve", "2023-07-30")]
    assert 60_000_000 <= curve.loss_usd <= 80_000_000
    compound = by_date[("compound-v3", "2021-09-29")]
    assert compound.loss_usd == 80_000_000


def test_every_dependency_resolves_and_protocols_are_nodes() -> None:
    data = load_protocol_data()
    edges, kinds = data.edges(), data.kinds()
    for node, deps in edges.items():
        assert all(d in edges for d in deps), node
    assert {kinds[p] for p in FLOOR_PROTOCOLS} == {"protocol"}
    assert "curve" in edges["convex"] and "morpho-blue" in edges["metamorpho"]
    assert {"code:aave-v3", "issuer:sky"} <= set(edges["spark"])


def test_raw_file_dates_parse_as_dates() -> None:
    raw = tomllib.loads(DATA_FILE.read_text())
    assert isinstance(raw["as_of"], dt.date)
    for p in raw["protocols"]:
        for a in p.get("audits", []):
            assert "date" not in a or type(a["date"]) is dt.date, (p["id"], a)
        for i in p.get("incidents", []):
            assert type(i["date"]) is dt.date


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("source"), "source"),
        (lambda a: a.update(source="github.com/x"), "must be a URL"),
        (lambda a: a.pop("open_findings_unknown"), "open_findings_unknown"),
        (lambda a: a.update(open_findings_unknown="  "), "needs a reason"),
        (lambda a: a.pop("date"), "date_unknown"),
    ],
)
def test_an_audit_without_a_source_or_a_reason_is_refused(change, message) -> None:
    audit = {"firm": "Certora", "date": "2024-01-01", "scope": "core", "source": URL, "open_findings_unknown": "PDF"}
    change(audit)
    with pytest.raises(ValidationError, match=message):
        Audit.model_validate(audit)


def test_a_launch_or_loss_without_a_source_or_reason_is_refused() -> None:
    raw = tomllib.loads(DATA_FILE.read_text())
    raw["protocols"][0]["deployments"][1].pop("source")
    with pytest.raises(ValidationError, match="needs its source"):
        parse_protocol_data(raw)
    raw = tomllib.loads(DATA_FILE.read_text())
    raw["protocols"][0]["incidents"][0].pop("loss_usd")
    with pytest.raises(ValidationError, match="loss_unknown"):
        parse_protocol_data(raw)
    raw = tomllib.loads(DATA_FILE.read_text())
    raw["nodes"].append({"id": "asset:X", "kind": "asset", "depends_on": ["asset:nowhere"]})
    with pytest.raises(ValidationError, match="unknown nodes"):
        parse_protocol_data(raw)
    raw = tomllib.loads(DATA_FILE.read_text())
    raw["nodes"].append({"id": "asset:loop", "kind": "asset", "depends_on": ["asset:loop"]})
    with pytest.raises(ValidationError, match="cycle"):
        parse_protocol_data(raw)


def test_scores_of_the_data_are_deterministic_and_in_range() -> None:
    data = load_protocol_data()
    first = score_all(data, {}, TODAY)
    assert first == score_all(load_protocol_data(), {}, TODAY)
    for s in first:
        assert all(0 <= v <= 100 for v in (s.audit, s.tvl, s.age, s.incidents, s.overall))
        assert s.tvl_neutral
    balancer = next(s for s in first if s.protocol == "balancer-v2")
    lido = next(s for s in first if s.protocol == "lido")
    assert balancer.incidents < lido.incidents and balancer.max_weight_bps < lido.max_weight_bps


def test_firms_in_the_data_are_named_consistently() -> None:
    firms = {a.firm for p in load_protocol_data().protocols for a in p.audits}
    unlisted = firms - REPUTABLE_FIRMS
    assert unlisted <= {"ConsenSys", "Hashlock"}, unlisted


# ---------------------------------------------------------------------------- the CLI

KEYS = {"protocol", "audit", "tvl", "age", "incidents", "overall", "max_weight_bps"}


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("FLOOR_CONFIG",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./floor.toml, no ./state/floor.toml
    return tmp_path


def run(*args: str):
    from cli.main import app

    return CliRunner().invoke(app, ["risk", "scores", *args])


def test_cli_json_without_a_store(cli_env: Path) -> None:
    result = run("--json", "--today", "2026-11-25")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["chain_id"] == 1 and data["as_of"] == "2026-11-25" and data["tvl_source"].startswith("none (no config")
    rows = data["scores"]
    assert isinstance(rows, list) and sorted(r["protocol"] for r in rows) == sorted(FLOOR_PROTOCOLS)
    for row in rows:
        assert set(row) >= KEYS
        assert all(isinstance(row[k], int) for k in KEYS - {"protocol"})
        assert row["tvl_source"].startswith("none (no config") and row["tvl"] == 50
    expected = score_all(load_protocol_data(), {}, TODAY)
    assert [(r["overall"], r["max_weight_bps"]) for r in rows] == [(s.overall, s.max_weight_bps) for s in expected]


def test_cli_table_and_bad_date(cli_env: Path) -> None:
    result = run("--today", "2026-11-25")
    assert result.exit_code == 0, result.output
    assert "balancer-v2" in result.stdout and "TVL observations: none" in result.stdout
    assert run("--today", "25/11/2026").exit_code == 2


def test_cli_reads_tvl_from_the_configured_store(cli_env: Path) -> None:
    from floor.store import RateObservation, Store

    url = f"sqlite:///{cli_env}/state/risk.db"
    with Store(url) as store:
        store.migrate()
        store.record_rates(
            [
                RateObservation(
                    chain_id=1,
                    market="1:aave-v3:USDC",
                    block_number=1000 + i,
                    timestamp=dt.datetime(2026, 11, 10 + i, tzinfo=dt.UTC),
                    growth_index=10**27,
                    total_assets=total * 10**6,
                )
                for i, total in enumerate([100, 100, 90, 95, 100, 100, 100, 100])  # a 10% fall: tvl 80
            ]
        )
    config = cli_env / "floor.toml"
    config.write_text(
        f"""
[store]
url = "{url}"

[[chains]]
id = 1
name = "ethereum"
rpc_urls = ["https://rpc.example.invalid"]
"""
    )
    result = run("--json", "--today", "2026-11-25", "--config", str(config))
    assert result.exit_code == 0, result.output
    rows = {r["protocol"]: r for r in json.loads(result.stdout)["scores"]}
    assert rows["aave-v3"]["tvl"] == 80 and rows["aave-v3"]["tvl_neutral"] is False
    assert rows["lido"]["tvl"] == 50 and rows["lido"]["tvl_neutral"] is True
    assert rows["aave-v3"]["tvl_source"].startswith("store (sqlite, rate_observation: 8 point(s) on chain 1)")


def test_cli_does_not_create_a_missing_sqlite_store(cli_env: Path) -> None:
    config = cli_env / "floor.toml"
    config.write_text(
        '[store]\nurl = "sqlite:///state/none.db"\n\n[[chains]]\nid = 1\nname = "ethereum"\n'
        'rpc_urls = ["https://rpc.example.invalid"]\n'
    )
    result = run("--json", "--today", "2026-11-25")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scores"][0]["tvl_source"].startswith(
        "none (the configured SQLite store does not exist"
    )
    assert not (cli_env / "state").exists()
