"""Signing the engine's commands (client/signing.py, `floor sign`): the config's access section,
the command domain it gives, keys from encrypted keystores, signed commands that the engine's
verifier accepts, and every bad input refused in one line (exit 2, nothing on stdout)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from cli.main import app
from cli.outputs import SignOutput, schema
from client.signing import SigningError, command_domain, load_key, new_command, signed
from floor.access.commands import MAX_AHEAD_S, STRUCTS, CommandDomain, UsedNonces, typed_data, verify
from floor.access.roles import Kind, RoleBook
from floor.config import ConfigError, load_settings
from tests.json_schema import problems

NOW = 1_800_000_000
KEY = "0x" + "42" * 32
ADDRESS = Account.from_key(KEY).address
OTHER = Account.from_key("0x" + "43" * 32).address
EXECUTOR_10 = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
EXECUTOR_42161 = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
PASSWORD = "correct horse"

CHAINS = f"""
[[chains]]
id = 1
name = "ethereum"
rpc_urls = ["https://rpc.example.invalid"]

[[chains]]
id = 10
name = "optimism"
rpc_urls = ["https://rpc.example.invalid"]
executor = "{EXECUTOR_10}"

[[chains]]
id = 42161
name = "arbitrum"
rpc_urls = ["https://rpc.example.invalid"]
executor = "{EXECUTOR_42161}"
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FLOOR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def config(tmp_path: Path, access: str = "", chains: str = CHAINS) -> Path:
    path = tmp_path / "floor.toml"
    path.write_text(textwrap.dedent(f'engine_name = "t"\n{chains}\n{access}'))
    return path


def config_problems(tmp_path: Path, access: str, chains: str = CHAINS) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(config(tmp_path, access, chains))
    return info.value.problems


def keystore(tmp_path: Path, key: str = KEY, password: str = PASSWORD) -> Path:
    """An encrypted keystore (pbkdf2 with few iterations: the tests' keys need no strength)."""
    path = tmp_path / "key.json"
    path.write_text(json.dumps(Account.encrypt(key, password, kdf="pbkdf2", iterations=2)))
    return path


# ---------------------------------------------------------------------------- the config


def test_access_is_optional_and_admins_are_checksummed(tmp_path: Path) -> None:
    assert load_settings(config(tmp_path)).access.admins is None
    access = f'[access]\nadmins = ["{ADDRESS.lower()}", "{OTHER}"]\nchain_id = 42161\n'
    settings = load_settings(config(tmp_path, access))
    assert settings.access.admins == [ADDRESS, OTHER]
    assert settings.access.chain_id == 42161


@pytest.mark.parametrize(
    ("access", "problem"),
    [
        ("[access]\nadmins = []", "access.admins: List should have at least 1 item after validation, not 0"),
        (f'[access]\nadmins = ["{ADDRESS}", "{ADDRESS.lower()}"]', f"access.admins.1: duplicate admin {ADDRESS}"),
        ('[access]\nadmins = ["0x12"]', "access.admins.0: not a valid address: '0x12'"),
        ("[access]\nchain_id = 5", "access.chain_id: no chain with id 5 (chains: 1, 10, 42161)"),
        ("[access]\nchain_id = 1", "access.chain_id: chain 1 has no executor to sign commands for"),
        ("[access]\nadmin = []", "access.admin: unknown field (check the spelling)"),
    ],
)
def test_a_bad_access_section_is_named(tmp_path: Path, access: str, problem: str) -> None:
    assert any(p.startswith(problem) for p in config_problems(tmp_path, access)), config_problems(tmp_path, access)


def test_founding_admins_need_a_chain_with_an_executor(tmp_path: Path) -> None:
    only_ethereum = CHAINS.split("[[chains]]\nid = 10")[0]
    access = f'[access]\nadmins = ["{ADDRESS}"]'
    assert config_problems(tmp_path, access, only_ethereum) == [
        "access: no chain has an executor: commands are signed for one (set chains.executor)"
    ]


# ---------------------------------------------------------------------------- the domain


def test_the_domain_is_the_first_chain_with_an_executor_unless_chosen(tmp_path: Path) -> None:
    assert command_domain(load_settings(config(tmp_path))) == CommandDomain(
        chain_id=10, executor=EXECUTOR_10, engine="engine-t"
    )
    chosen = load_settings(config(tmp_path, "[access]\nchain_id = 42161\n[engine]\nworkflow_id = 'prod'"))
    assert command_domain(chosen) == CommandDomain(chain_id=42161, executor=EXECUTOR_42161, engine="prod")


def test_no_domain_without_an_executor(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, chains=CHAINS.split("[[chains]]\nid = 10")[0]))
    with pytest.raises(SigningError, match="no chain has an executor"):
        command_domain(settings)


# ---------------------------------------------------------------------------- keys


def test_a_key_from_its_keystore(tmp_path: Path) -> None:
    assert load_key(keystore(tmp_path), PASSWORD).address == ADDRESS


def test_key_loading_errors_name_the_file_never_the_password(tmp_path: Path) -> None:
    path = keystore(tmp_path)
    with pytest.raises(SigningError) as wrong:
        load_key(path, "not it")
    assert str(wrong.value) == f"keystore {path}: wrong password or corrupt file"
    with pytest.raises(SigningError, match=r"cannot read \(No such file or directory\)"):
        load_key(tmp_path / "missing.json", PASSWORD)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SigningError, match="not a JSON keystore file"):
        load_key(tmp_path / "notes.txt", PASSWORD)


# ---------------------------------------------------------------------------- signed commands


def test_a_signed_command_verifies_for_the_engine(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path))
    key = load_key(keystore(tmp_path), PASSWORD)
    command = signed(settings, "pause", {"reason": "oracle incident"}, key, now=NOW)
    assert command.signer == ADDRESS and command.domain == command_domain(settings)
    assert int(command.message["deadline"]) == NOW + 600 and 0 <= int(command.message["nonce"]) < 2**64
    book = RoleBook.founded([ADDRESS], NOW)
    accepted = verify(command.model_dump_json(), command_domain(settings), book, NOW, UsedNonces())
    assert accepted.kind == Kind.PAUSE and accepted.signer == ADDRESS
    again = signed(settings, Kind.PAUSE, {"reason": "oracle incident"}, key, now=NOW)
    assert again.message["nonce"] != command.message["nonce"]  # random: services sign in parallel
    amounts = [{"chainId": 10, "asset": "USDC", "amount": "250000000000"}]
    allocate = signed(settings, "allocate", {"amounts": amounts, "reason": ""}, key, now=NOW, ttl_s=MAX_AHEAD_S)
    assert verify(allocate, command_domain(settings), book, NOW, UsedNonces()).fields.deadline == NOW + MAX_AHEAD_S


@pytest.mark.parametrize(
    ("kind", "fields", "ttl_s", "reason"),
    [
        ("pause", {"reason": "x"}, 0, "ttl 0 s: must be 1 to 3600 s (the engine refuses a later deadline)"),
        ("pause", {"reason": "x"}, 3601, "ttl 3601 s: must be 1 to 3600 s (the engine refuses a later deadline)"),
        ("pauze", {"reason": "x"}, 600, "unknown command kind 'pauze' (known: read, pause, "),
        ("pause", {"reasn": "x"}, 600, "unknown field 'reasn' of pause (its fields: reason)"),
        ("pause", {"reason": "x", "deadline": 1}, 600, "field 'deadline' is chosen by the signer"),
        ("harvest", {}, 600, "not a valid harvest command: reason: Field required"),
        ("grant_role", {"account": "0x12", "role": "ADMIN", "name": "", "reason": ""}, 600, "not a valid grant_role"),
    ],
)
def test_a_command_that_cannot_be_signed_says_why(tmp_path: Path, kind, fields, ttl_s, reason) -> None:
    settings = load_settings(config(tmp_path))
    with pytest.raises(SigningError) as refused:
        signed(settings, kind, fields, Account.from_key(KEY), now=NOW, ttl_s=ttl_s)
    assert str(refused.value).startswith(reason) and "\n" not in str(refused.value)


def test_a_new_command_has_its_deadline_and_a_64_bit_nonce() -> None:
    command = new_command(Kind.REBALANCE, {"reason": "weekly"}, now=NOW, ttl_s=60)
    assert command.deadline == NOW + 60 and command.nonce < 2**64


ETH_SIG_UTIL = Path(__file__).resolve().parents[2] / "node_modules" / "@metamask" / "eth-sig-util"
NODE_SIGN = """
const {signTypedData, SignTypedDataVersion} = require('@metamask/eth-sig-util');
const data = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(signTypedData({privateKey: Buffer.from(process.argv[1], 'hex'), data, version: SignTypedDataVersion.V4}));
"""


@pytest.mark.skipif(not ETH_SIG_UTIL.exists() or shutil.which("node") is None, reason="no @metamask/eth-sig-util")
def test_metamask_signs_what_we_sign(tmp_path: Path) -> None:
    """MetaMask's eth-sig-util, given our typed data unchanged, makes the same signature (RFC 6979)."""
    settings = load_settings(config(tmp_path))
    amounts = [{"chainId": 10, "asset": "USDC", "amount": "250000000000"}]
    command = signed(settings, "allocate", {"amounts": amounts, "reason": "q3"}, Account.from_key(KEY), now=NOW)
    data = typed_data(Kind.ALLOCATE, STRUCTS[Kind.ALLOCATE].model_validate(command.message), command.domain)
    signature = subprocess.run(
        ["node", "-e", NODE_SIGN, KEY[2:]],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        check=True,
        cwd=ETH_SIG_UTIL.parents[2],
        timeout=60,
    ).stdout.strip()
    assert signature == command.signature


# ---------------------------------------------------------------------------- `floor sign`


def floor_sign(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["sign", *args], env=env)


def test_floor_sign_prints_a_command_that_verifies(tmp_path: Path) -> None:
    path, settings = config(tmp_path), load_settings(config(tmp_path))
    (tmp_path / "password").write_text(PASSWORD + "\n")  # as `echo` writes it
    key = str(keystore(tmp_path))
    amounts = '[{"chainId":10,"asset":"USDC","amount":"250000000000"}]'
    ran = floor_sign(
        "allocate", "--field", f"amounts={amounts}", "-f", "reason=q3", "--key", key,
        "--password-file", "password", "--ttl", "120", "-c", str(path),
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    output, now = json.loads(ran.stdout), int(time.time())  # `floor sign` reads the clock
    assert problems(output, schema(SignOutput)) == []
    accepted = verify(ran.stdout, command_domain(settings), RoleBook.founded([ADDRESS], now), now, UsedNonces())
    assert accepted.signer == ADDRESS and accepted.fields.reason == "q3"
    assert now < accepted.fields.deadline <= now + 120
    # The key and its password from the environment; text stays text, numbers and booleans are JSON.
    env = {"FLOOR_KEY": key, "FLOOR_KEY_PASSWORD": PASSWORD}
    fields = ["chainId=10", "asset=USDC", "amount=5", f"destination={OTHER.lower()}", "deliverBy=0"]
    fields += ["partial=true", "exitPollSeconds=60", "reason=123"]
    ran = floor_sign("request_capital", *(a for f in fields for a in ("-f", f)), "-c", str(path), env=env)
    assert ran.exit_code == 0, ran.output
    message = json.loads(ran.stdout)["message"]
    assert message["partial"] is True and message["reason"] == "123" and message["destination"] == OTHER


@pytest.mark.parametrize(
    ("args", "env", "reason"),
    [
        (["pauze", "-f", "reason=x"], {}, "error: unknown command kind 'pauze'"),
        (["pause", "-f", "reasn=x"], {}, "error: unknown field 'reasn' of pause (its fields: reason)"),
        (["pause", "-f", "reason"], {}, "error: --field 'reason': expected NAME=VALUE"),
        (["pause", "-f", "reason=x", "-f", "reason=y"], {}, "error: field 'reason' given twice"),
        (
            ["grant_role", *("-f", f"account={OTHER}", "-f", "role=KING", "-f", "name=x", "-f", "reason=x")],
            {},
            'error: not a valid grant_role command: role: must be one of VIEWER, OPERATOR, ADMIN (got "KING")',
        ),
        (["check_risk"], {}, "error: not a valid check_risk command: reason: Field required"),
        (["pause", "-f", "reason=x", "--ttl", "7200"], {}, "error: ttl 7200 s: must be 1 to 3600 s"),
        (["pause", "-f", "reason=x"], {}, "error: no key: give --key KEYSTORE or set $FLOOR_KEY"),
        (["pause", "-f", "reason=x", "--key", "<key>"], {}, "error: no password for <key>: give --password-file FILE"),
        (
            ["pause", "-f", "reason=x"],
            {"FLOOR_KEY": "<key>", "FLOOR_KEY_PASSWORD": "no"},
            "error: keystore <key>: wrong",
        ),
        (["pause", "-f", "reason=x", "--key", "<key>", "--password-file", "nope"], {}, "error: password file nope:"),
        (["pause", "-f", "reason=x", "--key", "nope.json"], {"FLOOR_KEY_PASSWORD": "x"}, "error: keystore nope.json:"),
    ],
)
def test_floor_sign_refuses_bad_input_in_one_line(tmp_path: Path, args, env, reason) -> None:
    key = str(keystore(tmp_path))
    args = [key if a == "<key>" else a for a in args]
    env = {k: key if v == "<key>" else v for k, v in env.items()}
    ran = floor_sign(*args, "-c", str(config(tmp_path)), env=env)
    assert ran.exit_code == 2, ran.output
    assert ran.stdout == ""
    assert ran.stderr.startswith(reason.replace("<key>", key)) and ran.stderr.count("\n") == 1, ran.stderr


def test_floor_sign_needs_a_config(tmp_path: Path) -> None:
    ran = floor_sign("pause", "-f", "reason=x", "-c", str(tmp_path / "missing.toml"))
    assert ran.exit_code == 2 and ran.stdout == "" and "config file not found" in ran.stderr


# ---------------------------------------------------------------------------- the demo's keys


def test_the_demo_writes_encrypted_keystores_with_their_passwords_beside_them(tmp_path: Path) -> None:
    from scripts.demo import write_keystore
    from scripts.stack import COMMAND_KEYS, STATE

    address = write_keystore(tmp_path / "admin-keystore.json", tmp_path / "admin-keystore.password")
    password = (tmp_path / "admin-keystore.password").read_text()
    assert load_key(tmp_path / "admin-keystore.json", password).address == address
    for name in ("admin-keystore.json", "admin-keystore.password"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert set(COMMAND_KEYS) == {"admin", "operator", "viewer"}
    assert all(path.parent == STATE for paths in COMMAND_KEYS.values() for path in paths)
