"""The ASGI entry point for uvicorn: `store.asgi:app`."""

from store.app import create_app

app = create_app()
