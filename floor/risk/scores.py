"""Smart-contract risk score of a protocol deployment, pure and deterministic.

Four parts, each an integer 0-100 (higher is safer), and a weighted overall that caps the
protocol's weight in the strategy. The formulas and their defaults are in docs/risk.md; in short:

- audit = coverage (10 per reputable core audit, at most 40)
        + recency (30 while the newest reputable core audit is at most a year old, falling
          linearly to 0 at four years)
        + findings (30 minus the mean, per reputable core audit whose open findings are known,
          of 10 x critical + 3 x high + 1 x medium + 1/4 x low; 15, neutral, when none is known)
- tvl = 100 - 2 x (largest peak-to-trough fall of the on-chain total, in percent) over the last
  90 days; 50, neutral and noted, with fewer than 7 observations or less than 7 days of them
- age = 100 x min(days since launch, 1460) / 1460
- incidents = 100 - sum over incidents of severity(loss) x recency x recovery, at least 0
- overall = 30% audit + 15% tvl + 20% age + 35% incidents (of the rounded parts)
- max weight: overall >= 80: 3000 bps, >= 70: 2000, >= 60: 1000, >= 50: 500, else 0

Arithmetic is exact (fractions); each part and the overall are rounded half up once. "today"
is always given by the caller: nothing here reads a clock, a file or the network, so the module
is safe inside Temporal's workflow sandbox.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from pydantic import Field

from floor.models import FrozenModel
from floor.risk.protocol_data import Audit, Incident, ProtocolData, RiskData

# Firms whose reports count toward the audit part. Others are recorded in the data but do not
# count (a policy, not a judgement of any report).
REPUTABLE_FIRMS = frozenset(
    {
        "ABDK",
        "Ackee Blockchain",
        "Blackthorn",
        "Cantina",
        "Certora",
        "ChainSecurity",
        "Code4rena",
        "Composable Security",
        "ConsenSys Diligence",
        "Dedaub",
        "Enigma Dark",
        "Hexens",
        "MixBytes",
        "Nethermind",
        "OpenZeppelin",
        "Oxorio",
        "Pashov",
        "PeckShield",
        "Quantstamp",
        "Runtime Verification",
        "Sherlock",
        "Sigma Prime",
        "Spearbit",
        "Statemind",
        "StErMi",
        "Trail of Bits",
        "Zellic",
    }
)

# A point of a protocol's on-chain total over time: (when, total in base units).
TvlPoint = tuple[dt.datetime | dt.date, int]


@dataclass(frozen=True)
class ScoreParams:
    """The score's constants. The defaults are the engine's policy (docs/risk.md)."""

    # overall, in bps of the parts; they add up to 10,000
    weight_audit_bps: int = 3000
    weight_tvl_bps: int = 1500
    weight_age_bps: int = 2000
    weight_incidents_bps: int = 3500
    # audit
    points_per_audit: int = 10
    audits_counted: int = 4
    recency_points: int = 30
    recency_full_days: int = 365
    recency_zero_days: int = 1460
    findings_points: int = 30
    finding_weights: tuple[Fraction, Fraction, Fraction, Fraction] = (
        Fraction(10),
        Fraction(3),
        Fraction(1),
        Fraction(1, 4),
    )  # critical, high, medium, low
    # tvl
    tvl_window_days: int = 90
    tvl_min_points: int = 7
    tvl_min_span_days: int = 7
    tvl_points_per_percent: int = 2
    # age
    age_saturation_days: int = 1460
    # incidents: severity by loss (USD) steps, an unknown loss, recency and recovery factors
    severity_steps: tuple[tuple[int, int], ...] = ((1_000_000, 10), (10_000_000, 25), (100_000_000, 50))
    severity_top: int = 80
    severity_unknown_loss: int = 25
    incident_horizon_days: int = 1460
    incident_floor: Fraction = Fraction(1, 4)
    recovery_factors: tuple[tuple[str, Fraction], ...] = (
        ("full", Fraction(1, 4)),
        ("partial", Fraction(3, 4)),
        ("none", Fraction(1)),
        ("unknown", Fraction(1)),
        ("not_applicable", Fraction(1)),
    )
    # overall -> max weight, first step reached wins
    weight_steps: tuple[tuple[int, int], ...] = ((80, 3000), (70, 2000), (60, 1000), (50, 500))
    neutral: int = 50


DEFAULT_PARAMS = ScoreParams()


class RiskScore(FrozenModel):
    protocol: str
    chain_id: int
    audit: int = Field(ge=0, le=100)
    tvl: int = Field(ge=0, le=100)
    age: int = Field(ge=0, le=100)
    incidents: int = Field(ge=0, le=100)
    overall: int = Field(ge=0, le=100)
    max_weight_bps: int = Field(ge=0, le=10_000)
    tvl_neutral: bool  # too few observations: the tvl part is the neutral value
    notes: list[str] = Field(default_factory=list)


def round_half_up(x: Fraction) -> int:
    """Nearest integer, halves up (x >= 0 here): deterministic, unlike float rounding."""
    return int((x + Fraction(1, 2)).__floor__())


def _clamp(x: Fraction, low: int = 0, high: int = 100) -> Fraction:
    return max(Fraction(low), min(Fraction(high), x))


# ---------------------------------------------------------------------------- audit


def audit_part(
    audits: Iterable[Audit],
    today: dt.date,
    params: ScoreParams = DEFAULT_PARAMS,
    firms: frozenset[str] = REPUTABLE_FIRMS,
) -> tuple[int, list[str]]:
    """Coverage + recency + findings over reputable audits of core contracts dated up to today
    (an audit with an unknown date counts for coverage and findings, not for recency)."""
    notes: list[str] = []
    counted = [a for a in audits if a.core and a.firm in firms and (a.date is None or a.date <= today)]
    coverage = params.points_per_audit * min(len(counted), params.audits_counted)

    dated = [a.date for a in counted if a.date is not None]
    if dated:
        days = (today - max(dated)).days
        span = params.recency_zero_days - params.recency_full_days
        if days <= params.recency_full_days:
            recency = Fraction(params.recency_points)
        elif days >= params.recency_zero_days:
            recency = Fraction(0)
        else:
            recency = Fraction(params.recency_points * (params.recency_zero_days - days), span)
    else:
        recency = Fraction(0)
        notes.append("no dated reputable audit: recency 0")

    known = [a.open_findings for a in counted if a.open_findings is not None]
    if known:
        weights = params.finding_weights
        total = Fraction(0)
        partly = 0
        for f in known:
            counts = (f.critical, f.high, f.medium, f.low)
            total += sum((w * (c or 0) for w, c in zip(weights, counts, strict=True)), Fraction(0))
            partly += bool(f.missing())
        findings = _clamp(params.findings_points - total / len(known), 0, params.findings_points)
        if partly:
            notes.append(f"{partly} audit(s) state open findings only for some severities; the rest count as 0")
    else:
        findings = Fraction(params.findings_points, 2)
        notes.append("open findings unknown for every counted audit: findings neutral")
    unknown = sum(1 for a in counted if a.open_findings is None)
    if known and unknown:
        notes.append(f"open findings unknown for {unknown} of {len(counted)} counted audits")
    return round_half_up(_clamp(coverage + recency + findings)), notes


# ---------------------------------------------------------------------------- tvl


def _as_datetime(t: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(t, dt.datetime):
        return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
    return dt.datetime(t.year, t.month, t.day, tzinfo=dt.UTC)


def tvl_series_part(
    points: Sequence[TvlPoint], today: dt.date, params: ScoreParams = DEFAULT_PARAMS
) -> tuple[int | None, str]:
    """The stability of one series of on-chain totals: 100 - 2 x max drawdown (%) over the
    window ending today (observations after today are ignored). None when too few points."""
    start = today - dt.timedelta(days=params.tvl_window_days)
    window = sorted(
        ((_as_datetime(t), int(v)) for t, v in points if start <= _as_datetime(t).date() <= today),
        key=lambda p: p[0],
    )
    if not window:
        return None, "no observations in the window"
    span = (window[-1][0] - window[0][0]).days
    if len(window) < params.tvl_min_points or span < params.tvl_min_span_days:
        return None, f"{len(window)} observation(s) over {span} day(s)"
    peak = 0
    drawdown = Fraction(0)
    for _, value in window:
        if value > peak:
            peak = value
        elif peak > 0:
            drawdown = max(drawdown, Fraction(peak - value, peak))
    part = _clamp(100 - params.tvl_points_per_percent * 100 * drawdown)
    return round_half_up(part), f"{len(window)} observations over {span} days, max drawdown {float(drawdown):.2%}"


def tvl_part(
    observations: Sequence[TvlPoint] | Mapping[str, Sequence[TvlPoint]],
    today: dt.date,
    params: ScoreParams = DEFAULT_PARAMS,
) -> tuple[int, bool, list[str]]:
    """One series, or several (per market: the least stable one with enough points governs).
    Returns (part, neutral, notes)."""
    series = observations if isinstance(observations, Mapping) else {"": observations}
    if not any(len(points) for points in series.values()):
        return params.neutral, True, ["no tvl observations: tvl neutral"]
    parts: list[tuple[int, str]] = []
    notes: list[str] = []
    for name, points in sorted(series.items()):
        part, why = tvl_series_part(points, today, params)
        label = f"{name}: " if name else ""
        if part is None:
            notes.append(f"tvl {label}{why}: too few to measure")
        else:
            parts.append((part, f"tvl {label}{why}"))
    if not parts:
        notes.append("tvl neutral (too few observations)")
        return params.neutral, True, notes
    worst = min(parts, key=lambda p: p[0])
    return worst[0], False, [*notes, worst[1]]


# ---------------------------------------------------------------------------- age


def age_part(launched: dt.date, today: dt.date, params: ScoreParams = DEFAULT_PARAMS) -> int:
    days = max(0, (today - launched).days)
    return round_half_up(Fraction(100 * min(days, params.age_saturation_days), params.age_saturation_days))


def _launch(protocol: ProtocolData, chain_id: int) -> tuple[dt.date | None, list[str]]:
    own = protocol.deployment(chain_id)
    if own is not None and own.launched is not None:
        notes = [f"launch on chain {chain_id} is a no-later-than date"] if own.precision == "no_later_than" else []
        return own.launched, notes
    known = [d for d in protocol.deployments if d.launched is not None]
    if not known:
        return None, ["no sourced launch date: age neutral"]
    earliest = min(known, key=lambda d: d.launched or dt.date.max)
    why = "not deployed" if own is None else "launch date unknown"
    return earliest.launched, [
        f"chain {chain_id}: {why}; age from the earliest sourced launch (chain {earliest.chain_id})"
    ]


# ---------------------------------------------------------------------------- incidents


def severity(loss_usd: int | None, params: ScoreParams = DEFAULT_PARAMS) -> int:
    """Points for one incident's loss in USD, before recency and recovery."""
    if loss_usd is None:
        return params.severity_unknown_loss
    if loss_usd == 0:
        return 0
    for bound, points in params.severity_steps:
        if loss_usd < bound:
            return points
    return params.severity_top


def incident_penalty(incident: Incident, today: dt.date, params: ScoreParams = DEFAULT_PARAMS) -> Fraction:
    days = (today - incident.date).days
    if days < 0:
        return Fraction(0)  # not yet happened as of "today"
    recency = max(
        params.incident_floor,
        1 - (1 - params.incident_floor) * Fraction(days, params.incident_horizon_days),
    )
    recovery = dict(params.recovery_factors)[incident.recovered]
    return severity(incident.loss_usd, params) * recency * recovery


def incidents_part(
    incidents: Iterable[Incident], today: dt.date, params: ScoreParams = DEFAULT_PARAMS
) -> tuple[int, list[str]]:
    penalty = Fraction(0)
    notes: list[str] = []
    for incident in incidents:
        if incident.date > today:
            continue
        penalty += incident_penalty(incident, today, params)
        if incident.loss_usd is None:
            notes.append(f"incident {incident.date}: loss unknown, counted as {params.severity_unknown_loss} points")
    return round_half_up(_clamp(100 - penalty)), notes


# ---------------------------------------------------------------------------- overall


def overall_of(audit: int, tvl: int, age: int, incidents: int, params: ScoreParams = DEFAULT_PARAMS) -> int:
    weighted = (
        params.weight_audit_bps * audit
        + params.weight_tvl_bps * tvl
        + params.weight_age_bps * age
        + params.weight_incidents_bps * incidents
    )
    total = params.weight_audit_bps + params.weight_tvl_bps + params.weight_age_bps + params.weight_incidents_bps
    return round_half_up(Fraction(weighted, total))


def max_weight_bps(overall: int, params: ScoreParams = DEFAULT_PARAMS) -> int:
    for threshold, bps in params.weight_steps:
        if overall >= threshold:
            return bps
    return 0


def score(
    protocol_data: ProtocolData,
    observations: Sequence[TvlPoint] | Mapping[str, Sequence[TvlPoint]],
    today: dt.date,
    *,
    chain_id: int = 1,
    params: ScoreParams = DEFAULT_PARAMS,
    firms: frozenset[str] = REPUTABLE_FIRMS,
) -> RiskScore:
    """The risk score of `protocol_data`'s deployment on `chain_id` as of `today`.

    `observations` are the deployment's on-chain totals over time: one series of
    (timestamp, total) points, or one series per market (the least stable market governs).
    """
    audit, audit_notes = audit_part(protocol_data.audits, today, params, firms)
    tvl, tvl_neutral, tvl_notes = tvl_part(observations, today, params)
    launched, age_notes = _launch(protocol_data, chain_id)
    age = params.neutral if launched is None else age_part(launched, today, params)
    incidents, incident_notes = incidents_part(protocol_data.incidents, today, params)
    overall = overall_of(audit, tvl, age, incidents, params)
    return RiskScore(
        protocol=protocol_data.id,
        chain_id=chain_id,
        audit=audit,
        tvl=tvl,
        age=age,
        incidents=incidents,
        overall=overall,
        max_weight_bps=max_weight_bps(overall, params),
        tvl_neutral=tvl_neutral,
        notes=audit_notes + tvl_notes + age_notes + incident_notes,
    )


def score_all(
    data: RiskData,
    observations: Mapping[str, Sequence[TvlPoint] | Mapping[str, Sequence[TvlPoint]]],
    today: dt.date,
    *,
    chain_id: int = 1,
    params: ScoreParams = DEFAULT_PARAMS,
) -> list[RiskScore]:
    """Every protocol of `data` on `chain_id`, in the data's order; `observations` by protocol id
    (a protocol without any is scored with a neutral tvl part)."""
    return [score(p, observations.get(p.id, ()), today, chain_id=chain_id, params=params) for p in data.protocols]
