"""Structured logging for the engine: one JSON object per line, with secrets
scrubbed.

structlog loggers and plain stdlib loggers (temporalio, web3, ...) both end up
in one handler on the root logger, whose ``ProcessorFormatter`` renders and
redacts every line the same way.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from typing import IO, Any, cast
from urllib.parse import urlsplit

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "REDACTED",
    "configure_logging",
    "get_logger",
    "redact",
    "redact_url",
    "register_secret",
    "register_url_secrets",
    "scrub",
]

REDACTED = "[REDACTED]"
_MIN_SECRET_LEN = 8  # shorter values would scrub ordinary words and numbers
# URL parts are mostly ordinary words ("v2", "mainnet", "rpc"); API keys are long.
_MIN_URL_SECRET_LEN = 16
_SECRET_KEY = re.compile(r"private_?key|passw(or)?d|secret|mnemonic|passphrase", re.IGNORECASE)
_HEX = re.compile(r"^(0x)?[0-9a-fA-F]+$")

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_secret(value: str) -> None:
    """Scrub ``value`` from every later log line (case-insensitively).

    Hex values are registered with and without their ``0x`` prefix.
    """
    global _pattern
    if not isinstance(value, str):
        return
    value = value.strip()
    forms = {value}
    if _HEX.match(value):
        bare = value[2:] if value[:2].lower() == "0x" else value
        forms |= {bare, "0x" + bare}
    forms = {f for f in forms if len(f) >= _MIN_SECRET_LEN}
    with _lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        # Longest first, so "0xabc..." is replaced whole rather than leaving "0x".
        alternation = "|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True))
        _pattern = re.compile(alternation, re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with only its scheme and host[:port]: RPC URLs carry API keys in the path,
    the query or the userinfo. ``https://host/[REDACTED]`` when anything followed the host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unclosed IPv6 bracket: no part is known to be safe
        return REDACTED
    if not parts.scheme or not parts.netloc:
        return REDACTED
    userinfo, _, host = parts.netloc.rpartition("@")
    hidden = userinfo or parts.path.strip("/") or parts.query or parts.fragment
    return f"{parts.scheme}://{host}" + (f"/{REDACTED}" if hidden else "")


def register_url_secrets(url: str) -> None:
    """Register the parts of ``url`` that may be an API key: the path with its query, each
    path segment, query value and the userinfo, when long enough to be a key."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # unparsable: all of it may be a key
        register_secret(url)
        return
    userinfo = parts.netloc.rpartition("@")[0]
    candidates = [parts.path + (f"?{parts.query}" if parts.query else ""), userinfo]
    candidates += parts.path.split("/") + userinfo.split(":")
    candidates += [pair.partition("=")[2] for pair in parts.query.split("&")]  # raw, as in the URL
    for candidate in candidates:
        if len(candidate) >= _MIN_URL_SECRET_LEN:
            register_secret(candidate)


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced, e.g. an error message bound for
    Temporal's history, which no log processor sees."""
    pattern = _pattern
    return pattern.sub(REDACTED, text) if pattern is not None else text


def _secret_field(key: Any, value: Any) -> bool:
    return isinstance(key, str) and value is not None and _SECRET_KEY.search(key) is not None


def _scrub(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(REDACTED, value)
    if isinstance(value, dict):
        return {_scrub(k, pattern): (REDACTED if _secret_field(k, v) else _scrub(v, pattern)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v, pattern) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    # Other objects render via repr(); check that text too (e.g. an exception
    # passed as a field), but keep the object when nothing matched.
    try:
        text = repr(value)
    except Exception:
        return value
    scrubbed = pattern.sub(REDACTED, text)
    return scrubbed if scrubbed != text else value


def _redact_keys_only(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (REDACTED if _secret_field(k, v) else _redact_keys_only(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_keys_only(v) for v in value]
    return value


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: replace registered secrets and secret-named fields.

    Must run after ``format_exc_info`` so exception text is covered.
    """
    pattern = _pattern
    if pattern is None:
        return cast(EventDict, _redact_keys_only(event_dict))
    return cast(EventDict, _scrub(event_dict, pattern))


_HANDLER_MARK = "_floor_engine_handler"


def configure_logging(level: str = "INFO", *, json: bool = True, stream: IO[str] | None = None) -> None:
    """Send structlog and stdlib logging to ``stream`` (default stderr) as
    JSON lines (or console text if ``json`` is False). Safe to call again;
    the previous engine handler is replaced."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    out = stream if stream is not None else sys.stderr

    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    # Applied to stdlib records only; structlog events get these below.
    foreign_pre_chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        timestamper,
    ]
    renderer: Processor
    if json:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=bool(getattr(out, "isatty", lambda: False)()),
            exception_formatter=structlog.dev.plain_traceback,
        )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign_pre_chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()  # StreamHandler.close leaves the stream itself open
    root.addHandler(handler)
    root.setLevel(numeric)

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            timestamper,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        # Name loggers after the calling module, not this one.
        logger_factory=structlog.stdlib.LoggerFactory(ignore_frame_names=[__name__]),
        # Not cached: a logger taken before configure_logging still follows it.
        cache_logger_on_first_use=False,
    )


def get_logger(**bound: Any) -> structlog.stdlib.BoundLogger:
    """A logger carrying ``bound`` fields on every line, e.g.
    ``get_logger(chain_id=1, workflow_id=wf_id)``."""
    return cast(structlog.stdlib.BoundLogger, structlog.get_logger(**bound))
