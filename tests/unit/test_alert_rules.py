"""The alert rules (deploy/prometheus/rules/) and Alertmanager's config (deploy/alertmanager/) read
as data: every rule names declared series and labels, carries a severity, a summary, a
description and a runbook link, and has promtool unit tests that see it fire and stay quiet;
the config the tests and the demo render is the committed one with other destinations.
(`scripts/check_alerting.sh` runs promtool and amtool themselves.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from floor.devnet.alertmanager import DEPLOY_CONFIG, Destinations, Timing, load_config, render_config
from floor.metrics import metric_of_series

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "prometheus"
RULE_FILES = sorted((DEPLOY / "rules").glob("*.yml"))
TEST_FILES = sorted((DEPLOY / "tests").glob("*.yml"))
SEVERITIES = {"critical", "warning", "info"}
KEYWORDS = {"by", "on", "without", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
FOREIGN = {"up", "ALERTS", "ALERTS_FOR_STATE"}  # Prometheus' own series
ADDED = {"job", "instance", "alertname", "severity", "area", "deployment"}  # by Prometheus, the rule or the config


def rules() -> list[dict]:
    return [rule for f in RULE_FILES for group in yaml.safe_load(f.read_text())["groups"] for rule in group["rules"]]


def series_and_labels(expr: str) -> tuple[set[str], set[str]]:
    """The series names an expression selects and the label names it uses (in matchers and in
    by/on/without/ignoring lists)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    labels = {name for inner in re.findall(r"\{([^}]*)\}", text) for name in re.findall(r"(\w+)\s*[!=]~?", inner)}
    for names in re.findall(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)", text):
        labels |= {n.strip() for n in names.split(",") if n.strip()}
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|on|without|ignoring)\s*\([^)]*\)", " ", text)
    words = re.findall(r"\b([a-zA-Z_:][\w:]*)\b(?!\s*\()", text)
    return {w for w in words if w not in KEYWORDS}, labels


@pytest.mark.parametrize("rule", rules(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_every_rule_names_declared_series_and_labels(rule):
    series, labels = series_and_labels(rule["expr"])
    assert series, rule["expr"]
    declared = set(ADDED)
    for name in series:
        metric = metric_of_series(name)
        assert metric is not None or name in FOREIGN, f"{rule['alert']}: {name} is not declared in floor/metrics.py"
        if metric is not None:
            assert metric.source == "exporter" or not name.startswith("floor_engine_"), name
            declared |= set(metric.labels) | ({"le"} if name.endswith("_bucket") else set())
    assert labels <= declared, f"{rule['alert']}: labels {labels - declared} not declared"
    used = {name for text in rule["annotations"].values() for name in re.findall(r"\$labels\.(\w+)", text)}
    assert used <= declared, f"{rule['alert']}: annotations use {used - declared}"


@pytest.mark.parametrize("rule", rules(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_every_rule_has_a_severity_a_summary_a_description_and_a_runbook(rule):
    assert rule["alert"].startswith("Floor"), rule["alert"]
    assert rule["labels"]["severity"] in SEVERITIES, rule
    assert set(rule["labels"]) <= {"severity", "area"}, rule["labels"]
    assert rule["labels"].get("area", "operations") == "operations", rule["labels"]
    notes = rule["annotations"]
    assert set(notes) == {"summary", "description", "runbook_url"}, notes
    assert notes["summary"] and "\n" not in notes["summary"], notes
    assert runbook_anchors(notes["runbook_url"]), notes["runbook_url"]


def runbook_anchors(url: str) -> bool:
    """`docs/runbooks/<page>.md` or `...md#<anchor>`: the page exists and, with an anchor, has a
    heading or an explicit `<a id=...>` of that name (GitHub's heading slugs)."""
    match = re.fullmatch(r"(docs/runbooks/[A-Za-z0-9-]+\.md)(?:#([a-z0-9-]+))?", url)
    assert match, f"{url}: not a page of docs/runbooks/"
    page = REPO / match.group(1)
    assert page.is_file(), f"{url}: no {page.name} in docs/runbooks/"
    if match.group(2) is None:
        return True
    text = page.read_text()
    slugs = {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)} | set(re.findall(r'<a id="([^"]+)">', text))
    assert match.group(2) in slugs, f"{url}: {page.name} has no heading or anchor {match.group(2)}"
    return True


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_runbook_links_resolve_and_every_alert_reaches_a_page():
    assert runbook_anchors("docs/runbooks/README.md#store-alerts")
    assert runbook_anchors("docs/runbooks/protocol-exploit.md#liquidity-or-slippage")
    with pytest.raises(AssertionError, match="no heading or anchor"):
        runbook_anchors("docs/runbooks/engine-paused.md#no-such-section")
    with pytest.raises(AssertionError, match="no nope.md"):
        runbook_anchors("docs/runbooks/nope.md")
    index = (REPO / "docs" / "runbooks" / "README.md").read_text()
    for rule in rules():  # the index names every alert
        assert f"`{rule['alert']}`" in index, rule["alert"]


def test_every_rule_fires_and_stays_quiet_in_a_promtool_test():
    fires: set[tuple[str, str]] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        data = yaml.safe_load(path.read_text())
        assert data["rule_files"] == ["../rules/floor-engine.yml"], path
        for case in data["tests"]:
            for check in case.get("alert_rule_test", []):
                if not check["exp_alerts"]:
                    quiet.add(check["alertname"])
                for alert in check["exp_alerts"]:
                    fires.add((check["alertname"], alert["exp_labels"]["severity"]))
    wanted = {(r["alert"], r["labels"]["severity"]) for r in rules()}
    assert wanted - fires == set(), "rules no test sees firing"
    assert {name for name, _ in wanted} - quiet == set(), "rules no test sees quiet"
    assert fires <= wanted


def test_the_inhibitions_name_the_rules_and_labels_they_mean():
    config = load_config(DEPLOY_CONFIG)
    names = {r["alert"] for r in rules()}
    paused = config["inhibit_rules"][0]
    assert paused["source_matchers"] == ['alertname=~"FloorEnginePaused|FloorEnginePausedLong"']
    assert {"FloorEnginePaused", "FloorEnginePausedLong"} <= names
    assert paused["target_matchers"] == ['area="operations"']
    operations = {r["alert"] for r in rules() if r["labels"].get("area") == "operations"}
    assert {"FloorErrorRateHigh", "FloorMoveSlippageHigh", "FloorTransactionQueueBacklog"} <= operations
    for rule in config["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            for name in re.findall(r'alertname="(\w+)"', matcher):
                assert name in names, matcher


def test_the_rendered_config_is_the_committed_one_with_other_destinations():
    committed = load_config(DEPLOY_CONFIG)
    same = render_config(Destinations.from_env({}))
    assert {k: v for k, v in same.items() if k != "templates"} == {
        k: v for k, v in committed.items() if k != "templates"
    }
    assert same["templates"] == [str(DEPLOY_CONFIG.parent / "templates" / "*.tmpl")]

    loopback = Destinations.loopback(
        smtp_port=2525, slack_url="http://127.0.0.1:9/s", pagerduty_url="http://127.0.0.1:9/p"
    )
    local = render_config(loopback, Timing(1, 1, 4))
    assert local["route"]["repeat_interval"] == "4s"
    assert all(r["group_interval"] == "1s" for r in local["route"]["routes"])
    assert local["inhibit_rules"] == committed["inhibit_rules"]
    assert [r["name"] for r in local["receivers"]] == [r["name"] for r in committed["receivers"]]
    text = yaml.safe_dump(local)
    assert "_file" not in text and "/etc/alertmanager" not in text, text
    assert local["global"]["smtp_smarthost"] == "127.0.0.1:2525" and local["global"]["smtp_require_tls"] is False
    pager = local["receivers"][0]["pagerduty_configs"][0]
    assert pager["routing_key"] == "floor-local-routing-key" and pager["send_resolved"] is True


def test_production_destinations_come_from_the_environment():
    env = {
        "FLOOR_ALERT_SMTP_SMARTHOST": "smtp.example.org:587",
        "FLOOR_ALERT_EMAIL_TO": "treasury-oncall@example.org",
        "FLOOR_ALERT_SECRETS_DIR": "/run/secrets/floor",
        "FLOOR_ALERT_SLACK_CHANNEL": "#treasury",
    }
    config = render_config(Destinations.from_env(env))
    assert config["global"]["smtp_smarthost"] == "smtp.example.org:587"
    assert config["global"]["smtp_auth_password_file"] == "/run/secrets/floor/smtp_password"
    assert config["global"]["slack_api_url_file"] == "/run/secrets/floor/slack_webhook_url"
    oncall = config["receivers"][0]
    assert oncall["pagerduty_configs"][0]["routing_key_file"] == "/run/secrets/floor/pagerduty_routing_key"
    assert oncall["email_configs"][0]["to"] == "treasury-oncall@example.org"
    assert oncall["slack_configs"][0]["channel"] == "#treasury"
    with pytest.raises(ValueError, match="SMTP_REQUIRE_TLS"):
        Destinations.from_env({"FLOOR_ALERT_SMTP_REQUIRE_TLS": "maybe"})


def test_an_expression_is_read_into_its_series_and_labels():
    series, labels = series_and_labels(
        'histogram_quantile(0.9, sum by (chain, le) (rate(floor_engine_tx_inclusion_seconds_bucket{chain!="1"}[1h])))'
        " > 300 unless on (chain) up == 0"
    )
    assert series == {"floor_engine_tx_inclusion_seconds_bucket", "up"}
    assert labels == {"chain", "le"}
