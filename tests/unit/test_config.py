"""Loading and validating the engine's TOML + env configuration."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from floor.config import ConfigError, Settings, load_settings
from floor.errors import UnknownChain
from floor.protocols import adapter_kinds

KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
USDC_LOWER = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
USDC_CHECKSUM = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"

GOOD = f"""
log_level = "info"

[temporal]
address = "temporal.internal:7233"
namespace = "floor"

[[chains]]
id = 1
name = "ethereum"
rpc_urls = ["https://rpc.example.invalid"]
confirmations = 2

[[chains.tokens]]
symbol = "USDC"
address = "{USDC_LOWER}"
decimals = 6

[[chains.tokens]]
symbol = "DAI"
address = "0x6b175474e89094c44da98b954eedeac495271d0f"
decimals = 18

[[chains.markets]]
protocol = "aave-v3"
adapter = "aave_v3"
market = "USDC"
asset = "USDC"
pool = "0x0000000000000000000000000000000000000001"
a_token = "0x0000000000000000000000000000000000000002"

[[chains.markets]]
protocol = "metamorpho"
adapter = "erc4626"
market = "steakUSDC"
asset = "USDC"
vault = "0x000000000000000000000000000000000000000a"

[[strategy.targets]]
chain_id = 1
protocol = "aave-v3"
market = "USDC"
weight_bps = 6000
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FLOOR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "floor.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def error_of(path: Path, **overrides: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(path, **overrides)
    return info.value


def test_good_file_loads_with_checksummed_addresses(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    eth = s.chain(1)
    assert eth.confirmations == 2
    assert eth.token("USDC").address == USDC_CHECKSUM
    assert eth.token_by_address(USDC_LOWER).symbol == "USDC"
    assert eth.markets[1].vault == "0x000000000000000000000000000000000000000A"
    assert eth.multicall3 == "0xcA11bde05977b3631167028862bE2a173976CA11"
    assert s.log_level == "INFO"
    assert s.temporal.namespace == "floor"
    assert s.temporal.task_queue == "floor-engine"  # default kept
    assert s.signer is None
    with pytest.raises(UnknownChain, match="no chain with id 10"):
        s.chain(10)


def test_example_file_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "floor.example.toml"
    s = load_settings(example)
    assert [c.id for c in s.chains] == [1, 42161]
    assert [c.confirmations for c in s.chains] == [2, 1]
    assert {m.adapter for m in s.chain(1).markets} == set(adapter_kinds())  # one market of each (test_docs.py)


def test_path_from_env_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, GOOD)  # ./floor.toml
    assert load_settings().chain(1).name == "ethereum"
    other = write(tmp_path, GOOD.replace('name = "ethereum"', 'name = "mainnet"'), "other.toml")
    monkeypatch.setenv("FLOOR_CONFIG", str(other))
    assert load_settings().chain(1).name == "mainnet"


def test_env_overrides_file_and_merges_nested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOOR_TEMPORAL__ADDRESS", "10.0.0.5:7233")
    monkeypatch.setenv("FLOOR_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("FLOOR_SIGNER__PRIVATE_KEY", KEY)
    s = load_settings(write(tmp_path, GOOD))
    assert s.temporal.address == "10.0.0.5:7233"
    assert s.temporal.namespace == "floor"  # still from the file
    assert s.log_level == "DEBUG"
    assert s.signer is not None and s.signer.private_key is not None
    assert s.signer.private_key.get_secret_value() == KEY


def test_call_overrides_beat_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOOR_ENGINE_NAME", "from-env")
    s = load_settings(write(tmp_path, GOOD), engine_name="from-call")
    assert s.engine_name == "from-call"


def test_missing_required_field_names_path(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD.replace('rpc_urls = ["https://rpc.example.invalid"]', ""))
    err = error_of(p)
    assert str(err).startswith(str(p))
    assert "chains.0.rpc_urls: field required" in str(err)


def test_bad_address_names_path_and_value(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD.replace('"0x6b175474e89094c44da98b954eedeac495271d0f"', '"0x123"'))
    err = error_of(p)
    assert "chains.0.tokens.1.address: not a valid address: '0x123'" in err.problems


def test_bad_checksum_rejected(tmp_path: Path) -> None:
    wrong = "0xa" + USDC_CHECKSUM[3:]  # mixed case, first letter's case flipped
    err = error_of(write(tmp_path, GOOD.replace(USDC_LOWER, wrong)))
    assert any(p.startswith("chains.0.tokens.0.address: not a valid address") and wrong in p for p in err.problems)


def test_several_problems_one_line_each(tmp_path: Path) -> None:
    text = GOOD.replace("confirmations = 2", "confirmations = 0\nrpc_timeout = 3")
    text = text.replace('"0x6b175474e89094c44da98b954eedeac495271d0f"', '"0x123"')
    err = error_of(write(tmp_path, text))
    assert len(err.problems) == 3
    assert str(err).count("\n") == 3
    assert any(p.startswith("chains.0.confirmations:") for p in err.problems)
    assert "chains.0.rpc_timeout: unknown field (check the spelling)" in err.problems


def test_market_asset_must_be_chain_token(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace('asset = "USDC"\nvault', 'asset = "USDT"\nvault')))
    [line] = err.problems
    assert line.startswith("chains.0.markets.1.asset:")
    assert "metamorpho/steakUSDC" in line and "'USDT'" in line


def test_adapter_needs_its_addresses(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace('a_token = "0x0000000000000000000000000000000000000002"', "")))
    assert err.problems == ["chains.0.markets.0.a_token: required for adapter 'aave_v3'"]


def test_duplicate_market_and_token(tmp_path: Path) -> None:
    text = GOOD.replace('symbol = "DAI"', 'symbol = "USDC"').replace('market = "steakUSDC"', 'market = "USDC"')
    text = text.replace('protocol = "metamorpho"', 'protocol = "aave-v3"')
    err = error_of(write(tmp_path, text))
    assert any(p.startswith("chains.0.tokens.1.symbol: duplicate token symbol 'USDC'") for p in err.problems)
    assert any(p.startswith("chains.0.markets.1: duplicate market aave-v3/USDC") for p in err.problems)


def test_target_naming_unknown_market(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace('market = "USDC"\nweight_bps', 'market = "DAI"\nweight_bps')))
    [line] = err.problems
    assert line.startswith("strategy.targets.0: chain 1 has no market aave-v3/DAI")


def test_target_naming_unknown_chain(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD.replace("chain_id = 1", "chain_id = 10")))
    assert err.problems == ["strategy.targets.0.chain_id: no chain with id 10 (chains: 1)"]


def test_rpc_url_must_be_http_and_is_not_echoed(tmp_path: Path) -> None:
    err = error_of(
        write(tmp_path, GOOD.replace("https://rpc.example.invalid", "wss://rpc.example.invalid/v2/apikey123"))
    )
    assert err.problems == ["chains.0.rpc_urls.0: must be an http:// or https:// URL (got scheme 'wss')"]


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD + "\n[[chains]\n")
    err = error_of(p)
    assert str(p) in str(err)
    assert "invalid TOML" in str(err) and "line" in str(err)


def test_missing_file(tmp_path: Path) -> None:
    err = error_of(tmp_path / "nope.toml")
    assert str(err) == f"{tmp_path / 'nope.toml'}: config file not found"


def test_secret_from_file_not_in_error_or_repr(tmp_path: Path) -> None:
    with_key = GOOD + f'\n[signer]\nprivate_key = "{KEY}"\n'
    s = load_settings(write(tmp_path, with_key))
    assert KEY not in repr(s) and KEY[2:] not in repr(s) and KEY not in str(s)

    # Both key sources set is an error, plus an unrelated bad address.
    bad = with_key.replace(USDC_LOWER, "0x123") + 'keystore_path = "/ks.json"\n'
    err = error_of(write(tmp_path, bad, "bad.toml"))
    text = str(err) + repr(err) + repr(err.__cause__) + repr(err.__context__)
    assert "signer: set exactly one of private_key or keystore_path" in err.problems
    assert KEY[2:] not in text


def test_misspelt_secret_field_value_not_echoed(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD + f'\n[signer]\nprivate_key = "{KEY}"\nprivat_key = "{KEY}"\n'))
    assert "signer.privat_key: unknown field (check the spelling)" in err.problems
    assert KEY[2:] not in str(err)


def test_keystore_needs_password(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD + '\n[signer]\nkeystore_path = "/ks.json"\n'))
    assert err.problems == ["signer.keystore_password: required with keystore_path"]


def test_settings_without_loader_reads_env_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOOR_CHAINS", '[{"id": 5, "name": "x", "rpc_urls": ["http://localhost:8545"]}]')
    assert Settings().chain(5).name == "x"
