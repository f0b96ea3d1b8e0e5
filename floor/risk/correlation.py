"""Correlation risk between positions, pure and deterministic.

A position is a protocol, a chain and an asset. What it rests on is read from the dependency
graph in the risk data (`RiskData.protocols[].depends_on` and `RiskData.nodes`): Convex on
Curve, Spark on Aave V3's code and on Sky, MetaMorpho on Morpho Blue, stETH on Lido, an
Arbitrum deployment on Ethereum, most lending markets on Chainlink's oracles, ...

- dependencies(p): the protocol's node, the chain's node ("chain:<id>") and the asset's node
  ("asset:<symbol>"), with everything they rest on, transitively.
- correlation(p, q) = W(D(p) & D(q)) / W(D(p) | D(q)), a weighted Jaccard index in [0, 1]; each
  node weighs by its kind (KIND_WEIGHTS: a protocol's code 3, consensus 3, an oracle 2, an
  issuer 2, an asset 1, a chain 1, a compiler 1, governance 1).
- diversification = 100 x (1 - sum_i sum_j w_i w_j c_ij), weights normalised to add up to 1
  (c_ii = 1), rounded half up: 0 for a single position; it only falls as correlations rise.
- clusters: positions joined by correlation >= 1/2 (single linkage); a cluster holding more than
  5000 bps of the portfolio raises an over-concentration alert.

Exact arithmetic (fractions); no I/O, no clock: safe in Temporal's workflow sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from pydantic import Field

from floor.models import FrozenModel
from floor.risk.protocol_data import RiskData
from floor.risk.scores import round_half_up

KIND_WEIGHTS: Mapping[str, int] = {
    "protocol": 3,
    "code": 3,
    "consensus": 3,
    "oracle": 2,
    "issuer": 2,
    "asset": 1,
    "chain": 1,
    "compiler": 1,
    "governance": 1,
}
DEFAULT_THRESHOLD = Fraction(1, 2)
DEFAULT_CLUSTER_LIMIT_BPS = 5000


class Position(FrozenModel):
    protocol: str
    chain_id: int = Field(gt=0)
    asset: str  # a symbol ("USDC") or a pool's assets ("stETH/ETH"): node "asset:<asset>"

    def __str__(self) -> str:
        return f"{self.chain_id}:{self.protocol}:{self.asset}"


class WeightedPosition(FrozenModel):
    position: Position
    weight_bps: int = Field(ge=0)


class Cluster(FrozenModel):
    positions: list[Position]
    weight_bps: int  # of the portfolio, rounded half up
    limit_bps: int
    over_limit: bool


class ConcentrationAlert(FrozenModel):
    positions: list[Position]
    weight_bps: int
    limit_bps: int
    message: str


class PortfolioRisk(FrozenModel):
    diversification: int = Field(ge=0, le=100)
    concentration_bps: int  # sum_i sum_j w_i w_j c_ij, in bps, rounded half up
    clusters: list[Cluster]
    alerts: list[ConcentrationAlert]


class DependencyGraph:
    """Node id -> direct dependencies and kind; built from `RiskData` or given directly."""

    def __init__(
        self,
        edges: Mapping[str, Sequence[str]],
        kinds: Mapping[str, str],
        kind_weights: Mapping[str, int] = KIND_WEIGHTS,
    ) -> None:
        self.edges = {k: tuple(v) for k, v in edges.items()}
        self.kinds = dict(kinds)
        self.kind_weights = dict(kind_weights)

    @classmethod
    def from_data(cls, data: RiskData, kind_weights: Mapping[str, int] = KIND_WEIGHTS) -> DependencyGraph:
        return cls(data.edges(), data.kinds(), kind_weights)

    def weight(self, node: str) -> int:
        kind = self.kinds.get(node) or node.partition(":")[0]
        return self.kind_weights.get(kind, 1)

    def closure(self, roots: Sequence[str]) -> frozenset[str]:
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            stack.extend(self.edges.get(node, ()))
        return frozenset(seen)

    def dependencies(self, position: Position) -> frozenset[str]:
        if position.protocol not in self.edges:
            raise KeyError(f"protocol {position.protocol!r} is not in the dependency graph")
        return self.closure([position.protocol, f"chain:{position.chain_id}", f"asset:{position.asset}"])

    def correlation(self, a: Position, b: Position) -> Fraction:
        da, db = self.dependencies(a), self.dependencies(b)
        union = sum(self.weight(n) for n in da | db)
        return Fraction(sum(self.weight(n) for n in da & db), union) if union else Fraction(1)

    def matrix(self, positions: Sequence[Position]) -> list[list[Fraction]]:
        deps = [self.dependencies(p) for p in positions]
        out = [[Fraction(1)] * len(positions) for _ in positions]
        for i in range(len(positions)):
            for j in range(i + 1, len(positions)):
                union = sum(self.weight(n) for n in deps[i] | deps[j])
                c = Fraction(sum(self.weight(n) for n in deps[i] & deps[j]), union) if union else Fraction(1)
                out[i][j] = out[j][i] = c
        return out


def _normalised(weights: Sequence[int]) -> list[Fraction]:
    total = sum(weights)
    if total <= 0 or any(w < 0 for w in weights):
        raise ValueError("weights must be non-negative with a positive sum")
    return [Fraction(w, total) for w in weights]


def concentration(weights: Sequence[int], matrix: Sequence[Sequence[Fraction]]) -> Fraction:
    """sum_i sum_j w_i w_j c_ij with the weights normalised; in [sum w_i^2, 1]."""
    w = _normalised(weights)
    return sum((w[i] * w[j] * Fraction(matrix[i][j]) for i in range(len(w)) for j in range(len(w))), Fraction(0))


def diversification_from_matrix(weights: Sequence[int], matrix: Sequence[Sequence[Fraction]]) -> int:
    """100 x (1 - concentration), rounded half up."""
    return round_half_up(100 * (1 - concentration(weights, matrix)))


def clusters_from_matrix(
    positions: Sequence[Position],
    weights: Sequence[int],
    matrix: Sequence[Sequence[Fraction]],
    threshold: Fraction = DEFAULT_THRESHOLD,
    limit_bps: int = DEFAULT_CLUSTER_LIMIT_BPS,
) -> list[Cluster]:
    """Connected components of "correlation >= threshold", heaviest first (ties: first position)."""
    n = len(positions)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if matrix[i][j] >= threshold:
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    w = _normalised(weights)
    out = []
    for members in groups.values():
        share = sum((w[i] for i in members), Fraction(0))
        bps = round_half_up(share * 10_000)
        out.append(
            (
                -share,
                members[0],
                Cluster(
                    positions=[positions[i] for i in members],
                    weight_bps=bps,
                    limit_bps=limit_bps,
                    over_limit=share * 10_000 > limit_bps,
                ),
            )
        )
    return [c for _, _, c in sorted(out, key=lambda t: (t[0], t[1]))]


def portfolio_risk(
    graph: DependencyGraph,
    portfolio: Sequence[WeightedPosition],
    threshold: Fraction = DEFAULT_THRESHOLD,
    limit_bps: int = DEFAULT_CLUSTER_LIMIT_BPS,
) -> PortfolioRisk:
    """Diversification, clusters and over-concentration alerts of a portfolio of weighted positions."""
    positions = [p.position for p in portfolio]
    weights = [p.weight_bps for p in portfolio]
    matrix = graph.matrix(positions)
    c = concentration(weights, matrix)
    clusters = clusters_from_matrix(positions, weights, matrix, threshold, limit_bps)
    alerts = [
        ConcentrationAlert(
            positions=cl.positions,
            weight_bps=cl.weight_bps,
            limit_bps=cl.limit_bps,
            message=(
                f"{len(cl.positions)} position(s) correlated at >= {float(threshold):g} hold {cl.weight_bps} bps, "
                f"over the {cl.limit_bps} bps limit: " + ", ".join(str(p) for p in cl.positions)
            ),
        )
        for cl in clusters
        if cl.over_limit
    ]
    return PortfolioRisk(
        diversification=round_half_up(100 * (1 - c)),
        concentration_bps=round_half_up(c * 10_000),
        clusters=clusters,
        alerts=alerts,
    )
