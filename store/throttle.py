"""Card attempts, throttled per network address and per order or donation (card testing).

Card testers look for a cheap form that says yes or no about a stolen card number: a £1 donation is
ideal. Each request that can make Stripe check a card counts: `/…/card/setup` (the browser confirms
the SetupIntent, which checks the card) and `/…/card/pay` with a new payment method count 1; a
payment that comes back declined (or fails 3-D Secure) counts 1 more, so a decline costs double.
Asking how an intent ended after 3-D Secure (`payment_intent=…`) checks no new card: never counted,
never refused, so a shopper mid-authentication is not cut off.

The limits, in any hour (a moving window):
* 20 per order or donation. One try with a card is 2 (set-up and payment), 3 if declined: a shopper
  can have six cards declined and still pay with a seventh. Real shoppers rarely need a second card.
* 50 per network address, across orders and donations (a tester simply opens a new donation form
  each time, so this is the limit that bites). Room for several shoppers behind one shared address
  (an office, a mobile network's NAT) each with a decline or two; a tester gets about 16 declined
  cards an hour from one address instead of thousands.
Past either, the answer is 429 with when to try again, and it is given before Stripe is asked.

The counts live in the one `limits` limiter of the app (store.auth.service.limiter: memory in one
process, Redis when STORE_REDIS_URL is set, so every server process shares them). Keys hold the
address and a digest of the order token or donation reference, never the token itself.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request
from limits import RateLimitItem, RateLimitItemPerHour
from sqlmodel import select

from store.auth.service import limiter
from store.db import unit_of_work
from store.deps import client_ip
from store.errors import TooManyAttempts

log = logging.getLogger("store.throttle")

PER_SUBJECT = RateLimitItemPerHour(20)  # one order or donation
PER_ADDRESS = RateLimitItemPerHour(50)  # one network address, everything it pays for


@dataclass
class CardAttempt:
    """One request to a card endpoint; `record_outcome` adds the extra count for a decline."""

    kind: str  # "checkout" or "donation"
    step: str  # "setup" or "pay"
    ip: str
    subject: str  # the order token or donation reference, as posted
    counted: bool

    def _limits(self) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        digest = hashlib.sha256(self.subject.encode()).hexdigest()[:24]
        return [
            (PER_ADDRESS, ("card-ip", self.ip)),
            (PER_SUBJECT, (f"card-{self.kind}", digest)),
        ]

    def take(self) -> None:
        """Count this attempt, or raise TooManyAttempts (429) and count nothing."""
        rate = limiter()
        limits = self._limits()
        for item, keys in limits:
            if not rate.test(item, *keys):
                self._refuse(item, keys)
        for item, keys in limits:
            if not rate.hit(item, *keys):  # another request took the last one meanwhile
                self._refuse(item, keys)

    def declined(self) -> None:
        rate = limiter()
        for item, keys in self._limits():
            rate.hit(item, *keys)

    def _refuse(self, item: RateLimitItem, keys: tuple[str, ...]) -> None:
        stats = limiter().get_window_stats(item, *keys)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        minutes = math.ceil(retry_after / 60)
        log.warning(
            "card attempt throttled",
            extra={
                "ip": self.ip,
                self._subject_name(): self._describe(),
                "kind": f"{self.kind}-{self.step}",
                "count": item.amount - stats.remaining,
                "limit": item.amount,
                "limited_by": keys[0],
                "retry_after": retry_after,
            },
        )
        raise TooManyAttempts(
            f"Too many card attempts. Please try again in {minutes} minute{'' if minutes == 1 else 's'}.",
            retry_after=retry_after,
        )

    def _subject_name(self) -> str:
        return "order" if self.kind == "checkout" else "donation"

    def _describe(self) -> str:
        """The order's number (its token is a secret link) or the donation's reference."""
        if self.kind != "checkout":
            return self.subject[:64]
        from store.order.models import Order

        with unit_of_work(write=False) as session:
            number = session.exec(select(Order.number).where(Order.token == self.subject)).first()
        return number or "unknown"


def _attempt(request: Request, *, kind: str, subject: str, payment_intent: str) -> CardAttempt:
    step = "setup" if request.url.path.endswith("/setup") else "pay"
    attempt = CardAttempt(
        kind=kind,
        step=step,
        ip=client_ip(request),
        subject=subject.strip()[:120],
        counted=not (step == "pay" and payment_intent.strip()),
    )
    if attempt.counted:
        attempt.take()
    request.state.card_attempt = attempt
    return attempt


def checkout_attempt(
    request: Request, order: Annotated[str, Form()] = "", payment_intent: Annotated[str, Form()] = ""
) -> CardAttempt:
    return _attempt(request, kind="checkout", subject=order, payment_intent=payment_intent)


def donation_attempt(
    request: Request, reference: Annotated[str, Form()] = "", payment_intent: Annotated[str, Form()] = ""
) -> CardAttempt:
    return _attempt(request, kind="donation", subject=reference, payment_intent=payment_intent)


# Route dependencies: checked (and counted) before the handler runs, so before Stripe is asked.
CheckoutCardAttempt = Annotated[CardAttempt, Depends(checkout_attempt)]
DonationCardAttempt = Annotated[CardAttempt, Depends(donation_attempt)]


def record_outcome(request: Request, status: str) -> None:
    """After Stripe answered a card endpoint: a declined payment counts once more."""
    attempt = getattr(request.state, "card_attempt", None)
    if attempt is not None and status == "failed":
        attempt.declined()
