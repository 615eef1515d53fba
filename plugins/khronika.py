"""Khronika's Datasette plugin: the claim, timeline, source, archive and search pages.

The page logic lives in ingest/web.py (importable and tested without a server); this file only
maps URLs to it and renders templates/khronika_*.html.
"""

from __future__ import annotations

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup

from ingest import web

CASE, SLUG = web.SLUG, web.SLUG


def _db_path(datasette) -> str | None:  # type: ignore[no-untyped-def]
    try:
        return datasette.get_database(web.DB).path
    except KeyError:
        return None


async def _page(datasette, request, template, make, status=200):  # type: ignore[no-untyped-def]
    try:
        ctx = await make()
    except web.NotFound as exc:
        return await _not_found(datasette, request, str(exc))
    html = await datasette.render_template(template, ctx, request=request)
    return Response.html(html, status=status)


async def _not_found(datasette, request, message):  # type: ignore[no-untyped-def]
    html = await datasette.render_template("khronika_404.html", {"message": message}, request=request)
    return Response.html(html, status=404)


async def home(datasette, request):  # type: ignore[no-untyped-def]
    return await _page(datasette, request, "khronika_home.html", lambda: web.home_page(datasette))


async def claim(datasette, request):  # type: ignore[no-untyped-def]
    v = request.url_vars
    return await _page(datasette, request, "khronika_claim.html", lambda: web.claim_page(datasette, v["case"], v["slug"]))


async def timeline(datasette, request):  # type: ignore[no-untyped-def]
    v = request.url_vars
    return await _page(datasette, request, "khronika_timeline.html", lambda: web.timeline_page(datasette, v["case"]))


async def source(datasette, request):  # type: ignore[no-untyped-def]
    v = request.url_vars
    return await _page(datasette, request, "khronika_source.html", lambda: web.source_page(datasette, v["case"], v["slug"]))


async def search(datasette, request):  # type: ignore[no-untyped-def]
    return await _page(datasette, request, "khronika_search.html", lambda: web.search_page(datasette, request.args.get("q")))


def _plain_404(message: str) -> Response:
    return Response.text(message, status=404, headers={"X-Content-Type-Options": "nosniff"})


async def archived(datasette, request):  # type: ignore[no-untyped-def]
    try:
        body, headers, content_type = await web.archived_file(datasette, request.url_vars["hash"], _db_path(datasette))
    except web.NotFound as exc:
        return _plain_404(str(exc))
    return Response(body, status=200, headers=headers, content_type=content_type)


async def archived_text(datasette, request):  # type: ignore[no-untyped-def]
    try:
        text, headers = await web.extracted_text(datasette, request.url_vars["hash"])
    except web.NotFound as exc:
        return _plain_404(str(exc))
    return Response(text.encode("utf-8"), status=200, headers=headers, content_type="text/plain; charset=utf-8")


@hookimpl
def register_routes(datasette):  # type: ignore[no-untyped-def]
    return [
        (r"^/$", home),
        (rf"^/-/claim/(?P<case>{CASE})/(?P<slug>{SLUG})$", claim),
        (rf"^/-/timeline/(?P<case>{CASE})$", timeline),
        (rf"^/-/source/(?P<case>{CASE})/(?P<slug>{SLUG})$", source),
        (r"^/-/search$", search),
        (r"^/-/archive/(?P<hash>[^/]*)/text$", archived_text),
        (r"^/-/archive/(?P<hash>.*)$", archived),
    ]


def _link(href: str, text: str) -> Markup:
    return Markup('<a href="{}">{}</a>').format(href, text)


@hookimpl
def render_cell(value, column, table, database, datasette):  # type: ignore[no-untyped-def]
    """Link claim and source ids to their pages, and file hashes to the archived copy."""
    if database != web.DB or not isinstance(value, str):
        return None
    if (table, column) in (("claims", "id"), ("citations", "claim_id")):
        return _link(web.claim_href(value), value)
    if (table, column) in (("sources", "id"), ("citations", "source_id"), ("captures", "source_id"), ("attempts", "source_id")):
        return _link(web.source_href(value), value)
    if column == "blake3" and table in ("files", "captures", "citations", "extractions", "attempts") and web.HEX64.match(value):
        return _link(f"/-/archive/{value}", value)
    return None
