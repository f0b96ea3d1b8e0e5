"""`floor roles`: who may command the engine (floor/access/roles.py). `list` reads the engine's
role book (a query: open to anyone reaching Temporal); `grant` and `revoke` are commands an
ADMIN signs with their own key (the engine's work is in cli.engine)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.markup import escape

from cli.options import ConfigOpt, JsonOpt, KeyOpt, PasswordFileOpt, ReasonOpt, command, command_key, settings_from

roles_app = typer.Typer(help="Who may command the engine: its role book, grants and revocations (an ADMIN's).")

AccountArg = Annotated[str, typer.Argument(help="the account's address (0x and 40 hex digits)", show_default=False)]


def member_lines(members: list[dict]) -> list[str]:
    if not members:
        return ["nobody holds a role"]
    return [
        f"{m['account']} {m['role']}" + (f" ({m['name']})" if m.get("name") else "") + f", granted by {m['granted_by']}"
        for m in members
    ]


def show(data: dict, as_json: bool) -> int:
    from cli.render import Output

    out = Output(as_json)
    if as_json:
        out.json(data)
    if data.get("answer"):
        out.line(escape(data["answer"]))
    for line in member_lines(data["members"]):
        out.line(escape(line))
    return 0


@roles_app.command("list")
@command
def roles_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> int:
    """Every account that holds a role, its role, name and who granted it."""
    from cli import engine

    return show(asyncio.run(engine.roles(settings_from(config), "list")), as_json)


@roles_app.command("grant")
@command
def roles_grant(
    account: AccountArg,
    role: Annotated[str, typer.Argument(help="VIEWER, OPERATOR or ADMIN", show_default=False)],
    reason: ReasonOpt = "",
    name: Annotated[str, typer.Option("--name", help="who holds the key, for people reading records")] = "",
    config: ConfigOpt = None,
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Give an account a role (a new member, a promotion or a demotion), signed by your key (an ADMIN's)."""
    from cli import engine
    from cli.amounts import InputError

    if role.upper() not in ("VIEWER", "OPERATOR", "ADMIN"):
        raise InputError(f"role {role!r}: must be VIEWER, OPERATOR or ADMIN")
    settings = settings_from(config)
    signer = command_key(key, password_file)
    fields = {"account": account, "role": role.upper(), "name": name, "reason": reason}
    return show(asyncio.run(engine.roles(settings, "grant", signer, **fields)), as_json)


@roles_app.command("revoke")
@command
def roles_revoke(
    account: AccountArg,
    reason: ReasonOpt = "",
    config: ConfigOpt = None,
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Take an account's role away, signed by your key (an ADMIN's)."""
    from cli import engine

    settings = settings_from(config)
    signer = command_key(key, password_file)
    return show(asyncio.run(engine.roles(settings, "revoke", signer, account=account, reason=reason)), as_json)
