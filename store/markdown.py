"""Markdown to safe HTML: markdown-it-py renders, nh3 (ammonia) sanitises.

A blockquote whose last paragraph starts with an em dash is a pull quote with its attribution:

    > “I saw my son die …”
    >
    > — Ayat Mohammed Jasem
"""

from __future__ import annotations

from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

ATTRIBUTION_MARKS = ("—", "–", "-- ")
ALLOWED_TAGS = {
    "p", "br", "strong", "em", "a", "ul", "ol", "li", "blockquote", "figure", "figcaption",
    "h2", "h3", "h4", "code", "pre", "hr", "cite",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "figure": {"class"}}


def _mark_pull_quotes(state: StateCore) -> None:
    tokens = state.tokens
    stack: list[int] = []
    for i, tok in enumerate(tokens):
        if tok.type == "blockquote_open":
            stack.append(i)
        elif tok.type == "blockquote_close" and stack:
            start = stack.pop()
            # last paragraph directly inside this blockquote: paragraph_open, inline, paragraph_close
            if i - 3 <= start or tokens[i - 1].type != "paragraph_close":
                continue
            inline = tokens[i - 2]
            first_para = tokens[start + 1].type == "paragraph_open" and start + 1 != i - 3
            if first_para and inline.type == "inline" and inline.content.startswith(ATTRIBUTION_MARKS):
                tokens[start].meta["pull"] = True
                tokens[i].meta["pull"] = True
                tokens[i - 3].meta["cite"] = True
                tokens[i - 1].meta["cite"] = True


def _render_rule(tag_open: str, tag_close: str, flag: str, default: str) -> Any:
    def rule(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tok = tokens[idx]
        if tok.meta.get(flag):
            return tag_open if tok.nesting == 1 else tag_close
        return self.renderToken(tokens, idx, options, env)

    return rule


def _build() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.core.ruler.push("pull_quotes", _mark_pull_quotes)
    md.add_render_rule(
        "blockquote_open", _render_rule('<figure class="pull-quote"><blockquote>', "", "pull", "")
    )
    md.add_render_rule("blockquote_close", _render_rule("", "</figure>\n", "pull", ""))
    md.add_render_rule("paragraph_open", _render_rule("</blockquote><figcaption>", "", "cite", ""))
    md.add_render_rule("paragraph_close", _render_rule("", "</figcaption>", "cite", ""))
    return md


_md = _build()


def render_markdown(text: str) -> str:
    html = _md.render(text or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
