"""The allocation planner, pure: where the floor's money should sit, and the moves that put it
there, with strategy weights read as fractions of the floor's TOTAL value.

A strategy target of 6000 bps means 60% of everything the floor holds, valued in the accounting
unit (USD with 8 decimals, the price oracle's base currency), across every token and chain; the
weights may add up to less than 10,000 bps and the rest stays idle. (`floor/planning/rebalance.py`
reads weights relative to one (chain, token) leg instead, so a lone 6000 bps target over USDC
markets would take all the USDC.)

Inputs (`AllocationInputs`): each market's `Holding` (amount and what can be withdrawn now, in
base units, with the token's decimals), the executor's idle balance per (chain, token), one price
per (chain, token) in accounting units per whole token, the strategy's targets (`StrategyTarget`:
market, token, weight in bps of the total), the caps (per market, per protocol, per chain, per
correlation cluster, each in bps of the total) and the minimum trade size in accounting units.

The plan, in four steps, every one in integers:

1. **Total.** Per (chain, token) leg, the units it holds (idle plus every position); the total
   value T is the sum of each leg's value, `units * price // 10**decimals` (as
   `floor.models.value_of`). Moves stay within a leg, so T is the same before and after them.
2. **Targets in value.** Each target gets `T * weight_bps // 10_000`. Then the caps, in this
   fixed order: market caps (by market key), protocol caps (by name; a protocol's markets on
   every chain), chain caps (by id), cluster caps (by name). A cap's limit is
   `T * max_bps // 10_000`; a market above its own cap is cut to it, a group whose targets add
   up to more than its limit is cut to the limit in proportion to its members' targets (largest
   remainder, ties to the earlier market key). Cuts only lower targets, so a later cap never
   undoes an earlier one. What a cap cuts is NOT given to another market: it stays idle, and a
   note says which cap bound and how much it cut.
3. **Targets in units.** A target value becomes `value * 10**decimals // price` units of the
   market's token (rounded down, so its value never exceeds the target). The planner never
   bridges or swaps: when a leg's targets need more units than the leg holds, they share what
   it holds in proportion (largest remainder, ties to the earlier key) and the shortfall is
   reported. A held market with no target is aimed at zero.
4. **Moves**, per leg. Withdrawals first: a market above its target gives back its excess, at
   most what it can let go now (`withdrawable`; the rest is reported). Then deposits: each
   market below its target receives the difference, out of the idle balance plus what was
   withdrawn; when excess that could not leave makes that short, the deposits share what is
   there in proportion to their gaps. A move worth less than the minimum trade size is not
   made (it is reported). Finally every cap is checked again on the positions after the moves,
   in the order of step 2: excess that could not leave (illiquid, or below the minimum trade)
   can push a group over its limit. Such a breach is repaired first by depositing less into the
   group (largest deposit first), then by withdrawing more from it (the market furthest above
   its target first; a withdrawal is raised to at least the minimum trade size); what this
   frees stays idle. A breach that remains after both (every member's deposit is gone and each
   has given all it can) is reported as `cap_breach`.

Guarantees (tests/unit/test_planner_properties.py): after the moves no cap is exceeded unless
reported as a breach whose markets could give nothing more; per leg, idle after = idle before
+ withdrawals - deposits exactly, and never negative; no move is worth less than the minimum
trade size, and none is zero; a withdrawal never exceeds what the market lets go; a floor at
its targets (each market at its target, or below it by less than the minimum trade) plans
nothing; the same inputs in any order give the same plan.

Scope: caps bound what sits in markets; idle balances count towards the total T but towards no
cap (the planner cannot move them off their chain). A cap naming a market the floor neither
holds nor targets binds nothing. The planner withdraws only what `withdrawable` says can leave
now: it does not start queued exits. It plans; sending the moves (`PlannedMove.as_move()` gives
the rebalance's `Move`) is the operations' work.

Rounding and ties, all deterministic: values and target units round down; a cap's limit rounds
down; a proportional cut or share is a largest-remainder split (`split_by_weight`) over the
members in market-key order (chain id, protocol, market), the remainder going to the largest
fractions and ties to the earlier key; the units needed to lower a group's value by v are
rounded up (`ceil(v * 10**decimals / price)`), as is the minimum trade size in units. Lists in
the plan are in key order: markets by key; moves per leg (by chain id, then token), withdrawals
before deposits, each by key; notes in the order the steps above produce them.

The planner is pure: no I/O, no clock, no randomness, no floats; it can run inside a Temporal
workflow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import Field, model_validator

from floor.models import AdapterKey, Amount, FrozenModel
from floor.models import units as token_units
from floor.operations import StrategyTarget
from floor.planning.allocation import split_by_weight
from floor.planning.caps import PlanCaps
from floor.planning.rebalance import Holding, Move

BPS = 10_000
ACCOUNTING_DECIMALS = 8  # USD with 8 decimals, as Aave's oracle (Chainlink) quotes it

Leg = tuple[int, str]  # (chain id, token symbol)


# ---------------------------------------------------------------------------- inputs


class IdleBalance(FrozenModel):
    """What the executor holds of one token on one chain, outside every market."""

    chain_id: int
    asset: str
    decimals: int = Field(ge=0, le=77)
    amount: Amount


class TokenPrice(FrozenModel):
    """One token's price on one chain: accounting units (USD 1e8) per whole token."""

    chain_id: int
    asset: str
    price: int = Field(gt=0)


class AllocationInputs(FrozenModel):
    holdings: list[Holding] = []
    idle: list[IdleBalance] = []
    prices: list[TokenPrice] = []
    targets: list[StrategyTarget] = []
    caps: PlanCaps = PlanCaps()
    min_trade_value: int = Field(default=0, ge=0)  # accounting units; a smaller move is not made

    @model_validator(mode="after")
    def _check(self) -> AllocationInputs:
        problems: list[str] = []

        def unique(name: str, items: Iterable[object]) -> None:
            seen: set[object] = set()
            for item in items:
                if item in seen:
                    problems.append(f"{name} {item} appears twice")
                seen.add(item)

        unique("holding", (str(h.key) for h in self.holdings))
        unique("idle balance", (f"{b.chain_id}:{b.asset}" for b in self.idle))
        unique("price", (f"{p.chain_id}:{p.asset}" for p in self.prices))
        unique("target", (str(t.key) for t in self.targets))
        unique("market cap", (str(c.key) for c in self.caps.markets))
        unique("protocol cap", (c.protocol for c in self.caps.protocols))
        unique("chain cap", (c.chain_id for c in self.caps.chains))
        unique("cluster cap", (c.name for c in self.caps.clusters))
        total = sum(t.weight_bps for t in self.targets)
        if total > BPS:
            problems.append(f"targets' weights sum to {total} bps, more than {BPS}")
        decimals: dict[Leg, int] = {}
        units: dict[Leg, int] = {}
        rows = [(h.key.chain_id, h.asset, h.decimals, h.amount, str(h.key)) for h in self.holdings]
        rows += [(b.chain_id, b.asset, b.decimals, b.amount, f"idle {b.chain_id}:{b.asset}") for b in self.idle]
        for chain_id, asset, dec, amount, where in rows:
            leg = (chain_id, asset)
            if dec < 0:
                problems.append(f"{where}: decimals must be >= 0")
            if decimals.setdefault(leg, dec) != dec:
                problems.append(f"{where}: {asset} on chain {chain_id} has {dec} decimals, elsewhere {decimals[leg]}")
            units[leg] = units.get(leg, 0) + amount
        held_asset = {h.key: h.asset for h in self.holdings}
        for t in self.targets:
            if held_asset.get(t.key, t.asset) != t.asset:
                problems.append(f"target {t.key} is {t.asset}, its holding is {held_asset[t.key]}")
        priced = {(p.chain_id, p.asset) for p in self.prices}
        for (chain_id, asset), n in sorted(units.items()):
            if n > 0 and (chain_id, asset) not in priced:
                problems.append(f"no price for {asset} on chain {chain_id}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# ---------------------------------------------------------------------------- the plan


class PlannedMove(FrozenModel):
    key: AdapterKey
    asset: str
    action: Literal["deposit", "withdraw", "withdraw_all"]  # withdraw_all: the whole position as read
    amount: Amount  # base units
    value: int  # accounting units, rounded down

    def as_move(self) -> Move:
        """The same move as the rebalance planner's `Move`, which `build_moves` takes."""
        return Move(key=self.key, asset=self.asset, action=self.action, amount=self.amount)


class MarketPlan(FrozenModel):
    key: AdapterKey
    asset: str
    decimals: int | None  # None: the floor holds none of this token on this chain
    weight_bps: int  # 0: held, not in the strategy
    weight_value: int  # T * weight_bps // 10_000
    capped_value: int  # after the caps (step 2)
    target: Amount  # base units aimed at, after what the leg holds (step 3)
    target_value: int
    current: Amount
    current_value: int
    planned: Amount  # after the moves
    planned_value: int


class IdlePlan(FrozenModel):
    chain_id: int
    asset: str
    decimals: int
    before: Amount
    after: Amount
    after_value: int


NoteKind = Literal[
    "market_cap",  # step 2: a market's cap cut its target
    "protocol_cap",
    "chain_cap",
    "cluster_cap",
    "holdings",  # step 3: a leg holds less than its targets need (never bridged or swapped)
    "liquidity",  # a market cannot let go of all its excess now
    "funds",  # deposits share less than they need, because excess could not leave
    "min_trade",  # a move below the minimum trade size is not made
    "lot",  # a market taking whole lots (32 ETH validators): the rest of a deposit stays idle
    "cap_repair",  # after the moves a cap was exceeded and the moves were changed to respect it
    "cap_breach",  # ... and could not be brought back within it
]


class PlanNote(FrozenModel):
    kind: NoteKind
    subject: str  # the cap ("protocol aave-v3"), the market ("1:aave-v3:USDC") or the leg ("1:USDC")
    limit_value: int  # the cap, what the leg holds, what can leave, or the minimum trade
    wanted_value: int  # what was asked for (or held, after the moves)
    cut_value: int  # how much was cut; for a breach, by how much the limit is still exceeded
    markets: list[AdapterKey] = []  # the markets it changed, in key order
    text: str


class AllocationPlan(FrozenModel):
    total_value: int  # T: the floor's value in accounting units, the same before and after
    min_trade_value: int
    markets: list[MarketPlan]
    moves: list[PlannedMove]
    idle: list[IdlePlan]
    notes: list[PlanNote]

    @property
    def acts(self) -> bool:
        return bool(self.moves)

    def moves_of(self, chain_id: int, asset: str) -> list[PlannedMove]:
        return [m for m in self.moves if m.key.chain_id == chain_id and m.asset == asset]

    def notes_of(self, kind: str) -> list[PlanNote]:
        return [n for n in self.notes if n.kind == kind]


# ---------------------------------------------------------------------------- arithmetic


def _order(key: AdapterKey) -> tuple[int, str, str]:
    return (key.chain_id, key.protocol, key.market)


def _value(units: int, decimals: int, price: int) -> int:
    """`floor.models.value_of`: the value of `units`, rounded down."""
    return units * price // int(10**decimals)  # int(): a power of an int is typed Any


def _units_within(value: int, decimals: int, price: int) -> int:
    """The most units worth at most `value` (rounded down)."""
    return value * int(10**decimals) // price


def _units_covering(value: int, decimals: int, price: int) -> int:
    """The fewest units worth at least `value` (rounded up)."""
    return -(-value * int(10**decimals) // price)


def _usd(value: int) -> str:
    whole, frac = divmod(value, 10**ACCOUNTING_DECIMALS)
    return f"${whole:,}.{frac // 10 ** (ACCOUNTING_DECIMALS - 2):02d}"


def _bps(bps: int) -> str:
    return f"{bps} bps"


# ---------------------------------------------------------------------------- the planner


def plan_allocation(inputs: AllocationInputs) -> AllocationPlan:
    """The target per market, the moves toward it and what they leave idle; see the module."""
    return _Planner(inputs).plan()


class _Planner:
    def __init__(self, inputs: AllocationInputs) -> None:
        self.min_trade = inputs.min_trade_value
        self.caps = inputs.caps
        self.held = {h.key: h for h in inputs.holdings}
        self.weight = {t.key: t.weight_bps for t in inputs.targets}
        self.lot = {t.key: t.lot for t in inputs.targets}
        self.asset = {t.key: t.asset for t in inputs.targets} | {h.key: h.asset for h in inputs.holdings}
        self.keys = sorted(self.asset, key=_order)
        self.price = {(p.chain_id, p.asset): p.price for p in inputs.prices}
        self.decimals: dict[Leg, int] = {(b.chain_id, b.asset): b.decimals for b in inputs.idle}
        self.decimals.update({(h.key.chain_id, h.asset): h.decimals for h in inputs.holdings})
        self.idle0: dict[Leg, int] = {(b.chain_id, b.asset): b.amount for b in inputs.idle}
        self.units: dict[Leg, int] = dict(self.idle0)
        for h in inputs.holdings:
            leg = (h.key.chain_id, h.asset)
            self.units[leg] = self.units.get(leg, 0) + h.amount
        self.legs = sorted(set(self.units) | {self.leg(k) for k in self.keys})
        self.total = sum(self.leg_value(leg, n) for leg, n in self.units.items())
        self.notes: list[PlanNote] = []
        self.withdraw: dict[AdapterKey, int] = dict.fromkeys(self.keys, 0)
        self.deposit: dict[AdapterKey, int] = dict.fromkeys(self.keys, 0)

    # -- helpers

    def leg(self, key: AdapterKey) -> Leg:
        return (key.chain_id, self.asset[key])

    def leg_value(self, leg: Leg, units: int) -> int:
        return 0 if units == 0 else _value(units, self.decimals[leg], self.price[leg])

    def value(self, key: AdapterKey, units: int) -> int:
        return self.leg_value(self.leg(key), units)

    def covering(self, key: AdapterKey, value: int) -> int:
        leg = self.leg(key)
        return _units_covering(value, self.decimals[leg], self.price[leg])

    def human(self, leg: Leg | AdapterKey, n: int) -> str:
        """`n` base units of the leg's (or the market's) token, for people: "1,500.25 USDC"."""
        leg = self.leg(leg) if isinstance(leg, AdapterKey) else leg
        return token_units(n, self.decimals.get(leg), leg[1])

    def amount(self, key: AdapterKey) -> int:
        h = self.held.get(key)
        return h.amount if h else 0

    def free(self, key: AdapterKey) -> int:
        """What the market lets go now (never more than the position)."""
        h = self.held.get(key)
        return min(h.withdrawable, h.amount) if h else 0

    def after(self, key: AdapterKey) -> int:
        return self.amount(key) - self.withdraw[key] + self.deposit[key]

    def limit(self, bps: int) -> int:
        return self.total * bps // BPS

    def groups(self) -> list[tuple[str, str, int, list[AdapterKey]]]:
        """Every cap as (note kind, subject, max bps, members in key order), in the fixed order."""
        out: list[tuple[str, str, int, list[AdapterKey]]] = []
        for m in sorted(self.caps.markets, key=lambda m: _order(m.key)):
            out.append(("market_cap", f"market {m.key}", m.max_bps, [k for k in self.keys if k == m.key]))
        for p in sorted(self.caps.protocols, key=lambda p: p.protocol):
            members = [k for k in self.keys if k.protocol == p.protocol]
            out.append(("protocol_cap", f"protocol {p.protocol}", p.max_bps, members))
        for c in sorted(self.caps.chains, key=lambda c: c.chain_id):
            members = [k for k in self.keys if k.chain_id == c.chain_id]
            out.append(("chain_cap", f"chain {c.chain_id}", c.max_bps, members))
        for cl in sorted(self.caps.clusters, key=lambda cl: cl.name):
            inside = set(cl.keys)
            out.append(("cluster_cap", f"cluster {cl.name}", cl.max_bps, [k for k in self.keys if k in inside]))
        return out

    def note(
        self, kind: str, subject: str, limit: int, wanted: int, cut: int, markets: Iterable[AdapterKey], text: str
    ) -> None:
        self.notes.append(
            PlanNote(
                kind=kind,
                subject=subject,
                limit_value=limit,
                wanted_value=wanted,
                cut_value=cut,
                markets=sorted(markets, key=_order),
                text=text,
            )
        )

    # -- step 2: targets in value, capped

    def capped_targets(self) -> tuple[dict[AdapterKey, int], dict[AdapterKey, int]]:
        wanted = {k: self.total * self.weight.get(k, 0) // BPS for k in self.keys}
        capped = dict(wanted)
        for kind, subject, bps, members in self.groups():
            limit = self.limit(bps)
            members = [k for k in members if capped[k] > 0]
            asked = sum(capped[k] for k in members)
            if asked <= limit:
                continue
            shares = split_by_weight(limit, [capped[k] for k in members])
            cuts = []
            for k, share in zip(members, shares, strict=True):
                if share < capped[k]:
                    cuts.append(f"{k} -{_usd(capped[k] - share)}")
                capped[k] = share
            how = "" if len(members) == 1 else ", in proportion to the targets"
            self.note(
                kind,
                subject,
                limit,
                asked,
                asked - limit,
                members,
                f"{subject} is capped at {_bps(bps)} ({_usd(limit)}): its targets of {_usd(asked)} are cut by "
                f"{_usd(asked - limit)}{how} ({'; '.join(cuts)}); the cut stays idle",
            )
        return wanted, capped

    # -- step 3: targets in units, within what each leg holds

    def unit_targets(self, capped: dict[AdapterKey, int]) -> dict[AdapterKey, int]:
        goal = dict.fromkeys(self.keys, 0)
        for leg in self.legs:
            chain_id, asset = leg
            members = [k for k in self.keys if self.leg(k) == leg and capped[k] > 0]
            if not members:
                continue
            asked = sum(capped[k] for k in members)
            have = self.units.get(leg, 0)
            subject = f"{chain_id}:{asset}"
            if have == 0:
                self.note(
                    "holdings",
                    subject,
                    0,
                    asked,
                    asked,
                    members,
                    f"targets in {asset} on chain {chain_id} want {_usd(asked)}, the floor holds none there; "
                    "nothing is bridged or swapped",
                )
                continue
            dec, price = self.decimals[leg], self.price[leg]
            want = [_units_within(capped[k], dec, price) for k in members]
            if sum(want) > have:
                short = sum(want) - have
                worth = self.leg_value(leg, have)
                self.note(
                    "holdings",
                    subject,
                    worth,
                    asked,
                    max(asked - worth, 0),
                    members,
                    f"targets in {asset} on chain {chain_id} want {_usd(asked)}, the floor holds {_usd(worth)} "
                    f"there ({self.human(leg, have)}): short {self.human(leg, short)}, about "
                    f"{_usd(max(asked - worth, 0))}; "
                    "the targets share what is held in proportion; nothing is bridged or swapped",
                )
                want = split_by_weight(have, want)
            for k, n in zip(members, want, strict=True):
                goal[k] = n
        return goal

    # -- step 4: moves

    def withdrawals(self, goal: dict[AdapterKey, int]) -> None:
        for k in self.keys:
            excess = self.amount(k) - goal[k]
            if excess <= 0:
                continue
            take = min(excess, self.free(k))
            if take < excess:
                self.note(
                    "liquidity",
                    str(k),
                    self.value(k, take),
                    self.value(k, excess),
                    self.value(k, excess - take),
                    [k],
                    f"{k} can let go of {self.human(k, take)} of its {self.human(k, excess)} of excess now "
                    f"({_usd(self.value(k, take))} of {_usd(self.value(k, excess))}); the rest stays in it",
                )
            if take and self.value(k, take) < self.min_trade:
                self.skip_small(k, "withdrawal", take)
                take = 0
            self.withdraw[k] = take

    def deposits(self, goal: dict[AdapterKey, int]) -> None:
        for leg in self.legs:
            members = [k for k in self.keys if self.leg(k) == leg and goal[k] > self.amount(k)]
            if not members:
                continue
            gaps = [goal[k] - self.amount(k) for k in members]
            free = self.idle0.get(leg, 0) + sum(self.withdraw[k] for k in self.keys if self.leg(k) == leg)
            if sum(gaps) > free:
                need = sum(gaps)
                self.note(
                    "funds",
                    f"{leg[0]}:{leg[1]}",
                    self.leg_value(leg, free),
                    self.leg_value(leg, need),
                    self.leg_value(leg, need - free),
                    members,
                    f"deposits in {leg[1]} on chain {leg[0]} need {self.human(leg, need)}, {self.human(leg, free)} "
                    "are free (idle and "
                    "withdrawn; the excess that cannot leave stays in its market): they share them in proportion",
                )
                gaps = split_by_weight(free, gaps) if free else [0] * len(gaps)
            for k, n in zip(members, gaps, strict=True):
                lot = self.lot.get(k, 1)
                if n % lot:
                    rest = n % lot
                    self.note(
                        "lot",
                        str(k),
                        self.value(k, n - rest),
                        self.value(k, n),
                        self.value(k, rest),
                        [k],
                        f"{k} takes whole lots of {self.human(k, lot)}: {self.human(k, n - rest)} of the "
                        f"{self.human(k, n)} wanted are deposited, {self.human(k, rest)} "
                        f"({_usd(self.value(k, rest))}) stay idle",
                    )
                    n -= rest
                if n and self.value(k, n) < self.min_trade:
                    self.skip_small(k, "deposit", n)
                    n = 0
                self.deposit[k] = n

    def skip_small(self, key: AdapterKey, what: str, n: int) -> None:
        worth = self.value(key, n)
        self.note(
            "min_trade",
            str(key),
            self.min_trade,
            worth,
            worth,
            [key],
            f"a {what} of {self.human(key, n)} ({_usd(worth)}) in {key} is below the minimum trade "
            f"of {_usd(self.min_trade)}: not made",
        )

    def exposure(self, members: list[AdapterKey]) -> int:
        return sum(self.value(k, self.after(k)) for k in members)

    def repair_caps(self, goal: dict[AdapterKey, int]) -> None:
        for _kind, subject, bps, members in self.groups():
            limit = self.limit(bps)
            before = held = self.exposure(members)
            if held <= limit:
                continue
            changed: list[AdapterKey] = []
            steps: list[str] = []
            # First deposit less into the group: the largest deposit first, ties by key.
            for k in sorted((k for k in members if self.deposit[k]), key=lambda k: (-self.deposit[k], _order(k))):
                if held <= limit:
                    break
                old = self.deposit[k]
                new = old - min(old, self.covering(k, held - limit))
                if new and self.value(k, new) < self.min_trade:
                    new = 0
                self.deposit[k] = new
                changed.append(k)
                steps.append(f"deposit into {k} {self.human(k, old)} -> {self.human(k, new)}")
                held = self.exposure(members)
            # Then withdraw more from it: the market furthest above its target first, ties by key.
            above = [k for k in members if self.free(k) > self.withdraw[k]]
            for k in sorted(above, key=lambda k: (self.value(k, goal[k]) - self.value(k, self.after(k)), _order(k))):
                if held <= limit:
                    break
                old = self.withdraw[k]
                smallest = self.covering(k, self.min_trade)
                new = min(self.free(k), max(old + self.covering(k, held - limit), smallest))
                if self.value(k, new) < self.min_trade:
                    continue  # all it can let go is below the minimum trade
                self.withdraw[k] = new
                changed.append(k)
                steps.append(f"withdrawal from {k} {self.human(k, old)} -> {self.human(k, new)}")
                held = self.exposure(members)
            if changed:
                self.note(
                    "cap_repair",
                    subject,
                    limit,
                    before,
                    before - held,
                    set(changed),
                    f"after the moves {subject} would hold {_usd(before)}, above its cap of {_bps(bps)} "
                    f"({_usd(limit)}), because excess could not leave: {'; '.join(steps)}; what this frees "
                    "stays idle",
                )
            if held > limit:
                self.note(
                    "cap_breach",
                    subject,
                    limit,
                    held,
                    held - limit,
                    members,
                    f"{subject} still holds {_usd(held)} after the moves, {_usd(held - limit)} above its cap of "
                    f"{_bps(bps)} ({_usd(limit)}): nothing more of it can leave now (or only below the minimum "
                    "trade)",
                )

    # -- the plan

    def plan(self) -> AllocationPlan:
        wanted, capped = self.capped_targets()
        goal = self.unit_targets(capped)
        self.withdrawals(goal)
        self.deposits(goal)
        self.repair_caps(goal)
        moves: list[PlannedMove] = []
        idle: list[IdlePlan] = []
        for leg in self.legs:
            members = [k for k in self.keys if self.leg(k) == leg]
            for k in members:
                n = self.withdraw[k]
                if n:
                    action = "withdraw_all" if n == self.amount(k) else "withdraw"
                    moves.append(PlannedMove(key=k, asset=leg[1], action=action, amount=n, value=self.value(k, n)))
            for k in members:
                n = self.deposit[k]
                if n:
                    moves.append(PlannedMove(key=k, asset=leg[1], action="deposit", amount=n, value=self.value(k, n)))
            if leg in self.decimals:
                before = self.idle0.get(leg, 0)
                after = before + sum(self.withdraw[k] - self.deposit[k] for k in members)
                idle.append(
                    IdlePlan(
                        chain_id=leg[0],
                        asset=leg[1],
                        decimals=self.decimals[leg],
                        before=before,
                        after=after,
                        after_value=self.leg_value(leg, after),
                    )
                )
        markets = [
            MarketPlan(
                key=k,
                asset=self.asset[k],
                decimals=self.decimals.get(self.leg(k)),
                weight_bps=self.weight.get(k, 0),
                weight_value=wanted[k],
                capped_value=capped[k],
                target=goal[k],
                target_value=self.value(k, goal[k]),
                current=self.amount(k),
                current_value=self.value(k, self.amount(k)),
                planned=self.after(k),
                planned_value=self.value(k, self.after(k)),
            )
            for k in self.keys
        ]
        return AllocationPlan(
            total_value=self.total,
            min_trade_value=self.min_trade,
            markets=markets,
            moves=moves,
            idle=idle,
            notes=self.notes,
        )
