"""Stripe, and only here: card payments, refunds, webhooks and monthly donations.

Pure: no database. Callers pass our own idempotency keys (stored with the order or donation) and get our
own result types and errors back, never stripe objects. Every call is shaped so the same request works on
real Stripe and on localstripe (demo and tests); NOTES.md lists what that rules out and why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import stripe

from store.config import Settings, get_settings
from store.db import assert_no_write_lock
from store.money import Money

logger = logging.getLogger("store.payment")

HTTP_TIMEOUT_SECONDS = 15
MAX_NETWORK_RETRIES = 2
WEBHOOK_TOLERANCE_SECONDS = 300


MONTHLY_SUPPORT_PRODUCT_ID = "monthly-support"
MONTHLY_SUPPORT_PRODUCT_NAME = "Monthly support"

PaymentStatus = Literal["succeeded", "requires_action", "processing", "failed"]
SubscriptionStatus = Literal["active", "requires_action", "failed", "cancelled"]
SetupUsage = Literal["on_session", "off_session"]


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class PaymentError(Exception):
    """Stripe refused or failed a call. The message is for logs and staff, not for shoppers."""


class PaymentUnavailable(PaymentError):
    """Stripe could not be reached, timed out, or answered 429/5xx after retries.

    The call may or may not have taken effect: retry later with the SAME idempotency key.
    """


class IdempotencyKeyReused(PaymentError):
    """The idempotency key was first used with different parameters (say, a changed amount)."""


class PaymentMethodRefused(PaymentError):
    """Stripe does not know (or will not use) the payment method the page sent: bad input, not an outage.

    Real Stripe answers 400 `resource_missing` (param `payment_method`); localstripe answers 404.
    """


class RefundRefused(PaymentError):
    """Stripe would not make this refund (already refunded, more than is left, failed payment…)."""


class WebhookSignatureInvalid(PaymentError):
    """Missing, malformed, wrong or too old Stripe-Signature, or a body that is not a Stripe event."""


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetupIntentResult:
    id: str
    client_secret: str = field(repr=False)  # lets the browser act on the intent: keep it out of logs


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """One payment attempt.

    status: "succeeded"; "requires_action" (the page must call stripe.confirmCardPayment(client_secret),
    then ask retrieve_payment); "processing" (wait for the webhook or reconcile; not seen with cards in
    practice); "failed" (declined or authentication failed: decline_message is for the shopper, and the
    next attempt needs a new payment method and a new idempotency key).
    intent_id is None only when a declined card's intent could not be identified.
    """

    intent_id: str | None
    status: PaymentStatus
    client_secret: str | None = field(repr=False)
    decline_message: str | None
    amount: Money
    stripe_status: str  # Stripe's own word, for logs and the staff timeline


@dataclass(frozen=True, slots=True)
class RefundResult:
    id: str
    amount: Money
    status: str  # Stripe's: "succeeded", "pending", "requires_action", "failed" or "canceled"


@dataclass(frozen=True, slots=True)
class SubscriptionResult:
    """A monthly donation.

    status: "active" (paying; includes Stripe's past_due while it retries a renewal); "requires_action"
    (the page calls confirmCardPayment(client_secret), then the server asks retrieve_monthly_support);
    "failed" (the first payment did not go through: decline_message is for the donor, and
    start_monthly_support has already cancelled the subscription); "cancelled" (stopped).
    """

    customer_id: str | None
    subscription_id: str | None
    status: SubscriptionStatus
    client_secret: str | None = field(repr=False)
    decline_message: str | None = None


# --------------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _client(secret_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base},
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=HTTP_TIMEOUT_SECONDS),
    )


def _client_for(settings: Settings | None) -> stripe.StripeClient:
    # Keyed by the two values that matter: Settings itself is not hashable.
    assert_no_write_lock("a call to Stripe")  # every call starts here
    settings = settings or get_settings()
    return _client(settings.stripe_secret_key, settings.stripe_api_base.rstrip("/"))


def _translate(exc: stripe.StripeError, action: str, key: str | None = None) -> PaymentError:
    """Our error for a stripe error (card declines are handled by the callers that expect them)."""
    detail = f"{action}: {exc.user_message or exc.code or type(exc).__name__} (HTTP {exc.http_status})"
    if isinstance(exc, stripe.IdempotencyError):
        logger.error("stripe idempotency key %s reused with other parameters (%s)", key, action)
        return IdempotencyKeyReused(detail)
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or (
        isinstance(exc, stripe.APIError) and (exc.http_status or 500) >= 500
    ):
        logger.warning("stripe unavailable during %s (key %s): %s", action, key, detail)
        return PaymentUnavailable(detail)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        logger.error("stripe refused our API key during %s", action)
        return PaymentError(f"{action}: Stripe refused the API key; check STORE_STRIPE_SECRET_KEY")
    logger.error("stripe refused %s (key %s): %s", action, key, detail)
    return PaymentError(detail)


def _bad_payment_method(exc: stripe.StripeError) -> bool:
    """An InvalidRequestError about the payment method itself (unknown, used up, not a card)."""
    if not isinstance(exc, stripe.InvalidRequestError) or isinstance(exc, stripe.IdempotencyError):
        return False
    param = str(getattr(exc, "param", "") or "")
    return "payment_method" in param or exc.http_status == 404 or exc.code == "resource_missing"


def _get(obj: Any, name: str) -> Any:
    """A field of a StripeObject (or dict), None when absent: fields differ across API versions."""
    if obj is None or isinstance(obj, str):
        return None
    return obj[name] if name in obj else None  # noqa: SIM401 - StripeObject has no .get()


def _id(obj: Any) -> str | None:
    """An expandable field is either an id or the object itself."""
    if obj is None or isinstance(obj, str):
        return obj
    value = _get(obj, "id")
    return str(value) if value is not None else None


def _money(amount: int, currency: str) -> Money:
    return Money(int(amount), currency.upper())


def _require_positive(amount: Money) -> None:
    if amount.amount <= 0:
        raise ValueError("amount must be positive")


# --------------------------------------------------------------------------------------------------
# Shopper messages
# --------------------------------------------------------------------------------------------------

_GENERIC_DECLINE = "Your card was declined. Please try another card or contact your bank."
_DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds. Please try another card.",
    "expired_card": "Your card has expired. Please check the expiry date or use another card.",
    "incorrect_cvc": "The card's security code is incorrect. Please check it and try again.",
    "invalid_cvc": "The card's security code is incorrect. Please check it and try again.",
    "incorrect_number": "The card number is incorrect. Please check it and try again.",
    "invalid_number": "The card number is incorrect. Please check it and try again.",
    "invalid_expiry_month": "The card's expiry date is not valid. Please check it and try again.",
    "invalid_expiry_year": "The card's expiry date is not valid. Please check it and try again.",
    "incorrect_zip": "The postcode does not match your card. Please check it and try again.",
    "processing_error": "We could not process your card just now. Please try again in a moment.",
    "card_velocity_exceeded": "Your card has reached its spending limit. Please try another card.",
    "withdrawal_count_limit_exceeded": "Your card has reached its spending limit. Please try another card.",
    "authentication_required": "Your bank needs you to confirm this payment. Please try again.",
    "payment_intent_authentication_failure": (
        "Your bank could not confirm the payment. Please try again or use another card."
    ),
}
_NOT_COMPLETED = "The payment was not completed. Please try again."
_CANCELLED = "The payment was cancelled. Please try again."


def _decline_message(decline_code: str | None, code: str | None) -> str:
    for candidate in (decline_code, code):
        if candidate and candidate in _DECLINE_MESSAGES:
            return _DECLINE_MESSAGES[candidate]
    return _GENERIC_DECLINE


# --------------------------------------------------------------------------------------------------
# One-off payments
# --------------------------------------------------------------------------------------------------


def create_setup_intent(
    *, usage: SetupUsage = "on_session", settings: Settings | None = None
) -> SetupIntentResult:
    """A SetupIntent for the page's stripe.confirmCardSetup(client_secret, {payment_method: {card}}).

    Its only job is to turn the card element into a pm_… the server can charge (flow B in NOTES.md). Use
    usage="off_session" for monthly donations (the card will be charged again without the donor).
    """
    client = _client_for(settings)
    try:
        intent = client.v1.setup_intents.create(
            params={
                "usage": usage,
                "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            }
        )
    except stripe.StripeError as exc:
        raise _translate(exc, "create setup intent") from exc
    logger.info("stripe setup intent %s created (%s)", intent.id, usage)
    return SetupIntentResult(id=intent.id, client_secret=str(intent.client_secret))


def _result_from_intent(intent: Any) -> PaymentResult:
    raw = str(intent.status)
    amount = _money(intent.amount, intent.currency)
    secret = _get(intent, "client_secret")
    if raw == "succeeded":
        return PaymentResult(intent.id, "succeeded", secret, None, amount, raw)
    if raw == "requires_action":
        return PaymentResult(intent.id, "requires_action", secret, None, amount, raw)
    if raw in ("processing", "requires_capture", "requires_confirmation"):
        return PaymentResult(intent.id, "processing", secret, None, amount, raw)
    # requires_payment_method (declined, or 3-D Secure failed) or canceled.
    error = _get(intent, "last_payment_error")
    if raw == "canceled":
        message = _CANCELLED
    elif error is not None:
        message = _decline_message(_get(error, "decline_code"), _get(error, "code"))
    else:
        message = _NOT_COMPLETED
    return PaymentResult(intent.id, "failed", None, message, amount, raw)  # nothing left to confirm


def _declined(client: stripe.StripeClient, exc: stripe.CardError, amount: Money, key: str) -> PaymentResult:
    error = exc.error
    intent_id = _id(_get(error, "payment_intent"))  # real Stripe puts the failed intent in the error
    charge_id = _get(error, "charge")
    if intent_id is None and charge_id:
        # localstripe does not; its charge knows the intent. Best effort: a decline is still a decline.
        try:
            intent_id = _id(_get(client.v1.charges.retrieve(charge_id), "payment_intent"))
        except stripe.StripeError:
            logger.warning("could not find the intent of declined charge %s (key %s)", charge_id, key)
    message = _decline_message(_get(error, "decline_code"), exc.code)
    logger.info(
        "stripe payment %s declined (key %s, code %s, decline_code %s)",
        intent_id,
        key,
        exc.code,
        _get(error, "decline_code"),
    )
    return PaymentResult(intent_id, "failed", None, message, amount, "requires_payment_method")


def pay(
    *,
    amount: Money,
    payment_method: str,
    idempotency_key: str,
    metadata: Mapping[str, str],
    settings: Settings | None = None,
) -> PaymentResult:
    """Create and confirm a PaymentIntent for payment_method (a pm_… from the page) in one call.

    The same idempotency key with the same parameters answers with the same intent (and the same
    decline) and never charges twice; a key reused with other parameters raises IdempotencyKeyReused.
    A decline is a result ("failed"), not an exception. Raises PaymentUnavailable (retry with the same
    key) or PaymentError.
    """
    _require_positive(amount)
    client = _client_for(settings)
    try:
        intent = client.v1.payment_intents.create(
            params={
                "amount": amount.amount,
                "currency": amount.currency.lower(),
                "payment_method": payment_method,
                "confirm": True,
                # Cards never redirect. Refusing redirect-based methods is what lets confirm=True pass
                # without a return_url on the API version stripe 16.1 pins, where payment_method_types
                # is gone; our localstripe launcher accepts exactly this value (NOTES.md).
                "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                "metadata": dict(metadata),
            },
            options={"idempotency_key": idempotency_key},
        )
    except stripe.CardError as exc:
        return _declined(client, exc, amount, idempotency_key)
    except stripe.StripeError as exc:
        if _bad_payment_method(exc):
            logger.info("stripe refused payment method (key %s): %s", idempotency_key, exc.code)
            raise PaymentMethodRefused(f"pay: {exc.user_message or exc.code}") from exc
        raise _translate(exc, "pay", idempotency_key) from exc
    result = _result_from_intent(intent)
    logger.info("stripe payment %s %s (key %s)", result.intent_id, result.stripe_status, idempotency_key)
    return result


def retrieve_payment(intent_id: str, *, settings: Settings | None = None) -> PaymentResult:
    """Where a PaymentIntent stands now (after 3-D Secure, or when reconciling)."""
    client = _client_for(settings)
    try:
        intent = client.v1.payment_intents.retrieve(intent_id)
    except stripe.StripeError as exc:
        raise _translate(exc, f"retrieve payment {intent_id}") from exc
    return _result_from_intent(intent)


def cancel_payment(intent_id: str, *, settings: Settings | None = None) -> PaymentResult:
    """Cancel a PaymentIntent that has not succeeded (an abandoned 3-D Secure), so it never can.

    Stripe refuses to cancel an intent that succeeded, is processing or is already cancelled; then
    this answers where the intent stands instead, so the caller always learns the truth.
    """
    client = _client_for(settings)
    try:
        intent = client.v1.payment_intents.cancel(intent_id)
    except stripe.InvalidRequestError:
        logger.info("stripe would not cancel payment %s; asking where it stands", intent_id)
        return retrieve_payment(intent_id, settings=settings)
    except stripe.StripeError as exc:
        raise _translate(exc, f"cancel payment {intent_id}") from exc
    result = _result_from_intent(intent)
    logger.info("stripe payment %s cancelled (%s)", intent_id, result.stripe_status)
    return result


def refund(
    *, intent_id: str, amount: Money, idempotency_key: str, settings: Settings | None = None
) -> RefundResult:
    """Refund part or all of a succeeded payment.

    Never asking for more than is left is the caller's job: localstripe accepts any amount (real Stripe
    refuses). Raises RefundRefused when Stripe says no, PaymentUnavailable (retry with the same key).
    """
    _require_positive(amount)
    client = _client_for(settings)
    try:
        made = client.v1.refunds.create(
            params={"payment_intent": intent_id, "amount": amount.amount},
            options={"idempotency_key": idempotency_key},
        )
    except stripe.InvalidRequestError as exc:
        logger.warning("stripe refused refund of %s (key %s): %s", intent_id, idempotency_key, exc.code)
        raise RefundRefused(f"refund of {intent_id}: {exc.user_message or exc.code}") from exc
    except stripe.StripeError as exc:
        raise _translate(exc, f"refund {intent_id}", idempotency_key) from exc
    result = RefundResult(id=made.id, amount=_money(made.amount, made.currency), status=str(made.status))
    logger.info("stripe refund %s of %s: %s (key %s)", result.id, intent_id, result.status, idempotency_key)
    return result


# --------------------------------------------------------------------------------------------------
# Webhooks
# --------------------------------------------------------------------------------------------------


def verify_webhook(
    payload: bytes, sig_header: str | None, *, settings: Settings | None = None
) -> dict[str, Any]:
    """The event as a plain dict, if Stripe-Signature proves it is Stripe's and at most 300 s old."""
    settings = settings or get_settings()
    if not sig_header:
        raise WebhookSignatureInvalid("missing Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(
            payload, sig_header, settings.stripe_webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        raise WebhookSignatureInvalid(str(exc)) from exc
    except ValueError as exc:  # signed, but not JSON (UnicodeDecodeError is a ValueError too)
        raise WebhookSignatureInvalid("body is not a Stripe event") from exc
    return event.to_dict()


# --------------------------------------------------------------------------------------------------
# Monthly donations: Customer + Product + Plan + Subscription
# --------------------------------------------------------------------------------------------------


def _monthly_plan_id(amount: Money) -> str:
    return f"{MONTHLY_SUPPORT_PRODUCT_ID}-{amount.currency.lower()}-{amount.amount}"


def _ensure_monthly_plan(client: stripe.StripeClient, amount: Money) -> str:
    """One Product and one Plan per amount, with ids we choose, made the first time they are needed.

    Retrieve first: creating an existing id fails (409 on localstripe, which the SDK retries; 400 on Stripe).
    """
    plan_id = _monthly_plan_id(amount)
    if _exists(client.v1.plans.retrieve, plan_id):
        return plan_id
    if not _exists(client.v1.products.retrieve, MONTHLY_SUPPORT_PRODUCT_ID):
        _create_unless_raced(
            lambda: client.v1.products.create(
                params={"id": MONTHLY_SUPPORT_PRODUCT_ID, "name": MONTHLY_SUPPORT_PRODUCT_NAME}
            ),
            lambda: _exists(client.v1.products.retrieve, MONTHLY_SUPPORT_PRODUCT_ID),
        )
    _create_unless_raced(
        lambda: client.v1.plans.create(
            params={
                "id": plan_id,
                "amount": amount.amount,
                "currency": amount.currency.lower(),
                "interval": "month",
                "product": MONTHLY_SUPPORT_PRODUCT_ID,
                "nickname": f"{MONTHLY_SUPPORT_PRODUCT_NAME} {amount.format()}",
            }
        ),
        lambda: _exists(client.v1.plans.retrieve, plan_id),
    )
    logger.info("stripe plan %s ready", plan_id)
    return plan_id


def _exists(retrieve: Callable[[str], object], object_id: str) -> bool:
    try:
        retrieve(object_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return False
        raise
    return True


def _create_unless_raced(create: Callable[[], object], exists_now: Callable[[], bool]) -> None:
    """Create; if that fails because another request made the same id meanwhile, that is fine."""
    try:
        create()
    except stripe.StripeError:
        if not exists_now():
            raise


def _first_payment_intent(client: stripe.StripeClient, invoice: Any) -> Any:
    """The PaymentIntent paying a subscription's invoice, as an object, or None."""
    if invoice is None:
        return None
    if isinstance(invoice, str):
        invoice = client.v1.invoices.retrieve(invoice)
    # localstripe (and Stripe API versions before 2025-03-31) keep it on the invoice.
    intent = _get(invoice, "payment_intent")
    if intent is None:
        # Current Stripe: the invoice's payments list holds it. Not checkable against localstripe.
        payments = client.v1.invoice_payments.list(
            params={"invoice": invoice.id, "expand": ["data.payment.payment_intent"]}
        )
        for payment in payments.data:
            inner = _get(payment, "payment")
            if _get(inner, "type") == "payment_intent":
                intent = _get(inner, "payment_intent")
                break
    if isinstance(intent, str):
        intent = client.v1.payment_intents.retrieve(intent)
    return intent


def _subscription_result(client: stripe.StripeClient, subscription: Any) -> SubscriptionResult:
    customer_id = _id(subscription.customer)
    raw = str(subscription.status)
    if raw in ("active", "trialing", "past_due"):
        return SubscriptionResult(customer_id, subscription.id, "active", None)
    if raw in ("canceled", "incomplete_expired", "unpaid"):
        return SubscriptionResult(customer_id, subscription.id, "cancelled", None)
    if raw == "incomplete":
        intent = _first_payment_intent(client, _get(subscription, "latest_invoice"))
        if intent is not None:
            payment = _result_from_intent(intent)
            if payment.status == "requires_action":
                return SubscriptionResult(
                    customer_id, subscription.id, "requires_action", payment.client_secret
                )
            if payment.status == "succeeded":  # the webhook that activates it is on its way
                return SubscriptionResult(customer_id, subscription.id, "active", None)
            return SubscriptionResult(
                customer_id, subscription.id, "failed", None, payment.decline_message or _GENERIC_DECLINE
            )
    return SubscriptionResult(customer_id, subscription.id, "failed", None, _NOT_COMPLETED)


def _new_customer(
    client: stripe.StripeClient,
    email: str,
    name: str,
    payment_method: str,
    metadata: dict[str, str],
    key: str,
) -> Any:
    try:
        return client.v1.customers.create(
            params={
                "email": email,
                "name": name,
                "payment_method": payment_method,
                "invoice_settings": {"default_payment_method": payment_method},
                "metadata": metadata,
            },
            options={"idempotency_key": f"{key}-customer"},
        )
    except stripe.InvalidRequestError as exc:
        if _bad_payment_method(exc):  # the only thing a new customer can miss is the card
            logger.info("stripe refused payment method (key %s): %s", key, exc.code)
            raise PaymentMethodRefused(f"start monthly support: {exc.user_message or exc.code}") from exc
        raise


def start_monthly_support(
    *,
    email: str,
    name: str,
    amount: Money,
    payment_method: str,
    idempotency_key: str,
    metadata: Mapping[str, str] | None = None,
    settings: Settings | None = None,
) -> SubscriptionResult:
    """Subscribe a donor to give amount every month from payment_method (a pm_… from a SetupIntent).

    The first month is charged at once. A decline answers "failed" (and cancels the incomplete
    subscription); 3-D Secure answers "requires_action" with the client_secret for confirmCardPayment.
    Retrying with the same idempotency key replays the same customer and subscription.
    """
    _require_positive(amount)
    client = _client_for(settings)
    extra = dict(metadata or {})
    customer_id: str | None = None
    try:
        customer = _new_customer(client, email, name, payment_method, extra, idempotency_key)
        customer_id = customer.id
        plan_id = _ensure_monthly_plan(client, amount)
        subscription = client.v1.subscriptions.create(
            params={
                "customer": customer.id,
                "items": [{"plan": plan_id}],
                "metadata": extra,
                "expand": ["latest_invoice"],
            },
            options={"idempotency_key": f"{idempotency_key}-subscription"},
        )
        result = _subscription_result(client, subscription)
    except stripe.CardError as exc:  # the card refused to be attached to the customer
        logger.info("stripe monthly support declined (key %s, code %s)", idempotency_key, exc.code)
        return SubscriptionResult(
            customer_id, None, "failed", None, _decline_message(_get(exc.error, "decline_code"), exc.code)
        )
    except stripe.StripeError as exc:
        raise _translate(exc, "start monthly support", idempotency_key) from exc
    if result.status == "failed" and result.subscription_id:
        cancel_monthly_support(result.subscription_id, settings=settings)  # leave nothing half-subscribed
    logger.info(
        "stripe subscription %s for customer %s: %s (key %s)",
        result.subscription_id,
        result.customer_id,
        result.status,
        idempotency_key,
    )
    return result


def retrieve_monthly_support(subscription_id: str, *, settings: Settings | None = None) -> SubscriptionResult:
    """Where a monthly donation stands now (after 3-D Secure, or when reconciling)."""
    client = _client_for(settings)
    try:
        subscription = client.v1.subscriptions.retrieve(
            subscription_id, params={"expand": ["latest_invoice"]}
        )
        return _subscription_result(client, subscription)
    except stripe.StripeError as exc:
        raise _translate(exc, f"retrieve subscription {subscription_id}") from exc


def cancel_monthly_support(subscription_id: str, *, settings: Settings | None = None) -> None:
    """Stop a monthly donation now. Cancelling one that is already cancelled is fine."""
    client = _client_for(settings)
    try:
        client.v1.subscriptions.cancel(subscription_id)
    except stripe.InvalidRequestError as exc:
        try:
            current = client.v1.subscriptions.retrieve(subscription_id)
        except stripe.StripeError:
            raise _translate(exc, f"cancel subscription {subscription_id}") from exc
        if current.status not in ("canceled", "incomplete_expired"):
            raise _translate(exc, f"cancel subscription {subscription_id}") from exc
    except stripe.StripeError as exc:
        raise _translate(exc, f"cancel subscription {subscription_id}") from exc
    logger.info("stripe subscription %s cancelled", subscription_id)
