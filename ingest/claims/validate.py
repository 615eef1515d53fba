"""Checking case-file values one by one: strings, slugs, dates, URLs and local paths, each error
with its line and key path."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
from pathlib import Path
from urllib.parse import urlsplit

from ingest.capture.hops import mask_userinfo
from ingest.capture.local import Folders, LocalRefused, components, open_document
from ingest.claims.yamlstrict import Node
from ingest.errors import CaseFileError

MAX_URL_LENGTH = 8192
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")


class Validator:
    def __init__(self, display: str, folder: Path, folders: Folders | None = None) -> None:
        self.display = display
        self.folder = folder
        self.folders = folders  # local documents' folders, opened once (closed by the caller)
        self._folder_resolved: Path | None = None
        self.errors: list[CaseFileError] = []

    def error(self, line: int | None, path: str, message: str) -> None:
        self.errors.append(CaseFileError(self.display, line, path, message))

    def mapping(self, node: Node, path: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Node] | None:
        if not isinstance(node.value, dict):
            self.error(node.line, path, f"expected a mapping with keys {', '.join(required) or ', '.join(allowed)}")
            return None
        for key, child in node.value.items():
            if key not in allowed:
                self.error(child.line, f"{path}.{key}" if path else key, f'unknown key "{key}" (allowed: {", ".join(allowed)})')
        for key in required:
            if key not in node.value or node.value[key].value is None:
                self.error(node.line, f"{path}.{key}" if path else key, "required key is missing")
        return node.value

    def string(self, parent: dict[str, Node], key: str, path: str, *, max_len: int = 20000) -> str | None:
        node = parent.get(key)
        if node is None or node.value is None:
            return None
        if not isinstance(node.value, str):
            self.error(node.line, f"{path}.{key}", "expected a string")
            return None
        value = node.value.strip()
        if not value:
            self.error(node.line, f"{path}.{key}", "must not be empty")
            return None
        if len(value) > max_len:
            self.error(node.line, f"{path}.{key}", f"longer than {max_len} characters")
            return None
        return value

    def raw_string(self, parent: dict[str, Node], key: str, path: str) -> str | None:
        """Like string(), but keeps surrounding white space: quotes and prefixes are exact."""
        node = parent.get(key)
        if node is None or node.value is None:
            return None
        if not isinstance(node.value, str) or not node.value.strip():
            self.error(node.line, f"{path}.{key}", "expected a non-empty string")
            return None
        return node.value

    def choice(self, parent: dict[str, Node], key: str, path: str, choices: tuple[str, ...]) -> str | None:
        value = self.string(parent, key, path)
        if value is not None and value not in choices:
            self.error(parent[key].line, f"{path}.{key}", f'"{value}" is not one of: {", ".join(choices)}')
            return None
        return value

    def slug(self, parent: dict[str, Node], key: str, path: str) -> str | None:
        value = self.string(parent, key, path, max_len=100)
        if value is not None and not SLUG.match(value):
            self.error(parent[key].line, f"{path}.{key}", f'"{value}" is not a slug (lower-case letters, digits and -)')
            return None
        return value

    def unique_slug(self, parent: dict[str, Node], path: str, seen: dict[str, int], what: str) -> str | None:
        """The entry's `id` slug, refused when an earlier entry had it (`seen`: id -> its line, kept up to date)."""
        value = self.slug(parent, "id", path)
        if value is not None:
            if value in seen:
                self.error(parent["id"].line, f"{path}.id", f'duplicate {what} id "{value}" (first on line {seen[value]})')
            seen[value] = parent["id"].line
        return value

    def names(self, parent: dict[str, Node], key: str, path: str, *, max_len: int | None = None) -> list[tuple[str, int, str]]:
        """A list of names (stripped, non-empty), each with its line and key path; absent or null: none."""
        node = parent.get(key)
        if node is None or node.value is None:
            return []
        if not isinstance(node.value, list):
            self.error(node.line, f"{path}.{key}", "expected a list of names")
            return []
        out = []
        for j, item in enumerate(node.value):
            where = f"{path}.{key}.{j}"
            if not isinstance(item.value, str) or not item.value.strip():
                self.error(item.line, where, "expected a name")
            elif max_len is not None and len(item.value.strip()) > max_len:
                self.error(item.line, where, f"longer than {max_len} characters")
            else:
                out.append((item.value.strip(), item.line, where))
        return out

    def date(self, parent: dict[str, Node], key: str, path: str, *, partial: bool = False) -> str | None:
        value = self.string(parent, key, path, max_len=10)
        if value is None:
            return None
        if valid_date(value, partial):
            return value
        form = "YYYY-MM-DD, YYYY-MM or YYYY" if partial else "YYYY-MM-DD"
        self.error(parent[key].line, f"{path}.{key}", f'"{value}" is not a valid date ({form})')
        return None

    def count(self, parent: dict[str, Node], key: str, path: str, least: int, most: int, what: str) -> int | None:
        """A whole number from `least` to `most`; `what` names what it counts in the error."""
        node = parent.get(key)
        if node is None or node.value is None:
            return None
        raw = node.value
        if isinstance(raw, str) and raw.isascii() and raw.isdigit() and least <= int(raw) <= most:
            return int(raw)
        self.error(node.line, f"{path}.{key}", f'"{raw}" is not {what} ({least} to {most})')
        return None

    def boolean(self, parent: dict[str, Node], key: str, path: str) -> bool:
        node = parent.get(key)
        if node is None or node.value is None:
            return False
        if node.value not in ("true", "false"):
            self.error(node.line, f"{path}.{key}", f'expected true or false, not "{node.value}"')
            return False
        return node.value == "true"

    def url(self, parent: dict[str, Node], key: str, path: str) -> str | None:
        value = self.string(parent, key, path, max_len=MAX_URL_LENGTH)
        if value is None:
            return None
        problem = url_problem(value)
        if problem:
            self.error(parent[key].line, f"{path}.{key}", problem)
            return None
        return value

    def local_path(self, parent: dict[str, Node], key: str, path: str) -> str | None:
        value = self.string(parent, key, path, max_len=1000)
        if value is None:
            return None
        line = parent[key].line
        where = f"{path}.{key}"
        found = _ODD.search(value)
        if found is not None:
            odd = found.group()
            what = "a lone surrogate" if 0xD800 <= ord(odd) < 0xE000 else "a control character"
            self.error(line, where, f'"{shown(value)}" contains {what} (U+{ord(odd):04X}); '
                                    "give the file's name as plain text")
            return None
        if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
            self.error(line, where, f'"{value}" is absolute; give a path relative to the case file\'s folder')
            return None
        parts = components(value)
        if ".." in parts:
            self.error(line, where, f'"{value}" contains ".."; documents must be inside the case file\'s folder')
            return None
        try:  # exactly as the run will open it: no link followed, a regular file
            os.close(open_document(self.folder, value, self.folders))
            return value  # opened without a link on the way: inside the folder by construction (no "..")
        except LocalRefused as exc:
            refused = exc
        # Why it cannot be opened, said as precisely as the path allows: looked into only now,
        # as most paths open (this runs for every local source of every run).
        try:
            resolved = self._resolve(parts)
        except (FileNotFoundError, NotADirectoryError):
            self.error(line, where, f'file not found: "{value}" (looked for {self.folder.joinpath(*parts)})')
            return None
        except (RuntimeError, OSError, ValueError) as exc:  # a link loop, a name too long, ...
            self.error(line, where, f'"{value}" cannot be opened ({getattr(exc, "strerror", None) or exc})')
            return None
        if resolved is not None and not resolved.is_relative_to(self._real_folder()):
            self.error(line, where, f'"{value}" leads outside the case file\'s folder (through a symbolic link)')
            return None
        self.error(line, where, f'"{value}" {refused}')
        return None

    def _real_folder(self) -> Path:
        if self._folder_resolved is None:
            self._folder_resolved = self.folder.resolve()
        return self._folder_resolved

    def _resolve(self, parts: list[str]) -> Path | None:
        """(folder / parts).resolve(strict=True) when a symbolic link is on the way, else None (the
        path exists, no link in it); with the folder resolved once per case file, each part below it
        is looked at (os.path, not pathlib: this runs for every local source of every run)."""
        here = str(self._real_folder())
        for part in parts:
            here = os.path.join(here, part)
            if stat.S_ISLNK(os.lstat(here).st_mode):
                return self.folder.joinpath(*parts).resolve(strict=True)
        return None


# A control character (C0, DEL, C1) or a lone surrogate: nothing a file's name should hold.
_ODD = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def shown(value: str) -> str:
    """`value` with control characters written as escapes, so an error shows them instead of obeying them."""
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for ch in value)


def valid_date(value: str, partial: bool) -> bool:
    patterns = [r"\d{4}-\d{2}-\d{2}"] + ([r"\d{4}-\d{2}", r"\d{4}"] if partial else [])
    for pattern in patterns:
        if re.fullmatch(pattern, value):
            padded = value + "-01" * (2 - value.count("-"))
            try:
                dt.date.fromisoformat(padded)
            except ValueError:
                return False
            return True
    return False


def url_problem(url: str) -> str | None:
    """Why a URL cannot be a source address, or None. Never repeats a password it was given."""
    if len(url) > MAX_URL_LENGTH:
        return f"URL longer than {MAX_URL_LENGTH} characters"
    masked = mask_userinfo(url)
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return f'"{shown(masked[:200])}" contains white space or control characters'
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        return f'"{masked[:200]}" is not a valid URL ({exc})'
    if parts.scheme.lower() not in ("http", "https"):
        return f'"{masked[:200]}" is not an http or https URL'
    if parts.username is not None or parts.password is not None:
        # Sent as Authorization, they would be kept in the hops and the WARC, and published.
        return (f'"{masked[:200]}" carries credentials (user:password@); credentials belong in an operator '
                "option or the environment, never in evidence")
    if not parts.hostname:
        return f'"{masked[:200]}" has no host'
    return None
