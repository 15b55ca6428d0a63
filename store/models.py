"""Every table, imported in one place so Alembic and tests see the whole schema."""

from store.auth.models import StaffSession, StaffUser
from store.news.models import Article, ArticleLink, ArticleTag, Author

__all__ = ["StaffSession", "StaffUser", "Article", "ArticleLink", "ArticleTag", "Author"]
