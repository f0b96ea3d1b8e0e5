"""Engine configuration: one validated ``Settings`` object from a TOML file plus
``FLOOR_*`` environment variables (environment wins).

Operators edit the TOML by hand, so every model forbids unknown keys and
``load_settings`` turns validation failures into a ``ConfigError`` with one
line per problem, each naming the dotted field path.
"""

from __future__ import annotations

import os
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self
from urllib.parse import unquote, urlsplit

from eth_utils.address import to_checksum_address
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

from floor.configbase import Address
from floor.configbase import ConfigModel as _Model
from floor.configbase import problems as _problems
from floor.configbase import show as _show
from floor.errors import PriceUnavailable, UnknownChain, UnknownMarket, UnknownToken
from floor.logging import register_secret, register_url_secrets
from floor.models import Priority
from floor.protocols import adapter_kinds, market_config_union
from floor.risk.breakers import BreakerPolicy
from floor.swaps.config import SwapsConfig

__all__ = [
    "AccessConfig",
    "Address",
    "ChainConfig",
    "ConfigError",
    "FlashbotsConfig",
    "MarketConfig",
    "PriceFeedConfig",
    "Settings",
    "SignerConfig",
    "StoreConfig",
    "StrategyConfig",
    "TargetWeight",
    "TemporalConfig",
    "TokenConfig",
    "WatchdogConfig",
    "load_settings",
]

CONFIG_ENV_VAR = "FLOOR_CONFIG"
DEFAULT_CONFIG_FILE = "floor.toml"
MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
# The L2 gas price oracles at their fixed addresses: Arbitrum's ArbGasInfo precompile, OP Stack's
# GasPriceOracle predeploy.
ARB_GAS_INFO = "0x000000000000000000000000000000000000006C"
OP_GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"
FeeModel = Literal["ethereum", "arbitrum", "op_stack"]
# The tip floor per fee model: 1 gwei on Ethereum; none on Arbitrum, which does not pay
# priority fees; 0.001 gwei on OP Stack chains (op-geth's minimum suggested priority fee).
TIP_FLOOR_WEI: dict[str, int] = {"ethereum": 10**9, "arbitrum": 0, "op_stack": 10**6}

# Error text never echoes values under these names, nor anything under `signer`.
_SECRET_NAME = re.compile(r"key|password|secret|mnemonic|passphrase", re.IGNORECASE)


# ---------------------------------------------------------------- addresses, URLs


def _http_url(value: str) -> str:
    # RPC URLs often embed provider API keys, so only the scheme is echoed, and the parts
    # that may be a key are scrubbed from logs from now on (a mistyped URL's too).
    register_url_secrets(value)
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise PydanticCustomError(
            "rpc_url",
            "must be an http:// or https:// URL (got scheme {scheme})",
            {"scheme": repr(scheme) if sep else "none"},
        )
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


# ---------------------------------------------------------------- chain


class TokenConfig(_Model):
    symbol: str = Field(min_length=1)
    address: Address
    decimals: int = Field(ge=0, le=36)


class LossBoundConfig(_Model):
    """What the executor lets one batch lose (bps of the value it moves, or `floor_usd`
    whatever it moves: fees) and the batches of a rolling window together (`window_budget_usd`,
    replenished linearly over `window_s`): the most a leaked operator key can cost. The
    honest worst case sets the bps: a reward sale through a 1% pool loses a little over 1%."""

    max_loss_bps: int = Field(default=150, ge=0, le=10_000)
    floor_usd: int = Field(default=50, ge=0)
    window_budget_usd: int = Field(default=25_000, ge=0)
    window_s: int = Field(default=7 * 86_400, gt=0)


class PriceFeedConfig(_Model):
    """A Chainlink AggregatorV3 feed pricing one token in USD (`latestRoundData`, `decimals`):
    the feed's address (an aggregator or its proxy), its heartbeat (the most seconds between
    two of its rounds: an answer older than that, measured at the block read, is stale), and
    its decimals when set here, else read from the feed in the same batch as its answer."""

    feed: Address
    heartbeat_s: int = Field(gt=0)
    decimals: int | None = Field(default=None, ge=0, le=36)


# A market of any protocol the engine has a package for (`floor/protocols`), told apart by
# its `adapter` field: e.g. `AaveV3MarketConfig` (pool, a_token) or `Erc4626MarketConfig`
# (vault). Each protocol's package declares its own fields. The union is built at run time
# from the protocol packages, so the type checker sees the fields they all share.
if TYPE_CHECKING:
    from floor.protocols.base import MarketBase as MarketConfig
else:
    MarketConfig = market_config_union()


class TxConfig(_Model):
    """How a chain's transaction queue sends: pipelining, fees, stuck transactions. The
    defaults follow production relayers (OpenZeppelin Relayer, geth, web3-ethereum-defi)."""

    max_in_flight: int = Field(default=16, ge=1, le=256)  # broadcast, not yet confirmed
    send_batch: int = Field(default=30, ge=1, le=200)  # transactions signed and sent per activity
    stuck_after_s: float = Field(default=30, gt=0, le=86_400)  # replace one not mined within this (OZ: >= 20 s)
    max_attempts: int = Field(default=5, ge=1, le=100)  # sends at one nonce before it is cancelled
    fee_bump_bps: int = Field(default=1_250, ge=1_000)  # per replacement; geth refuses under 10%
    # How the chain prices fees: plain EIP-1559, or an L2's (floor/chain/fees.py, l2fees.py).
    fee_model: FeeModel = "ethereum"
    # The model's gas price oracle; unset: the model's own (ArbGasInfo, GasPriceOracle).
    gas_price_oracle: Address | None = None
    # Unset: the model's (TIP_FLOOR_WEI). Arbitrum's tip is this floor, whatever blocks paid.
    tip_floor_wei: int = Field(default=TIP_FLOOR_WEI["ethereum"], ge=0)
    max_fee_cap_wei: int = Field(default=500 * 10**9, gt=0)  # above it intents wait, unless CRITICAL
    fee_history_blocks: int = Field(default=256, ge=1, le=1024)  # the predictor fits on them
    # Tip percentile of recent blocks per priority (OZ Relayer's speed levels).
    tip_percentiles: dict[str, int] = {"CRITICAL": 99, "HIGH": 85, "NORMAL": 50, "LOW": 30}
    block_time_s: float = Field(default=12, gt=0)  # the chain's; turns a deadline into blocks
    # Blocks a transaction of each priority may wait when it has no deadline: its max fee covers
    # the base fee predicted that far ahead (7 blocks: 6 steps of at most 12.5%, about 2x).
    fee_horizon_blocks: dict[str, int] = {"CRITICAL": 3, "HIGH": 5, "NORMAL": 7, "LOW": 10}
    poll_interval_s: float = Field(default=0.5, gt=0)  # receipt polling while confirming

    @model_validator(mode="before")
    @classmethod
    def _model_defaults(cls, data: Any) -> Any:
        """The fee model's tip floor and oracle where the config leaves them unset."""
        if not isinstance(data, dict) or data.get("fee_model") not in TIP_FLOOR_WEI:
            return data
        model = data["fee_model"]
        defaults: dict[str, int | str] = {"tip_floor_wei": TIP_FLOOR_WEI[model]}
        if model != "ethereum":
            defaults["gas_price_oracle"] = ARB_GAS_INFO if model == "arbitrum" else OP_GAS_PRICE_ORACLE
        return {**defaults, **data}

    @field_validator("tip_percentiles")
    @classmethod
    def _every_priority(cls, v: dict[str, int]) -> dict[str, int]:
        names = {p.name for p in Priority}
        if set(v) != names or not all(0 <= x <= 100 for x in v.values()):
            raise PydanticCustomError(
                "tip_percentiles", "needs a percentile 0..100 for each of {names}", {"names": ", ".join(sorted(names))}
            )
        return v

    @field_validator("fee_horizon_blocks")
    @classmethod
    def _every_horizon(cls, v: dict[str, int]) -> dict[str, int]:
        names = {p.name for p in Priority}
        if set(v) != names or not all(1 <= x <= 10 for x in v.values()):
            raise PydanticCustomError(
                "fee_horizon_blocks", "needs 1..10 blocks for each of {names}", {"names": ", ".join(sorted(names))}
            )
        return v


class FlashbotsConfig(_Model):
    """Private sending through a Flashbots-style relay (`floor.chain.flashbots`): the
    transaction queue sends an intent privately when it is marked `private`, or when what it
    moves is worth more than `private_above_wei` in ETH (valued on the chain's price feeds,
    against `value_token`'s price). The reputation key that signs relay requests comes from
    the environment only: FLOOR_FLASHBOTS_REPUTATION_KEY."""

    relay_url: HttpUrl | None = None  # e.g. https://relay.flashbots.net; None: never private
    private_above_wei: int = Field(default=10 * 10**18, ge=0)  # intents worth more go private (10 ETH)
    value_token: str = "WETH"  # noqa: S105 (a token symbol, not a secret). The token whose feed price is one ETH's (WETH9 is 1:1 ETH)
    mode: Literal["bundle", "private_transaction"] = "bundle"  # eth_sendBundle or eth_sendPrivateTransaction
    target_blocks: int = Field(default=3, ge=1, le=25)  # blocks an attempt targets (the relay clamps at 25)
    max_attempts: int = Field(default=3, ge=1, le=100)  # private attempts per nonce under retry_higher_tip
    on_missed: Literal["retry_higher_tip", "public"] = "public"  # never both for one nonce


class ChainConfig(_Model):
    id: int = Field(gt=0)
    name: str = Field(min_length=1)
    rpc_urls: list[HttpUrl] = Field(min_length=1)
    rpc_timeout_s: float = Field(default=10, gt=0)
    confirmations: int = Field(default=1, ge=1, le=10_000)
    # When a settled transaction can no longer be taken back: the chain's `finalized` (or
    # `safe`) block tag, or a depth in blocks where the chain has no such tag. Until then the
    # transaction queue follows it, and sends it again if a reorg takes it out.
    finality: Literal["finalized", "safe"] | Annotated[int, Field(ge=1)] = "finalized"
    finality_poll_s: float = Field(default=30, gt=0, le=3600)  # how often followed transactions are read
    executor: Address | None = None
    # Where the executor may send tokens and ETH by plain transfer: the treasury's own
    # addresses and the trading engine's. The executor's owner lists them on chain.
    destinations: list[Address] = []
    multicall3: Address = MULTICALL3
    multicall_gas_cap: int = Field(default=50_000_000, gt=0)
    # Token symbol -> its USD price feed (Chainlink AggregatorV3), to value positions.
    price_feeds: dict[str, PriceFeedConfig] = {}
    # The executor's loss bound, configured by its owner with the rules.
    loss_bound: LossBoundConfig = LossBoundConfig()
    tokens: list[TokenConfig] = []
    markets: list[MarketConfig] = []
    tx: TxConfig = TxConfig()
    flashbots: FlashbotsConfig = FlashbotsConfig()
    # The venue the harvest sells reward tokens on (floor/swaps): router, quoter, routes.
    swaps: SwapsConfig | None = None

    @model_validator(mode="after")
    def _swap_routes(self) -> Self:
        symbols = {t.symbol for t in self.tokens}
        found = [
            (f"swaps.routes.{i}.to", f"route of {r.symbol}: no token {r.to!r} on chain {self.id}")
            for i, r in enumerate(self.swaps.routes if self.swaps else [])
            if r.to not in symbols
        ]
        if found:
            raise _problems(found)
        return self

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        problems: list[tuple[str, str]] = []
        symbols: dict[str, int] = {}
        addresses: dict[str, int] = {}
        for i, t in enumerate(self.tokens):
            if t.symbol in symbols:
                also = symbols[t.symbol]
                problems.append((f"tokens.{i}.symbol", f"duplicate token symbol {t.symbol!r} (also tokens.{also})"))
            symbols.setdefault(t.symbol, i)
            # token_by_address would be ambiguous otherwise.
            if t.address in addresses:
                also = addresses[t.address]
                problems.append((f"tokens.{i}.address", f"duplicate token address {t.address} (also tokens.{also})"))
            addresses.setdefault(t.address, i)
        seen: dict[tuple[str, str], int] = {}
        for i, m in enumerate(self.markets):
            if m.asset not in symbols:
                problems.append(
                    (
                        f"markets.{i}.asset",
                        f"market {m.protocol}/{m.market}: asset {m.asset!r} is not a token on chain {self.id}"
                        f" (tokens: {', '.join(symbols) or 'none'})",
                    )
                )
            if m.key in seen:
                also = seen[m.key]
                problems.append((f"markets.{i}", f"duplicate market {m.protocol}/{m.market} (also markets.{also})"))
            seen.setdefault(m.key, i)
        feeds: dict[str, str] = {}
        for symbol, f in self.price_feeds.items():
            if symbol not in symbols:
                problems.append(
                    (
                        f"price_feeds.{symbol}",
                        f"no token {symbol!r} on chain {self.id} (tokens: {', '.join(symbols) or 'none'})",
                    )
                )
            if f.feed in feeds:
                problems.append((f"price_feeds.{symbol}.feed", f"feed {f.feed} also prices {feeds[f.feed]!r}"))
            feeds.setdefault(f.feed, symbol)
        if problems:
            raise _problems(problems)
        return self

    def token(self, symbol: str) -> TokenConfig:
        for t in self.tokens:
            if t.symbol == symbol:
                return t
        raise UnknownToken(f"chain {self.id} ({self.name}) has no token {symbol!r}")

    def price_feed(self, symbol: str) -> PriceFeedConfig:
        """The token's price feed; a token without one cannot be valued, and is named."""
        self.token(symbol)
        feed = self.price_feeds.get(symbol)
        if feed is None:
            configured = ", ".join(self.price_feeds) or "none"
            raise PriceUnavailable(
                f"chain {self.id} ({self.name}) has no price feed for token {symbol!r}: set"
                f" chains.price_feeds.{symbol} (feeds configured: {configured})"
            )
        return feed

    def token_by_address(self, address: str) -> TokenConfig:
        wanted = to_checksum_address(address)
        for t in self.tokens:
            if t.address == wanted:
                return t
        raise UnknownToken(f"chain {self.id} ({self.name}) has no token at {wanted}")

    def market(self, protocol: str, market: str) -> MarketConfig:
        for m in self.markets:
            if m.key == (protocol, market):
                return m
        raise UnknownMarket(f"chain {self.id} ({self.name}) has no market {protocol}/{market}")


# ---------------------------------------------------------------- signer, temporal, strategy


class SignerConfig(_Model):
    # Inputs are hidden from pydantic's own error text: they may be secrets.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    private_key: SecretStr | None = None
    keystore_path: Path | None = None
    keystore_password: SecretStr | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        # Scrub the secrets from every log line from the moment they are read.
        for secret in (self.private_key, self.keystore_password):
            if secret is not None:
                register_secret(secret.get_secret_value())
        if (self.private_key is None) == (self.keystore_path is None):
            raise _problems([("", "set exactly one of private_key or keystore_path")])
        if self.keystore_path is not None and self.keystore_password is None:
            raise _problems([("keystore_password", "required with keystore_path")])
        return self


BUILD_ID_ENV_VAR = "FLOOR_BUILD_ID"


class DeployConfig(_Model):
    """With `verify_on_start`, a worker whose chains' executors do not hold the rules the code
    declares for this config (or whose operator is not the worker's signer) refuses to start,
    naming the difference (`floor/deploy/verify.py`). Off by default: it reads every chain's
    rules at each start; deployed configs (and the demo's) turn it on."""

    verify_on_start: bool = False


class TemporalConfig(_Model):
    """Where the worker and the CLI reach Temporal. With a `build_id` the worker is version
    `deployment_name`.`build_id` of a Temporal worker deployment: an operation runs to its end
    on the build it started on, and new work goes to the deployment's current version (set by
    `temporal worker deployment set-current-version`). Without one (the default) the worker is
    unversioned. The build id belongs to the code, so $FLOOR_BUILD_ID (set in the image) wins
    over the file."""

    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "floor-engine"
    ui_url: str = "http://127.0.0.1:8233"
    deployment_name: str = Field(default="floor-engine", pattern=r"^[^.\s]+$")  # Temporal splits versions at "."
    build_id: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"^\S+$")
    # mTLS to the cluster (Temporal Cloud, or a self-hosted frontend with TLS): the client's
    # certificate and key (files mounted from a secret), and the server's CA where it is private.
    tls_cert_path: str | None = None
    tls_key_path: str | None = None
    tls_server_ca_path: str | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> TemporalConfig:
        if (self.tls_cert_path is None) != (self.tls_key_path is None):
            raise ValueError("temporal.tls_cert_path and temporal.tls_key_path go together")
        return self

    @model_validator(mode="before")
    @classmethod
    def _build_id_from_env(cls, data: Any) -> Any:
        build_id = os.environ.get(BUILD_ID_ENV_VAR)
        if build_id and isinstance(data, dict):
            return {**data, "build_id": build_id}
        return data


class TargetWeight(_Model):
    chain_id: int
    protocol: str
    market: str
    weight_bps: int = Field(ge=0, le=10_000)


class MarketCapConfig(_Model):
    chain_id: int
    protocol: str
    market: str
    max_bps: int = Field(ge=0, le=10_000)


class StrategyCapsConfig(_Model):
    """Upper bounds on what sits in markets, each in bps of the floor's TOTAL value
    (`floor/planning/total.py`; only with `weights_of = "total"`). What a cap cuts stays idle."""

    markets: list[MarketCapConfig] = []
    protocols: dict[str, Annotated[int, Field(ge=0, le=10_000)]] = {}  # a protocol on every chain
    chains: dict[int, Annotated[int, Field(ge=0, le=10_000)]] = {}  # chain id -> bps in markets there


class StrategyConfig(_Model):
    """The strategy: each target's weight in bps, and how weights are read.

    `weights_of = "total"` (the default): a weight is a fraction of the floor's total value in
    USD (every token and chain, priced by the chains' Chainlink feeds), planned by
    `floor/planning/total.py` under the caps (`caps`, and each protocol's risk-score cap when
    `score_caps`), moves below `min_trade_usd` not made. `"token"`: the older reading, each
    (chain, token)'s weights renormalised among themselves (a leg is spread entirely over its
    markets; no prices, no caps, no minimum trade)."""

    targets: list[TargetWeight] = []
    max_slippage_bps: int = Field(default=50, ge=0, le=10_000)
    rebalance_drift_bps: int = Field(default=500, ge=0, le=10_000)
    min_rebalance_interval_s: int = Field(default=3600, ge=0, le=366 * 86_400)
    weights_of: Literal["total", "token"] = "total"
    caps: StrategyCapsConfig = StrategyCapsConfig()
    # The accounting unit: USD with 8 decimals (10_000_000_000 is $100); a smaller move is not made.
    min_trade_usd: int = Field(default=100 * 10**8, ge=0)
    # Cap each protocol at its risk score's max_weight_bps (packaged data, tvl part neutral).
    score_caps: bool = True
    # Cap each cluster of correlated targets (floor/risk/correlation.py: correlation >= 1/2,
    # one protocol's code, oracle, chain or asset in common) at this share of the total value;
    # 0 turns it off. A target alone in its cluster is capped too: one market is one cluster.
    cluster_limit_bps: int = Field(default=5_000, ge=0, le=10_000)

    @model_validator(mode="after")
    def _weights(self) -> Self:
        problems: list[tuple[str, str]] = []
        seen: dict[tuple[int, str, str], int] = {}
        for i, t in enumerate(self.targets):
            k = (t.chain_id, t.protocol, t.market)
            if k in seen:
                dup = f"duplicate target {t.protocol}/{t.market} on chain {t.chain_id} (also targets.{seen[k]})"
                problems.append((f"targets.{i}", dup))
            seen.setdefault(k, i)
        total = sum(t.weight_bps for t in self.targets)
        if total > 10_000:
            problems.append(("targets", f"weights sum to {total} bps, more than 10000"))
        capped: dict[tuple[int, str, str], int] = {}
        for i, c in enumerate(self.caps.markets):
            k = (c.chain_id, c.protocol, c.market)
            if k in capped:
                dup = f"duplicate cap {c.protocol}/{c.market} on chain {c.chain_id} (also caps.markets.{capped[k]})"
                problems.append((f"caps.markets.{i}", dup))
            capped.setdefault(k, i)
        if problems:
            raise _problems(problems)
        return self


class EngineConfig(_Model):
    """The EngineWorkflow: its fixed id, the harvest cooldown, and how often the schedules
    ask for a rebalance check and a harvest check (the engine refuses one too soon)."""

    workflow_id: str = Field(default="", max_length=200)  # default: "engine-<engine_name>"
    harvest_cooldown_s: int = Field(default=86_400, ge=0, le=366 * 86_400)
    rebalance_check_every_s: int = Field(default=900, ge=60)
    harvest_check_every_s: int = Field(default=6 * 3600, ge=60)


class RiskConfig(_Model):
    """The circuit breakers' limits (`floor.risk.breakers`, docs/risk.md) and how often the
    risk check reads the chains for them (a schedule that runs while the engine is paused)."""

    breakers: BreakerPolicy = BreakerPolicy()
    check_every_s: int = Field(default=300, ge=60)


class MetricsConfig(_Model):
    """Prometheus metrics (`floor/metrics.py` says which process exports what): each worker's own
    on `port`, Temporal's SDK metrics on `temporal_port`, and the engine's (`floor_engine_*`)
    from `floor-exporter` on `exporter_port`, all on `address`."""

    port: int | None = Field(default=None, ge=1, le=65535)  # the worker's /metrics; None: not served
    address: str = "127.0.0.1"
    fee_watch: bool = True  # score the base-fee predictor live on every chain
    exporter_port: int | None = Field(default=None, ge=1, le=65535)  # floor-exporter's /metrics
    temporal_port: int | None = Field(default=None, ge=1, le=65535)  # the worker's Temporal SDK metrics
    poll_s: float = Field(default=5.0, gt=0, le=300)  # how often the exporter asks the engine and queues
    alertmanager_url: str | None = None  # Alertmanager's API, for `floor alerts` (e.g. http://127.0.0.1:9093)
    prometheus_url: str | None = None  # Prometheus' HTTP API (e.g. http://127.0.0.1:9090)


class ReconcileConfig(_Model):
    """Reconciling the engine's cached positions with the chain."""

    every_s: int = Field(default=600, ge=60)  # the schedule
    tolerance_bps: int = Field(default=5, ge=0, le=10_000)  # beyond accrual, relative to expected
    dust: dict[str, int] = {}  # token symbol -> base units; default a millionth of a whole token
    trip_above_bps: int = Field(default=100, ge=0)  # a discrepancy this large pauses the engine
    # chain id -> the signer's gas balance below which an alert is raised (0.1 ETH on Ethereum)
    min_gas_wei: dict[str, int] = {"1": 10**17}


class ExitDrillConfig(_Model):
    """The exit drill: the full exit simulated on an anvil fork of each chain (its schedule, and
    how long one chain's fork work may take before it is given up)."""

    every_s: int = Field(default=86_400, ge=3600)  # the schedule: daily
    timeout_s: int = Field(default=900, ge=60, le=6 * 3600)


class StoreConfig(_Model):
    """The engine's store (`floor/store`): what operators, risk and audits need over time.
    SQLite by default; PostgreSQL by URL, ``postgresql+psycopg://user@host/db``. A relative
    SQLite path (``sqlite:///state/floor.db``) is relative to the working directory of the
    process (worker, CLI); an absolute one has four slashes (``sqlite:////var/lib/floor.db``).
    The URL may carry a password: it is scrubbed from logs from the moment it is read, and
    never echoed in errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: str = "sqlite:///state/floor.db"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        scheme, sep, _ = v.partition("://")
        backend, _, driver = scheme.lower().partition("+")
        if backend != "sqlite":  # a file path holds no secret; anything else may (a mistyped URL too)
            register_url_secrets(v)
            try:
                password = urlsplit(v).password
            except ValueError:
                password = None
            if password:
                register_secret(password)
                register_secret(unquote(password))
        if not sep or backend not in ("sqlite", "postgresql", "postgres") or driver not in ("", "pysqlite", "psycopg"):
            raise PydanticCustomError(
                "store_url",
                "must be sqlite:///<path> or postgresql+psycopg://<user>@<host>/<db> (got scheme {scheme})",
                {"scheme": repr(scheme) if sep else "none"},
            )
        return v


class WatchdogConfig(_Model):
    """The watchdog (`floor/watchdog.py`, run by `floor-watchdog`): a process of its own that
    holds the guardian key, watches each executor for transactions of the operator key that the
    engine's queue did not sign, and pauses the executor when it finds one. The guardian key
    comes as the signer's does, a private key or a keystore, best from the environment
    (FLOOR_WATCHDOG__GUARDIAN__PRIVATE_KEY, or __KEYSTORE_PATH and __KEYSTORE_PASSWORD)."""

    guardian: SignerConfig | None = None  # required by floor-watchdog; never the signer's key
    chains: list[int] = []  # chain ids to watch; empty: every chain with an executor
    poll_interval_s: float = Field(default=2, gt=0, le=60)
    # An unknown transaction is looked up once more after this long before it is called
    # foreign. The queue records a hash before broadcasting it, so this covers only a store
    # whose reads lag its writes (a replica); it delays the pause by as much.
    grace_s: float = Field(default=1, ge=0, le=30)
    max_blocks: int = Field(default=500, ge=1, le=10_000)  # per chain and pass: bounds eth_getLogs' range
    pause_timeout_s: float = Field(default=120, gt=0)  # waiting for the pause to be mined
    metrics_port: int | None = Field(default=None, ge=1, le=65535)  # None: not served
    metrics_address: str = "127.0.0.1"


class AttesterConfig(_Model):
    """The deposit attester (`workers/attester.py`, run by `floor-attester`): a process of its
    own holding the attester key the executor's owner set (`setAttester`). It checks that no
    deposit exists for the validator keys a batch will deposit (the Beacon API and the deposit
    contract's logs from `deposits_from_block`) and signs the deposit root, valid `ttl_s`. The
    worker asks it at `url`; the key comes as the signer's does, best from the environment
    (FLOOR_ATTESTER__KEY__PRIVATE_KEY, or __KEYSTORE_PATH and __KEYSTORE_PASSWORD)."""

    url: str | None = None  # where the worker asks; None: validator deposits are refused by name
    key: SignerConfig | None = None  # required by floor-attester; never the signer's key
    host: str = "127.0.0.1"
    port: int = Field(default=8655, ge=1, le=65535)
    deposits_from_block: int = Field(default=0, ge=0)  # the deposit contract's deployment block
    ttl_s: int = Field(default=900, gt=0, le=86_400)


class AccessConfig(_Model):
    """Access control (`floor/access`): the founding ADMINs, whom the engine's role book starts
    with (nobody is there yet to sign their grant; every later grant is a signed command), and
    the engine's command domain: commands are signed for one chain's executor, with the
    engine's id (EIP-712 `chainId`, `verifyingContract`, `salt`), that of `chain_id`, else of
    the first chain with an executor."""

    admins: Annotated[list[Address], Field(min_length=1)] | None = None  # None: none yet
    chain_id: int | None = Field(default=None, gt=0)
    # The worker's scheduler service: signs the schedules' checks (founded as OPERATOR "schedules").
    scheduler_key: SignerConfig | None = None

    @field_validator("admins")
    @classmethod
    def _distinct(cls, v: list[str] | None) -> list[str] | None:
        first: dict[str, int] = {}
        found = []
        for i, address in enumerate(v or []):
            if address in first:
                found.append((str(i), f"duplicate admin {address} (also admins.{first[address]})"))
            first.setdefault(address, i)
        if found:
            raise _problems(found)
        return v


def _api_port_from_env() -> str:
    # FLOOR_API__PORT (and the file) set api.port as every nested field; FLOOR_API_PORT, the
    # stack's spelling of a port, is read as its default.
    return os.environ.get("FLOOR_API_PORT", "8700")


class ApiConfig(_Model):
    """The admin API (`floor-api`, api/): reads for a Sign-In-with-Ethereum session, signed
    commands passed to the engine. Sessions are signed with `session_secret` (from the
    environment, FLOOR_API__SESSION_SECRET; None: a fresh secret per process, so several API
    processes need one to share sessions). Rate limits are per minute; `redis_url` shares them
    between API processes (None: each process counts its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = Field(default_factory=_api_port_from_env, ge=1, le=65535, validate_default=True)
    domain: str = ""  # what a SIWE message must name as its domain; "": host:port
    session_ttl_s: int = Field(default=3600, ge=60, le=86_400)
    session_secret: SecretStr | None = None
    reads_per_minute: int = Field(default=600, ge=1)  # per session (per IP without one)
    commands_per_minute: int = Field(default=30, ge=1)  # per proven signer (per IP without one)
    logins_per_minute: int = Field(default=30, ge=1)  # nonces and logins, per IP
    cache_s: float = Field(default=1.0, ge=1.0, le=60.0)  # the engine's answers are read at most this often
    chain_cache_s: float = Field(default=10.0, ge=1.0, le=600.0)  # the chains' and the store's, as often
    redis_url: str | None = None  # e.g. redis://127.0.0.1:6379

    @field_validator("session_secret")
    @classmethod
    def _scrub_session_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            register_secret(v.get_secret_value())
        return v

    @property
    def siwe_domain(self) -> str:
        return self.domain or f"{self.host}:{self.port}"


# ---------------------------------------------------------------- settings

# The TOML file for the Settings being built; set only inside load_settings so
# concurrent loads (threads or tasks) each read their own file.
_toml_file: ContextVar[Path | None] = ContextVar("floor_config_toml_file", default=None)

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    """All engine settings. Build with ``load_settings``; constructing
    ``Settings()`` directly reads only environment variables and arguments."""

    model_config = SettingsConfigDict(
        env_prefix="FLOOR_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    engine_name: str = "floor"
    log_level: str = "INFO"
    temporal: TemporalConfig = Field(default_factory=TemporalConfig)  # read when loaded: $FLOOR_BUILD_ID
    signer: SignerConfig | None = None
    # Signs Flashbots relay requests (the searcher's reputation); holds no funds and must not
    # be the signer's key. From the environment only: FLOOR_FLASHBOTS_REPUTATION_KEY.
    flashbots_reputation_key: SecretStr | None = None
    chains: list[ChainConfig] = Field(min_length=1)
    strategy: StrategyConfig = StrategyConfig()
    engine: EngineConfig = EngineConfig()
    store: StoreConfig = StoreConfig()
    reconcile: ReconcileConfig = ReconcileConfig()
    exit_drill: ExitDrillConfig = ExitDrillConfig()
    risk: RiskConfig = RiskConfig()
    metrics: MetricsConfig = MetricsConfig()
    deploy: DeployConfig = DeployConfig()
    watchdog: WatchdogConfig = WatchdogConfig()
    attester: AttesterConfig = AttesterConfig()
    access: AccessConfig = AccessConfig()
    api: ApiConfig = ApiConfig()

    @property
    def engine_id(self) -> str:
        return self.engine.workflow_id or f"engine-{self.engine_name}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: call overrides, then env, then the file.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _toml_file.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("flashbots_reputation_key")
    @classmethod
    def _scrub_reputation_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            register_secret(v.get_secret_value())
        return v

    @model_validator(mode="after")
    def _reputation_key_is_not_the_signer(self) -> Self:
        key = self.flashbots_reputation_key
        signer_key = self.signer.private_key if self.signer is not None else None
        if key is not None and signer_key is not None:
            bare = [k.get_secret_value().strip().lower().removeprefix("0x") for k in (key, signer_key)]
            if bare[0] == bare[1]:
                raise _problems([("flashbots_reputation_key", "must not be the signer's key")])
        return self

    @model_validator(mode="after")
    def _guardian_is_not_the_signer(self) -> Self:
        # The guardian is a second line only as a second key: one leak must not give both.
        guardian = self.watchdog.guardian.private_key if self.watchdog.guardian is not None else None
        signer_key = self.signer.private_key if self.signer is not None else None
        if guardian is not None and signer_key is not None:
            bare = [k.get_secret_value().strip().lower().removeprefix("0x") for k in (guardian, signer_key)]
            if bare[0] == bare[1]:
                raise _problems([("watchdog.guardian.private_key", "must not be the signer's (operator's) key")])
        return self

    @model_validator(mode="after")
    def _scheduler_is_not_the_signer(self) -> Self:
        # A command is a person's or service's own key, never the engine's: one leak, one door.
        scheduler = self.access.scheduler_key.private_key if self.access.scheduler_key is not None else None
        signer_key = self.signer.private_key if self.signer is not None else None
        if scheduler is not None and signer_key is not None:
            bare = [k.get_secret_value().strip().lower().removeprefix("0x") for k in (scheduler, signer_key)]
            if bare[0] == bare[1]:
                raise _problems([("access.scheduler_key.private_key", "must not be the signer's key")])
        return self

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v.upper() not in _LOG_LEVELS:
            raise PydanticCustomError(
                "log_level",
                "unknown log level {v} (use one of {levels})",
                {"v": _show(v), "levels": ", ".join(_LOG_LEVELS)},
            )
        return v.upper()

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        problems: list[tuple[str, str]] = []
        by_id: dict[int, ChainConfig] = {}
        for i, c in enumerate(self.chains):
            if c.id in by_id:
                problems.append((f"chains.{i}.id", f"duplicate chain id {c.id}"))
            by_id.setdefault(c.id, c)
        for i, chain_id in enumerate(self.watchdog.chains):
            if chain_id not in by_id:
                known = ", ".join(str(k) for k in by_id)
                problems.append((f"watchdog.chains.{i}", f"no chain with id {chain_id} (chains: {known})"))
            elif by_id[chain_id].executor is None:
                problems.append((f"watchdog.chains.{i}", f"chain {chain_id} has no executor to watch"))
        for i, t in enumerate(self.strategy.targets):
            chain = by_id.get(t.chain_id)
            if chain is None:
                known = ", ".join(str(k) for k in by_id)
                problems.append((f"strategy.targets.{i}.chain_id", f"no chain with id {t.chain_id} (chains: {known})"))
            elif not any(m.key == (t.protocol, t.market) for m in chain.markets):
                known = ", ".join(f"{m.protocol}/{m.market}" for m in chain.markets) or "none"
                problems.append(
                    (
                        f"strategy.targets.{i}",
                        f"chain {t.chain_id} has no market {t.protocol}/{t.market} (markets: {known})",
                    )
                )
        if problems:
            raise _problems(problems)
        return self

    @model_validator(mode="after")
    def _command_domain(self) -> Self:
        """The command domain's chain has an executor: a command is signed for one."""
        chain_id = self.access.chain_id
        by_id = {c.id: c for c in self.chains}
        if chain_id is not None and chain_id not in by_id:
            known = ", ".join(str(k) for k in by_id)
            raise _problems([("access.chain_id", f"no chain with id {chain_id} (chains: {known})")])
        if chain_id is not None and by_id[chain_id].executor is None:
            raise _problems([("access.chain_id", f"chain {chain_id} has no executor to sign commands for")])
        if self.access.admins and not any(c.executor for c in self.chains):
            raise _problems([("access", "no chain has an executor: commands are signed for one (set chains.executor)")])
        return self

    def chain(self, chain_id: int) -> ChainConfig:
        for c in self.chains:
            if c.id == chain_id:
                return c
        known = ", ".join(str(c.id) for c in self.chains)
        raise UnknownChain(f"no chain with id {chain_id} in config (chains: {known})")


# ---------------------------------------------------------------- loading


class ConfigError(Exception):
    """Configuration could not be loaded. ``problems`` holds one line per problem."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        if len(problems) == 1:
            text = f"{self.path}: {problems[0]}"
        else:
            text = f"{self.path}: {len(problems)} problems\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(text)


_MESSAGES = {
    "missing": "field required",
    "extra_forbidden": "unknown field (check the spelling)",
}
# Error types where the offending value helps and cannot be a secret by shape.
_SHOW_INPUT = re.compile(r"parsing|_type$|literal_error|greater_than|less_than|enum|too_short|too_long|_length")


def _market_path(loc: tuple[int | str, ...]) -> tuple[list[str], str | None]:
    """An error's path without the adapter pydantic puts after a market's index
    (`chains.0.markets.1.aave_v3.pool` -> `chains.0.markets.1.pool`), and that adapter."""
    parts: list[str] = []
    adapter = None
    for i, p in enumerate(loc):
        if i >= 2 and loc[i - 2] == "markets" and isinstance(loc[i - 1], int) and p in adapter_kinds():
            adapter = p
            continue
        parts.append(str(p))
    return parts, adapter


def _format_errors(exc: ValidationError) -> list[str]:
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        base, adapter = _market_path(err["loc"])
        ctx = err.get("ctx") or {}
        if err["type"] in ("union_tag_not_found", "union_tag_invalid") and base[-2:-1] == ["markets"]:
            kinds = ", ".join(repr(k) for k in adapter_kinds())
            if err["type"] == "union_tag_not_found":
                lines.append(f"{'.'.join(base)}.adapter: field required (one of {kinds})")
            else:
                lines.append(f"{'.'.join(base)}.adapter: unknown adapter {_show(ctx.get('tag'))} (one of {kinds})")
            continue
        if err["type"] == "missing" and adapter is not None:
            lines.append(f"{'.'.join(base)}: required for adapter {adapter!r}")
            continue
        if err["type"] == "floor_problems":
            for rel, msg in ctx["problems"]:
                path = ".".join(base + ([rel] if rel else []))
                lines.append(f"{path}: {msg}" if path else msg)
            continue
        path = ".".join(base) or "(top level)"
        msg = _MESSAGES.get(err["type"])
        if msg is None:
            msg = err["msg"].removeprefix("Value error, ")
            secret = bool(base and base[0] == "signer") or any(_SECRET_NAME.search(p) for p in base)
            value = err.get("input")
            if not secret and _SHOW_INPUT.search(err["type"]) and isinstance(value, str | int | float | bool):
                msg = f"{msg} (got {_show(value)})"
        lines.append(f"{path}: {msg}")
    return lines


def _config_path(path: str | Path | None) -> Path:
    if path is not None:
        return Path(path)
    env = os.environ.get(CONFIG_ENV_VAR)
    return Path(env) if env else Path.cwd() / DEFAULT_CONFIG_FILE


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from ``path`` (else ``$FLOOR_CONFIG``, else ./floor.toml),
    with ``FLOOR_*`` env vars over the file and ``overrides`` over both.

    Nested overrides are merged, e.g. ``temporal={"address": "x:7233"}``.
    """
    file = _config_path(path)
    if not file.is_file():
        raise ConfigError(file, ["config file not found"])
    token = _toml_file.set(file)
    try:
        return Settings(**overrides)
    except tomllib.TOMLDecodeError as e:
        # The message carries "(at line N, column M)".
        raise ConfigError(file, [f"invalid TOML: {e}"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(file, [f"cannot read config file: {e}"]) from None
    except SettingsError as e:
        # e.g. an env var holding malformed JSON for a complex field.
        raise ConfigError(file, [f"environment: {e}"]) from None
    except ValidationError as e:
        # `from None`: the chained pydantic error would carry raw input values.
        raise ConfigError(file, _format_errors(e)) from None
    finally:
        _toml_file.reset(token)
