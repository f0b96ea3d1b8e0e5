"""What every `floor` command shares: the common options, the config it reads, who asks, and
how a command's error becomes one line on stderr and an exit code. Imported by cli.main and
cli.risk (which imports nothing of cli.main).

Exit codes: 0 done or skipped, 1 failed or refused, 2 bad command-line input, 3 partial.
"""

from __future__ import annotations

import functools
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# Everything else is imported by the command that needs it: `floor --help` and `floor status`
# stay quick (web3, temporalio, the config's models and the workflows take seconds to import).
if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from floor.config import Settings

BAD_INPUT = 2
CONFIG_ENV_VAR = "FLOOR_CONFIG"  # floor.config.CONFIG_ENV_VAR, not imported here: see above
DEMO_CONFIG = Path("state/floor.toml")

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help=f"config file (default: ${CONFIG_ENV_VAR}, else ./floor.toml, else ./{DEMO_CONFIG} from `make demo`)",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object on stdout, nothing else")]
ByOpt = Annotated[str | None, typer.Option("--by", help="who asks (default: cli:<your OS user>)")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="why: recorded in the engine's history")]
NoWaitOpt = Annotated[bool, typer.Option("--no-wait", help="print the operation's id and return at once")]

# A command that changes the engine is signed by your own key (floor/access, `floor sign`).
KEY_ENV, PASSWORD_ENV = "FLOOR_KEY", "FLOOR_KEY_PASSWORD"
KeyOpt = Annotated[
    Path | None,
    typer.Option("--key", help=f"your encrypted keystore: signs the command (default: ${KEY_ENV})", show_default=False),
]
PasswordFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--password-file", help=f"a file holding the keystore's password (default: ${PASSWORD_ENV}, the password)"
    ),
]


def command(fn: Callable[..., int]) -> Callable[..., None]:
    """Run a command; map its errors to one line on stderr and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> None:
        try:
            code = fn(*args, **kwargs)
        except KeyboardInterrupt:
            error("interrupted: an operation already started goes on (see `floor status`)")
            code = 130
        except Exception as exc:
            code = failure_code(exc)
            if code is None:
                raise
        raise typer.Exit(code)

    return wrapper


def _is(exc: BaseException, module: str, *names: str) -> bool:
    """Whether `exc` is one of `module`'s exception classes. Looked up among the modules already
    imported: an exception of a module never imported cannot have been raised, and classifying
    an error must not import web3 or temporalio."""
    loaded = sys.modules.get(module)
    return any(isinstance(exc, cls) for cls in (getattr(loaded, n, None) for n in names) if isinstance(cls, type))


def failure_code(exc: Exception) -> int | None:
    """A command's error as one line on stderr and its exit code; None for one to re-raise (a
    bug, or typer's own exits)."""
    if _is(exc, "cli.amounts", "InputError"):
        error(f"error: {exc}")
        return BAD_INPUT
    if _is(exc, "floor.alertmanager", "AlertInputError"):  # an alert ID or a --for that cannot be
        error(f"error: {exc}")
        return BAD_INPUT
    if _is(exc, "client.signing", "SigningError"):  # a command that cannot be signed: nothing was sent
        error(f"error: {exc}")
        return BAD_INPUT
    if _is(exc, "floor.config", "ConfigError"):  # one line per problem in the file
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    if _is(exc, "client.engine", "Refused"):
        error(f"refused: {exc}")
        return 1
    if _is(exc, "temporalio.client", "WorkflowUpdateFailedError"):  # a refusal no command mapped: its reason
        error(f"refused: {getattr(exc.cause, 'message', None) or exc}")
        return 1
    if _is(exc, "temporalio.client", "WorkflowFailureError"):  # a workflow no command followed failed
        from client import failure_text

        error(f"error: {failure_text(exc)}")
        return 1
    if _is(exc, "temporalio.client", "WorkflowQueryFailedError"):  # the worker answered a query with an error
        error(f"error: the engine's query failed: {exc}")
        return 1
    if _is(exc, "cli.engine", "CliError") or _is(exc, "floor.errors", "FloorError"):
        error(f"error: {exc}")
        return 1
    if _is(exc, "temporalio.service", "RPCError"):
        from cli.engine import rpc_failure

        error(f"error: {rpc_failure(exc)}")
        return 1
    if _is(exc, "sqlalchemy.exc", "OperationalError"):  # the store's server down or refusing: named, one line
        from cli.engine import store_error

        error(f"error: the store failed: {store_error(exc)}")
        return 1
    if _is(exc, "web3.exceptions", "Web3Exception"):  # a chain's answer the reads did not expect
        error(f"error: {type(exc).__name__}: {exc}")
        return 1
    return None


def error(message: str) -> None:
    """One line on stderr (cli.render.error, without importing the renderer)."""
    print(" ".join(message.split()), file=sys.stderr, flush=True)


def settings_from(config: Path | None) -> Settings:
    from cli.amounts import InputError
    from floor.config import load_settings
    from floor.logging import configure_logging

    if config is None and not os.environ.get(CONFIG_ENV_VAR) and not Path("floor.toml").is_file():
        if not DEMO_CONFIG.is_file():
            raise InputError(f"no config: give --config, set ${CONFIG_ENV_VAR}, or run `make demo` ({DEMO_CONFIG})")
        config = DEMO_CONFIG
    settings = load_settings(config)
    configure_logging("WARNING", json=False)  # stderr: stdout is the command's output
    return settings


def key_and_password(key: Path | None, password_file: Path | None) -> tuple[Path, str]:
    """The keystore's path and its password: from the options, else the environment."""
    from client.signing import SigningError

    path = key or (Path(os.environ[KEY_ENV]) if os.environ.get(KEY_ENV) else None)
    if path is None:
        raise SigningError(f"no key: give --key KEYSTORE or set ${KEY_ENV} (the path of your encrypted keystore)")
    if password_file is not None:
        try:
            return path, password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise SigningError(f"password file {password_file}: cannot read ({reason})") from None
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        raise SigningError(f"no password for {path}: give --password-file FILE or set ${PASSWORD_ENV}")
    return path, password


def has_key(key: Path | None) -> bool:
    """Whether a key is given (the option, else the environment)."""
    return key is not None or bool(os.environ.get(KEY_ENV))


def command_key(key: Path | None, password_file: Path | None) -> LocalAccount:
    """The key that signs a command: `InputError` (exit 2, nothing sent) naming how to give one
    when none is given or it cannot be read."""
    from cli.amounts import InputError
    from client.signing import SigningError, load_key

    try:
        return load_key(*key_and_password(key, password_file))
    except SigningError as exc:
        raise InputError(f"{exc}: a command that changes the engine is signed by your own key") from None


def request(by: str | None, reason: str, **fields) -> dict:
    """Who asks and why, with the request's own fields."""
    if by is None:
        try:
            by = f"cli:{getpass.getuser()}"
        except (OSError, KeyError):
            by = "cli:unknown"
    return {"by": by, "reason": reason, **fields}
