"""Two solved problems, solved once: is this an email address, and what is this title's slug.

Both lean on well-kept libraries (email-validator, python-slugify) rather than a regular expression:
addresses follow RFC 5322/6531 (internationalised ones too), and slugs transliterate accents, so
"São Paulo" becomes `sao-paulo`, not `s-o-paulo`.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from slugify import slugify as _slugify

SLUG_MAX_LENGTH = 150


def is_email_address(text: str) -> bool:
    """True for an address mail can be sent to (syntax only: no DNS look-up, so no network).

    Refuses what a person might type by mistake — no @, two @s, spaces, a display name, no dot in the
    domain, more than 254 characters — and the reserved domains that never receive mail (.test,
    .local, .invalid, localhost …).
    """
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def slugify(text: str, *, max_length: int = SLUG_MAX_LENGTH) -> str:
    """Lower-case ASCII words joined by hyphens, accents transliterated; "" when nothing is left."""
    return _slugify(text, max_length=max_length)
