"""The ASGI entry point for uvicorn: `store.asgi:app`."""

import gc

from store.app import create_app
from store.web import load_all_templates

app = create_app()
load_all_templates()

# What start-up made (modules, routes, templates, the ORM's registry) lives as long as the process:
# moved out of the collector's sight, the full collections that otherwise stop a worker for tens of
# milliseconds now and then have far less to walk (bench/rush.py: cart-add p99). CPython's gc.freeze,
# as Instagram runs Django.
gc.collect()
gc.freeze()
