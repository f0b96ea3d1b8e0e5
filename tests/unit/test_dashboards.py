"""The Grafana dashboards in deploy/grafana: the committed JSON is what scripts/dashboards.py makes
now, and every query names series and labels floor/metrics.py declares (the panels' queries run
against a real Prometheus in tests/integration/test_dashboards.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from floor.metrics import metric_of_series
from scripts import dashboards

ROOT = Path(__file__).resolve().parents[2]
# Series that are not the engine's own: Prometheus' and the Temporal SDK's.
FOREIGN = re.compile(r"^(up|ALERTS|temporal_\w+)$")


def panels(board: dict) -> list[dict]:
    return [p for p in board["panels"] if p["type"] != "row"]


def exprs(board: dict) -> list[str]:
    return [t["expr"] for p in panels(board) for t in p["targets"]]


@pytest.fixture(scope="module")
def boards() -> dict[str, dict]:
    return {path.name: json.loads(text) for path, text in dashboards.rendered().items()}


def test_the_committed_dashboards_are_what_the_generator_makes():
    stale = [p.name for p, text in dashboards.rendered().items() if not p.exists() or p.read_text() != text]
    assert stale == [], f"run `python -m scripts.dashboards`: {stale} differ"
    committed = {p.name for p in (ROOT / "deploy" / "grafana").glob("*.json")}
    assert committed == {p.name for p in dashboards.rendered()}, "a dashboard file the generator does not make"


def test_the_five_dashboards_each_choose_chains_and_a_datasource(boards):
    assert set(boards) == {f"floor-{n}.json" for n in ("overview", "health", "errors", "transactions", "risk")}
    for name, board in boards.items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        chain = variables["chain"]
        assert chain["multi"] and chain["includeAll"] and chain["allValue"] == ".*", name
        assert chain["query"] == "label_values(floor_engine_tvl_total, chain)"


def series_in(expr: str) -> list[tuple[str, str]]:
    """The series an expression selects, each with its `{...}` matchers: the words left once
    strings, ranges, grouping clauses and function calls are taken out."""
    bare = re.sub(r'"[^"]*"', '""', expr)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(by|on)\s*\([^)]*\)", "", bare)
    found = re.findall(r"\b([a-zA-Z_:][\w:]*)(?![\w:])\s*(\{[^}]*\})?(?!\s*\()", bare)
    return [(name, m) for name, m in found if name not in ("or", "and", "unless")]


def test_every_query_names_declared_series_and_labels(boards):
    for name, board in boards.items():
        for expr in exprs(board):
            selected = series_in(expr)
            assert selected, expr
            for series, _ in selected:
                assert FOREIGN.match(series) or metric_of_series(series), f"{name}: {series} is not declared: {expr}"
            for series, matchers in re.findall(r"\b([a-zA-Z_:][\w:]*)(\{[^}]*\})", expr):
                metric = metric_of_series(series)
                if metric is None:
                    continue
                labels = re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", re.sub(r'"[^"]*"', "", matchers))
                extra = {"job", "instance"} | ({"le"} if series.endswith("_bucket") else set())
                assert set(labels) <= set(metric.labels) | extra, f"{name}: {expr}"


def test_every_chain_labelled_engine_series_follows_the_chain_variable(boards):
    for name, board in boards.items():
        for expr in exprs(board):
            for series, matchers in re.findall(r"\b(floor_\w+)(\{[^}]*\})?", expr):
                metric = metric_of_series(series)
                if metric is not None and "chain" in metric.labels:
                    assert "$chain" in matchers, f"{name}: {series} unfiltered by chain in {expr}"


def test_panels_have_unique_ids_and_refids_and_fit_the_grid(boards):
    for name, board in boards.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in board["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, (name, panel["title"])
            if panel["type"] == "row":
                continue
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(refs) == len(set(refs)) and all(refs), (name, panel["title"])
            assert panel["datasource"]["uid"] == "${datasource}" and panel["description"], (name, panel["title"])


def test_a_query_naming_an_undeclared_label_is_refused():
    from floor import metrics as m

    with pytest.raises(ValueError, match="no label token"):
        dashboards.sel(m.TVL_TOTAL, token='="USDC"')
    with pytest.raises(ValueError, match="no series"):
        dashboards.sel(m.TVL_TOTAL, "_bucket")
    with pytest.raises(ValueError, match="no label feed"):
        dashboards.legend(m.TVL_TOTAL, "{{feed}}")
