"""Independent origins: a claim's supporting sources grouped by the copies, citations and canonical pages that join them.

Three outlets that repost one wire story are one origin, not three. Two supporting sources are
joined (and every link keeps its evidence) when they are from the same outlet; when their
archived texts are near-duplicates (MinHash over word shingles, datasketch); when one names the
other, or both name the same third party, in an attribution phrase ("as RIA Novosti reported",
«со ссылкой на», "Forwarded from": claims/attribution); or when an archived page's
`<link rel=canonical>` names the other's address, or both name the same page. Finding no link
does not show that two sources are independent, only that these checks found nothing joining
them, and the summary says so.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from ingest.claims.attribution import attributions, fold_name, same_name

SHINGLE_WORDS = 3
NUM_PERM = 256
SEED = 20  # fixed, so that every run gives the same estimate for the same texts
NEAR_DUPLICATE = 0.5  # estimated Jaccard similarity of two texts' shingles from which they count as copies
CONTAINED = 0.8  # share of the shorter text's shingles found in the longer one (a copy inside a round-up)
HTML_TYPES = ("text/html", "application/xhtml+xml")
NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}


@dataclass(frozen=True)
class Member:
    """One supporting source as the grouping sees it."""

    source_id: str  # as the archive keys it (case/slug)
    outlet: str  # the outlet as recorded, else the source's slug
    text: str | None  # the text its quote was found in; None: not available to compare
    names: tuple[str, ...] = ()  # what the source is called (outlet, site name, host) for matching attributions
    urls: tuple[str, ...] = ()  # the addresses it was captured at
    canonical: str | None = None  # its archived page's <link rel=canonical>, resolved


@dataclass(frozen=True)
class Link:
    kind: str  # same-outlet | similar-text | attribution | canonical
    source_id: str
    other: str | None  # the other supporting source, or None when the link is to an origin outside them
    upstream: str | None  # that outside origin: a name cited, or a canonical address
    score: float | None
    detail: str  # the evidence, in words

    def as_row(self) -> dict[str, Any]:
        return {"kind": self.kind, "source_id": self.source_id, "other": self.other, "upstream": self.upstream,
                "score": self.score, "detail": self.detail}


@dataclass(frozen=True)
class Origin:
    sources: tuple[str, ...]
    outlets: tuple[str, ...]
    upstream: tuple[str, ...]  # origins outside the claim's sources that the group names


@dataclass(frozen=True)
class Origins:
    outlets: tuple[str, ...]
    origins: tuple[Origin, ...]
    links: tuple[Link, ...]
    unchecked: tuple[str, ...] = ()  # sources whose text could not be compared
    summary: str = field(default="")


# -- what each member brings ---------------------------------------------------------------------

_CACHE_SIZE = 256
_text_cache: OrderedDict[str, Any] = OrderedDict()
# A text's attribution phrases are few and small, and finding them takes about 1.6 ms per 10,000
# characters: kept for many more texts than the MinHashes, so that a run can find them in its idle
# time while the workers extract (`warm_attributions`) and its claim phase only looks them up.
_ATTRIBUTIONS_SIZE = 50_000
_attribution_cache: OrderedDict[str, Any] = OrderedDict()


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold().replace("ё", "е"))


def shingles(text: str, k: int = SHINGLE_WORDS) -> set[str]:
    words = _tokens(text)
    if len(words) < k:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i:i + k]) for i in range(len(words) - k + 1)}


def _cached(kind: str, text: str, make: Any) -> Any:
    """`make(text)`, computed once per text (keyed by its BLAKE3) and kind."""
    from ingest.store.files import blake3_of

    cache, size = (_attribution_cache, _ATTRIBUTIONS_SIZE) if kind == "a" else (_text_cache, _CACHE_SIZE)
    key = kind + blake3_of(text.encode("utf-8", "surrogatepass"))
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = cache[key] = make(text)
    if len(cache) > size:
        cache.popitem(last=False)
    return value


def warm_attributions(text: str) -> None:
    """Find a text's attribution phrases now, so that grouping a claim's sources later finds them kept."""
    _cached("a", text, attributions)


def _minhash(text: str) -> tuple[Any, int]:
    """A text's MinHash and shingle count (datasketch is imported only when two texts are compared)."""
    from datasketch import MinHash

    grams = shingles(text)
    mh = MinHash(num_perm=NUM_PERM, seed=SEED)
    mh.update_batch([g.encode("utf-8") for g in sorted(grams)])
    return mh, len(grams)


def similarity(a: str, b: str) -> tuple[float, float]:
    """(estimated Jaccard similarity of the two texts' shingles, estimated share of the smaller set in the other)."""
    ma, na = _cached("m", a, _minhash)
    mb, nb = _cached("m", b, _minhash)
    if not na or not nb:
        return 0.0, 0.0
    j = float(ma.jaccard(mb))
    shared = j * (na + nb) / (1 + j)
    return j, min(1.0, shared / min(na, nb))


def url_key(url: str | None) -> str | None:
    """An address folded for comparison: scheme, "www.", a trailing slash and the fragment do not count."""
    if not url:
        return None
    try:
        p = urlsplit(url.strip())
    except ValueError:
        return None
    if p.scheme.lower() not in ("http", "https") or not p.hostname:
        return None
    host = p.hostname.lower().removeprefix("www.")
    port = f":{p.port}" if p.port and p.port not in (80, 443) else ""
    return urlunsplit(("", host + port, p.path.rstrip("/") or "", p.query, "")).lstrip("/")


def canonical_link(html: str, base: str | None) -> str | None:
    """The page's `<link rel=canonical href>`, resolved against its address; None if it names none."""
    import lxml.html

    try:
        doc = lxml.html.document_fromstring(html)
    except (ValueError, TypeError, lxml.etree.ParserError):
        return None
    for link in doc.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        href = (link.get("href") or "").strip()
        if "canonical" in rels and href:
            try:
                return urljoin(base or "", href)
            except ValueError:
                return None  # a malformed address ("http://[::1") names no page
    return None


def host_name(url: str | None) -> str | None:
    """The host's own label ("fontanka" of www.fontanka.ru), to match a name cited; None for an IP address."""
    try:
        host = urlsplit(url or "").hostname or ""
    except ValueError:
        return None
    labels = host.removeprefix("www.").split(".")
    if len(labels) < 2 or all(p.isdigit() for p in labels):
        return None
    return labels[-2]


# -- grouping ------------------------------------------------------------------------------------


class _Groups:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group(members: list[Member]) -> Origins:
    """The members grouped into origins, with the evidence for every link between them."""
    groups = _Groups()
    links: list[Link] = []
    for m in members:
        groups.find("s:" + m.source_id)
    outlet_first: dict[str, Member] = {}
    for m in members:
        key = fold_name(m.outlet)
        if key in outlet_first:
            first = outlet_first[key]
            links.append(Link("same-outlet", m.source_id, first.source_id, None, None,
                              f"{slug(m.source_id)} and {slug(first.source_id)} are both from {m.outlet}"))
            groups.join("s:" + m.source_id, "s:" + first.source_id)
        else:
            outlet_first[key] = m
    readable = [m for m in members if m.text]
    for i, a in enumerate(readable):
        for b in readable[i + 1:]:
            j, contained = similarity(a.text or "", b.text or "")
            if j >= NEAR_DUPLICATE or contained >= CONTAINED:
                how = (f"texts {j:.2f} similar" if j >= NEAR_DUPLICATE else
                       f"{contained:.2f} of the shorter text's word sequences are in the other (texts {j:.2f} similar)")
                links.append(Link("similar-text", a.source_id, b.source_id, None, round(j, 2),
                                  f"the archived texts of {slug(a.source_id)} and {slug(b.source_id)}: {how} "
                                  f"(MinHash estimate over {SHINGLE_WORDS}-word shingles, {NUM_PERM} permutations)"))
                groups.join("s:" + a.source_id, "s:" + b.source_id)
    links += _attributions(readable, members, groups)
    links += _canonicals(members, groups)
    return _result(members, links, groups)


def _attributions(readable: list[Member], members: list[Member], groups: _Groups) -> list[Link]:
    out: list[Link] = []
    upstream: dict[str, str] = {}  # folded name of an outside origin -> the name as first written
    for m in readable:
        seen: set[str] = set()  # "s:" + a member named, or an outside name folded
        for a in _cached("a", m.text or "", attributions):
            key = fold_name(a.name)
            named = [o for o in members if o.source_id != m.source_id and any(same_name(key, fold_name(n)) for n in o.names)]
            own = any(same_name(key, fold_name(n)) for n in m.names)
            where = f"characters {a.start}–{a.end} of its archived text"
            if named:
                for o in named:
                    if "s:" + o.source_id in seen:
                        continue
                    seen.add("s:" + o.source_id)
                    out.append(Link("attribution", m.source_id, o.source_id, None, None,
                                    f'{slug(m.source_id)} writes "{a.phrase}" ({where}), naming {slug(o.source_id)} ({o.outlet})'))
                    groups.join("s:" + m.source_id, "s:" + o.source_id)
                continue
            if own:
                continue  # an outlet naming itself says nothing about where its report came from
            known = next((k for k in upstream if same_name(key, k)), key)
            upstream.setdefault(known, a.name)
            if known in seen:
                continue
            seen.add(known)
            out.append(Link("attribution", m.source_id, None, a.name, None,
                            f'{slug(m.source_id)} writes "{a.phrase}" ({where})'))
            groups.join("s:" + m.source_id, "n:" + known)
    return out


def _canonicals(members: list[Member], groups: _Groups) -> list[Link]:
    out: list[Link] = []
    at = {url_key(u): m for m in members for u in m.urls if url_key(u)}
    for m in members:
        key = url_key(m.canonical)
        if key is None or key in {url_key(u) for u in m.urls}:
            continue  # a page naming itself as canonical shows nothing
        other = at.get(key)
        if other is not None:
            out.append(Link("canonical", m.source_id, other.source_id, None, None,
                            f"the archived page of {slug(m.source_id)} names {m.canonical} (the address of "
                            f"{slug(other.source_id)}) as its canonical address"))
            groups.join("s:" + m.source_id, "s:" + other.source_id)
        else:
            out.append(Link("canonical", m.source_id, None, m.canonical, None,
                            f"the archived page of {slug(m.source_id)} names {m.canonical} as its canonical address"))
            groups.join("s:" + m.source_id, "u:" + key)
    return out


def _result(members: list[Member], links: list[Link], groups: _Groups) -> Origins:
    by_root: dict[str, list[Member]] = {}
    for m in members:
        by_root.setdefault(groups.find("s:" + m.source_id), []).append(m)
    origins = []
    for ms in by_root.values():
        ids = {m.source_id for m in ms}
        up = tuple(dict.fromkeys(link.upstream for link in links if link.source_id in ids and link.upstream))
        origins.append(Origin(tuple(m.source_id for m in ms), tuple(dict.fromkeys(m.outlet for m in ms)), up))
    outlets = tuple(dict.fromkeys(m.outlet for m in members))
    unchecked = tuple(m.source_id for m in members if not m.text)
    result = Origins(outlets, tuple(origins), tuple(links), unchecked)
    return Origins(outlets, tuple(origins), tuple(links), unchecked,
                   summarise(result, {m.source_id: m.outlet for m in members}))


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def slug(source_id: str) -> str:
    return source_id.split("/", 1)[-1]


def summarise(r: Origins, outlet_of: dict[str, str]) -> str:
    """"3 outlets, 1 independent origin (texts 0.86 similar; two cite RIA Novosti)"."""
    if not r.outlets:
        return "no supporting quote present in an archived copy"
    head = f"{_count(len(r.outlets), 'outlet')}, {_count(len(r.origins), 'independent origin')}"
    parts: list[str] = []
    scores = [f"{link.score:.2f}" for link in r.links if link.kind == "similar-text"]
    if scores:
        parts.append(f"texts {', '.join(scores)} similar")
    cited: dict[str, tuple[list[str], set[str]]] = {}  # folded name -> (spellings, sources citing it)
    for link in r.links:
        if link.kind == "attribution":
            name = outlet_of.get(link.other, slug(link.other)) if link.other else link.upstream or ""
            key = next((k for k in cited if same_name(fold_name(name), k)), fold_name(name))
            spellings, who = cited.setdefault(key, ([], set()))
            if name not in spellings:
                spellings.append(name)
            who.add(link.source_id)
    for spellings, who in cited.values():
        n = len(who)
        parts.append(f"{NUMBERS.get(n, str(n))} cite{'s' if n == 1 else ''} {' / '.join(spellings)}")
    pages: dict[str, set[str]] = {}
    for link in r.links:
        if link.kind == "canonical":
            page = f"{slug(link.other)}'s page" if link.other else link.upstream or ""
            pages.setdefault(page, set()).add(link.source_id)
    for page, who in pages.items():
        n = len(who)
        parts.append(f"{NUMBERS.get(n, str(n))} name{'s' if n == 1 else ''} {page} as canonical")
    shared: dict[str, int] = {}
    for link in r.links:
        if link.kind == "same-outlet":
            shared[outlet_of.get(link.source_id, "")] = shared.get(outlet_of.get(link.source_id, ""), 1) + 1
    parts += [f"{NUMBERS.get(n, str(n))} from {outlet}" for outlet, n in shared.items()]
    if r.unchecked:
        parts.append(f"not compared, no text: {', '.join(slug(s) for s in r.unchecked)}")
    if not parts and len(r.origins) > 1:
        parts.append("no shared text, attribution or canonical link found between them; that does not show they are independent")
    return head + (f" ({'; '.join(parts)})" if parts else "")


# -- from the archive ------------------------------------------------------------------------------


def members_for(db: Any, store: Any, found: list[dict[str, Any]]) -> list[Member]:
    """One Member per supporting source among `found` (citation rows whose quote counts)."""
    out: dict[str, Member] = {}
    for c in found:
        sid = c["source_id"]
        if sid in out:
            continue
        source = db.execute("SELECT outlet, slug, url FROM sources WHERE id = ?", [sid]).fetchone()
        outlet = (source[0] if source and source[0] else None) or (source[1] if source and source[1] else sid)
        ex = db.execute("SELECT text, sitename FROM extractions WHERE id = ?", [c.get("extraction_id")]).fetchone()
        cap = db.execute("SELECT url, final_url, media_type, charset, blake3 FROM captures WHERE id = ?",
                         [c.get("capture_id")]).fetchone()
        urls = tuple(u for u in ((cap[0], cap[1]) if cap else ()) + ((source[2],) if source else ()) if u)
        names = [n for n in (outlet, ex[1] if ex else None, *(host_name(u) for u in urls))
                 if n and not n.casefold().startswith("unknown")]
        canonical = None
        if cap and (cap[2] or "").split(";")[0].strip() in HTML_TYPES:
            canonical = _archived_canonical(store, cap[4], cap[3], cap[1] or cap[0])
        out[sid] = Member(sid, outlet, ex[0] if ex else None, tuple(dict.fromkeys(names)),
                          tuple(dict.fromkeys(urls)), canonical)
    return list(out.values())


def _archived_canonical(store: Any, blake3: str, charset: str | None, base: str | None) -> str | None:
    from ingest.text.charset import decode_html

    try:
        data = store.path(blake3).read_bytes()
    except OSError:
        return None  # fixity reports a missing file; the grouping goes on without its canonical link
    return canonical_link(decode_html(data, charset)[0], base)


def store(db: Any, claim_id: str, grouped: Origins) -> None:
    """Replace a claim's rows in claim_origins and origin_links (derived: rebuilt with its status)."""
    import json

    db.execute("DELETE FROM claim_origins WHERE claim_id = ?", [claim_id])
    db.execute("DELETE FROM origin_links WHERE claim_id = ?", [claim_id])
    for n, o in enumerate(grouped.origins, 1):
        db.execute("INSERT INTO claim_origins (id, claim_id, n, sources, outlets, upstream) VALUES (?, ?, ?, ?, ?, ?)",
                   [f"{claim_id}@{n}", claim_id, n, json.dumps(list(o.sources), ensure_ascii=False),
                    json.dumps(list(o.outlets), ensure_ascii=False), json.dumps(list(o.upstream), ensure_ascii=False)])
    for n, link in enumerate(grouped.links, 1):
        db.execute("INSERT INTO origin_links (id, claim_id, n, kind, source_id, other, upstream, score, detail) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [f"{claim_id}~{n}", claim_id, n, link.kind, link.source_id, link.other, link.upstream,
                    link.score, link.detail])
