"""Donation queries: no rules, no commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from store.donation.models import Donation, DonationKind, DonationPayment, DonationStatus


def by_reference(session: Session, reference: str, *, for_update: bool = False) -> Donation | None:
    query = select(Donation).where(Donation.reference == reference)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def by_subscription(session: Session, subscription_id: str) -> Donation | None:
    return session.exec(select(Donation).where(Donation.subscription_id == subscription_id)).first()


def payment_exists(session: Session, external_id: str) -> bool:
    return (
        session.exec(select(DonationPayment.id).where(DonationPayment.external_id == external_id)).first()
        is not None
    )


def recent(session: Session, *, limit: int = 200) -> Sequence[Donation]:
    return session.exec(
        select(Donation)
        .where(
            col(Donation.status).in_(
                [DonationStatus.succeeded, DonationStatus.active, DonationStatus.cancelled]
            )
        )
        .order_by(col(Donation.created_at).desc(), col(Donation.id).desc())
        .limit(limit)
    ).all()


def supporters(session: Session) -> Sequence[Donation]:
    return session.exec(
        select(Donation)
        .where(Donation.kind == DonationKind.monthly, Donation.status == DonationStatus.active)
        .order_by(col(Donation.succeeded_at))
    ).all()


def received_between(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    """Money received in [start, end), by donation kind, in pence."""
    rows = session.exec(
        select(Donation.kind, func.coalesce(func.sum(DonationPayment.amount), 0))
        .join(Donation, col(Donation.id) == col(DonationPayment.donation_id))
        .where(col(DonationPayment.paid_at) >= start, col(DonationPayment.paid_at) < end)
        .group_by(Donation.kind)
    ).all()
    found = {str(kind): int(total) for kind, total in rows}
    return {kind.value: found.get(kind.value, 0) for kind in DonationKind}


def received_by_article(session: Session) -> dict[int, tuple[int, int]]:
    """article id -> (donations that came from it and paid, pence received from them)."""
    rows = session.exec(
        select(Donation.article_id, func.count(func.distinct(Donation.id)), func.sum(DonationPayment.amount))
        .join(Donation, col(Donation.id) == col(DonationPayment.donation_id))
        .where(col(Donation.article_id).is_not(None))
        .group_by(col(Donation.article_id))
    ).all()
    return {int(a): (int(n), int(total or 0)) for a, n, total in rows if a is not None}


def stale_in_flight(session: Session, older_than: datetime) -> Sequence[Donation]:
    return session.exec(
        select(Donation).where(
            col(Donation.status).in_([DonationStatus.processing, DonationStatus.requires_action]),
            col(Donation.updated_at) < older_than,
        )
    ).all()
