"""/funding for readers; the owner's monthly costs; which stories led to sales and donations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from store.auth.models import Role, StaffUser
from store.deps import Db, require_role
from store.errors import DomainError
from store.funding import chart, service
from store.funding.models import COST_CATEGORIES
from store.money import Money
from store.web import FormDataDep, redirect, render

router = APIRouter()

Owner = Annotated[StaffUser, Depends(require_role(Role.owner))]
Editor = Annotated[StaffUser, Depends(require_role(Role.editor))]


@router.get("/funding", name="funding.page")
def funding_page(request: Request, db: Db, month: str = "") -> Response:
    chosen = service.parse_month(month)
    current = service.figures(db, chosen)
    past = service.history(db, until=chosen)
    return render(
        request,
        "funding/funding.html",
        {
            "f": current,
            "categories": COST_CATEGORIES,
            "chart": chart.month_chart(current),
            "history": past,
            "history_chart": chart.history_chart([current, *past]) if past else None,
            "is_current": chosen == service.this_month(),
            "Money": Money,
        },
    )


def _staff_page(
    request: Request,
    db: Db,
    month_key: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    month = service.parse_month(month_key)
    f = service.figures(db, month)
    if values is None:
        values = {
            k: (Money(v).format().replace("£", "").replace(",", "") if v else "") for k, v in f.costs.items()
        }
    return render(
        request,
        "staff/funding.html",
        {
            "month": month,
            "month_key": month.strftime("%Y-%m"),
            "previous": service.previous_month(month).strftime("%Y-%m"),
            "next": service.next_month(month).strftime("%Y-%m"),
            "categories": COST_CATEGORIES,
            "values": values,
            "errors": errors or {},
            "f": f,
            "Money": Money,
        },
        status_code=status_code,
    )


@router.get("/staff/funding", name="funding.staff")
def staff_funding(request: Request, db: Db, user: Owner, month: str = "") -> Response:
    return _staff_page(request, db, month)


@router.post("/staff/funding", name="funding.staff_save")
def staff_funding_save(request: Request, db: Db, user: Owner, data: FormDataDep) -> Response:
    month = service.parse_month(str(data.get("month") or ""))
    values = {key: str(data.get(key) or "")[:20] for key in COST_CATEGORIES}
    try:
        service.set_costs(db, month=month, amounts=values, staff_email=user.email)
    except DomainError as exc:
        errors = getattr(exc, "errors", {exc.field or "hosting": exc.message})
        return _staff_page(request, db, month.strftime("%Y-%m"), values, errors, 422)
    return redirect(
        f"{request.url_for('funding.staff').path}?month={month.strftime('%Y-%m')}",
        f"Costs for {month.strftime('%B %Y')} saved.",
    )


@router.get("/staff/attribution", name="funding.attribution")
def staff_attribution(request: Request, db: Db, user: Editor) -> Response:
    return render(request, "staff/attribution.html", {"rows": service.attribution(db), "Money": Money})
