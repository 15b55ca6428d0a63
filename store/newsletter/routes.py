"""Newsletter pages: sign-up, confirm, one-click unsubscribe; the staff desk for issues and export."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from store.auth.models import Role, StaffUser
from store.deps import Db, client_ip, require_role
from store.errors import DomainError, NotFound
from store.newsletter import repository, service
from store.newsletter.models import IssueStatus
from store.web import FormDataDep, redirect, render

router = APIRouter()

Editor = Annotated[StaffUser, Depends(require_role(Role.editor))]


def _signup_page(
    request: Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "newsletter/signup.html",
        {"values": values or {}, "errors": errors or {}, "consent_text": service.CONSENT_TEXT},
        status_code=status_code,
    )


@router.get("/newsletter", name="newsletter.page")
def signup_page(request: Request, source: str = "") -> Response:
    return _signup_page(request, values={"source": service.clean_source(source)})


@router.post("/newsletter", name="newsletter.subscribe")
def subscribe(request: Request, db: Db, form: FormDataDep) -> Response:
    values = {
        "email": str(form.get("email") or "")[:300],
        "full_name": str(form.get("full_name") or "")[:300],
        "source": service.clean_source(str(form.get("source") or "")),
    }
    try:
        service.subscribe(
            db,
            email=values["email"],
            full_name=values["full_name"],
            source=values["source"],
            ip=client_ip(request),
        )
    except service.SignupThrottled as exc:
        return _signup_page(request, values=values, errors={"email": exc.message}, status_code=429)
    except DomainError as exc:
        return _signup_page(
            request, values=values, errors={exc.field or "email": exc.message}, status_code=422
        )
    # The same answer for a new, pending, confirmed or unsubscribed address.
    return redirect(request.url_for("newsletter.check_email").path)


@router.get("/newsletter/check-your-email", name="newsletter.check_email")
def check_email(request: Request) -> Response:
    return render(request, "newsletter/check_email.html", {"days": service.CONFIRM_MAX_AGE // 86400})


@router.get("/newsletter/confirm/{token}", name="newsletter.confirm")
def confirm(request: Request, token: str, db: Db) -> Response:
    try:
        subscriber = service.confirm(db, token=token, ip=client_ip(request))
    except service.InvalidLink as exc:
        return render(request, "newsletter/link_problem.html", {"message": exc.message}, status_code=400)
    return render(
        request,
        "newsletter/confirmed.html",
        {"subscriber": subscriber, "unsubscribe_token": service.unsubscribe_token(subscriber)},
    )


@router.get("/newsletter/unsubscribe/{token}", name="newsletter.unsubscribe")
def unsubscribe_get(request: Request, token: str, db: Db) -> Response:
    try:
        subscriber = service.unsubscribe(db, token=token, source="email-link", ip=client_ip(request))
    except service.InvalidLink as exc:
        return render(request, "newsletter/link_problem.html", {"message": exc.message}, status_code=400)
    return render(request, "newsletter/unsubscribed.html", {"subscriber": subscriber})


@router.post("/newsletter/unsubscribe/{token}", name="newsletter.unsubscribe_post")
def unsubscribe_post(request: Request, token: str, db: Db) -> Response:
    """RFC 8058 one-click: the mail client POSTs List-Unsubscribe=One-Click without our cookies (no CSRF:
    store.web.CSRF_EXEMPT_PREFIXES; the signed token is the proof)."""
    try:
        subscriber = service.unsubscribe(db, token=token, source="one-click", ip=client_ip(request))
    except service.InvalidLink as exc:
        return render(request, "newsletter/link_problem.html", {"message": exc.message}, status_code=400)
    return render(request, "newsletter/unsubscribed.html", {"subscriber": subscriber})


# --- staff -----------------------------------------------------------------------------------------


def _form_page(request: Request, db: Db, form: service.IssueForm, status_code: int = 200) -> Response:
    from sqlmodel import col, select

    from catalog.models import Product
    from store.news import repository as news

    products = db.exec(
        select(Product)
        .where(col(Product.is_published).is_(True))
        .order_by(col(Product.position), col(Product.id))
    ).all()
    return render(
        request,
        "staff/newsletter/issue_form.html",
        {"form": form, "articles": news.published(db, limit=30), "products": products},
        status_code=status_code,
    )


@router.get("/staff/newsletter", name="newsletter.staff_issues")
def staff_issues(request: Request, db: Db, user: Editor, status: str = "") -> Response:
    chosen = status if status in IssueStatus.__members__ else ""
    issues = repository.issues(db, status=chosen or None)
    return render(
        request,
        "staff/newsletter/issues.html",
        {
            "issues": issues,
            "progress": {i.id: repository.delivery_counts(db, i.id) for i in issues if i.id is not None},
            "counts": repository.counts_by_status(db),
            "status": chosen,
            "statuses": [s.value for s in IssueStatus],
        },
    )


@router.get("/staff/newsletter/new", name="newsletter.staff_new")
def staff_new(request: Request, db: Db, user: Editor) -> Response:
    return _form_page(request, db, service.IssueForm())


def _ids(values: list[object]) -> list[int]:
    return [int(str(v)) for v in values if str(v).isdigit()]


@router.post("/staff/newsletter/new", name="newsletter.staff_create")
def staff_create(request: Request, db: Db, user: Editor, data: FormDataDep) -> Response:
    form = service.IssueForm(
        subject=str(data.get("subject") or ""),
        intro=str(data.get("intro") or ""),
        article_ids=_ids(list(data.getlist("article_ids"))),
        product_ids=_ids(list(data.getlist("product_ids"))),
    )
    try:
        issue = service.create_issue(db, form=form, staff_email=user.email)
    except DomainError:
        return _form_page(request, db, form, status_code=422)
    return redirect(
        request.url_for("newsletter.staff_issue", issue_id=issue.id).path, "Draft saved. Check it, then send."
    )


@router.get("/staff/newsletter/subscribers.csv", name="newsletter.staff_export")
def staff_export(db: Db, user: Editor) -> Response:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(service.export_rows(db))
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="newsletter-subscribers.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/staff/newsletter/{issue_id}", name="newsletter.staff_issue")
def staff_issue(request: Request, issue_id: int, db: Db, user: Editor) -> Response:
    issue = service.get_issue(db, issue_id)
    content = service.issue_content(db, issue)
    return render(
        request,
        "staff/newsletter/issue.html",
        {
            **content,
            "progress": repository.delivery_counts(db, issue_id),
            "deliveries": [
                (d, repository.delivery_word(d.status, bool(m and m.sent_at), (m.last_error if m else "")))
                for d, m in repository.deliveries_with_mail(db, issue_id)
            ],
            "confirmed": repository.counts_by_status(db)["confirmed"],
            "hx_block": "progress",
        },
    )


@router.post("/staff/newsletter/{issue_id}/send", name="newsletter.staff_send")
def staff_send(request: Request, issue_id: int, db: Db, user: Editor) -> Response:
    back = request.url_for("newsletter.staff_issue", issue_id=issue_id).path
    try:
        started = service.start_send(db, issue_id=issue_id)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return redirect(back, exc.message, "error")
    return redirect(back, "Sending has started." if started else "This issue has already been sent.")
