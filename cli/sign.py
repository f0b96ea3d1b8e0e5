"""`floor sign KIND --field NAME=VALUE ...`: a command for the engine, signed by the caller's
own key (an encrypted keystore), printed as the JSON the engine's update takes (`temporal
workflow update --input`, or any service that forwards it). The work is client.signing's;
this reads the command line: the fields, the key and its password.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.options import KEY_ENV, PASSWORD_ENV, ConfigOpt, command, key_and_password, settings_from

# Imported when the command runs: `floor --help` stays quick (cli.main, tests/unit/test_cli_quick.py).
if TYPE_CHECKING:
    from floor.access.roles import Kind

TEXT_TYPES = {"string", "address", "bytes32"}  # a field of these takes the value as written; others are JSON


@command
def sign(
    kind: Annotated[
        str, typer.Argument(help="the command's kind, e.g. pause, allocate, grant_role", show_default=False)
    ],
    fields: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            "-f",
            help="NAME=VALUE, one per field of the command's struct (camelCase); text as written, numbers,"
            ' true/false and lists as JSON, e.g. --field reason="oracle incident" --field'
            ' amounts=\'[{"chainId":1,"asset":"USDC","amount":"250000000000"}]\'',
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option("--key", help=f"your encrypted keystore (default: ${KEY_ENV})", show_default=False),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file", help=f"a file holding the keystore's password (default: ${PASSWORD_ENV}, the password)"
        ),
    ] = None,
    ttl: Annotated[int, typer.Option("--ttl", help="seconds the command stays valid (at most 3600)")] = 600,
    config: ConfigOpt = None,
) -> int:
    """Sign a command for the engine with your own key and print it as JSON (its kind, the
    engine's domain, the message, signer and signature) on stdout."""
    import time

    from cli.amounts import InputError
    from client.signing import SigningError, kind_of, load_key, new_command, signed

    now = int(time.time())
    try:
        command_kind = kind_of(kind)
        values = field_values(command_kind, fields or [])
        new_command(command_kind, values, now=now, ttl_s=ttl)  # bad input refused before the key's slow decryption
        settings = settings_from(config)
        account = load_key(*key_and_password(key, password_file))
        signed_command = signed(settings, command_kind, values, account, now=now, ttl_s=ttl)
    except SigningError as exc:
        raise InputError(str(exc)) from None
    print(signed_command.model_dump_json())
    return 0


def field_values(kind: Kind, pairs: list[str]) -> dict[str, Any]:
    """NAME=VALUE pairs as the struct's JSON values: text as written for its string, address and
    bytes32 members, JSON for the others (a value that is not JSON goes as text: the struct
    says what is wrong with it)."""
    import json

    from client.signing import SigningError
    from floor.access.commands import STRUCTS, members

    types = dict(members(STRUCTS[kind]))
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise SigningError(f"--field {pair!r}: expected NAME=VALUE")
        if name in values:
            raise SigningError(f"field {name!r} given twice")
        values[name] = text
        if types.get(name, "string") not in TEXT_TYPES:
            with contextlib.suppress(ValueError):
                values[name] = json.loads(text)
    return values
