"""Khronika's Datasette plugin: the claim, timeline, source, archive and search pages.

The page logic lives in ingest/site/web.py (importable and tested without a server); this file only
maps URLs to it and renders templates/khronika_*.html.
"""

from __future__ import annotations

import traceback
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup

from ingest.claims.people import name_key
from ingest.display import bidi_visible
from ingest.site import cite, copies, copypage, guard, persons, web

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
    return await _page(datasette, request, "khronika_search.html", lambda: web.search_page(datasette, request.args.get("q"), request.args))


async def person(datasette, request):  # type: ignore[no-untyped-def]
    v = request.url_vars
    return await _page(datasette, request, "khronika_person.html",
                       lambda: persons.person_page(datasette, v["slug"], request.args.get("name")))


async def people(datasette, request):  # type: ignore[no-untyped-def]
    """A name that is one person's goes to their page; else the people it can be, or everyone."""
    try:
        ctx = await persons.people_page(datasette, request.args.get("name"))
    except web.NotFound as exc:
        return await _not_found(datasette, request, str(exc))
    if ctx["redirect"]:
        return Response.redirect(ctx["redirect"] + "?" + urlencode({"name": ctx["name"]}))
    html = await datasette.render_template("khronika_people.html", ctx, request=request)
    return Response.html(html)


async def copy(datasette, request):  # type: ignore[no-untyped-def]
    h = request.url_vars["hash"]
    async def make():  # type: ignore[no-untyped-def]
        ctx = await copypage.copy_page(datasette, h, request.args.get("citation"))
        ci = (ctx["quote"] or {}).get("citation")
        if ci:
            before, after = web.context_words(ci["selector_prefix"], ci["selector_suffix"], kept=web.SELECTOR)
            ctx["at_quote"] = web.archive_fragment_href(ci["blake3"], ci["exact"], before, after)
        return ctx
    return await _page(datasette, request, "khronika_copy.html", make)


async def warc_record(datasette, request):  # type: ignore[no-untyped-def]
    try:
        body, headers = await copypage.warc_record(datasette, request.url_vars["capture"], _db_path(datasette))
    except web.NotFound as exc:
        return _plain_404(str(exc))
    return Response(body, status=200, headers=headers, content_type="application/warc")


async def source_text(datasette, request):  # type: ignore[no-untyped-def]
    v = request.url_vars
    return await _page(datasette, request, "khronika_text.html", lambda: cite.text_page(datasette, v["case"], v["slug"]))


async def cite_json(datasette, request):  # type: ignore[no-untyped-def]
    v, a = request.url_vars, request.args
    try:
        data = await cite.cite(datasette, v["case"], v["slug"], a.get("start"), a.get("end"), a.get("selected"))
    except web.NotFound as exc:
        return Response.json({"block": None, "note": str(exc)}, status=404)
    return Response.json(data)


async def cite_script(datasette, request):  # type: ignore[no-untyped-def]
    return Response(cite.SCRIPT.read_bytes(), status=200, content_type="application/javascript; charset=utf-8",
                    headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})


def _plain_404(message: str) -> Response:
    return Response.text(message, status=404, headers={"X-Content-Type-Options": "nosniff"})


async def archived(datasette, request):  # type: ignore[no-untyped-def]
    try:
        body, headers, content_type = await copies.archived_file(datasette, request.url_vars["hash"], _db_path(datasette))
    except web.NotFound as exc:
        return _plain_404(str(exc))
    return Response(body, status=200, headers=headers, content_type=content_type)


async def page_image(datasette, request):  # type: ignore[no-untyped-def]
    try:
        body, headers = await copies.page_image(datasette, request.url_vars["hash"], request.url_vars["page"],
                                             _db_path(datasette))
    except web.NotFound as exc:
        return _plain_404(str(exc))
    return Response(body, status=200, headers=headers, content_type="image/png")


async def archived_text(datasette, request):  # type: ignore[no-untyped-def]
    try:
        text, headers = await copies.extracted_text(datasette, request.url_vars["hash"], request.args.get("extraction"))
    except web.NotFound as exc:
        return _plain_404(str(exc))
    return Response(text.encode("utf-8"), status=200, headers=headers, content_type="text/plain; charset=utf-8")


async def databases(datasette, request):  # type: ignore[no-untyped-def]
    """Datasette's /-/databases.json without the "path" field, which names a folder on this machine."""
    rows = [{"name": db.name, "route": db.route, "size": db.size, "is_mutable": db.is_mutable,
             "is_memory": db.is_memory, "hash": db.hash}
            for db in sorted(datasette.databases.values(), key=lambda d: d.name) if not db.name.startswith("_")]
    return Response.json(rows)


@hookimpl
def register_routes(datasette):  # type: ignore[no-untyped-def]
    return [
        (r"^/$", home),
        (r"^/-/databases(\.json)?$", databases),
        (rf"^/-/claim/(?P<case>{CASE})/(?P<slug>{SLUG})$", claim),
        (rf"^/-/timeline/(?P<case>{CASE})$", timeline),
        (rf"^/-/source/(?P<case>{CASE})/(?P<slug>{SLUG})$", source),
        (r"^/-/search$", search),
        (rf"^/-/person/(?P<slug>{SLUG})$", person),
        (r"^/-/people$", people),
        (r"^/-/copy/(?P<hash>[^/]*)$", copy),
        (r"^/-/warc/(?P<capture>[0-9]{1,12})$", warc_record),
        (rf"^/-/source/(?P<case>{CASE})/(?P<slug>{SLUG})/text$", source_text),
        (rf"^/-/cite/(?P<case>{CASE})/(?P<slug>{SLUG})$", cite_json),
        (r"^/-/khronika-cite\.js$", cite_script),
        (r"^/-/archive/(?P<hash>[^/]*)/text$", archived_text),
        (r"^/-/archive/(?P<hash>[^/]*)/page/(?P<page>[0-9]{1,6})\.png$", page_image),
        (r"^/-/archive/(?P<hash>.*)$", archived),
    ]


@hookimpl
def asgi_wrapper(datasette):  # type: ignore[no-untyped-def]
    return guard.wrap


@hookimpl
def permission_allowed(datasette, actor, action, resource):  # type: ignore[no-untyped-def]
    """No SQL written by a visitor: only `serve --allow-sql` on 127.0.0.1 turns it on."""
    if action == "execute-sql" and not guard.sql_allowed():
        return False
    return None


@hookimpl
def prepare_connection(conn, database, datasette):  # type: ignore[no-untyped-def]
    guard.limit_connection(conn)
    # claims_about_person compares names as the people tables keep them (claims/people.name_key).
    conn.create_function("person_key", 1, name_key, deterministic=True)


def _finalize(value):  # type: ignore[no-untyped-def]
    """Every value a template prints shows its bidi controls instead of applying them."""
    if isinstance(value, Markup):
        return Markup(bidi_visible(str(value), html=True))
    if isinstance(value, str):
        return bidi_visible(value)
    return value


@hookimpl
def prepare_jinja2_environment(env, datasette):  # type: ignore[no-untyped-def]
    env.finalize = _finalize


@hookimpl
def extra_template_vars(datasette):  # type: ignore[no-untyped-def]
    """A banner on every page while the published copy is older than the archive (serve republishes it)."""
    async def inner():  # type: ignore[no-untyped-def]
        return {"khronika_stale": web.stale_notice(_db_path(datasette))}

    return inner


def _link(href: str, text: str) -> Markup:
    return Markup('<a href="{}">{}</a>').format(href, text)


@hookimpl
def render_cell(row, value, column, table, database, datasette):  # type: ignore[no-untyped-def]
    """Link claims and sources to their pages (through the slug column: Datasette links the id
    column to its row page itself)."""
    if database != web.DB or not isinstance(value, str):
        return None
    row_id = row["id"] if row is not None and "id" in row.keys() and isinstance(row["id"], str) else None
    if table == "claims" and column == "slug" and row_id:
        return _link(web.claim_href(row_id), value)
    if table == "sources" and column == "slug" and row_id:
        return _link(web.source_href(row_id), value)
    return None


# Datasette 0.65's default handler calls rich's print_exception() outside an `except` block when
# rich is installed, which itself raises, turning every 404 into a 500. Its traceback printing is
# switched off here; handle_exception below prints real errors itself.
try:
    import datasette.handle_exception as _default_handler

    _default_handler.rich = None
except ImportError:  # pragma: no cover - other Datasette versions
    pass

# DatasetteError messages that are answers to a bad request, which Datasette 0.65 sends as 500.
BAD_REQUEST = ("Cannot sort table by", "Cannot use _sort and _sort_desc", "Cannot sort by",
               "Invalid _through")


@hookimpl
def handle_exception(datasette, request, exception):  # type: ignore[no-untyped-def]
    """Errors as Datasette shows them, but a bad sort is a 400, and no error page ever fails itself."""
    from datasette.utils.asgi import Base400
    from datasette.views.base import DatasetteError

    async def inner():  # type: ignore[no-untyped-def]
        title = None
        if isinstance(exception, Base400):
            status, info, message = exception.status, {}, exception.args[0] if exception.args else ""
        elif isinstance(exception, DatasetteError):
            status, info, message, title = exception.status, dict(exception.error_dict or {}), exception.message, exception.title
            if status == 500 and str(message).startswith(BAD_REQUEST):
                status = 400
            if exception.message_is_html:
                message = Markup(message)
        else:
            status, info, message = 500, {}, "Internal error"
            traceback.print_exception(exception)
        info.update({"ok": False, "error": message, "status": status, "title": title})
        if request.path.split("?")[0].endswith(".json"):
            return Response.json(info, status=status)
        template = datasette.jinja_env.select_template([f"{status}.html", "error.html"])
        html = await template.render_async(dict(info, urls=datasette.urls, app_css_hash=datasette.app_css_hash(),
                                                menu_links=lambda: []))
        return Response.html(html, status=status)

    return inner
