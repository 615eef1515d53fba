"""What the public site refuses before Datasette sees a request, and the headers every response carries.

The site offers its pages, its tables and its canned queries; it runs no SQL a visitor writes
(Datasette's execute-sql permission is off, see plugins/khronika.py), so `_where=` is refused
here with a 400 rather than Datasette's 403. Query parameters that Datasette 0.65 parses without
checking (and answers with a 500 when malformed) are checked here and answered with a 400 that
says what is wrong.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ingest.text.stems import WORD, search_stem

ALLOW_SQL_ENV = "KHRONIKA_ALLOW_SQL"  # set by `serve --allow-sql` (bound to 127.0.0.1 only)
# Every string or blob a query may build or read: randomblob(10**9) is refused by SQLite itself.
MAX_VALUE_BYTES = 256 * 2**20
SETTINGS = {
    "sql_time_limit_ms": 2000,  # every query, a canned one or a table page's
    "facet_time_limit_ms": 200,
    "max_returned_rows": 1000,
    "allow_facet": True,
    "default_allow_sql": False,
}
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}
FRAME_CSP = "frame-ancestors 'none'"
BOOLEANS = ("on", "off", "true", "false", "1", "0")
_INTEGER = re.compile(r"-?[0-9]+")

Scope = dict[str, Any]
App = Callable[[Scope, Any, Any], Awaitable[None]]


def sql_allowed() -> bool:
    return os.environ.get(ALLOW_SQL_ENV) == "1"


def limit_connection(conn: sqlite3.Connection) -> None:
    """Cap the size of any one value on a connection the site uses."""
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float)) and not isinstance(value, bool)


def problem(query_string: str) -> str | None:
    """Why a request's query string is refused (a 400), or None."""
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        if "\x00" in key or "\x00" in value:
            return f"{key.replace(chr(0), '%00')}=: query parameters may not contain NUL characters"
        if key == "_where" and not sql_allowed():
            return "_where= is not available: this site runs only its own pages and canned queries"
        if key == "_through":
            try:
                through = json.loads(value)
            except ValueError:
                through = None
            if not (isinstance(through, dict) and set(through) == {"table", "column", "value"}
                    and all(isinstance(through[k], str) for k in ("table", "column"))
                    and _is_scalar(through["value"])):
                return ('_through= must be a JSON object {"table": ..., "column": ..., "value": ...} '
                        "with text table and column names")
        if key.endswith(("__in", "__notin")) and value.startswith("["):
            try:
                items = json.loads(value)
            except ValueError:
                items = None
            if not (isinstance(items, list) and all(_is_scalar(i) for i in items)):
                return f"{key}= must be a JSON list of values or a comma-separated list, not {value[:100]!r}"
        if key.endswith(("__gt", "__gte", "__lt", "__lte")) and _INTEGER.fullmatch(value) and not (
                -(2**63) <= int(value) < 2**63):
            return f"{key}= {value[:100]} is beyond SQLite's 64-bit integers"
        if key == "_json_infinity" and value.lower() not in BOOLEANS:
            return f"_json_infinity= must be on, off, true, false, 1 or 0, not {value[:100]!r}"
        if key.startswith("_facet") and value.startswith("{"):  # Datasette reads every _facet* so
            try:
                config = json.loads(value)
            except ValueError:
                config = None
            if not (isinstance(config, dict) and isinstance(config.get("simple"), str)
                    and isinstance(config.get("column", ""), str)):
                return f'{key}= starting with {{ must be a JSON object {{"simple": "column name"}}, not {value[:100]!r}'
        if key == "_timelimit" and not value.isdigit():
            return f"_timelimit= must be a whole number of milliseconds, not {value[:100]!r}"
    return None


def table_search(query_string: str) -> str:
    """The query string with each `_search` (and `_search_<column>`) of a table page turned into the
    stems of its words, ё folded: the indexes keep every word's stem, so Datasette's own search then
    finds what the site's search finds (ёлкина finds Елкиной) instead of one exact spelling."""
    pairs = parse_qsl(query_string, keep_blank_values=True)
    if not any(k == "_search" or k.startswith("_search_") for k, _ in pairs):
        return query_string
    out = [(k, " ".join(search_stem(w) for w in WORD.findall(v)) if k == "_search" or k.startswith("_search_") else v)
           for k, v in pairs]
    return urlencode(out)


def _add_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    present = {k.lower() for k, _ in headers}
    out = list(headers)
    for name, value in SECURITY_HEADERS.items():
        if name.encode() not in present:
            out.append((name.encode(), value.encode()))
    if b"content-security-policy" not in present:  # an archived copy's own CSP is kept as it is
        out.append((b"content-security-policy", FRAME_CSP.encode()))
    return out


async def _refuse(scope: Scope, send: Any, message: str) -> None:
    if scope["path"].endswith(".json"):
        body = json.dumps({"ok": False, "error": message, "status": 400, "title": "Bad request"}).encode()
        content_type = b"application/json; charset=utf-8"
    else:
        body = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Bad request</title></head>"
                f"<body><h1>Bad request</h1><p>{escape(message)}</p></body></html>").encode()
        content_type = b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": 400,
                "headers": _add_headers([(b"content-type", content_type)])})
    await send({"type": "http.response.body", "body": body})


def wrap(app: App) -> App:
    """An ASGI app that refuses bad query strings and adds the security headers to every response."""

    async def guarded(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        why = problem(scope.get("query_string", b"").decode("latin-1"))
        if why is not None:
            await _refuse(scope, send, why)
            return

        query = scope.get("query_string", b"").decode("latin-1")
        rewritten = table_search(query)
        if rewritten != query:
            scope = dict(scope, query_string=rewritten.encode("latin-1"))

        async def send_with_headers(event: dict[str, Any]) -> None:
            if event["type"] == "http.response.start":
                event = dict(event, headers=_add_headers(list(event.get("headers") or [])))
            await send(event)

        await app(scope, receive, send_with_headers)

    return guarded
