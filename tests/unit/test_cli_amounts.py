"""Command-line amounts, chains, tokens, addresses and deadlines, checked against the config
before anything is sent: human amounts become base units exactly, or are refused in one line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cli.amounts import InputError, TokenAmount, address, base_units, deadline, parse_allocation
from floor.config import Settings

USDC = "0x" + "a0" * 20
WETH = "0x" + "c0" * 20
DUST = "0x" + "d0" * 20


@pytest.fixture(scope="module")
def settings() -> Settings:
    def chain(id: int, name: str) -> dict:
        return {
            "id": id,
            "name": name,
            "rpc_urls": ["http://127.0.0.1:8545"],
            "tokens": [
                {"symbol": "USDC", "address": USDC, "decimals": 6},
                {"symbol": "WETH", "address": WETH, "decimals": 18},
                {"symbol": "NODEC", "address": DUST, "decimals": 0},
            ],
        }

    return Settings(chains=[chain(1, "ethereum"), chain(42161, "arbitrum")])


@pytest.mark.parametrize(
    ("text", "decimals", "expected"),
    [
        ("1", 6, 10**6),
        ("250000", 6, 250_000 * 10**6),
        ("0.000001", 6, 1),
        ("1.5", 6, 1_500_000),
        ("1.500000000", 6, 1_500_000),  # trailing zeros are not decimals: exact all the same
        ("12.345678901234567891", 18, 12_345_678_901_234_567_891),
        ("340282366920938463463.374607431768211455", 18, 2**128 - 1),  # beyond float and Decimal's 28 digits
        ("7", 0, 7),
        (" 42 ", 6, 42 * 10**6),
    ],
)
def test_human_amounts_become_exact_base_units(text, decimals, expected):
    assert base_units(text, decimals) == expected


@pytest.mark.parametrize(
    ("text", "decimals", "reason"),
    [
        ("1.0000001", 6, "USDC has 6 decimals, the amount has 7 after the point"),
        ("0.1", 0, "USDC has 0 decimals, the amount has 1 after the point"),
        ("0", 6, "must be more than zero"),
        ("0.000", 6, "must be more than zero"),
        ("-5", 6, "must be positive"),
        ("-0.5", 6, "must be positive"),
        ("1e6", 6, "not a plain decimal number"),
        ("1,000", 6, "not a plain decimal number"),
        (".5", 6, "not a plain decimal number"),
        ("5.", 6, "not a plain decimal number"),
        ("", 6, "not a plain decimal number"),
        ("NaN", 6, "not a plain decimal number"),
        ("١٢", 6, "not a plain decimal number"),  # digits of another script
    ],
)
def test_bad_amounts_are_refused_in_one_line(text, decimals, reason):
    with pytest.raises(InputError, match=reason) as caught:
        base_units(text, decimals, "USDC")
    assert "\n" not in str(caught.value)


def test_allocation_arguments_by_chain_id_or_name(settings):
    parts = parse_allocation(settings, ["1:USDC:600000", "arbitrum:weth:0.5", "42161:USDC:1.25"])
    assert parts == [
        TokenAmount(1, "USDC", 600_000 * 10**6, 6),
        TokenAmount(42161, "WETH", 5 * 10**17, 18),
        TokenAmount(42161, "USDC", 1_250_000, 6),
    ]


@pytest.mark.parametrize(
    ("specs", "reason"),
    [
        (["10:USDC:1"], r"unknown chain '10' \(chains: 1 \(ethereum\), 42161 \(arbitrum\)\)"),
        (["1:FOO:1"], r"chain 1 \(ethereum\) has no token 'FOO' \(tokens: USDC, WETH, NODEC\)"),
        (["1:USDC"], "expected CHAIN:ASSET:AMOUNT"),
        (["1:USDC:1:2"], "expected CHAIN:ASSET:AMOUNT"),
        (["1:USDC:1", "ethereum:usdc:2"], "USDC on chain 1 is given twice"),
        (["1:USDC:1.0000001"], "USDC has 6 decimals"),
    ],
)
def test_bad_allocation_arguments(settings, specs, reason):
    with pytest.raises(InputError, match=reason):
        parse_allocation(settings, specs)


def test_addresses_and_deadlines():
    assert address(USDC) == address("0x" + "A0" * 20) == "0xA0a0a0A0A0A0a0a0A0A0a0A0a0A0a0A0A0A0a0a0"
    with pytest.raises(InputError, match="not an address"):
        address("0x12")
    with pytest.raises(InputError, match="not an address"):  # mixed case with a bad checksum
        address("0x" + "aA" * 20)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert deadline("2025-07-01T12:00:00Z", now) == datetime(2025, 7, 1, 12, tzinfo=UTC)
    for text, reason in [
        ("2025-07-01T12:00:00", "give its time zone"),
        ("next week", "not an ISO 8601 time"),
        ("2024-12-31T23:59:59+00:00", "already past"),
    ]:
        with pytest.raises(InputError, match=reason):
            deadline(text, now)
