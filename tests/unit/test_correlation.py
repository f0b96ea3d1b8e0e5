"""Correlation risk (floor/risk/correlation.py): the worked example of docs/risk.md, exactly;
monotonicity of diversification; the dependency graph of the packaged data."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from floor.risk.correlation import (
    KIND_WEIGHTS,
    DependencyGraph,
    Position,
    WeightedPosition,
    clusters_from_matrix,
    concentration,
    diversification_from_matrix,
    portfolio_risk,
)
from floor.risk.protocol_data import load_protocol_data

# ---------------------------------------------------------------------------- the worked example
# docs/risk.md, "Worked example": alpha (a lending market), beta (a stable pool holding stETH)
# and gamma (a vault lending on alpha).

EDGES = {
    "alpha": ["oracle:chainlink", "governance:alpha"],
    "beta": ["compiler:vyper"],
    "gamma": ["alpha"],
    "lido": ["consensus:ethereum"],
    "asset:USDC": ["issuer:circle"],
    "asset:stETH/ETH": ["asset:stETH", "asset:ETH"],
    "asset:stETH": ["lido"],
    "asset:ETH": [],
    "chain:1": [],
    "oracle:chainlink": [],
    "governance:alpha": [],
    "compiler:vyper": [],
    "issuer:circle": [],
    "consensus:ethereum": [],
}
KINDS = {"alpha": "protocol", "beta": "protocol", "gamma": "protocol", "lido": "protocol"} | {
    node: node.partition(":")[0] for node in EDGES if ":" in node
}
P1 = Position(protocol="alpha", chain_id=1, asset="USDC")
P2 = Position(protocol="beta", chain_id=1, asset="stETH/ETH")
P3 = Position(protocol="gamma", chain_id=1, asset="USDC")
PORTFOLIO = [
    WeightedPosition(position=P1, weight_bps=5000),
    WeightedPosition(position=P2, weight_bps=2000),
    WeightedPosition(position=P3, weight_bps=3000),
]


def graph() -> DependencyGraph:
    return DependencyGraph(EDGES, KINDS)


def test_example_dependency_sets_and_weights() -> None:
    g = graph()
    d1, d2, d3 = g.dependencies(P1), g.dependencies(P2), g.dependencies(P3)
    assert d1 == {"alpha", "oracle:chainlink", "governance:alpha", "chain:1", "asset:USDC", "issuer:circle"}
    assert d2 == {
        "beta",
        "compiler:vyper",
        "chain:1",
        "asset:stETH/ETH",
        "asset:stETH",
        "asset:ETH",
        "lido",
        "consensus:ethereum",
    }
    assert d3 == d1 | {"gamma"}
    assert [sum(g.weight(n) for n in d) for d in (d1, d2, d3)] == [10, 14, 13]


def test_example_correlations() -> None:
    g = graph()
    assert g.correlation(P1, P2) == Fraction(1, 23)  # only chain:1 (1) shared; union 10 + 14 - 1
    assert g.correlation(P1, P3) == Fraction(10, 13)  # alpha's whole set inside gamma's
    assert g.correlation(P2, P3) == Fraction(1, 26)
    assert g.correlation(P1, P1) == 1
    assert g.matrix([P1, P2, P3]) == [
        [1, Fraction(1, 23), Fraction(10, 13)],
        [Fraction(1, 23), 1, Fraction(1, 26)],
        [Fraction(10, 13), Fraction(1, 26), 1],
    ]


def test_example_diversification_clusters_and_alert() -> None:
    g = graph()
    c = concentration([5000, 2000, 3000], g.matrix([P1, P2, P3]))
    # 0.25 + 0.04 + 0.09 + 2 (0.1/23 + 1.5/13 + 0.06/26)
    assert c == Fraction(19, 50) + 2 * (Fraction(1, 230) + Fraction(3, 26) + Fraction(3, 1300)) == Fraction(933, 1495)
    risk = portfolio_risk(g, PORTFOLIO)
    assert risk.diversification == 38  # 100 x 562/1495 = 37.59
    assert risk.concentration_bps == 6241
    assert [[str(p) for p in cl.positions] for cl in risk.clusters] == [
        ["1:alpha:USDC", "1:gamma:USDC"],
        ["1:beta:stETH/ETH"],
    ]
    assert [(cl.weight_bps, cl.over_limit) for cl in risk.clusters] == [(8000, True), (2000, False)]
    (alert,) = risk.alerts
    assert alert.weight_bps == 8000 and alert.limit_bps == 5000
    assert "1:alpha:USDC, 1:gamma:USDC" in alert.message
    # a higher limit, or a threshold above 10/13, clears the alert
    assert portfolio_risk(g, PORTFOLIO, limit_bps=8000).alerts == []
    assert portfolio_risk(g, PORTFOLIO, threshold=Fraction(4, 5)).alerts == []


def test_single_position_and_bad_weights() -> None:
    g = graph()
    single = portfolio_risk(g, [WeightedPosition(position=P2, weight_bps=10_000)])
    assert single.diversification == 0 and single.concentration_bps == 10_000
    assert single.alerts[0].weight_bps == 10_000  # one position over the cluster limit alone
    with pytest.raises(ValueError, match="positive sum"):
        concentration([0, 0], [[1, 0], [0, 1]])
    with pytest.raises(KeyError, match="not in the dependency graph"):
        g.dependencies(Position(protocol="nowhere", chain_id=1, asset="USDC"))


def test_uncorrelated_equal_weights_reach_one_minus_one_over_n() -> None:
    identity = [[Fraction(int(i == j)) for j in range(4)] for i in range(4)]
    assert diversification_from_matrix([1, 1, 1, 1], identity) == 75
    assert diversification_from_matrix([1, 1, 1, 1], [[Fraction(1)] * 4] * 4) == 0


# ---------------------------------------------------------------------------- monotonicity


@st.composite
def portfolios(draw):
    n = draw(st.integers(2, 6))
    weights = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n).filter(lambda w: sum(w) > 0))
    matrix = [[Fraction(1)] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            matrix[i][j] = matrix[j][i] = Fraction(draw(st.integers(0, 100)), 100)
    return weights, matrix


@settings(max_examples=300, deadline=None)
@given(portfolios(), st.data())
def test_a_more_correlated_portfolio_never_scores_higher_diversification(portfolio, data) -> None:
    weights, matrix = portfolio
    n = len(weights)
    i = data.draw(st.integers(0, n - 1))
    j = data.draw(st.integers(0, n - 1).filter(lambda x: x != i))
    raised = [row[:] for row in matrix]
    raised[i][j] = raised[j][i] = matrix[i][j] + (1 - matrix[i][j]) * Fraction(data.draw(st.integers(0, 100)), 100)
    assert concentration(weights, raised) >= concentration(weights, matrix)
    assert diversification_from_matrix(weights, raised) <= diversification_from_matrix(weights, matrix)
    assert 0 <= diversification_from_matrix(weights, matrix) <= 100


POSITIONS = [
    Position(protocol=p, chain_id=c, asset=a)
    for p, c, a in [
        ("aave-v3", 1, "USDC"),
        ("aave-v3", 42161, "USDC"),
        ("compound-v3", 1, "USDC"),
        ("spark", 1, "DAI"),
        ("metamorpho", 1, "USDC"),
        ("morpho-blue", 1, "WETH"),
        ("sdai", 1, "DAI"),
        ("susds", 1, "USDS"),
        ("lido", 1, "ETH"),
        ("rocket-pool", 1, "ETH"),
        ("native-staking", 1, "ETH"),
        ("curve", 1, "stETH/ETH"),
        ("convex", 1, "stETH/ETH"),
        ("balancer-v2", 1, "wstETH/WETH"),
    ]
]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(POSITIONS), st.integers(1, 10_000)), min_size=2, max_size=6),
    st.sampled_from(sorted(KIND_WEIGHTS)),
)
def test_a_dependency_shared_by_every_position_never_raises_diversification(chosen, kind) -> None:
    data = load_protocol_data()
    base = DependencyGraph.from_data(data)
    edges = {k: (*v, "shared:node") if k in {p.protocol for p, _ in chosen} else v for k, v in base.edges.items()}
    edges["shared:node"] = ()
    shared = DependencyGraph(edges, {**base.kinds, "shared:node": kind})
    portfolio = [WeightedPosition(position=p, weight_bps=w) for p, w in chosen]
    assert portfolio_risk(shared, portfolio).diversification <= portfolio_risk(base, portfolio).diversification
    for a, _ in chosen:
        for b, _ in chosen:
            assert shared.correlation(a, b) >= base.correlation(a, b)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(POSITIONS), st.sampled_from(POSITIONS))
def test_correlation_is_symmetric_and_bounded(a, b) -> None:
    g = DependencyGraph.from_data(load_protocol_data())
    c = g.correlation(a, b)
    assert c == g.correlation(b, a) and 0 <= c <= 1
    assert g.correlation(a, a) == 1


# ---------------------------------------------------------------------------- the data's graph


def test_the_data_graph_links_what_rests_on_what() -> None:
    g = DependencyGraph.from_data(load_protocol_data())

    def c(a: tuple[str, int, str], b: tuple[str, int, str]) -> Fraction:
        return g.correlation(*(Position(protocol=p, chain_id=ch, asset=s) for p, ch, s in (a, b)))

    convex_curve = c(("convex", 1, "stETH/ETH"), ("curve", 1, "stETH/ETH"))
    assert convex_curve >= Fraction(1, 2)  # Convex rests on Curve
    assert c(("spark", 1, "USDC"), ("aave-v3", 1, "USDC")) >= Fraction(1, 2)  # Aave V3's code
    assert c(("metamorpho", 1, "USDC"), ("morpho-blue", 1, "USDC")) > c(("metamorpho", 1, "USDC"), ("curve", 1, "USDC"))
    # stETH inside Curve's and Balancer's pools ties them to Lido
    assert c(("lido", 1, "ETH"), ("curve", 1, "stETH/ETH")) > c(("lido", 1, "ETH"), ("curve", 1, "DAI/USDC/USDT"))
    assert c(("lido", 1, "ETH"), ("balancer-v2", 1, "wstETH/WETH")) >= Fraction(1, 2)
    # sDAI and sUSDS share their issuer; Arbitrum rests on Ethereum
    assert c(("sdai", 1, "DAI"), ("susds", 1, "USDS")) > c(("sdai", 1, "DAI"), ("rocket-pool", 1, "ETH"))
    assert c(("aave-v3", 1, "USDC"), ("aave-v3", 42161, "USDC")) > c(("aave-v3", 1, "USDC"), ("compound-v3", 1, "USDC"))
    assert "chain:1" in g.dependencies(Position(protocol="curve", chain_id=42161, asset="USDC"))


def test_clusters_are_ordered_heaviest_first_and_deterministic() -> None:
    positions = [P2, P1, P3]
    matrix = graph().matrix(positions)
    first = clusters_from_matrix(positions, [2000, 5000, 3000], matrix)
    assert first == clusters_from_matrix(positions, [2000, 5000, 3000], matrix)
    assert [cl.weight_bps for cl in first] == [8000, 2000]
