"""Staff dashboard (store/staff/dashboard.py has its figures) and the editors' article desk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from catalog import csv_routes
from store.auth.models import Role, StaffUser
from store.deps import Db, current_staff, require_role
from store.errors import DomainError, LoginRequired, NotFound
from store.funding import chart
from store.media import MAX_UPLOAD_BYTES, image_url, store_image
from store.news import repository, service
from store.news.models import Article
from store.order import figures
from store.staff import dashboard as dashboard_figures
from store.web import FormDataDep, redirect, render, upload_bytes

router = APIRouter()
# Staff pages that live with their own domain, in modules the registry does not list.
router.include_router(csv_routes.router)

Editor = Annotated[StaffUser, Depends(require_role(Role.editor))]


@router.get("/staff", name="staff.dashboard")
def dashboard(
    request: Request, db: Db, user: Annotated[StaffUser | None, Depends(current_staff)]
) -> Response:
    if user is None:
        raise LoginRequired("Please log in to continue.")
    board = dashboard_figures.build(db, user)
    context: dict[str, object] = {
        "user": user,
        "board": board,
        "margin_note": figures.MARGIN_NOTE,
        "revenue_note": figures.REVENUE_NOTE,
    }
    if board.chart:
        context.update(
            revenue_chart=chart.column_chart([d["revenue"] for d in board.chart]),
            orders_chart=chart.column_chart([d["orders"] for d in board.chart]),
            first_day=board.chart[0]["date"],
            last_day=board.chart[-1]["date"],
        )
    return render(request, "staff/dashboard.html", context)


@router.get("/staff/articles", name="staff.articles")
def articles(request: Request, db: Db, user: Editor) -> Response:
    items = repository.all_articles(db)
    return render(request, "staff/articles.html", {"articles": items})


def _form_page(
    request: Request, db: Db, form: service.ArticleForm, article: Article | None, status_code: int = 200
) -> Response:
    return render(
        request,
        "staff/article_form.html",
        {
            "form": form,
            "article": article,
            "authors": repository.authors(db),
            "hero_src": image_url(article.hero_image, 320) if article and article.hero_image else None,
        },
        status_code=status_code,
    )


@router.get("/staff/articles/new", name="staff.article_new")
def article_new(request: Request, db: Db, user: Editor) -> Response:
    return _form_page(request, db, service.ArticleForm(), None)


@router.get("/staff/articles/{article_id}", name="staff.article_edit")
def article_edit(request: Request, article_id: int, db: Db, user: Editor) -> Response:
    article = db.get(Article, article_id)
    if article is None:
        raise NotFound("No such article.")
    return _form_page(request, db, service.form_from_article(db, article), article)


@router.post("/staff/articles/new", name="staff.article_create")
def article_create(request: Request, db: Db, user: Editor, data: FormDataDep) -> Response:
    return _save_from_form(request, db, None, data)


@router.post("/staff/articles/{article_id}", name="staff.article_update")
def article_update(request: Request, article_id: int, db: Db, user: Editor, data: FormDataDep) -> Response:
    article = db.get(Article, article_id)
    if article is None:
        raise NotFound("No such article.")
    return _save_from_form(request, db, article, data)


def _save_from_form(request: Request, db: Db, article: Article | None, data: FormData) -> Response:

    def text(name: str) -> str:
        value = data.get(name)
        return value if isinstance(value, str) else ""

    author_id = text("author_id")
    form = service.ArticleForm(
        title=text("title"),
        slug=text("slug"),
        standfirst=text("standfirst"),
        body_md=text("body_md"),
        author_id=int(author_id) if author_id.isdigit() else None,
        hero_alt=text("hero_alt"),
        hero_credit=text("hero_credit"),
        sensitive=bool(text("sensitive")),
        tags=text("tags"),
        links=text("links"),
    )
    hero_key = None
    upload = upload_bytes(data.get("photo"), MAX_UPLOAD_BYTES)
    if upload:
        if not form.hero_alt.strip():
            form.errors["hero_alt"] = "Describe the photo for people who can't see it."
        else:
            try:
                hero_key = store_image(upload, field="photo").key
            except DomainError as exc:
                form.errors["photo"] = exc.message
    service.validate(db, form, existing=article)
    if form.errors:
        return _form_page(request, db, form, article, status_code=422)
    saved = service.save(db, form, article=article, hero_image=hero_key)
    return redirect(f"/staff/articles/{saved.id}", "Article saved.")


@router.post("/staff/articles/{article_id}/publish", name="staff.article_publish")
def article_publish(article_id: int, db: Db, user: Editor, publish: Annotated[str, Form()] = "1") -> Response:
    article = service.set_published(db, article_id=article_id, published=publish == "1")
    message = "Article published." if article.published_at else "Article unpublished."
    return redirect(f"/staff/articles/{article_id}", message)
