"""Demo data: an admin and funded traders holding some of every instrument. Idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Account, Instrument, LedgerEntry, User
from app.domain.enums import LedgerKind, Role
from app.services import accounts

SEED_NOTE = "seed"
DEMO_CASH = Decimal("1000000")
# The demo users' password: public (the README gives it), accepted only in
# development and testing -- the CLI asks for SEED_PASSWORD anywhere else.
DEMO_PASSWORD = "demo-trader-pass"  # noqa: S105  # pragma: allowlist secret
DEMO_ADMIN = "admin@example.com"
DEMO_TRADER = "alice@example.com"
DEMO_USERS = (
    (DEMO_ADMIN, Role.ADMIN),
    (DEMO_TRADER, Role.TRADER),
    ("bob@example.com", Role.TRADER),
    ("carol@example.com", Role.TRADER),
)
# Whole lots of each instrument given to every trader, so both sides can trade.
DEMO_HOLDINGS = {
    "AAPL": Decimal("1000"),
    "MSFT": Decimal("1000"),
    "TSLA": Decimal("1000"),
    "BTC-USD": Decimal("10"),
    "ETH-USD": Decimal("100"),
}


@dataclass(frozen=True, slots=True)
class SeededUser:
    """One demo user and whether this run created it."""

    email: str
    role: Role
    account_id: int
    created: bool


async def _existing(
    sessions: async_sessionmaker[AsyncSession], email: str
) -> tuple[User, Account] | None:
    async with sessions() as session:
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            return None
        return await accounts.user_with_account(session, user.id)


async def _already_funded(session: AsyncSession, account_id: int) -> bool:
    entry = await session.scalar(
        select(LedgerEntry.id).where(
            LedgerEntry.account_id == account_id,
            LedgerEntry.kind == LedgerKind.DEPOSIT,
            LedgerEntry.note == SEED_NOTE,
        )
    )
    return entry is not None


async def seed(sessions: async_sessionmaker[AsyncSession], password: str) -> list[SeededUser]:
    """Create the demo users (each with ``password``), fund the traders once."""
    result = []
    for email, role in DEMO_USERS:
        found = await _existing(sessions, email)
        created = found is None
        if found is None:
            found = await accounts.register(sessions, email, password, role)
        _user, account = found
        result.append(SeededUser(email, role, account.id, created))
        if role is Role.TRADER:
            await _fund(sessions, account.id)
    return result


async def _fund(sessions: async_sessionmaker[AsyncSession], account_id: int) -> None:
    """Deposit cash and transfer holdings in one transaction, once per account."""
    async with sessions() as session, session.begin():
        if await _already_funded(session, account_id):
            return
        # Lock every instrument first (ascending id): the global lock order is
        # instruments, then accounts, then positions.
        instruments = {
            row.symbol: row.reference_price
            for row in await session.scalars(
                select(Instrument).order_by(Instrument.id).with_for_update()
            )
        }
        await accounts.apply_deposit(session, account_id, DEMO_CASH, SEED_NOTE)
        for symbol, qty in DEMO_HOLDINGS.items():
            price = instruments.get(symbol)
            if price is not None:
                await accounts.apply_transfer_in(session, account_id, symbol, qty, price)
