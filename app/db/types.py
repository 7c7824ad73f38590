"""Exact decimal columns on every backend.

PostgreSQL stores ``NUMERIC(p, s)`` natively. SQLite has no decimal type and
would round-trip NUMERIC through binary floats, so there the same column is an
INTEGER of fixed-point units (value * 10**scale). Comparisons, ordering, sums and
CHECK constraints against zero stay correct on both; arithmetic between columns
is done in Python, never in SQL.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

SCALE = 8
PRECISION = 28


class ExactDecimal(TypeDecorator[Decimal]):
    """A ``Decimal`` column: NUMERIC on PostgreSQL, scaled BIGINT on SQLite."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = PRECISION, scale: int = SCALE) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._unit = Decimal(10) ** scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Pick the storage type for the dialect."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Convert a Decimal to the stored form, refusing values that would lose digits."""
        if value is None:
            return None
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        quantized = amount.quantize(Decimal(1).scaleb(-self.scale))
        if quantized != amount:
            raise ValueError(f"{amount} has more than {self.scale} decimal places")
        if dialect.name == "sqlite":
            return int(quantized * self._unit)
        return quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Convert the stored form back to a normalized Decimal."""
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / self._unit).quantize(Decimal(1).scaleb(-self.scale))
        return Decimal(value).quantize(Decimal(1).scaleb(-self.scale))

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        """Render a literal (used by offline migrations)."""
        return str(self.process_bind_param(value, dialect))
