"""The catalogue role's CSV page: export the catalogue, upload a file to import (catalog/csv_io.py)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from catalog import csv_io
from store.auth.models import Role, StaffUser
from store.deps import Db, require_role
from store.web import FormDataDep, redirect, render, upload_bytes

log = logging.getLogger("catalog.csv")
router = APIRouter()

Catalogue = Annotated[StaffUser, Depends(require_role(Role.catalogue))]


def _page(
    request: Request, *, problems: list[csv_io.Problem] | None = None, error: str = "", status_code: int = 200
) -> Response:
    return render(
        request,
        "staff/catalogue/csv.html",
        {"problems": problems or [], "error": error, "columns": csv_io.COLUMNS},
        status_code=status_code,
    )


@router.get("/staff/catalogue/import", name="catalog.csv_page")
def csv_page(request: Request, user: Catalogue) -> Response:
    return _page(request)


@router.post("/staff/catalogue/import", name="catalog.csv_import")
def csv_import(request: Request, db: Db, user: Catalogue, data: FormDataDep) -> Response:
    upload = upload_bytes(data.get("file"), csv_io.MAX_FILE_BYTES)
    if not upload:
        return _page(request, error="Choose a CSV file to import.", status_code=422)
    db.rollback()  # the import runs its own transactions; hold no snapshot meanwhile
    try:
        report = csv_io.import_csv(upload)
    except csv_io.ImportRefused as exc:
        log.info("catalogue import refused", extra={"staff": user.email, "problems": len(exc.problems)})
        return _page(request, problems=exc.problems, error=exc.message, status_code=422)
    log.info("catalogue imported", extra={"staff": user.email, "summary": report.summary()})
    return redirect(
        request.url_for("catalog.csv_page").path, f"Catalogue imported: {report.summary()}.", "success"
    )


@router.get("/staff/catalogue/export.csv", name="catalog.csv_export")
def csv_export(request: Request, user: Catalogue) -> Response:
    return StreamingResponse(
        csv_io.export_chunks(base_url=request.app.state.settings.base_url),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="catalogue.csv"', "Cache-Control": "no-store"},
    )
