"""`storefront check`: the going-live checklist, checked by the software itself.

Each check answers one line: ✓ and what it found, or ✗ with what is wrong and the one thing to do about it.
Checks never change anything (no mail is sent, nothing is registered) and every outside call has a timeout.
"""

from __future__ import annotations

import smtplib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from store.config import (
    DEMO_STRIPE_PUBLISHABLE_KEY,
    DEMO_STRIPE_SECRET_KEY,
    DEMO_STRIPE_WEBHOOK_SECRET,
    Settings,
)

SMTP_TIMEOUT = 10
REDIS_TIMEOUT = 5
MAX_NAMED = 5  # how many SKUs a failing line names before "and N more"


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    ok: bool
    detail: str  # what was found
    fix: str = ""  # the one thing to do, when not ok

    def line(self) -> str:
        if self.ok:
            return f"✓ {self.name}: {self.detail}"
        return f"✗ {self.name}: {self.detail} — {self.fix}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _ok(name: str, detail: str) -> Result:
    return Result(name, True, detail)


def _bad(name: str, detail: str, fix: str) -> Result:
    return Result(name, False, detail, fix)


def redact(url: str) -> str:
    """A URL fit to print: the password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def stripe_webhook_url(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + "/webhooks/stripe"


def printful_webhook_url(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + "/webhooks/printful"


# --- the checks ----------------------------------------------------------------------------------------


def check_settings(settings: Settings) -> Result:
    name = "Settings"
    if not settings.is_production:
        return _ok(name, f"valid for STORE_ENV={settings.env}")
    problems: list[tuple[str, str]] = []
    if settings.stripe_is_local or "stripe.com" not in settings.stripe_api_base:
        problems.append(("STORE_STRIPE_API_BASE points away from Stripe", "unset STORE_STRIPE_API_BASE"))
    if "stripe.com" not in settings.stripe_js_url:
        problems.append(("STORE_STRIPE_JS_URL is not Stripe's", "unset STORE_STRIPE_JS_URL"))
    if settings.stripe_publishable_key in ("", DEMO_STRIPE_PUBLISHABLE_KEY):
        problems.append(
            ("STORE_STRIPE_PUBLISHABLE_KEY is the demo value", "set it to the pk_live_… key from Stripe")
        )
    if settings.stripe_webhook_secret in ("", DEMO_STRIPE_WEBHOOK_SECRET):
        problems.append(
            (
                "STORE_STRIPE_WEBHOOK_SECRET is the demo value",
                "run `storefront webhooks register` and set the whsec_… it prints",
            )
        )
    if settings.fulfilment == "printful" and not settings.printful_webhook_secret:
        problems.append(
            (
                "STORE_PRINTFUL_WEBHOOK_SECRET is empty",
                "set it to a long random value (see docs/going-live.md)",
            )
        )
    if not problems:
        return _ok(name, "valid for STORE_ENV=production")
    detail = "; ".join(p for p, _ in problems)
    return _bad(name, detail, problems[0][1])


def check_base_url(settings: Settings) -> Result:
    name = "Base URL"
    url = settings.base_url
    if urlsplit(url).scheme == "https":
        return _ok(name, f"{url} is https")
    if settings.is_production:
        return _bad(name, f"{url} is not https", "set STORE_BASE_URL to the shop's https:// address")
    return _ok(name, f"{url} (http is fine outside production)")


def check_database(settings: Settings) -> Result:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from store.db import get_engine
    from store.migrate import alembic_config

    name = "Database"
    where = redact(settings.database_url)
    try:
        with get_engine(settings).connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except Exception as exc:  # any driver error: unreachable, bad credentials, no such database
        return _bad(
            name,
            f"cannot connect to {where}: {_first_line(exc)}",
            "start the database or fix STORE_DATABASE_URL",
        )
    heads = set(ScriptDirectory.from_config(alembic_config(settings)).get_heads())
    if current != heads:
        found = ", ".join(sorted(current)) or "no migrations"
        return _bad(
            name, f"{where} is at {found}, not {', '.join(sorted(heads))}", "run `storefront migrate`"
        )
    return _ok(name, f"{where} reachable, at migration head {', '.join(sorted(heads))}")


def check_redis(settings: Settings) -> Result:
    name = "Redis"
    if not settings.redis_url:
        detail = "not set: the job queue and rate limits live beside the database (one machine only)"
        return _ok(name, detail)
    import redis

    where = redact(settings.redis_url)
    try:
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as exc:
        return _bad(name, f"cannot reach {where}: {_first_line(exc)}", "start Redis or fix STORE_REDIS_URL")
    return _ok(name, f"{where} answers")


def check_stripe(settings: Settings, handled: list[str]) -> Iterator[Result]:
    from store.payment.gateway import PaymentError, PaymentUnavailable
    from store.payment.webhook_endpoints import key_mode, list_webhook_endpoints

    mode = key_mode(settings)
    try:
        endpoints = list_webhook_endpoints(settings=settings)  # read-only, and needs a good key
    except PaymentUnavailable:
        yield _bad(
            "Stripe key",
            f"no answer from {settings.stripe_api_base}",
            "check the machine's network (or STORE_STRIPE_API_BASE) and run it again",
        )
        yield _bad("Stripe webhook", "not checked: Stripe did not answer", "fix the Stripe key line first")
        return
    except PaymentError as exc:
        yield _bad(
            "Stripe key",
            f"Stripe refused it ({_first_line(exc).split(': ', 1)[-1]})",
            "set STORE_STRIPE_SECRET_KEY to the secret key from Stripe's dashboard (Developers → API keys)",
        )
        yield _bad("Stripe webhook", "not checked: Stripe refused the key", "fix the Stripe key line first")
        return
    if settings.is_production and mode != "live":
        yield _bad(
            "Stripe key",
            f"works, but it is a {mode} key",
            "use the sk_live_… key in production (STORE_ENV=production)",
        )
    elif not settings.is_production and mode == "live":
        yield _bad(
            "Stripe key",
            "is a live key outside production",
            "use an sk_test_… key, or set STORE_ENV=production",
        )
    elif settings.stripe_secret_key == DEMO_STRIPE_SECRET_KEY and not settings.stripe_is_local:
        yield _bad("Stripe key", "is the demo value", "set STORE_STRIPE_SECRET_KEY")
    else:
        yield _ok("Stripe key", f"works ({mode} mode)")

    url = stripe_webhook_url(settings)
    mine = sorted((e for e in endpoints if e.url == url), key=lambda e: not e.enabled)
    name = "Stripe webhook"
    fix = "run `storefront webhooks register`"
    if not mine:
        yield _bad(name, f"no endpoint for {url}", fix)
        return
    endpoint = mine[0]
    if not endpoint.enabled:
        yield _bad(name, f"endpoint {endpoint.id} for {url} is disabled", fix)
        return
    missing = endpoint.missing(handled)
    if missing:
        yield _bad(name, f"endpoint {endpoint.id} is not sent {', '.join(missing)}", fix)
        return
    extra = (
        f" ({len(mine)} endpoints for this URL: delete the others in Stripe's dashboard)"
        if len(mine) > 1
        else ""
    )
    yield _ok(name, f"{url} receives all {len(handled)} event types the shop handles{extra}")


def check_printful(
    settings: Settings, handled: list[str], skus: list[tuple[str, int | None, str]] | None
) -> Iterator[Result]:
    if settings.fulfilment != "printful":
        yield _ok("Printful", "not used (STORE_FULFILMENT=manual: staff fulfil orders by hand)")
        return
    from store.fulfilment.providers import ProviderConfigError, ProviderError
    from store.fulfilment.providers.printful import PrintfulProvider

    advice = (
        "set STORE_PRINTFUL_TOKEN to a private token from Printful (Settings → API) with the store's scopes"
    )
    try:
        provider = PrintfulProvider(settings)
    except ProviderConfigError as exc:
        yield _bad("Printful token", str(exc), advice)
        return
    with provider:
        try:
            config = provider.webhook_config()
        except ProviderConfigError as exc:
            yield _bad("Printful token", _first_line(exc), advice)
            return
        except ProviderError as exc:
            yield _bad(
                "Printful token",
                f"Printful did not answer: {_first_line(exc)}",
                "try again; check STORE_PRINTFUL_API_BASE",
            )
            return
        yield _ok("Printful token", "works")

        url = printful_webhook_url(settings)
        fix = "run `storefront webhooks register`"
        if config is None:
            yield _bad("Printful webhook", "no webhook URL is set", fix)
        elif config.url != url:
            yield _bad("Printful webhook", f"events go to {config.url}, not {url}", fix)
        elif missing := [t for t in handled if t not in config.types]:
            yield _bad("Printful webhook", f"not sent {', '.join(missing)}", fix)
        else:
            yield _ok("Printful webhook", f"{url} receives all {len(handled)} event types the shop handles")

        if skus is None:
            yield _bad("Variant mapping", "not checked: the database is not ready", "fix the database first")
            return
        try:
            yield check_variants(skus, provider.has_sync_variant)
        except ProviderError as exc:
            yield _bad("Variant mapping", f"Printful did not answer: {_first_line(exc)}", "try again")


def check_variants(
    skus: list[tuple[str, int | None, str]], has_sync_variant: Callable[[str], bool]
) -> Result:
    """Every published variant needs a Printful catalogue variant and a print file, or a sync variant."""
    name = "Variant mapping"
    unmapped = [
        sku
        for sku, variant_id, print_file in skus
        if not (variant_id and print_file) and not has_sync_variant(sku)
    ]
    if not unmapped:
        return _ok(name, f"all {len(skus)} published variants map to Printful with a print file")
    named = ", ".join(unmapped[:MAX_NAMED]) + (
        f" and {len(unmapped) - MAX_NAMED} more" if len(unmapped) > MAX_NAMED else ""
    )
    return _bad(
        name,
        f"{len(unmapped)} of {len(skus)} published variants have no Printful variant and print file: {named}",
        "set each one's Printful variant id and print file URL on the staff product page, "
        "or sync it in Printful under its SKU",
    )


def check_smtp(settings: Settings) -> Result:
    name = "SMTP"
    if not settings.smtp_url:
        if settings.is_production:
            return _bad(
                name,
                "not set: emails would only be written to files",
                "set STORE_SMTP_URL=smtp://user:pass@host:port",
            )
        return _ok(name, f"not set: emails are written to {settings.outbox_dir}/ as .eml files")
    from store.mail.transport import smtp_session

    url = urlsplit(settings.smtp_url)
    where = redact(settings.smtp_url)
    try:
        with smtp_session(settings.smtp_url, timeout=SMTP_TIMEOUT):
            pass  # connected, and logged in when the URL names a user: nothing is sent
    except smtplib.SMTPAuthenticationError as exc:
        return _bad(
            name,
            f"{where} refused the login ({exc.smtp_code})",
            "fix the user and password in STORE_SMTP_URL",
        )
    except (smtplib.SMTPException, OSError) as exc:
        return _bad(
            name, f"cannot talk to {where}: {_first_line(exc)}", "check the host and port in STORE_SMTP_URL"
        )
    return _ok(
        name, f"{where} accepts our login" if url.username else f"{where} answers (no login configured)"
    )


def check_media(settings: Settings) -> Result:
    name = "Media folder"
    folder = Path(settings.media_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".check-"):
            pass
    except OSError as exc:
        return _bad(
            name,
            f"{folder} is not writable: {exc.strerror or exc}",
            "make it writable by the user the shop runs as, or set STORE_MEDIA_DIR",
        )
    return _ok(name, f"{folder} is writable")


def _published_variants(settings: Settings) -> list[tuple[str, int | None, str]]:
    from sqlmodel import select

    from catalog.models import Product, Variant
    from store.db import get_engine, unit_of_work

    with unit_of_work(get_engine(settings), write=False) as session:
        rows = session.exec(
            select(Variant.sku, Variant.provider_variant_id, Variant.print_file_url)
            .join(Product, Product.id == Variant.product_id)  # type: ignore[arg-type]
            .where(Product.is_published == True, Variant.is_available == True)  # noqa: E712
            .order_by(Variant.sku)
        ).all()
    return [(sku, variant_id, print_file) for sku, variant_id, print_file in rows]


def run_checks(settings: Settings) -> list[Result]:
    from store.webhook.service import handled_types

    results = [check_settings(settings), check_base_url(settings)]
    database = check_database(settings)
    results += [database, check_redis(settings)]
    results += list(check_stripe(settings, handled_types("stripe")))
    skus = _published_variants(settings) if database.ok and settings.fulfilment == "printful" else None
    results += list(check_printful(settings, handled_types("printful"), skus))
    results += [check_smtp(settings), check_media(settings)]
    return results
