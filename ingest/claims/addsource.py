"""Adding a source (or a channel range) to a case file: one block inserted after the last source, every other byte kept.

The file is parsed with a round-trip YAML library only to find where the `sources` list ends and how
its items are indented; the new block is then inserted as text, so comments, key order, quoting and
spacing outside it are kept byte for byte. The result is validated like any case file before it
replaces the original (atomically); an invalid result leaves the file untouched.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ingest.claims.cases import Case, load_case
from ingest.errors import CaseFileError, CaseFileErrors


SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Added:
    case: Case
    source_id: str
    key: str  # url | path
    value: str
    line: int  # where the block starts, 1-based


def _refuse(display: str, message: str, line: int | None = None) -> CaseFileErrors:
    return CaseFileErrors([CaseFileError(display, line, "", message)])


def _scalar(value: str) -> str:
    if SLUG.match(value):
        return value
    # A JSON string is a YAML double-quoted scalar; the line separators JSON leaves raw are escaped.
    return json.dumps(value, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def where_to(target: str, case_file: Path, cwd: Path) -> tuple[str, str]:
    """("url", target) for an http(s) address, else ("path", the file relative to the case file's folder)."""
    if urlsplit(target).scheme.lower() in ("http", "https"):
        return "url", target
    given = Path(target)
    if not given.is_absolute() and not (cwd / given).exists():
        return "path", target  # as written: relative to the case file's folder, checked by validation
    full = given if given.is_absolute() else cwd / given
    return "path", Path(os.path.relpath(os.path.abspath(full), os.path.abspath(case_file.parent))).as_posix()


def insertion(text: str, display: str) -> tuple[int, str, str]:
    """(character offset to insert at, the dash's indent, the keys' indent) for a new item of `sources`."""
    try:
        data = YAML(typ="rt").load(text)
    except YAMLError as exc:
        raise _refuse(display, f"YAML syntax error: {exc}") from None
    if not isinstance(data, dict) or "sources" not in data:
        raise _refuse(display, "no sources list to add to")
    seq = data["sources"]
    if not isinstance(seq, list) or not seq:
        raise _refuse(display, "sources is not a non-empty list; add the first source by hand")
    if seq.fa.flow_style():
        raise _refuse(display, "sources is written in flow style ([...]); add the source by hand", seq.lc.line + 1)
    lines = text.splitlines(keepends=True)
    # The new item is indented as the last one is, the one it will follow.
    last_item_line, key_col = seq.lc.item(len(seq) - 1)
    dash = lines[last_item_line][:key_col].rstrip(" ")
    if not dash.endswith("-") or dash[:-1].strip():
        raise _refuse(display, "the last source does not start with '- ' on its own line; add the source by hand",
                      last_item_line + 1)
    dash_indent, key_indent = " " * (len(dash) - 1), " " * key_col
    keys = list(data)
    after = keys.index("sources") + 1
    stop = data.lc.key(keys[after])[0] if after < len(keys) else len(lines)
    end = last_item_line
    for i in range(last_item_line, stop):
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#"):
            end = i
    offset = sum(len(line) for line in lines[:end + 1])
    return offset, dash_indent, key_indent


def add_source(case_file: Path, target: str, source_id: str, title: str | None = None, kind: str | None = None,
               cwd: Path | None = None) -> Added:
    """Insert the source into `case_file` and validate; raise CaseFileErrors (file untouched) when invalid."""
    key, value = where_to(target, case_file, cwd or Path.cwd())
    fields = [(key, _scalar(value))] + [(k, _scalar(v)) for k, v in (("title", title), ("kind", kind)) if v is not None]
    return _insert(Path(case_file), source_id, fields, [source_id], key, value)


def add_range(case_file: Path, source_id: str, channel: str, first: int, last: int, base: str | None = None,
              title: str | None = None) -> Added:
    """Insert a channel range `telegram: {channel, from, to}` (one source per post, `<id>-<post>`) and validate."""
    name = channel if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", channel) else _scalar(channel)  # a username needs no quotes
    spec = f"{{channel: {name}, from: {first}, to: {last}" + (f", base: {_scalar(base)}" if base else "") + "}"
    fields = [("telegram", spec)] + ([("title", _scalar(title))] if title is not None else [])
    ids = [f"{source_id}-{n}" for n in range(first, last + 1)]
    return _insert(Path(case_file), source_id, fields, ids, "telegram", spec)


def _insert(case_file: Path, source_id: str, fields: list[tuple[str, str]], ids: list[str], key: str,
            value: str) -> Added:
    """Insert one source block (`fields` already written as YAML scalars) that must add the sources `ids`."""
    display = str(case_file)
    old = load_case(case_file)  # the file must be valid before anything is added to it
    text = old.raw.decode("utf-8")
    offset, dash_indent, key_indent = insertion(text, display)
    block = [f"{dash_indent}- id: {_scalar(source_id)}"] + [f"{key_indent}{k}: {v}" for k, v in fields]
    lead = "" if offset == 0 or text[offset - 1] == "\n" else "\n"
    new = text[:offset] + lead + "".join(line + "\n" for line in block) + text[offset:]
    line = text[:offset].count("\n") + 1 + (1 if lead else 0)
    tmp = case_file.with_name(f".{case_file.name}.adding")
    try:
        tmp.write_bytes(new.encode("utf-8"))
        case = load_case(tmp, display)  # raises: the original is untouched
        # The insertion must add one source and change nothing else the file says.
        kept = len(old.sources)
        same = [replace(s, line=0) for s in case.sources[:kept]] == [replace(s, line=0) for s in old.sources]
        if not same or [s.id for s in case.sources[kept:]] != ids or len(case.claims) != len(old.claims):
            raise _refuse(display, "adding the block would change other entries; add the source by hand")
        os.replace(tmp, case_file)
    finally:
        tmp.unlink(missing_ok=True)
    return Added(load_case(case_file), source_id, key, value, line)
