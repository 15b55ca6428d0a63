"""One money type: integer minor units plus an ISO currency. Never floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency

DEFAULT_CURRENCY = "GBP"
_MINOR_PER_MAJOR = {"GBP": 100, "EUR": 100, "USD": 100}


class CurrencyMismatch(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("Money.amount must be an int of minor units")

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if not isinstance(factor, int):
            raise TypeError("Money can only be multiplied by an int")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Money:
        return cls(0, currency)

    @classmethod
    def from_major(cls, text: str | int | Decimal, currency: str = DEFAULT_CURRENCY) -> Money:
        """Parse what a person typed ("25", "25.00", "£25") into minor units; ValueError if not money."""
        cleaned = str(text).strip().replace("£", "").replace(",", "")
        try:
            value = Decimal(cleaned)
        except InvalidOperation as exc:
            raise ValueError("Enter an amount in pounds, like 25.00") from exc
        if not value.is_finite() or value.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValueError("Enter an amount in pounds, like 25.00")
        minor = int((value * _MINOR_PER_MAJOR.get(currency, 100)).quantize(Decimal(1), ROUND_HALF_UP))
        return cls(minor, currency)

    def to_major(self) -> Decimal:
        return Decimal(self.amount) / _MINOR_PER_MAJOR.get(self.currency, 100)

    def format(self, locale: str = "en_GB") -> str:
        return format_currency(self.to_major(), self.currency, locale=locale)

    def as_json(self) -> dict[str, int | str]:
        return {"amount": self.amount, "currency": self.currency}

    def vat_included(self, rate_basis_points: int) -> Money:
        """VAT contained in a VAT-inclusive price (UK style), rounded half up to the penny."""
        vat = Decimal(self.amount) * rate_basis_points / (10000 + rate_basis_points)
        return Money(int(vat.quantize(Decimal(1), ROUND_HALF_UP)), self.currency)

    def __str__(self) -> str:
        return self.format()
