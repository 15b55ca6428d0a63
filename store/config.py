"""Settings from the environment (prefix STORE_) and `.env`. See ../shared/CONTRACT.md."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-secret-key-change-me"
MIN_SECRET_LENGTH = 32
# localstripe accepts any sk_test_ key; these are only used outside production.
DEMO_STRIPE_SECRET_KEY = "sk_test_demo_storefront"
DEMO_STRIPE_PUBLISHABLE_KEY = "pk_test_demo_storefront"
DEMO_STRIPE_WEBHOOK_SECRET = "whsec_demo_storefront"
LOCALSTRIPE_PORT = 8420


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STORE_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "production"] = "dev"
    database_url: str = "sqlite:///var/store.db"
    secret_key: str = DEV_SECRET_KEY
    base_url: str = "http://127.0.0.1:8000"

    stripe_secret_key: str = DEMO_STRIPE_SECRET_KEY
    stripe_publishable_key: str = DEMO_STRIPE_PUBLISHABLE_KEY
    stripe_webhook_secret: str = DEMO_STRIPE_WEBHOOK_SECRET
    stripe_api_base: str = "https://api.stripe.com"
    stripe_js_url: str = "https://js.stripe.com/v3/"

    fulfilment: Literal["manual", "printful"] = "manual"
    printful_token: str = ""
    printful_api_base: str = "https://api.printful.com"
    printful_webhook_secret: str = ""
    # How long one worker may hold a fulfilment row without renewing it: a heartbeat renews it every
    # third of this while the provider call runs, so a dead worker's row is taken over within a
    # minute (store.fulfilment.lease). And how long a pending row may sit untouched before the sweep
    # resubmits it and the exception desk shows it.
    fulfilment_lease_seconds: int = 45
    fulfilment_stuck_seconds: int = 180

    # A pending_payment order with no payment under way for this long is cancelled and its discount
    # use released (store.checkout.unpaid; the worker runs it every 10 minutes).
    unpaid_order_minutes: int = Field(default=120, ge=1)
    # The largest donation taken online in one go; the smallest is £1.
    donation_max_pounds: int = Field(default=1000, ge=1)

    smtp_url: str = ""
    redis_url: str = ""
    media_dir: Path = Path("var/media")
    # Hosts whose pictures a catalogue CSV import may fetch (comma-separated); empty: upload them instead.
    image_fetch_allow: str = ""
    outbox_dir: Path = Path("var/outbox")
    mail_from: str = "Red Revolution Media <shop@redrevolution.example>"

    # Behind a TLS proxy (nginx): only these peers' X-Forwarded-Proto/-For are believed.
    # Comma-separated addresses or networks (CIDR); "*" trusts every peer (only behind a firewall).
    trusted_proxies: str = "127.0.0.1"
    # Behind deploy/nginx.conf's page cache: for how many seconds nginx may answer visitors without
    # cookies with a page it got from the shop (store/page_cache.py, "public copy"). 0: never shared.
    shared_cache_seconds: int = Field(default=0, ge=0, le=300)
    # Who may read /metrics (the real client address, after the proxy headers are applied).
    metrics_allow: str = "127.0.0.1"

    @model_validator(mode="after")
    def _refuse_weak_production_secrets(self) -> Settings:
        if self.env == "production":
            if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"STORE_SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} "
                    "characters in production"
                )
            if self.stripe_secret_key == DEMO_STRIPE_SECRET_KEY:
                raise ValueError("STORE_STRIPE_SECRET_KEY must be set in production")
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def stripe_is_local(self) -> bool:
        """True when payments go to localstripe (demo and tests): the pages say 'test mode'."""
        return self.stripe_api_base.startswith(("http://127.0.0.1", "http://localhost"))

    @property
    def image_fetch_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.image_fetch_allow.split(",") if h.strip())

    @property
    def var_dir(self) -> Path:
        return Path("var")


@lru_cache
def get_settings() -> Settings:
    return Settings()
