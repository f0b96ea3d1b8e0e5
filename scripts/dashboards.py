"""The engine's Grafana dashboards, generated with grafana-foundation-sdk into deploy/grafana/*.json.

    python -m scripts.dashboards           # write deploy/grafana/*.json
    python -m scripts.dashboards --check   # exit 1 when the committed JSON is not what this makes

Every query names its series through floor/metrics.py's declarations (`sel`, `by`), which refuse
a label the metric does not have: a renamed metric or label fails here, not on a blank panel.
Five dashboards, each with a `datasource` and a multi-value `chain` variable: overview, health,
errors and alerts, transactions, risk. tests/integration/test_dashboards.py runs every panel's
query against a real Prometheus scraping a running engine.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from grafana_foundation_sdk.builders import bargauge, heatmap, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus as gp
from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DataTransformerConfig,
    GridPos,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from floor import metrics as m
from floor.devnet.prometheus import JOBS
from floor.metrics import Metric

OUT = REPO / "deploy" / "grafana"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
TAGS = ["floor-engine"]

# The chain variable's matcher; series whose chain is not known (chain="") show under every choice.
CHAIN = '=~"$chain"'
CHAIN_OR_UNKNOWN = '=~"$chain|"'
RATE = "$__rate_interval"  # Grafana's window for rate(): at least four scrapes
RANGE = "$__range"  # the dashboard's time range: totals "in range"
EXTRA_LABELS = ("job", "instance")  # Prometheus adds them to every series


# ---------------------------------------------------------------------------- PromQL from declarations


def sel(metric: Metric, series: str = "", **matchers: str) -> str:
    """`metric`'s series (`series`: a histogram's "_bucket", "_sum" or "_count") with label
    matchers written `label='=~"$chain"'`; refuses a label the metric does not declare."""
    name = metric.name + series
    if name not in metric.series:
        raise ValueError(f"{metric.name} has no series {name} (it has {', '.join(metric.series)})")
    allowed = set(metric.labels) | set(EXTRA_LABELS) | ({"le"} if series == "_bucket" else set())
    unknown = sorted(set(matchers) - allowed)
    if unknown:
        raise ValueError(f"{metric.name} has no label {', '.join(unknown)} (declared: {', '.join(metric.labels)})")
    inner = ",".join(f"{label}{matcher}" for label, matcher in matchers.items())
    return f"{name}{{{inner}}}" if inner else name


def by(metric: Metric, *labels: str) -> str:
    """A `by (...)` clause over labels `metric` declares (`le` for a histogram)."""
    allowed = set(metric.labels) | set(EXTRA_LABELS) | ({"le"} if metric.kind == "histogram" else set())
    unknown = sorted(set(labels) - allowed)
    if unknown:
        raise ValueError(f"{metric.name} has no label {', '.join(unknown)} to aggregate by")
    return f"by ({', '.join(labels)})"


def legend(metric: Metric, text: str) -> str:
    """A legend whose `{{label}}` placeholders are labels `metric` declares."""
    unknown = sorted(set(re.findall(r"\{\{\s*(\w+)\s*\}\}", text)) - set(metric.labels) - set(EXTRA_LABELS))
    if unknown:
        raise ValueError(f"legend {text!r}: {metric.name} has no label {', '.join(unknown)}")
    return text


def quantile(q: float, metric: Metric, *labels: str, chain: str | None = CHAIN) -> str:
    """The `q` quantile of a histogram over Grafana's rate window, per `labels`."""
    matchers = {"chain": chain} if chain is not None and "chain" in metric.labels else {}
    return (
        f"histogram_quantile({q}, sum {by(metric, *labels, 'le')} (rate({sel(metric, '_bucket', **matchers)}[{RATE}])))"
    )


# ---------------------------------------------------------------------------- panels

PanelKind = Literal["stat", "timeseries", "table", "bargauge", "heatmap"]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False
    heatmap: bool = False  # Prometheus' buckets as a heatmap (format "heatmap")


@dataclass(frozen=True)
class Panel:
    kind: PanelKind
    title: str
    description: str
    queries: Sequence[Query]
    width: int = 12
    height: int = 8
    unit: str | None = None
    decimals: int | None = None
    mappings: dict[str, tuple[str, str]] = field(default_factory=dict)  # value -> (text, colour)
    thresholds: Sequence[tuple[float | None, str]] = ()  # (from value, colour), the first from None
    text_mode: common.BigValueTextMode | None = None


@dataclass(frozen=True)
class Row:
    title: str
    panels: Sequence[Panel]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: Sequence[Row]

    @property
    def file_name(self) -> str:
        return f"{self.uid}.json"


def _target(query: Query, ref_id: str) -> gp.Dataquery:
    target = gp.Dataquery().expr(query.expr).ref_id(ref_id).datasource(DATASOURCE)
    if query.legend:
        target = target.legend_format(query.legend)
    if query.heatmap:
        target = target.format(PromQueryFormat.HEATMAP)
    return target.instant() if query.instant else target.range()


def _panel(spec: Panel, panel_id: int, pos: GridPos) -> Any:
    builder: Any
    if spec.kind == "stat":
        builder = stat.Panel().graph_mode(common.BigValueGraphMode.AREA)
        builder = builder.reduce_options(_last_value())
        if spec.text_mode is not None:
            builder = builder.text_mode(spec.text_mode)
    elif spec.kind == "timeseries":
        builder = timeseries.Panel().legend(
            VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
        )
    elif spec.kind == "table":
        builder = table.Panel().with_transformation(DataTransformerConfig(id_val="merge", options={}))
    elif spec.kind == "bargauge":
        builder = (
            bargauge.Panel()
            .orientation(common.VizOrientation.HORIZONTAL)
            .display_mode(common.BarGaugeDisplayMode.GRADIENT)
            .reduce_options(_last_value())
        )
    else:
        builder = heatmap.Panel()
    builder = builder.id(panel_id).title(spec.title).description(spec.description).datasource(DATASOURCE)
    builder = builder.grid_pos(pos)
    for i, query in enumerate(spec.queries):
        builder = builder.with_target(_target(query, chr(ord("A") + i)))
    if spec.unit:
        builder = builder.unit(spec.unit)
    if spec.decimals is not None:
        builder = builder.decimals(spec.decimals)
    if spec.mappings:
        builder = builder.mappings(
            [ValueMap(options={v: ValueMappingResult(text=t, color=c) for v, (t, c) in spec.mappings.items()})]
        )
    if spec.thresholds:
        steps = [Threshold(value=value, color=colour) for value, colour in spec.thresholds]
        builder = builder.thresholds(gd.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
    return builder


def _last_value() -> ReduceDataOptions:
    """A stat or bar gauge shows each series' last value."""
    return ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def build(spec: Dashboard) -> dict[str, Any]:
    """The dashboard's JSON model, as Grafana imports it."""
    board = (
        gd.Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(TAGS)
        .editable()
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .with_variable(gd.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            gd.QueryVariable("chain")
            .label("Chain")
            .description("Chain ids to show (the `chain` label)")
            .datasource(DATASOURCE)
            .query(f"label_values({m.TVL_TOTAL.name}, chain)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.NUMERICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    )
    panel_id, y = 1, 0
    for row in spec.rows:
        board = board.with_row(gd.Row(row.title).id(panel_id).grid_pos(GridPos(h=1, w=24, x=0, y=y)))
        panel_id, y, x, row_height = panel_id + 1, y + 1, 0, 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            board = board.with_panel(_panel(panel, panel_id, GridPos(h=panel.height, w=panel.width, x=x, y=y)))
            panel_id, x, row_height = panel_id + 1, x + panel.width, max(row_height, panel.height)
        y += row_height
    built: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return built


def render(spec: Dashboard) -> str:
    return json.dumps(build(spec), indent=2, sort_keys=True) + "\n"


# ---------------------------------------------------------------------------- the dashboards

USD = "currencyUSD"
RATIO = "percentunit"
BP = "suffix: bp"
ETH = "suffix: ETH"
TOKENS = "short"
ONE_LINE = 5  # the height of a row of stats

ENGINE_STATE = Panel(
    "stat",
    "Engine state",
    "The engine's state machine now (IDLE, ALLOCATING, REBALANCING, HARVESTING, CAPITAL, PAUSED).",
    [Query(f"{sel(m.STATE)} == 1", legend(m.STATE, "{{state}}"), instant=True)],
    width=6,
    height=ONE_LINE,
    text_mode=common.BigValueTextMode.NAME,
)
STATUS_ANSWERING = Panel(
    "stat",
    "Engine answering",
    "Whether the engine answered the exporter's last status query: no means the worker or Temporal is down.",
    [Query(sel(m.STATUS_ANSWERING), instant=True)],
    width=6,
    height=ONE_LINE,
    mappings={"0": ("no", "red"), "1": ("yes", "green")},
)
BREAKERS = Panel(
    "stat",
    "Circuit breakers",
    "Each breaker's state by scope: closed, half-open (probing) or open (operations refused).",
    [Query(sel(m.BREAKER_STATE), legend(m.BREAKER_STATE, "{{scope}}"), instant=True)],
    width=24,
    height=ONE_LINE,
    mappings={"0": ("closed", "green"), "1": ("half-open", "orange"), "2": ("open", "red")},
    text_mode=common.BigValueTextMode.VALUE_AND_NAME,
)
FEED_AGE = Panel(
    "timeseries",
    "Price feed age",
    "Seconds since each price feed's last update, as the risk check last read it.",
    [Query(sel(m.PRICE_FEED_AGE, chain=CHAIN), legend(m.PRICE_FEED_AGE, "{{chain}} {{feed}}"))],
    unit="s",
)
READING_AGE = Panel(
    "stat",
    "Positions read ago",
    "Time since the chain's positions were last read and recorded (the reconciliation's reading).",
    [Query(f"time() - {sel(m.LAST_READING, chain=CHAIN)}", legend(m.LAST_READING, "chain {{chain}}"), instant=True)],
    unit="s",
    thresholds=[(None, "green"), (1800, "orange"), (3600, "red")],
)
DISCREPANCIES = Panel(
    "stat",
    "Open discrepancies",
    "Differences the reconciliation found between the engine's records and the chain, not yet accepted.",
    [Query(sel(m.DISCREPANCIES_OPEN, chain=CHAIN), legend(m.DISCREPANCIES_OPEN, "chain {{chain}}"), instant=True)],
    width=6,
    height=ONE_LINE,
    thresholds=[(None, "green"), (1, "red")],
)
GAS = Panel(
    "timeseries",
    "Signer gas balance",
    "The operator signer's balance for gas on each chain.",
    [Query(sel(m.SIGNER_GAS, chain=CHAIN), legend(m.SIGNER_GAS, "chain {{chain}}"))],
    unit=ETH,
)
NONCE_GAP = Panel(
    "timeseries",
    "Nonce gap",
    "Nonces between the chain's mined nonce and the queue's lowest in flight that nothing holds: stuck sends.",
    [Query(sel(m.NONCE_GAP, chain=CHAIN), legend(m.NONCE_GAP, "chain {{chain}}"))],
    decimals=0,
)
QUEUE_DEPTH = Panel(
    "timeseries",
    "Transaction queues",
    "Intents waiting in each chain's queue, and transactions sent and not yet settled.",
    [
        Query(sel(m.TXQUEUE_PENDING, chain=CHAIN), legend(m.TXQUEUE_PENDING, "pending, chain {{chain}}")),
        Query(sel(m.TXQUEUE_INFLIGHT, chain=CHAIN), legend(m.TXQUEUE_INFLIGHT, "in flight, chain {{chain}}")),
    ],
    decimals=0,
)
QUEUE_HELD = Panel(
    "stat",
    "Queues held",
    "A held queue signs nothing new until an operator releases it.",
    [Query(sel(m.TXQUEUE_HELD, chain=CHAIN), legend(m.TXQUEUE_HELD, "chain {{chain}}"), instant=True)],
    mappings={"0": ("running", "green"), "1": ("held", "red")},
)
ALERTS_OPEN = Panel(
    "bargauge",
    "Engine alerts open, by kind",
    "Alerts the engine raised and has not resolved (the store's alert rows; Prometheus alerts on them).",
    [Query(f"sum {by(m.ALERTS_OPEN, 'kind')} ({sel(m.ALERTS_OPEN)})", legend(m.ALERTS_OPEN, "{{kind}}"), instant=True)],
    decimals=0,
)

OVERVIEW = Dashboard(
    "floor-overview",
    "Floor Engine: overview",
    "The floor's value, yield and positions per chain and protocol.",
    [
        Row(
            "Treasury",
            [
                Panel(
                    "stat",
                    "Total value",
                    "The value of every position and idle balance, in USD (floor positions' total_value).",
                    [Query(f"sum({sel(m.TVL_TOTAL, chain=CHAIN)})", instant=True)],
                    width=6,
                    height=ONE_LINE,
                    unit=USD,
                ),
                Panel(
                    "stat",
                    "APY",
                    "The floor's APY weighted by value, idle balances counting as earning nothing.",
                    [
                        Query(
                            f"sum({sel(m.APY, chain=CHAIN)} * on (chain, protocol) {sel(m.TVL_TOTAL, chain=CHAIN)})"
                            f" / sum({sel(m.TVL_TOTAL, chain=CHAIN)})",
                            instant=True,
                        )
                    ],
                    width=6,
                    height=ONE_LINE,
                    unit=RATIO,
                    decimals=2,
                ),
                Panel(
                    "stat",
                    "Positions",
                    "Markets where the engine holds a position.",
                    [Query(f"sum({sel(m.POSITIONS, chain=CHAIN)})", instant=True)],
                    width=6,
                    height=ONE_LINE,
                    decimals=0,
                ),
                ENGINE_STATE,
            ],
        ),
        Row(
            "By chain and protocol",
            [
                Panel(
                    "timeseries",
                    "Value by chain",
                    "USD value per chain, idle balances included.",
                    [
                        Query(
                            f"sum {by(m.TVL_TOTAL, 'chain')} ({sel(m.TVL_TOTAL, chain=CHAIN)})",
                            legend(m.TVL_TOTAL, "chain {{chain}}"),
                        )
                    ],
                    unit=USD,
                ),
                Panel(
                    "timeseries",
                    "Value by protocol",
                    "USD value per protocol over the chosen chains (idle: the executors' idle balances).",
                    [
                        Query(
                            f"sum {by(m.TVL_TOTAL, 'protocol')} ({sel(m.TVL_TOTAL, chain=CHAIN)})",
                            legend(m.TVL_TOTAL, "{{protocol}}"),
                        )
                    ],
                    unit=USD,
                ),
                Panel(
                    "timeseries",
                    "APY by chain and protocol",
                    "Each protocol's APY, value-weighted over its markets with a position.",
                    [Query(sel(m.APY, chain=CHAIN), legend(m.APY, "{{chain}} {{protocol}}"))],
                    unit=RATIO,
                    decimals=2,
                ),
                Panel(
                    "bargauge",
                    "Positions by chain and protocol",
                    "Markets with a position, per chain and protocol.",
                    [
                        Query(
                            sel(m.POSITIONS, chain=CHAIN),
                            legend(m.POSITIONS, "{{chain}} {{protocol}}"),
                            instant=True,
                        )
                    ],
                    decimals=0,
                ),
                Panel(
                    "table",
                    "Positions by asset",
                    "Each position in whole tokens and in USD.",
                    [
                        Query(sel(m.POSITION_AMOUNT, chain=CHAIN), instant=True),
                        Query(sel(m.POSITION_VALUE, chain=CHAIN), instant=True),
                    ],
                    width=24,
                ),
            ],
        ),
        Row(
            "Operations and yield",
            [
                Panel(
                    "bargauge",
                    "Yield harvested in range",
                    "Whole tokens harvested over the dashboard's range, by chain, token and source.",
                    [
                        Query(
                            f"sum {by(m.HARVEST_YIELD, 'chain', 'token', 'source')}"
                            f" (increase({sel(m.HARVEST_YIELD, chain=CHAIN)}[{RANGE}]))",
                            legend(m.HARVEST_YIELD, "{{chain}} {{token}} ({{source}})"),
                            instant=True,
                        )
                    ],
                    unit=TOKENS,
                ),
                Panel(
                    "timeseries",
                    "Rebalance duration",
                    "How long rebalances take, start to result: median and 90th percentile.",
                    [
                        Query(quantile(0.5, m.REBALANCE_DURATION), "p50"),
                        Query(quantile(0.9, m.REBALANCE_DURATION), "p90"),
                        Query(
                            f"sum(increase({sel(m.REBALANCE_DURATION, '_count')}[{RANGE}]))",
                            "rebalances in range",
                            instant=True,
                        ),
                    ],
                    unit="s",
                ),
                READING_AGE,
            ],
        ),
    ],
)

HEALTH = Dashboard(
    "floor-health",
    "Floor Engine: health",
    "Is the engine running and safe to leave: state, breakers, queues, nonces, gas, feeds, processes.",
    [
        Row(
            "Engine",
            [
                ENGINE_STATE,
                STATUS_ANSWERING,
                Panel(
                    "stat",
                    "Paused for",
                    "How long the engine has been paused (0 when it is not).",
                    [Query(sel(m.PAUSED_SECONDS), instant=True)],
                    width=6,
                    height=ONE_LINE,
                    unit="s",
                    thresholds=[(None, "green"), (1, "orange"), (1800, "red")],
                ),
                DISCREPANCIES,
                Panel(
                    "timeseries",
                    "Operations and their steps",
                    "The operation the engine ran and each step it was on, over time (1 while it runs).",
                    [Query(sel(m.OPERATION_RUNNING), legend(m.OPERATION_RUNNING, "{{kind}}: {{step}}"))],
                    width=24,
                    height=6,
                    decimals=0,
                ),
                BREAKERS,
            ],
        ),
        Row("Transactions", [QUEUE_DEPTH, NONCE_GAP, QUEUE_HELD, GAS]),
        Row("Readings", [FEED_AGE, READING_AGE]),
        Row(
            "Processes",
            [
                Panel(
                    "stat",
                    "Scrape targets up",
                    "Whether Prometheus reaches each of the engine's processes.",
                    [Query(f'up{{job=~"{"|".join(JOBS)}"}}', "{{job}} {{instance}}", instant=True)],
                    width=24,
                    height=ONE_LINE,
                    mappings={"0": ("down", "red"), "1": ("up", "green")},
                    text_mode=common.BigValueTextMode.VALUE_AND_NAME,
                ),
                Panel(
                    "timeseries",
                    "Task schedule-to-start (p90)",
                    "How long workflow and activity tasks wait for a worker: rising means too few workers.",
                    [
                        Query(
                            "histogram_quantile(0.9, sum by (le) "
                            f"(rate(temporal_workflow_task_schedule_to_start_latency_bucket[{RATE}])))",
                            "workflow tasks",
                        ),
                        Query(
                            "histogram_quantile(0.9, sum by (le) "
                            f"(rate(temporal_activity_schedule_to_start_latency_bucket[{RATE}])))",
                            "activity tasks",
                        ),
                    ],
                    unit="ms",
                ),
                Panel(
                    "timeseries",
                    "Worker task slots used",
                    "Task slots the workers use, by worker type (Temporal SDK metrics).",
                    [Query("sum by (worker_type) (temporal_worker_task_slots_used)", "{{worker_type}}")],
                    decimals=0,
                ),
            ],
        ),
    ],
)

ERRORS = Dashboard(
    "floor-errors",
    "Floor Engine: errors and alerts",
    "What failed and what is alerting: errors by type, open alerts and discrepancies, refused commands.",
    [
        Row(
            "Errors",
            [
                Panel(
                    "timeseries",
                    "Error rate by type",
                    "Failed activity attempts and operation parts per second, by error type.",
                    [
                        Query(
                            f"sum {by(m.ERRORS, 'type')} (rate({sel(m.ERRORS, chain=CHAIN_OR_UNKNOWN)}[{RATE}]))",
                            legend(m.ERRORS, "{{type}}"),
                        )
                    ],
                    unit="ops",
                ),
                Panel(
                    "bargauge",
                    "Errors in range",
                    "Errors over the dashboard's range by chain, protocol and type (empty: not known).",
                    [
                        Query(
                            f"sum {by(m.ERRORS, 'chain', 'protocol', 'type')}"
                            f" (increase({sel(m.ERRORS, chain=CHAIN_OR_UNKNOWN)}[{RANGE}]))",
                            legend(m.ERRORS, "{{chain}} {{protocol}} {{type}}"),
                            instant=True,
                        )
                    ],
                    decimals=0,
                ),
            ],
        ),
        Row(
            "Alerts",
            [
                Panel(
                    "stat",
                    "Prometheus alerts firing",
                    "Alert rules firing now (deploy/prometheus/rules), sent to Alertmanager.",
                    [Query('count(ALERTS{alertstate="firing"}) or vector(0)', instant=True)],
                    thresholds=[(None, "green"), (1, "red")],
                ),
                ALERTS_OPEN,
                DISCREPANCIES,
            ],
        ),
        Row(
            "Refusals",
            [
                Panel(
                    "bargauge",
                    "Refused commands in range",
                    "Signed commands the engine refused, by command and reason (from the audit log).",
                    [
                        Query(
                            f"sum {by(m.COMMAND_REFUSALS, 'kind', 'reason')}"
                            f" (increase({sel(m.COMMAND_REFUSALS)}[{RANGE}]))",
                            legend(m.COMMAND_REFUSALS, "{{kind}}: {{reason}}"),
                            instant=True,
                        )
                    ],
                    decimals=0,
                ),
                Panel(
                    "bargauge",
                    "Admin API refusals in range",
                    "Requests the admin API refused, by reason (rate limit, authentication, ...).",
                    [
                        Query(
                            f"sum {by(m.API_REFUSALS, 'reason')} (increase({sel(m.API_REFUSALS)}[{RANGE}]))",
                            legend(m.API_REFUSALS, "{{reason}}"),
                            instant=True,
                        )
                    ],
                    decimals=0,
                ),
                Panel(
                    "timeseries",
                    "Admin API requests by status",
                    "Requests per second the admin API answered, by HTTP status.",
                    [
                        Query(
                            f"sum {by(m.API_REQUESTS, 'status')} (rate({sel(m.API_REQUESTS)}[{RATE}]))",
                            legend(m.API_REQUESTS, "{{status}}"),
                        )
                    ],
                    width=24,
                    unit="reqps",
                ),
            ],
        ),
    ],
)

TRANSACTIONS = Dashboard(
    "floor-transactions",
    "Floor Engine: transactions",
    "The signer's transaction queues per chain: depth, replacements, cancels, time to inclusion, private route.",
    [
        Row(
            "Queues",
            [
                QUEUE_DEPTH,
                QUEUE_HELD,
                Panel(
                    "stat",
                    "Private route inclusion",
                    "Share of the nonces sent privately that were included privately.",
                    [
                        Query(
                            sel(m.PRIVATE_INCLUSION, chain=CHAIN),
                            legend(m.PRIVATE_INCLUSION, "chain {{chain}}"),
                            instant=True,
                        )
                    ],
                    width=6,
                    unit=RATIO,
                ),
                Panel(
                    "stat",
                    "Replacements and cancels in range",
                    "Transactions re-signed with higher fees, and nonces cancelled, over the dashboard's range.",
                    [
                        Query(
                            f"sum {by(m.TXQUEUE_REPLACEMENTS, 'chain')}"
                            f" (increase({sel(m.TXQUEUE_REPLACEMENTS, chain=CHAIN)}[{RANGE}]))",
                            legend(m.TXQUEUE_REPLACEMENTS, "replaced, chain {{chain}}"),
                            instant=True,
                        ),
                        Query(
                            f"sum {by(m.TXQUEUE_CANCELS, 'chain')}"
                            f" (increase({sel(m.TXQUEUE_CANCELS, chain=CHAIN)}[{RANGE}]))",
                            legend(m.TXQUEUE_CANCELS, "cancelled, chain {{chain}}"),
                            instant=True,
                        ),
                    ],
                    width=6,
                    decimals=0,
                    text_mode=common.BigValueTextMode.VALUE_AND_NAME,
                ),
            ],
        ),
        Row(
            "Inclusion",
            [
                Panel(
                    "timeseries",
                    "Time to inclusion",
                    "From a nonce's first signing to its journalled receipt: median, 90th and 99th percentile.",
                    [
                        Query(quantile(0.5, m.TX_INCLUSION, "chain"), legend(m.TX_INCLUSION, "p50, chain {{chain}}")),
                        Query(quantile(0.9, m.TX_INCLUSION, "chain"), legend(m.TX_INCLUSION, "p90, chain {{chain}}")),
                        Query(quantile(0.99, m.TX_INCLUSION, "chain"), legend(m.TX_INCLUSION, "p99, chain {{chain}}")),
                    ],
                    unit="s",
                ),
                Panel(
                    "heatmap",
                    "Time to inclusion, distribution",
                    "Included transactions by time to inclusion (the histogram's buckets).",
                    [
                        Query(
                            f"sum {by(m.TX_INCLUSION, 'le')}"
                            f" (increase({sel(m.TX_INCLUSION, '_bucket', chain=CHAIN)}[{RATE}]))",
                            "{{le}}",
                            heatmap=True,
                        )
                    ],
                ),
                Panel(
                    "stat",
                    "Transactions included in range",
                    "Nonces included (their receipts journalled) over the dashboard's range.",
                    [
                        Query(
                            f"sum {by(m.TX_INCLUSION, 'chain')}"
                            f" (increase({sel(m.TX_INCLUSION, '_count', chain=CHAIN)}[{RANGE}]))",
                            legend(m.TX_INCLUSION, "chain {{chain}}"),
                            instant=True,
                        )
                    ],
                    width=24,
                    height=ONE_LINE,
                    decimals=0,
                ),
            ],
        ),
        Row("Nonces and gas", [NONCE_GAP, GAS]),
    ],
)

RISK = Dashboard(
    "floor-risk",
    "Floor Engine: risk",
    "Risk scores, liquidity, what can be withdrawn safely, and the slippage of exits and moves.",
    [
        Row(
            "Protocols",
            [
                Panel(
                    "bargauge",
                    "Risk score by protocol",
                    "The risk model's score, 0 (safest) to 100; it caps each protocol's weight.",
                    [Query(sel(m.RISK_SCORE), legend(m.RISK_SCORE, "{{protocol}}"), instant=True)],
                    thresholds=[(None, "green"), (40, "orange"), (70, "red")],
                ),
                BREAKERS,
            ],
        ),
        Row(
            "Liquidity",
            [
                Panel(
                    "timeseries",
                    "Liquidity ratio",
                    "Each position over what its market has available to withdraw: near 100% the floor cannot leave.",
                    [
                        Query(
                            sel(m.LIQUIDITY_RATIO, chain=CHAIN),
                            legend(m.LIQUIDITY_RATIO, "{{chain}} {{protocol}} {{asset}}"),
                        )
                    ],
                    unit=RATIO,
                ),
                Panel(
                    "timeseries",
                    "Max safe withdrawal",
                    "What can be withdrawn from each market within the slippage limit, in whole tokens.",
                    [
                        Query(
                            sel(m.MAX_SAFE_WITHDRAWAL, chain=CHAIN),
                            legend(m.MAX_SAFE_WITHDRAWAL, "{{chain}} {{protocol}} {{asset}}"),
                        )
                    ],
                    unit=TOKENS,
                ),
                Panel(
                    "bargauge",
                    "Safely withdrawable share of each position",
                    "Max safe withdrawal over the position, capped at 100%.",
                    [
                        Query(
                            f"clamp_max({sel(m.MAX_SAFE_WITHDRAWAL, chain=CHAIN)} / on (chain, protocol, asset)"
                            f" ({sel(m.POSITION_AMOUNT, chain=CHAIN)} > 0), 1)",
                            legend(m.MAX_SAFE_WITHDRAWAL, "{{chain}} {{protocol}} {{asset}}"),
                            instant=True,
                        )
                    ],
                    unit=RATIO,
                    thresholds=[(None, "red"), (0.5, "orange"), (0.9, "green")],
                ),
                Panel(
                    "timeseries",
                    "Exit slippage",
                    "Slippage of leaving each whole position now.",
                    [
                        Query(
                            sel(m.EXIT_SLIPPAGE, chain=CHAIN),
                            legend(m.EXIT_SLIPPAGE, "{{chain}} {{protocol}} {{asset}}"),
                        )
                    ],
                    unit=BP,
                ),
            ],
        ),
        Row(
            "Moves",
            [
                Panel(
                    "timeseries",
                    "Realised slippage of moves",
                    "Slippage realised by moves into and out of markets: median and 90th percentile per protocol.",
                    [
                        Query(
                            quantile(0.5, m.MOVE_SLIPPAGE, "chain", "protocol"),
                            legend(m.MOVE_SLIPPAGE, "p50 {{chain}} {{protocol}}"),
                        ),
                        Query(
                            quantile(0.9, m.MOVE_SLIPPAGE, "chain", "protocol"),
                            legend(m.MOVE_SLIPPAGE, "p90 {{chain}} {{protocol}}"),
                        ),
                    ],
                    unit=BP,
                ),
                Panel(
                    "bargauge",
                    "Moves by slippage in range",
                    "Moves over the dashboard's range, counted by the slippage bucket they fell in (at most).",
                    [
                        Query(
                            f"sum {by(m.MOVE_SLIPPAGE, 'le')}"
                            f" (increase({sel(m.MOVE_SLIPPAGE, '_bucket', chain=CHAIN)}[{RANGE}]))",
                            "≤ {{le}} bp",
                            instant=True,
                        )
                    ],
                    decimals=0,
                ),
            ],
        ),
        Row("Readings", [FEED_AGE, DISCREPANCIES]),
    ],
)

DASHBOARDS = (OVERVIEW, HEALTH, ERRORS, TRANSACTIONS, RISK)


def rendered() -> dict[Path, str]:
    """Each dashboard's file and its JSON text."""
    return {OUT / spec.file_name: render(spec) for spec in DASHBOARDS}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.dashboards", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed JSON; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered().items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        elif not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)}")
    if stale:
        names = ", ".join(str(p.relative_to(REPO)) for p in stale)
        print(f"dashboards out of date: {names}; run `python -m scripts.dashboards`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
