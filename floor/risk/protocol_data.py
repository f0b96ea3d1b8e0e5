"""The risk data the engine scores protocols from, as validated models.

Per protocol: its audits (firm, date, scope, open findings by severity), its launch per chain
deployment and its incidents (date, loss in USD, what happened, resolution). Every figure
carries a `source` (a URL) or an explicit `..._unknown` reason: the data never guesses. Beside
the protocols, the dependency graph that correlation reads (`nodes`: oracles, issuers, assets,
chains, codebases, ...).

Pure: parsing and validation only. `load_protocol_data()` reads the packaged file
(`floor/risk/data/protocols.toml`); that is a file read, so it belongs to activities and the
CLI, and workflow code receives the parsed `RiskData` instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from floor.models import FrozenModel

DATA_FILE = Path(__file__).parent / "data" / "protocols.toml"

# The floor's protocols and the ERC-4626 vaults the engine uses: the data file must cover them.
FLOOR_PROTOCOLS = (
    "aave-v3",
    "compound-v3",
    "morpho-blue",
    "spark",
    "lido",
    "rocket-pool",
    "native-staking",
    "curve",
    "convex",
    "balancer-v2",
    "metamorpho",
    "sdai",
    "susds",
)

Category = Literal["lending", "staking", "stable_lp", "vault"]
NodeKind = Literal["protocol", "code", "oracle", "issuer", "asset", "consensus", "chain", "compiler", "governance"]
Recovery = Literal["full", "partial", "none", "unknown", "not_applicable"]
Layer = Literal["core", "market", "oracle", "collateral", "governance", "periphery"]


def _url(value: str | None, what: str) -> None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError(f"{what} must be a URL, got {value!r}")


def _one_of(present: object, reason: str | None, what: str, unknown: str) -> None:
    """Exactly one of a value and the reason it is unknown."""
    if (present is None) == (reason is None):
        raise ValueError(f"give exactly one of {what} and {unknown} (the reason it is unknown)")
    if reason is not None and not reason.strip():
        raise ValueError(f"{unknown} needs a reason")


class OpenFindings(FrozenModel):
    """Findings an audit left open (acknowledged, risk accepted or unresolved, i.e. not fixed),
    by severity. A severity the report's summary does not state is None (counted as 0 and noted).
    Informational findings are not counted."""

    critical: int | None = Field(default=None, ge=0)
    high: int | None = Field(default=None, ge=0)
    medium: int | None = Field(default=None, ge=0)
    low: int | None = Field(default=None, ge=0)

    def missing(self) -> list[str]:
        return [s for s in ("critical", "high", "medium", "low") if getattr(self, s) is None]


class Audit(FrozenModel):
    firm: str = Field(min_length=1)
    # A report dated only by month is recorded on the 1st with precision "month".
    date: dt.date | None = None
    date_precision: Literal["day", "month"] = "day"
    date_unknown: str | None = None
    scope: str = Field(min_length=1)
    # Whether the audit covers contracts the engine uses (the pool, vault or staking contracts).
    # Audits of peripheral code are recorded but do not count toward the audit score.
    core: bool = True
    source: str
    open_findings: OpenFindings | None = None
    open_findings_unknown: str | None = None
    findings_source: str | None = None  # where the open findings are read, when not `source`
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> Audit:
        _url(self.source, "source")
        _url(self.findings_source, "findings_source")
        _one_of(self.date, self.date_unknown, "date", "date_unknown")
        _one_of(self.open_findings, self.open_findings_unknown, "open_findings", "open_findings_unknown")
        return self


class Deployment(FrozenModel):
    """One chain deployment. `launched` is the day it went live; "month" precision records the
    1st of the month; "no_later_than" records a date by which it was live (the earliest one the
    sources prove, so the age it gives is never overstated)."""

    chain_id: int = Field(gt=0)
    launched: dt.date | None = None
    precision: Literal["day", "month", "no_later_than"] = "day"
    launched_unknown: str | None = None
    source: str | None = None
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> Deployment:
        _one_of(self.launched, self.launched_unknown, "launched", "launched_unknown")
        if self.launched is not None and self.source is None:
            raise ValueError(f"chain {self.chain_id}: a launch date needs its source")
        _url(self.source, "source")
        return self


class Incident(FrozenModel):
    date: dt.date
    what: str = Field(min_length=1)
    layer: Layer
    loss_usd: int | None = Field(default=None, ge=0)
    loss_unknown: str | None = None
    recovered: Recovery
    recovered_usd: int | None = Field(default=None, ge=0)
    resolution: str = Field(min_length=1)
    sources: list[str] = Field(min_length=1)
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> Incident:
        for source in self.sources:
            _url(source, "source")
        _one_of(self.loss_usd, self.loss_unknown, "loss_usd", "loss_unknown")
        if self.loss_usd is not None and self.recovered_usd is not None and self.recovered_usd > self.loss_usd:
            raise ValueError("recovered_usd exceeds loss_usd")
        return self


class ProtocolData(FrozenModel):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    category: Category
    deployments: list[Deployment] = Field(min_length=1)
    audits: list[Audit] = Field(default_factory=list)
    incidents: list[Incident] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)  # dependency graph node ids
    note: str = ""

    def deployment(self, chain_id: int) -> Deployment | None:
        return next((d for d in self.deployments if d.chain_id == chain_id), None)


class DependencyNode(FrozenModel):
    """A thing positions may rest on besides a protocol: "oracle:chainlink", "asset:USDC",
    "issuer:sky", "chain:42161", "consensus:ethereum", "code:aave-v3", ..."""

    id: str = Field(min_length=1)
    kind: NodeKind
    depends_on: list[str] = Field(default_factory=list)
    note: str = ""


class RiskData(FrozenModel):
    version: int = Field(ge=1)
    as_of: dt.date
    sources_policy: str = Field(min_length=1)
    protocols: list[ProtocolData]
    nodes: list[DependencyNode] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> RiskData:
        ids = [p.id for p in self.protocols] + [n.id for n in self.nodes]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"ids appear twice: {duplicates}")
        known = set(ids)
        for owner, deps in [(p.id, p.depends_on) for p in self.protocols] + [(n.id, n.depends_on) for n in self.nodes]:
            missing = [d for d in deps if d not in known]
            if missing:
                raise ValueError(f"{owner} depends on unknown nodes {missing}")
        cycle = _find_cycle(self.edges())
        if cycle:
            raise ValueError(f"dependency cycle: {' -> '.join(cycle)}")
        return self

    def protocol(self, protocol_id: str) -> ProtocolData:
        for p in self.protocols:
            if p.id == protocol_id:
                return p
        raise KeyError(f"no risk data for protocol {protocol_id!r}")

    def edges(self) -> dict[str, tuple[str, ...]]:
        """Node id -> the ids it rests on directly (protocols included, kind "protocol")."""
        out = {p.id: tuple(p.depends_on) for p in self.protocols}
        out.update({n.id: tuple(n.depends_on) for n in self.nodes})
        return out

    def kinds(self) -> dict[str, str]:
        out = {p.id: "protocol" for p in self.protocols}
        out.update({n.id: n.kind for n in self.nodes})
        return out


def _find_cycle(edges: Mapping[str, tuple[str, ...]]) -> list[str]:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return []


def parse_protocol_data(raw: Mapping[str, Any]) -> RiskData:
    """Validate the data file's content (a parsed TOML document)."""
    return RiskData.model_validate(dict(raw))


def load_protocol_data(path: str | Path | None = None) -> RiskData:
    """Read and validate the packaged data file (or `path`). A file read: not for workflow code."""
    import tomllib

    with open(path or DATA_FILE, "rb") as f:
        return parse_protocol_data(tomllib.load(f))
