"""Service accounts: the users an environment's gates act as (smoke, monitor, load).

Each is kept at a password and at least a cash balance and a holding of some symbols
-- idempotently. :func:`inspect` says what is missing for each (the plan), :func:`ensure`
does it for one in a single transaction (created, password set, re-activated, topped up)
and returns what it did: the same list of changes, computed by the same function. A
service account is a trader: a user of another role is refused, never demoted.
``invoke users.provision`` (``ops/users``) drives both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Account, Instrument, Position, User
from app.domain.enums import CASH_ASSET, Role
from app.security import hash_password, verify_password
from app.services import accounts
from app.services.errors import Conflict, NotFound

ZERO = Decimal(0)
PROVISION_NOTE = "service account top-up"
CREATE, PASSWORD_SET, REACTIVATE = "create", "set password", "re-activate"


@dataclass(frozen=True, slots=True)
class Wanted:
    """What one service account must be: its password, and at least this cash and these
    holdings (whole lots per symbol)."""

    email: str
    password: str = field(repr=False)
    cash: Decimal = ZERO
    holding_lots: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Found:
    """Where one service account stands, and what is missing (empty: nothing to do)."""

    email: str
    exists: bool
    cash: Decimal
    holdings: Mapping[str, Decimal]
    pending: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Current:
    user: User | None
    account: Account | None
    holdings: dict[str, Decimal]


async def inspect(
    sessions: async_sessionmaker[AsyncSession], wanted: Sequence[Wanted]
) -> list[Found]:
    """Where each of ``wanted`` stands and what :func:`ensure` would change, read-only.
    :class:`Conflict` for a user of another role, :class:`NotFound` for an unknown symbol."""
    async with sessions() as session:
        found = []
        for item in wanted:
            instruments = await _instruments(session, item.holding_lots, lock=False)
            current = await _current(session, item.email, lock=False)
            found.append(
                Found(
                    item.email.lower(), current.user is not None,
                    current.account.cash if current.account else ZERO, current.holdings,
                    tuple(_pending(current, item, instruments)),
                )
            )  # fmt: skip
        return found


async def ensure(sessions: async_sessionmaker[AsyncSession], wanted: Wanted) -> list[str]:
    """Make one service account as ``wanted`` says, in one transaction under its locks;
    the changes made (empty when it already was). Refusals as :func:`inspect`'s, with
    nothing changed."""
    async with sessions() as session, session.begin():
        # The lock order of every write path: instruments, then the account (queries.py).
        instruments = await _instruments(session, wanted.holding_lots, lock=True)
        current = await _current(session, wanted.email, lock=True)
        changes = _pending(current, wanted, instruments)
        user, account = current.user, current.account
        if user is None or account is None:
            user, account = await accounts.add_user(
                session, wanted.email, wanted.password, Role.TRADER
            )
        elif PASSWORD_SET in changes:
            user.password_hash = hash_password(wanted.password)
        if REACTIVATE in changes:
            user.is_active = True
        await _top_up(session, account.id, current, wanted, instruments)
        return changes


async def _instruments(
    session: AsyncSession, lots: Mapping[str, int], *, lock: bool
) -> dict[str, Instrument]:
    query = select(Instrument).where(Instrument.symbol.in_(sorted(lots))).order_by(Instrument.id)
    found = {row.symbol: row for row in await session.scalars(
        query.with_for_update() if lock else query)}  # fmt: skip
    for symbol in sorted(lots):
        if symbol not in found:
            raise NotFound(f"unknown symbol {symbol!r}")
    return found


async def _current(session: AsyncSession, email: str, *, lock: bool) -> _Current:
    users = select(User).where(User.email == email.lower())
    user = await session.scalar(users.with_for_update() if lock else users)
    if user is None:
        return _Current(None, None, {})
    if user.role is not Role.TRADER:
        raise Conflict(f"{user.email} exists as {user.role.value}; a service account is a trader")
    account = await session.scalar(select(Account).where(Account.user_id == user.id))
    if account is None:
        return _Current(user, None, {})
    rows = await session.execute(
        select(Instrument.symbol, Position.qty)
        .join(Position, Position.instrument_id == Instrument.id)
        .where(Position.account_id == account.id)
    )
    return _Current(user, account, {row.symbol: row.qty for row in rows})


def _missing_qty(current: _Current, symbol: str, lots: int, instrument: Instrument) -> Decimal:
    return max(ZERO, instrument.lot_size * lots - current.holdings.get(symbol, ZERO))


def _pending(current: _Current, wanted: Wanted, instruments: Mapping[str, Instrument]) -> list[str]:
    """What :func:`ensure` does for ``wanted`` from ``current``, one phrase per change."""
    user, account = current.user, current.account
    changes = []
    if user is None or account is None:
        changes.append(CREATE)
    else:
        if not verify_password(wanted.password, user.password_hash):
            changes.append(PASSWORD_SET)
        if not user.is_active:
            changes.append(REACTIVATE)
    cash = account.cash if account else ZERO
    if cash < wanted.cash:
        changes.append(f"deposit {(wanted.cash - cash).normalize():f} {CASH_ASSET}")
    for symbol, lots in sorted(wanted.holding_lots.items()):
        missing = _missing_qty(current, symbol, lots, instruments[symbol])
        if missing > ZERO:
            changes.append(f"transfer in {missing.normalize():f} {symbol}")
    return changes


async def _top_up(
    session: AsyncSession,
    account_id: int,
    current: _Current,
    wanted: Wanted,
    instruments: Mapping[str, Instrument],
) -> None:
    cash = current.account.cash if current.account else ZERO
    if cash < wanted.cash:
        await accounts.apply_deposit(session, account_id, wanted.cash - cash, PROVISION_NOTE)
    for symbol, lots in sorted(wanted.holding_lots.items()):
        instrument = instruments[symbol]
        missing = _missing_qty(current, symbol, lots, instrument)
        if missing > ZERO:
            price = instrument.last_price or instrument.reference_price or instrument.tick_size
            await accounts.apply_transfer_in(session, account_id, symbol, missing, price)
