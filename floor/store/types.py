"""Column types that keep values exact on both databases.

- `Uint256`: an EVM uint256 (amounts, shares, growth indexes, gas prices). PostgreSQL:
  `NUMERIC(78, 0)` (2**256 - 1 has 78 digits). SQLite, whose numbers stop at 64 bits or
  turn into floats: a 78-digit decimal string padded with zeros, so it also sorts as a number.
- `SignedAmount`: the difference of two uint256 (|value| < 2**256). PostgreSQL:
  `NUMERIC(78, 0)`; SQLite: a plain signed decimal string (exact, readable, not sortable).
- `UtcDateTime`: a timestamp with a time zone, always read back in UTC. A naive datetime is
  refused: which zone it meant is unknown. SQLite keeps the UTC wall time as text.

Python sees `int` and aware `datetime`. A value out of range is refused with `UnstorableValue`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import NUMERIC, DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from floor.store.errors import UnstorableValue

__all__ = ["UINT256_MAX", "SignedAmount", "Uint256", "UtcDateTime"]

UINT256_MAX = 2**256 - 1
_DIGITS = len(str(UINT256_MAX))  # 78


class _ExactInt(TypeDecorator[int]):
    impl = String(_DIGITS + 1)
    name: ClassVar[str]
    low: ClassVar[int]
    width: ClassVar[int]  # of the text form on SQLite

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(NUMERIC(_DIGITS, 0))
        return dialect.type_descriptor(String(self.width))

    def check(self, value: object, where: str = "") -> int:
        """``value`` if it is an int this type holds, else `UnstorableValue` naming ``where``."""
        at = f"{where}: " if where else ""
        if not isinstance(value, int) or isinstance(value, bool):
            raise UnstorableValue(f"{at}a {self.name} must be an int, not {type(value).__name__}")
        if not self.low <= value <= UINT256_MAX:
            raise UnstorableValue(f"{at}{value} is out of range for a {self.name} ({self.low} to 2**256 - 1)")
        return value

    def _text(self, value: int) -> str:
        """How SQLite holds it: each subclass writes its own exact, sortable text."""
        return str(value)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = self.check(value)
        return Decimal(value) if dialect.name == "postgresql" else self._text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int(value)  # Decimal from NUMERIC(78, 0) or the decimal text: exact either way


class Uint256(_ExactInt):
    """An unsigned 256-bit integer: NUMERIC(78, 0) on PostgreSQL, 78 zero-padded digits on SQLite."""

    impl = String(_DIGITS)
    cache_ok = True
    name = "uint256"
    low = 0
    width = _DIGITS

    def _text(self, value: int) -> str:
        return f"{value:0{_DIGITS}d}"


class SignedAmount(_ExactInt):
    """A signed integer with |value| < 2**256 (a difference of two uint256): NUMERIC(78, 0) on
    PostgreSQL, a signed decimal string on SQLite."""

    impl = String(_DIGITS + 1)
    cache_ok = True
    name = "signed amount"
    low = -UINT256_MAX
    width = _DIGITS + 1

    def _text(self, value: int) -> str:
        return str(value)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC (timestamptz on PostgreSQL), read back in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def check(self, value: object, where: str = "") -> datetime:
        at = f"{where}: " if where else ""
        if not isinstance(value, datetime):
            raise UnstorableValue(f"{at}a timestamp must be a datetime, not {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise UnstorableValue(f"{at}timestamp {value.isoformat()} has no time zone (give one, e.g. UTC)")
        return value

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = self.check(value).astimezone(UTC)
        # SQLite's DATETIME text has no offset: keep the UTC wall time.
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)
