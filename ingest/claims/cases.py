"""Case files: read the human-written YAML strictly and validate it into typed objects.

YAML is parsed event by event first (`yamlstrict`) so that anchors, aliases and tags are
refused before anything is built (an alias bomb never expands); then every scalar is kept as
a string and checked explicitly (`validate`), so `language: no` stays "no" and `published: 2025-13-01` is an error
with the file, line and key path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ingest.capture.local import Folders
from ingest.claims.people import Person, implicit_people, parse_people, resolve
from ingest.claims.validate import Validator
from ingest.claims.yamlstrict import Node, Refused, read
from ingest.errors import CaseFileError, CaseFileErrors

MAX_CASE_FILE_BYTES = 4 * 2**20
SOURCE_KINDS = ("report", "statement", "court-document", "social-post", "other")
STANCES = ("supports", "contradicts", "mentions")
DATE_NOTES = ("as stated", "inferred")
CAPTURE_METHODS = ("http", "browser")
HEX = re.compile(r"^[0-9a-f]{6,64}$")


@dataclass(frozen=True, slots=True)  # slots: a case of thousands of claims is held whole while it is recorded
class Source:
    id: str
    line: int
    title: str | None = None
    kind: str | None = None
    outlet: str | None = None
    language: str | None = None
    published: str | None = None
    published_after: str | None = None
    url: str | None = None
    path: str | None = None  # as written, relative to the case file's folder
    wanted: bool = False
    capture: str = "http"  # how a url source is captured: http | browser (the case's `capture:` by default)
    family: str | None = None  # the id of the `telegram:` channel range this source is one post of

    @property
    def method(self) -> str:
        return self.capture if self.url else "local_file" if self.path else "wanted"


@dataclass(frozen=True, slots=True)
class Citation:
    source: str
    quote: str
    stance: str
    line: int
    prefix: str | None = None
    suffix: str | None = None
    page: int | None = None
    capture: str | None = None
    spans: int | None = None  # the number of blocks a deliberately joined quote may cross


@dataclass(frozen=True, slots=True)
class Claim:
    id: str
    text: str
    line: int
    date: str | None = None
    date_note: str | None = None
    type: str | None = None
    people: tuple[str, ...] = ()
    citations: tuple[Citation, ...] = ()


@dataclass
class Case:
    id: str
    title: str
    description: str | None
    file: Path
    display_name: str
    raw: bytes
    sources: list[Source] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)  # declared, else one per name the claims write

    @property
    def declares_people(self) -> bool:
        return any(p.declared for p in self.people)

    def person(self, written: str) -> Person | None:
        """The person a claim's `people:` entry names (by id, name or alias), or None."""
        return next((p for p in self.people if written in p.names), None)

    @property
    def folder(self) -> Path:
        return self.file.parent

    def source(self, source_id: str) -> Source:
        return next(s for s in self.sources if s.id == source_id)

    def local_path(self, source: Source) -> Path:
        assert source.path is not None
        return self.folder / source.path




SOURCE_KEYS = ("id", "url", "path", "wanted", "telegram", "title", "kind", "outlet", "language", "published",
               "published_after", "capture")
TELEGRAM_KEYS = ("channel", "from", "to", "base")
CLAIM_KEYS = ("id", "text", "date", "date_note", "type", "people", "citations")
CITATION_KEYS = ("source", "quote", "stance", "prefix", "suffix", "page", "capture", "spans")
MAX_SPANS = 1000


def load_case(file: Path | str, display_name: str | None = None) -> Case:
    """Read and validate one case file; raise CaseFileErrors listing every problem found."""
    file = Path(file)
    display = display_name or str(file)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise CaseFileErrors([CaseFileError(display, None, "", f"cannot read case file: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_CASE_FILE_BYTES:
        raise CaseFileErrors([CaseFileError(display, None, "", f"case file is larger than {MAX_CASE_FILE_BYTES} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaseFileErrors([CaseFileError(display, None, "", f"not UTF-8 text (byte {exc.start})")]) from None
    try:
        tree, structural = read(text)
    except Refused as exc:
        raise CaseFileErrors([CaseFileError(display, exc.line, "", exc.message)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CaseFileErrors([CaseFileError(display, line, "", f"YAML syntax error: {problem}")]) from None
    if tree is None:
        raise CaseFileErrors([CaseFileError(display, None, "", "case file is empty")])
    v = Validator(display, file.parent)
    for line, path, message in structural:
        v.error(line, path, message)
    top = v.mapping(tree, "", ("case", "sources", "people", "claims"), ("case", "sources"))
    case_id, title, description, capture = "", "", None, None
    sources: list[Source] = []
    claims: list[Claim] = []
    people: list[Person] | None = None
    if top is not None:
        if "case" in top:
            meta = v.mapping(top["case"], "case", ("id", "title", "description", "capture"), ("id", "title"))
            if meta is not None:
                case_id = v.slug(meta, "id", "case") or ""
                title = v.string(meta, "title", "case") or ""
                description = v.string(meta, "description", "case")
                capture = v.choice(meta, "capture", "case", CAPTURE_METHODS)
        if "sources" in top:
            with Folders() as v.folders:  # the local documents' folders, each opened once
                sources = _sources(v, top["sources"], capture or "http")
        if "people" in top and top["people"].value is not None:
            people = parse_people(v, top["people"])
        if "claims" in top and top["claims"].value is not None:
            claims = _claims(v, top["claims"], {s.id for s in sources}, people)
    if v.errors:
        raise CaseFileErrors(sorted(v.errors, key=lambda e: e.line or 0))
    if people is None:
        people = implicit_people(name for c in claims for name in c.people)
    return Case(case_id, title, description, file, display, raw, sources, claims, people)


def _sources(v: Validator, node: Node, case_capture: str) -> list[Source]:
    if not isinstance(node.value, list) or not node.value:
        v.error(node.line, "sources", "expected a non-empty list of sources")
        return []
    out: list[Source] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(node.value):
        path = f"sources.{i}"
        m = v.mapping(item, path, SOURCE_KEYS, ("id",))
        if m is None:
            continue
        sid = v.unique_slug(m, path, seen, "source")
        given = [k for k in ("url", "path", "wanted", "telegram") if k in m and m[k].value is not None]
        if len(given) != 1:
            v.error(item.line, path, f"give exactly one of url, path, wanted, telegram (found: {', '.join(given) or 'none'})")
        wanted = v.boolean(m, "wanted", path)
        if "wanted" in m and m["wanted"].value == "false":
            v.error(m["wanted"].line, f"{path}.wanted", "wanted: false means nothing; give url or path instead")
        if "published" in m and "published_after" in m:
            v.error(m["published_after"].line, f"{path}.published_after", "give published or published_after, not both")
        capture = v.choice(m, "capture", path, CAPTURE_METHODS)
        if capture is not None and "url" not in m:
            v.error(m["capture"].line, f"{path}.capture", "capture: applies to a url source only")
        source = Source(
            id=sid or "",
            line=item.line,
            title=v.string(m, "title", path, max_len=1000),
            kind=v.choice(m, "kind", path, SOURCE_KINDS),
            outlet=v.string(m, "outlet", path, max_len=500),
            language=v.string(m, "language", path, max_len=35),
            published=v.date(m, "published", path),
            published_after=v.date(m, "published_after", path),
            url=v.url(m, "url", path),
            path=v.local_path(m, "path", path),
            wanted=wanted,
            capture=(capture or case_capture) if "url" in m else "http",
        )
        if "telegram" in m and m["telegram"].value is not None:
            family = telegram_family(v, m["telegram"], f"{path}.telegram", source)
            for member in family:
                if member.id in seen:
                    v.error(m["telegram"].line, f"{path}.telegram", f'source id "{member.id}" of this channel range '
                                                                   f'is also on line {seen[member.id]}')
                seen[member.id] = m["telegram"].line
            out.extend(family)
            continue
        out.append(source)
    return out


def telegram_family(v: Validator, node: Node, path: str, template: Source) -> list[Source]:
    """A channel range `telegram: {channel, from, to}` as one source per post, `<id>-<post>`."""
    from dataclasses import replace

    from ingest.capture.telegram import CHANNEL, MAX_RANGE, range_urls

    m = v.mapping(node, path, TELEGRAM_KEYS, ("channel", "from", "to"))
    if m is None:
        return []
    channel = v.string(m, "channel", path, max_len=64)
    if channel is not None and not CHANNEL.fullmatch(channel.lstrip("@")):
        v.error(m["channel"].line, f"{path}.channel", f'"{channel}" is not a channel username (letters, digits, _)')
        channel = None
    first = v.count(m, "from", path, 1, 2**31 - 1, "a post id")
    last = v.count(m, "to", path, 1, 2**31 - 1, "a post id")
    base = v.url(m, "base", path) if "base" in m else "https://t.me"
    if first is not None and last is not None:
        if last < first:
            v.error(m["to"].line, f"{path}.to", f"to ({last}) is before from ({first})")
        elif last - first >= MAX_RANGE:
            v.error(m["to"].line, f"{path}.to", f"{last - first + 1} posts; one range holds at most {MAX_RANGE}")
    if channel is None or first is None or last is None or base is None or last < first or last - first >= MAX_RANGE:
        return []
    return [replace(template, id=f"{template.id}-{n}", url=url, family=template.id) for n, url in range_urls(channel.lstrip("@"), first, last, base)]


def _claims(v: Validator, node: Node, source_ids: set[str], people: list[Person] | None) -> list[Claim]:
    if not isinstance(node.value, list):
        v.error(node.line, "claims", "expected a list of claims")
        return []
    out: list[Claim] = []
    seen: dict[str, int] = {}
    known = ", ".join(sorted(source_ids)) or "none"
    declared = people
    for i, item in enumerate(node.value):
        path = f"claims.{i}"
        m = v.mapping(item, path, CLAIM_KEYS, ("id", "text", "citations"))
        if m is None:
            continue
        cid = v.unique_slug(m, path, seen, "claim")
        names: list[str] = []
        for name, line, where in v.names(m, "people", path):
            if declared is not None:
                resolve(v, declared, name, line, where)
            names.append(name)
        citations: list[Citation] = []
        cnode = m.get("citations")
        if cnode is not None and cnode.value is not None:
            if not isinstance(cnode.value, list) or not cnode.value:
                v.error(cnode.line, f"{path}.citations", "expected a non-empty list of citations")
            else:
                for j, citem in enumerate(cnode.value):
                    citation = _citation(v, citem, f"{path}.citations.{j}", source_ids, known)
                    if citation is not None:
                        citations.append(citation)
        date_note = v.choice(m, "date_note", path, DATE_NOTES)
        date = v.date(m, "date", path, partial=True)
        if date_note and "date" not in m:
            v.error(m["date_note"].line, f"{path}.date_note", "date_note without date")
        out.append(
            Claim(
                id=cid or "",
                text=v.string(m, "text", path, max_len=5000) or "",
                line=item.line,
                date=date,
                date_note=date_note,
                type=v.slug(m, "type", path),
                people=tuple(names),
                citations=tuple(citations),
            )
        )
    return out


def _citation(v: Validator, node: Node, path: str, source_ids: set[str], known: str) -> Citation | None:
    m = v.mapping(node, path, CITATION_KEYS, ("source", "quote", "stance"))
    if m is None:
        return None
    source = v.string(m, "source", path, max_len=100)
    if source is not None and source not in source_ids:
        v.error(m["source"].line, f"{path}.source", f'unknown source "{source}" (known: {known})')
    page: int | None = None
    if "page" in m and m["page"].value is not None:
        raw = m["page"].value
        if isinstance(raw, str) and raw.isdigit() and 0 < int(raw) < 10**6:
            page = int(raw)
        else:
            v.error(m["page"].line, f"{path}.page", f'"{raw}" is not a page number (1, 2, ...)')
    capture = v.string(m, "capture", path, max_len=64)
    if capture is not None and not HEX.match(capture):
        v.error(m["capture"].line, f"{path}.capture", f'"{capture}" is not a BLAKE3 hex prefix (6 to 64 of 0-9a-f)')
        capture = None
    quote = v.raw_string(m, "quote", path)
    if quote is not None and len(quote) > 5000:
        v.error(m["quote"].line, f"{path}.quote", "longer than 5000 characters; quotes are short and exact")
    return Citation(
        source=source or "",
        quote=quote or "",
        stance=v.choice(m, "stance", path, STANCES) or "",
        line=node.line,
        prefix=v.raw_string(m, "prefix", path),
        suffix=v.raw_string(m, "suffix", path),
        page=page,
        capture=capture,
        # A quote within one block needs no spans; 1 would accept nothing and is refused.
        spans=v.count(m, "spans", path, 2, MAX_SPANS, "a number of blocks the quote may join"),
    )
