"""The Kubernetes manifests (deploy/k8s) as `kubectl kustomize` renders each overlay: every object
valid against the Kubernetes API schemas, and the properties the deployment relies on."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from floor.config import load_settings
from workers.temporal import GRACEFUL_SHUTDOWN

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ROOT / "deploy" / "k8s" / "overlays"
NETWORKS = sorted(p.name for p in OVERLAYS.iterdir() if (p / "kustomization.yaml").is_file())
K8S_VERSION = "1.32.0"  # as scripts/check_deploy.sh
IMAGE = "floor-engine"
SECRET_ENV = {
    "FLOOR_STORE__URL",
    "FLOOR_SIGNER__PRIVATE_KEY",
    "FLOOR_WATCHDOG__GUARDIAN__PRIVATE_KEY",
    "FLOOR_ATTESTER__KEY__PRIVATE_KEY",
    "FLOOR_API__SESSION_SECRET",
    "FLOOR_ACCESS__SCHEDULER_KEY__PRIVATE_KEY",
    "FLOOR_FLASHBOTS_REPUTATION_KEY",
}


def render(network: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl renders deploy/k8s/overlays (kubectl kustomize)"
    out = subprocess.run(
        [kubectl, "kustomize", str(OVERLAYS / network)], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module", params=NETWORKS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def of_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def floor_containers(objects: list[dict]) -> list[tuple[str, dict]]:
    return [
        (name, c)
        for name, d in of_kind(objects, "Deployment").items()
        for c in d["spec"]["template"]["spec"]["containers"]
        if c["image"].split("@")[0].rsplit(":", 1)[0].endswith(IMAGE)
    ]


def test_both_networks_have_an_overlay() -> None:
    assert NETWORKS == ["mainnet", "testnet"]


def test_every_object_is_valid_for_the_kubernetes_api(rendered: tuple[str, list[dict]]) -> None:
    _, objects = rendered
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_namespace_and_image_per_network(rendered: tuple[str, list[dict]]) -> None:
    network, objects = rendered
    assert f"floor-{network}" in of_kind(objects, "Namespace")
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    assert {o["metadata"].get("namespace") for o in namespaced} == {f"floor-{network}"}
    images = {c["image"] for _, c in floor_containers(objects)}
    assert len(images) == 1 and images != {IMAGE}, images  # one image, named and tagged by the overlay


def test_workers_run_several_replicas_behind_a_disruption_budget(rendered: tuple[str, list[dict]]) -> None:
    _, objects = rendered
    worker = of_kind(objects, "Deployment")["floor-worker"]
    assert worker["spec"]["replicas"] >= 2
    assert worker["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = of_kind(objects, "PodDisruptionBudget")["floor-worker"]
    assert pdb["spec"]["selector"]["matchLabels"] == worker["spec"]["selector"]["matchLabels"]
    assert 1 <= pdb["spec"]["minAvailable"] < worker["spec"]["replicas"]


def test_worker_grace_period_outlasts_the_activities_drain(rendered: tuple[str, list[dict]]) -> None:
    _, objects = rendered
    spec = of_kind(objects, "Deployment")["floor-worker"]["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] > GRACEFUL_SHUTDOWN.total_seconds()
    assert spec["containers"][0]["command"][0] == "floor-worker"


def test_exporter_is_one_replica_replaced_not_rolled(rendered: tuple[str, list[dict]]) -> None:
    _, objects = rendered
    exporter = of_kind(objects, "Deployment")["floor-exporter"]
    assert exporter["spec"]["replicas"] == 1
    assert exporter["spec"]["strategy"]["type"] == "Recreate"


def test_every_container_has_probes_and_runs_unprivileged(rendered: tuple[str, list[dict]]) -> None:
    _, objects = rendered
    for name, d in of_kind(objects, "Deployment").items():
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["automountServiceAccountToken"] is False, name
        for c in pod["containers"]:
            assert "readinessProbe" in c and "livenessProbe" in c, f"{name}/{c['name']}"
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name


def test_probes_name_the_processes_own_ports(rendered: tuple[str, list[dict]]) -> None:
    _, objects = rendered
    deployments = of_kind(objects, "Deployment")
    expected = {
        "floor-worker": ("/metrics", 9464),
        "floor-api": ("/docs", 8700),
        "floor-exporter": ("/metrics", 9465),
        "floor-watchdog": ("/metrics", 9467),
    }
    for name, (path, port) in expected.items():
        c = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        probe = c["readinessProbe"]["httpGet"]
        assert (probe["path"], ports[probe["port"]]) == (path, port), name


def test_secrets_are_referenced_never_inlined(rendered: tuple[str, list[dict]]) -> None:
    _, objects = rendered
    assert of_kind(objects, "Secret") == {}
    for name, c in floor_containers(objects):
        for env in c.get("env", []):
            if env["name"] in SECRET_ENV:
                assert "value" not in env and "secretKeyRef" in env["valueFrom"], f"{name}: {env['name']}"
            else:
                assert not env["name"].endswith(("KEY", "SECRET", "PASSWORD", "URL")), f"{name}: {env['name']}"
    for cm in of_kind(objects, "ConfigMap").values():
        for text in cm.get("data", {}).values():
            assert "private_key =" not in text.replace('"0x<64 hex>"', "")
            assert "postgresql" not in text or "FLOOR_STORE__URL" in text


def test_config_is_the_overlays_floor_toml_and_loads(rendered: tuple[str, list[dict]], tmp_path: Path) -> None:
    network, objects = rendered
    config = next(cm for name, cm in of_kind(objects, "ConfigMap").items() if name.startswith("floor-config-"))
    path = tmp_path / "floor.toml"
    path.write_text(config["data"]["floor.toml"])
    settings = load_settings(path)
    assert settings.temporal.namespace == f"floor-{network}"
    assert settings.metrics.address == "0.0.0.0"  # noqa: S104 (probes and Prometheus reach each pod)
    assert (settings.metrics.port, settings.metrics.exporter_port, settings.api.port) == (9464, 9465, 8700)
    assert settings.chains[0].id == {"testnet": 11155111, "mainnet": 1}[network]


def test_every_alert_rules_file_is_in_the_rules_config_map(rendered: tuple[str, list[dict]]) -> None:
    _, objects = rendered
    rules = next(cm for name, cm in of_kind(objects, "ConfigMap").items() if name.startswith("floor-prometheus-rules-"))
    on_disk = {p.name: p.read_text() for p in (ROOT / "deploy" / "prometheus" / "rules").glob("*.yml")}
    assert rules["data"] == on_disk


def test_prometheus_scrapes_the_services_the_manifests_define(rendered: tuple[str, list[dict]]) -> None:
    _, objects = rendered
    services = {name: {p["port"] for p in s["spec"]["ports"]} for name, s in of_kind(objects, "Service").items()}
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    for job in prometheus["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                assert int(port) in services[host], (job["job_name"], target)
        for sd in job.get("dns_sd_configs", []):
            for host in sd["names"]:
                assert sd["port"] in services[host], (job["job_name"], host)
                assert of_kind(objects, "Service")[host]["spec"]["clusterIP"] == "None"


# ---------------------------------------------------------------- the image's contract artifacts


def runtime_stage() -> tuple[dict[str, str], dict[str, str]]:
    """The Containerfile's last stage: its ENV values, and each COPY's destination (resolved
    against its WORKDIR) -> source ("stage:path" for a COPY --from)."""
    text = (ROOT / "Containerfile").read_text().replace("\\\n", " ")
    stage = text.split("\nFROM ")[-1]
    env: dict[str, str] = {}
    copies: dict[str, str] = {}
    workdir = "/"
    for line in stage.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "ENV":
            env |= dict(w.split("=", 1) for w in words[1:] if "=" in w)
        elif words[0] == "WORKDIR":
            workdir = words[1]
        elif words[0] == "COPY":
            sources = [w for w in words[1:] if not w.startswith("--")]
            origin = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
            destination = str(Path(workdir) / sources[-1])
            copies[destination.rstrip("/")] = f"{origin}:{sources[0]}" if origin else sources[0]
    return env, copies


def test_the_image_carries_every_artifact_the_code_loads() -> None:
    from floor.deploy.safe import ARTIFACT_PATHS, ARTIFACTS_DIR_ENV
    from floor.devnet.artifacts import BUILD_DIR_ENV

    env, copies = runtime_stage()
    # The compiled contracts: the repository's contracts/build, where the code is told to look.
    assert copies[env[BUILD_DIR_ENV]] == "contracts/build"
    # The Safe's: from the node stage, which copies exactly the files floor/deploy/safe.py loads.
    assert copies[env[ARTIFACTS_DIR_ENV]].startswith("safe:")
    text = (ROOT / "Containerfile").read_text()
    safe_stage = text.split("AS safe\n")[1].split("\nFROM ")[0]
    copied = set(re.findall(r"contracts/\S+\.json", safe_stage))
    assert copied == set(ARTIFACT_PATHS.values())
    # The build context holds contracts/build (`make contracts` first).
    for ignore in (".containerignore", ".dockerignore"):
        patterns = {line.strip().rstrip("/") for line in (ROOT / ignore).read_text().splitlines()}
        assert not patterns & {"contracts", "contracts/build", "contracts/build/*"}, ignore
