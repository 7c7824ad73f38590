"""Users, accounts, deposits, transfers, and the read models built on them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Account, Fill, Instrument, LedgerEntry, Position, User, utcnow
from app.domain import risk
from app.domain.enums import CASH_ASSET, LedgerKind, Role
from app.security import hash_password, verify_password
from app.services import queries
from app.services.errors import AlreadyExists, AuthenticationFailed, InvalidRequest, RuleViolation

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """Balances of one account, with positions valued at the last price."""

    account: Account
    positions_value: Decimal

    @property
    def buying_power(self) -> Decimal:
        """Cash not reserved by open buy orders."""
        return self.account.cash - self.account.reserved_cash

    @property
    def equity(self) -> Decimal:
        """Cash plus the market value of positions."""
        return self.account.cash + self.positions_value


@dataclass(frozen=True, slots=True)
class PositionView:
    """A position with its symbol, last trade price and mark price."""

    position: Position
    symbol: str
    last_price: Decimal | None
    mark_price: Decimal | None

    @property
    def unrealized_pnl(self) -> Decimal | None:
        """Profit or loss at the mark price (last trade, else the reference price)."""
        if self.mark_price is None:
            return None
        return risk.realized(self.position.avg_price, self.position.qty, self.mark_price)


async def register(
    sessions: async_sessionmaker[AsyncSession],
    email: str,
    password: str,
    role: Role = Role.TRADER,
) -> tuple[User, Account]:
    """Create a user and an empty cash account; the e-mail must be new."""
    try:
        async with sessions() as session, session.begin():
            return await add_user(session, email, password, role)
    except IntegrityError:
        raise AlreadyExists(f"{email.lower()} is already registered") from None


async def add_user(
    session: AsyncSession, email: str, password: str, role: Role
) -> tuple[User, Account]:
    """Create a user and an empty cash account within the caller's transaction."""
    user = User(
        email=email.lower(),
        password_hash=hash_password(password),
        role=role,
        is_active=True,
        created_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    account = Account(
        user_id=user.id, currency=CASH_ASSET, cash=ZERO, reserved_cash=ZERO, created_at=utcnow()
    )
    session.add(account)
    await session.flush()
    return user, account


async def authenticate(session: AsyncSession, email: str, password: str) -> User:
    """The active user with these credentials, or :class:`AuthenticationFailed`."""
    if not _storable(email):
        raise AuthenticationFailed("incorrect email or password")
    user = await session.scalar(select(User).where(User.email == email.lower()))
    if not verify_password(password, user.password_hash if user else None):
        raise AuthenticationFailed("incorrect email or password")
    assert user is not None
    if not user.is_active:
        raise AuthenticationFailed("incorrect email or password")
    return user


def _storable(text: str) -> bool:
    """False for text no database column can hold (NUL, lone surrogates)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_USER_COLUMNS = tuple(User.__table__.c)
_ACCOUNT_COLUMNS = tuple(Account.__table__.c)
_USER_WITH_ACCOUNT = (
    select(*_USER_COLUMNS, *(column.label(f"account_{column.name}") for column in _ACCOUNT_COLUMNS))
    .join_from(
        User.__table__, Account.__table__, Account.__table__.c.user_id == User.__table__.c.id
    )
    .where(User.__table__.c.id == bindparam("user_id"))
)
"""Built once: every authenticated request runs it (Core, not the ORM: a third of the cost)."""


async def user_with_account(session: AsyncSession, user_id: int) -> tuple[User, Account] | None:
    """A user and their account, in one query (detached objects: read them, never write)."""
    connection = await session.connection()
    row = (await connection.execute(_USER_WITH_ACCOUNT, {"user_id": user_id})).first()
    if row is None:
        return None
    values = row._mapping
    user = User(**{column.name: values[column.name] for column in _USER_COLUMNS})
    account = Account(
        **{column.name: values[f"account_{column.name}"] for column in _ACCOUNT_COLUMNS}
    )
    return user, account


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose order: an account, or the user whose account it is (who must be active)."""

    account_id: int | None = None
    user_id: int | None = None


REFUSED_CALLER = "token is invalid"
"""What an unknown or deactivated user acting on a token is told (as the API says it)."""


async def account_of(session: AsyncSession, owner: Owner) -> int:
    """The owner's account id; a user's only while the user is active (else
    :class:`AuthenticationFailed`), read in the caller's transaction."""
    if owner.account_id is not None:
        return owner.account_id
    assert owner.user_id is not None
    found = await user_with_account(session, owner.user_id)
    if found is None or not found[0].is_active:
        raise AuthenticationFailed(REFUSED_CALLER)
    return found[1].id


async def deposit(
    sessions: async_sessionmaker[AsyncSession], account_id: int, amount: Decimal, note: str
) -> Account:
    """Credit cash to an account and record it in the ledger, in its own transaction."""
    async with sessions() as session, session.begin():
        return await apply_deposit(session, account_id, amount, note)


async def apply_deposit(
    session: AsyncSession, account_id: int, amount: Decimal, note: str
) -> Account:
    """Credit cash within the caller's transaction."""
    if amount <= ZERO:
        raise InvalidRequest("amount must be positive")
    account = await queries.lock_account(session, account_id)
    account.cash += amount
    _record(session, account_id, LedgerKind.DEPOSIT, CASH_ASSET, amount, note)
    await session.flush()
    return account


async def transfer_in(
    sessions: async_sessionmaker[AsyncSession],
    account_id: int,
    symbol: str,
    qty: Decimal,
    cost_price: Decimal,
) -> Position:
    """Move instruments into an account (a transfer from another broker) at a cost basis."""
    async with sessions() as session, session.begin():
        return await apply_transfer_in(session, account_id, symbol, qty, cost_price)


async def apply_transfer_in(
    session: AsyncSession, account_id: int, symbol: str, qty: Decimal, cost_price: Decimal
) -> Position:
    """Transfer instruments in within the caller's transaction (instrument, account, position)."""
    if qty <= ZERO or cost_price <= ZERO:
        raise InvalidRequest("qty and cost_price must be positive")
    instrument = await queries.lock_instrument(session, symbol)
    if not risk.on_grid(qty, instrument.lot_size):
        raise RuleViolation(
            f"qty {qty.normalize():f} is not a multiple of {instrument.lot_size.normalize():f}"
        )
    await queries.lock_account(session, account_id)
    positions = await queries.lock_positions(session, instrument.id, [account_id])
    position = positions[account_id]
    position.avg_price = risk.average_price(position.qty, position.avg_price, qty, cost_price)
    position.qty += qty
    position.updated_at = utcnow()
    _record(session, account_id, LedgerKind.TRANSFER_IN, symbol, qty, f"cost {cost_price}")
    await session.flush()
    return position


def _record(
    session: AsyncSession,
    account_id: int,
    kind: LedgerKind,
    asset: str,
    amount: Decimal,
    note: str,
) -> None:
    """Add one ledger entry to the caller's transaction."""
    session.add(
        LedgerEntry(
            account_id=account_id,
            kind=kind,
            asset=asset,
            amount=amount,
            note=note,
            created_at=utcnow(),
        )
    )


async def summary(session: AsyncSession, account: Account) -> AccountSummary:
    """Account balances and the value of its positions at the mark price."""
    views = await positions(session, account.id)
    value = sum(
        (risk.notional(v.mark_price, v.position.qty) for v in views if v.mark_price is not None),
        ZERO,
    )
    return AccountSummary(account, value)


async def positions(session: AsyncSession, account_id: int) -> list[PositionView]:
    """Non-empty positions of an account."""
    rows = await session.execute(
        select(
            Position,
            Instrument.symbol,
            Instrument.last_price,
            func.coalesce(Instrument.last_price, Instrument.reference_price),
        )
        .join(Instrument, Instrument.id == Position.instrument_id)
        .where(Position.account_id == account_id, Position.qty > ZERO)
        .order_by(Instrument.symbol)
    )
    return [PositionView(row[0], row[1], row[2], row[3]) for row in rows]


async def fills(
    session: AsyncSession, account_id: int, *, before_id: int | None, limit: int
) -> list[tuple[Fill, str]]:
    """An account's fills (as buyer or seller), newest first, ``limit`` + 1 rows."""
    query = (
        select(Fill, Instrument.symbol)
        .join(Instrument, Instrument.id == Fill.instrument_id)
        .where((Fill.buyer_account_id == account_id) | (Fill.seller_account_id == account_id))
    )
    if before_id is not None:
        query = query.where(Fill.id < before_id)
    rows = await session.execute(query.order_by(Fill.id.desc()).limit(limit + 1))
    return [(row[0], row[1]) for row in rows]


async def ledger_balance(session: AsyncSession, account_id: int, asset: str) -> Decimal:
    """Recompute a balance from the ledger alone."""
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), ZERO)).where(
            LedgerEntry.account_id == account_id, LedgerEntry.asset == asset
        )
    )
    return total if total is not None else ZERO
