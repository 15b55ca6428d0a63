"""/donate (one-off and monthly, card flow (B) from store/payment/NOTES.md), thank-you, manage/cancel,
and the owner's list of donations and supporters."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from store import throttle
from store.auth.models import Role, StaffUser
from store.deps import Db, require_role
from store.donation import payments, repository, service
from store.donation.models import DonationKind, DonationStatus
from store.errors import DomainError, prefers_html
from store.money import Money
from store.throttle import DonationCardAttempt
from store.web import FormDataDep, redirect, render

router = APIRouter()
log = service.log

Owner = Annotated[StaffUser, Depends(require_role(Role.owner))]


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


# What each refusal answers: 4xx for the donor's input or an attempt in flight, 502/503 only when Stripe
# itself failed or could not be reached.
HTTP_STATUS = {"bad_input": 422, "conflict": 409, "unavailable": 503, "error": 502}


def _refused(
    request: Request, data: FormDataDep, outcome: payments.Outcome | payments.SetupOutcome
) -> Response:
    """Bad input: JSON for the page's script; a browser without it gets the form again (422), the
    values kept and the message beside its field."""
    if not prefers_html(request):
        return _json_error(outcome.message, HTTP_STATUS[outcome.status], field=outcome.field)
    form = service.DonationForm.from_mapping(data)
    with contextlib.suppress(DomainError):
        form.validate()
    return render(
        request, "donate/donate.html", {"form": form, "shortcuts": service.SHORTCUTS}, status_code=422
    )


@router.post("/donate/card/setup", name="donation.card_setup")
def card_setup(request: Request, data: FormDataDep, card_attempt: DonationCardAttempt) -> Response:
    outcome = payments.setup_card(service.DonationForm.from_mapping(data))
    if outcome.status == "bad_input":
        return _refused(request, data, outcome)
    if outcome.status != "ready":
        return _json_error(outcome.message, HTTP_STATUS[outcome.status], field=outcome.field)
    return JSONResponse({"client_secret": outcome.client_secret}, headers={"Cache-Control": "no-store"})


def _answer(request: Request, data: FormDataDep, outcome: payments.Outcome) -> Response:
    # A decline counts double against card testing; so does a payment method Stripe never issued.
    throttle.record_outcome(request, "failed" if outcome.stripe_refused else outcome.status)
    reference = str(data.get("reference") or "")
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
    elif outcome.status == "failed":
        body = {"status": "failed", "message": outcome.message}
    elif outcome.status == "bad_input" and not outcome.stripe_refused:
        return _refused(request, data, outcome)
    else:
        return _json_error(outcome.message, HTTP_STATUS[outcome.status], field=outcome.field)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.post("/donate/card/pay", name="donation.card_pay")
def card_pay(request: Request, db: Db, data: FormDataDep, card_attempt: DonationCardAttempt) -> Response:
    form = service.DonationForm.from_mapping(data)
    outcome = payments.donate(
        form,
        payment_method=str(data.get("payment_method") or ""),
        payment_intent=str(data.get("payment_intent") or ""),
    )
    return _answer(request, data, outcome)


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
    db.rollback()  # the cancellation runs its own transactions; hold no snapshot meanwhile
    outcome = payments.cancel_monthly(reference=donation.reference)
    if outcome.status != "succeeded":
        return render(
            request,
            "donate/manage.html",
            {"donation": donation, "token": token, "error": outcome.message},
            status_code=503 if outcome.status == "unavailable" else 400,
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
