"""The catalogue's routes, as store/registry.py finds them (`catalog.routes.router`):

- catalog/shop_routes.py   /shop and /shop/{slug}: the listing, search and the product page
- catalog/api_routes.py    /api/products: the public JSON API
- catalog/staff_routes.py  /staff/catalogue: the staff desk (products, variants, photos)
"""

from __future__ import annotations

from fastapi import APIRouter

from catalog import api_routes, shop_routes, staff_routes

router = APIRouter()
# One flat router (not include_router): store.deps.commit_in_handler_thread wraps the handlers it finds
# in `router.routes`, and an included router would hide them from it.
for part in (shop_routes, api_routes, staff_routes):
    router.routes.extend(part.router.routes)
