"""Prometheus' configs: the production-shaped deploy/prometheus/prometheus.yml and the one the
demo and the tests write (floor/devnet/prometheus.py), both checked by `promtool check config`
(Debian's `prometheus` package), with the same job names."""

from __future__ import annotations

import json
import re
from pathlib import Path

from floor.config import Settings
from floor.devnet.prometheus import (
    JOBS,
    ScrapeTarget,
    check_config,
    rule_files_in,
    scrape_config,
    scrape_targets,
    write_config,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "prometheus" / "prometheus.yml"
CHAINS = [{"id": 1, "name": "ethereum", "rpc_urls": ["http://127.0.0.1:8545"]}]


def test_the_deployed_config_passes_promtool_and_scrapes_every_job():
    check_config(DEPLOY)  # its rule files (rules/*.yml) too
    text = DEPLOY.read_text()
    assert re.findall(r"job_name: (\S+)", text) == list(JOBS)
    assert "rules/*.yml" in text and "alertmanagers:" in text


def test_the_local_config_names_each_port_the_settings_serve(tmp_path):
    settings = Settings(
        chains=CHAINS,
        metrics={"port": 9464, "exporter_port": 9465, "temporal_port": 9466},
        watchdog={"metrics_port": 9467},
    )
    targets = scrape_targets(settings, api_port=8700)
    assert [(t.job, t.address) for t in targets] == [
        ("floor-exporter", "127.0.0.1:9465"),
        ("floor-worker", "127.0.0.1:9464"),
        ("temporal-sdk", "127.0.0.1:9466"),
        ("floor-watchdog", "127.0.0.1:9467"),
        ("floor-api", "127.0.0.1:8700"),
    ]
    # A port not set is not scraped.
    assert [t.job for t in scrape_targets(Settings(chains=CHAINS, metrics={"exporter_port": 9465}))] == [
        "floor-exporter"
    ]

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "floor.yml").write_text(
        json.dumps({"groups": [{"name": "t", "rules": [{"alert": "Down", "expr": "up == 0", "for": "1m"}]}]})
    )
    config = scrape_config(
        targets,
        scrape_interval_s=0.5,
        alertmanager_url="http://127.0.0.1:9093/am/",
        rule_files=rule_files_in(rules),
    )
    assert config["global"]["scrape_interval"] == "500ms" and config["global"]["evaluation_interval"] == "500ms"
    assert config["rule_files"] == [str(rules / "floor.yml")]
    (alerting,) = config["alerting"]["alertmanagers"]
    assert alerting == {"scheme": "http", "static_configs": [{"targets": ["127.0.0.1:9093"]}], "path_prefix": "/am/"}
    check_config(write_config(tmp_path / "prometheus.yml", config))


def test_targets_of_one_job_share_it():
    config = scrape_config([ScrapeTarget("floor-worker", "a:1"), ScrapeTarget("floor-worker", "b:1")])
    assert config["scrape_configs"] == [
        {"job_name": "floor-worker", "metrics_path": "/metrics", "static_configs": [{"targets": ["a:1", "b:1"]}]}
    ]
    assert "alerting" not in config and "rule_files" not in config
    assert rule_files_in(Path("/nonexistent")) == []
