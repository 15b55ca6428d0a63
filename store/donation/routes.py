"""/donate (one-off and monthly, card flow (B) from store/payment/NOTES.md), thank-you, manage/cancel,
and the owner's list of donations and supporters."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData

from store import payment, throttle
from store.auth.models import Role, StaffUser
from store.db import unit_of_work
from store.deps import Db, require_role
from store.donation import repository, service
from store.donation.models import DonationKind, DonationStatus
from store.errors import Conflict, DomainError, prefers_html
from store.money import Money
from store.throttle import DonationCardAttempt
from store.web import FormDataDep, redirect, render

router = APIRouter()
log = service.log

Owner = Annotated[StaffUser, Depends(require_role(Role.owner))]
UNAVAILABLE = "We couldn't reach the card processor. You have not been charged; please try again in a minute."


@router.get("/donate", name="donation.page")
def donate_page(request: Request, amount: str = "", frequency: str = "") -> Response:
    source = request.query_params.get("from", "")[:160]
    form = service.DonationForm(
        frequency=frequency
        if frequency in (DonationKind.one_off, DonationKind.monthly)
        else DonationKind.one_off,
        amount=amount[:10] if amount.replace(".", "", 1).isdigit() else "",
        reference=service.new_reference(),
        source=source,
    )
    return render(request, "donate/donate.html", {"form": form, "shortcuts": service.SHORTCUTS})


def _json_error(message: str, status_code: int = 422, field: str | None = None) -> JSONResponse:
    return JSONResponse({"message": message, "field": field}, status_code=status_code)


def _valid_form(data: FormData) -> tuple[service.DonationForm, Any, Any]:
    form = service.DonationForm.from_mapping(data)
    amount = form.validate()  # DomainError: caller answers 422 with the message
    return form, amount, data


def _refused(request: Request, data: FormData, exc: DomainError) -> Response:
    """Bad input: JSON for the page's script; a browser without it gets the form again (422), the
    values kept and the message beside its field."""
    if not prefers_html(request):
        return _json_error(exc.message, field=exc.field)
    form = service.DonationForm.from_mapping(data)
    with contextlib.suppress(DomainError):
        form.validate()
    return render(
        request, "donate/donate.html", {"form": form, "shortcuts": service.SHORTCUTS}, status_code=422
    )


@router.post("/donate/card/setup", name="donation.card_setup")
def card_setup(request: Request, data: FormDataDep, card_attempt: DonationCardAttempt) -> Response:
    try:
        form, _amount, _data = _valid_form(data)
    except DomainError as exc:
        return _refused(request, data, exc)
    try:
        if form.frequency == DonationKind.monthly:  # the card will be charged again each month
            setup = payment.create_setup_intent(usage="off_session")
        else:
            setup = payment.create_setup_intent(usage="on_session")
    except payment.PaymentError:
        log.warning("setup intent failed for a donation")
        return _json_error(UNAVAILABLE, 503)
    return JSONResponse({"client_secret": setup.client_secret}, headers={"Cache-Control": "no-store"})


def _answer(request: Request, reference: str, outcome: service.Outcome) -> JSONResponse:
    throttle.record_outcome(request, outcome.status)
    if outcome.status == "succeeded":
        body: dict[str, Any] = {
            "status": "succeeded",
            "redirect": request.url_for("donation.thanks", reference=reference).path,
        }
    elif outcome.status == "requires_action":
        body = {
            "status": "requires_action",
            "client_secret": outcome.client_secret,
            "payment_intent": outcome.payment_intent,
        }
    else:
        body = {"status": "failed", "message": outcome.message}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.post("/donate/card/pay", name="donation.card_pay")
def card_pay(request: Request, db: Db, data: FormDataDep, card_attempt: DonationCardAttempt) -> Response:
    try:
        form, amount, data = _valid_form(data)
    except DomainError as exc:
        return _refused(request, data, exc)
    intent_id = str(data.get("payment_intent") or "")
    try:
        if intent_id:
            outcome = service.after_authentication(db, reference=form.reference, intent_id=intent_id)
            return _answer(request, form.reference, outcome)
        payment_method = str(data.get("payment_method") or "")
        for _round in range(2):  # at most: replay an interrupted attempt, then a fresh one
            # Commit the attempt (its idempotency key) before calling Stripe, in its own transaction.
            with unit_of_work() as session:
                attempt = service.begin_attempt(
                    session, form=form, amount=amount, payment_method=payment_method
                )
            if attempt.done:
                return _answer(request, form.reference, service.Outcome("succeeded"))
            result = service.charge(attempt)
            if not attempt.replay:
                break
            with unit_of_work() as session:
                outcome = service.record_result(session, reference=form.reference, result=result)
            if outcome.status != "failed":
                return _answer(request, form.reference, outcome)
        outcome = service.record_result(db, reference=form.reference, result=result)
    except Conflict as exc:
        return _json_error(exc.message, 409)
    except DomainError as exc:
        return _json_error(exc.message, field=exc.field)
    except payment.PaymentUnavailable:
        log.warning("stripe unavailable for a donation", extra={"donation": form.reference})
        return _json_error(UNAVAILABLE, 503)
    except payment.PaymentError:
        log.exception("donation payment error", extra={"donation": form.reference})
        return _json_error("Something went wrong and you have not been charged. Please try again.", 502)
    return _answer(request, form.reference, outcome)


@router.get("/donate/thank-you/{reference}", name="donation.thanks")
def thanks(request: Request, reference: str, db: Db) -> Response:
    donation = service.get(db, reference[:64])
    if donation.status not in (DonationStatus.succeeded, DonationStatus.active, DonationStatus.cancelled):
        return redirect(request.url_for("donation.page").path)
    return render(
        request,
        "donate/thanks.html",
        {"donation": donation, "manage_token": service.manage_token(donation)},
    )


@router.get("/donate/manage/{token}", name="donation.manage")
def manage(request: Request, token: str, db: Db) -> Response:
    donation = service.donation_for_manage_token(db, token)
    return render(request, "donate/manage.html", {"donation": donation, "token": token})


@router.post("/donate/manage/{token}/cancel", name="donation.cancel")
def cancel(request: Request, token: str, db: Db) -> Response:
    donation = service.donation_for_manage_token(db, token)
    try:
        service.cancel_monthly(db, donation=donation)
    except payment.PaymentError:
        log.warning("could not cancel monthly support", extra={"donation": donation.reference})
        return render(
            request,
            "donate/manage.html",
            {
                "donation": donation,
                "token": token,
                "error": "We couldn't reach the card processor. Please try again in a minute.",
            },
            status_code=503,
        )
    return redirect(
        request.url_for("donation.manage", token=token).path,
        "Your monthly support is cancelled. Thank you for all you gave.",
    )


@router.get("/staff/donations", name="donation.staff")
def staff_donations(request: Request, db: Db, user: Owner) -> Response:
    from store.news.models import Article

    donations = repository.recent(db)
    supporters = repository.supporters(db)
    ids = {d.article_id for d in donations if d.article_id}
    articles = {i: db.get(Article, i) for i in ids}
    return render(
        request,
        "staff/donations.html",
        {
            "donations": donations,
            "supporters": supporters,
            "monthly_total": Money(sum(d.amount for d in supporters)),
            "articles": articles,
        },
    )
