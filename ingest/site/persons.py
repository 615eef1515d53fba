"""The person pages: one page per person across cases, and finding a person by any way of writing
their name (a transliteration, a Russian case form)."""

from __future__ import annotations

import json
from typing import Any

from ingest.claims.people import name_key
from ingest.site import history
from ingest.site.web import NotFound, rows

MAX_NAME = 300


def person_href(slug: str) -> str:
    return f"/-/person/{slug}"


async def find_people(datasette: Any, written: str) -> list[dict[str, Any]]:
    """Every person (by slug) one of whose variants is `written`, with the variants that matched."""
    found = await rows(datasette, """
        SELECT v.slug, v.text, v.how, p.name, p.case_id FROM person_variants v JOIN people p ON p.id = v.person_id
        WHERE v.key = ?
        UNION ALL SELECT slug, slug, 'id', name, case_id FROM people WHERE slug = ?
        ORDER BY 1, 5""", [name_key(written[:MAX_NAME]), written.strip()])
    by_slug: dict[str, dict[str, Any]] = {}
    for r in found:
        entry = by_slug.setdefault(r["slug"], {"slug": r["slug"], "name": r["name"], "href": person_href(r["slug"]),
                                               "matched": []})
        how = f'{r["text"]} ({r["how"]}, in {r["case_id"]})'
        if how not in entry["matched"]:
            entry["matched"].append(how)
    return list(by_slug.values())


async def people_page(datasette: Any, name: str | None) -> dict[str, Any]:
    """Everyone the archive names, or the people a written name can be; `redirect` is set when it
    is exactly one person."""
    name = (name or "").strip()[:MAX_NAME]
    result: dict[str, Any] = {"name": name, "matches": [], "people": [], "message": None, "redirect": None}
    if name:
        result["matches"] = await find_people(datasette, name)
        if len(result["matches"]) == 1:
            result["redirect"] = result["matches"][0]["href"]
        elif not result["matches"]:
            result["message"] = f'No person in this archive is written "{name}" (in any transliteration or case form).'
        return result
    result["people"] = await rows(datasette, """
        SELECT p.slug, min(p.name) AS name, group_concat(DISTINCT p.case_id) AS cases,
               (SELECT count(DISTINCT cp.claim_id) FROM claim_persons cp JOIN claims c ON c.id = cp.claim_id
                WHERE cp.person_slug = p.slug AND c.withdrawn = 0) AS claim_count
        FROM people p GROUP BY p.slug ORDER BY name, p.slug""")
    return result


async def person_page(datasette: Any, slug: str, named: str | None = None) -> dict[str, Any]:
    entries = await rows(datasette, """
        SELECT p.*, c.title AS case_title FROM people p JOIN cases c ON c.id = p.case_id
        WHERE p.slug = ? ORDER BY p.case_id""", [slug])
    if not entries:
        raise NotFound(f"no person {slug}")
    for e in entries:
        e["alias_list"] = json.loads(e["aliases"] or "[]")
    variants = await rows(datasette, """
        SELECT text, group_concat(DISTINCT how) AS how FROM person_variants WHERE slug = ? AND whole = 1
        GROUP BY key ORDER BY min(rowid)""", [slug])
    claims = await rows(datasette, """
        SELECT DISTINCT c.id, c.case_id, c.date, c.date_note, c.status, c.text, c.drift, c.drift_since, cp.written
        FROM claim_persons cp JOIN claims c ON c.id = cp.claim_id AND c.withdrawn = 0
        WHERE cp.person_slug = ? ORDER BY c.date IS NULL, c.date, c.id""", [slug])
    for c in claims:
        c["drift_label"] = history.drift_label(c["drift"], c["drift_since"])
    names = list(dict.fromkeys(e["name"] for e in entries))
    found_as = None
    if named and name_key(named) not in {name_key(n) for n in names}:
        matched = [m for m in await find_people(datasette, named) if m["slug"] == slug]
        found_as = f'"{named[:MAX_NAME]}": ' + "; ".join(matched[0]["matched"]) if matched else None
    return {"slug": slug, "name": names[0], "names": names, "entries": entries, "variants": variants,
            "claims": claims, "found_as": found_as}
