"""Evidence package: one case exported as a signed BagIt bag that can be checked without the archive.

Layout (all under the bag folder):

    bagit.txt, bag-info.txt, manifest-sha256.txt, manifest-sha512.txt,
    tagmanifest-sha256.txt, tagmanifest-sha512.txt, khronika-signature.json
    data/files/<blake3>          raw captured files, byte for byte
    data/texts/<extraction>.txt  extracted texts, UTF-8 exactly as stored
    data/warc/<case>.warc.gz     every record of the case's captures and attempts (redirect hops,
                                 final exchange, revisits, resource records), each archive WARC
                                 file's warcinfo first, gzip members copied byte for byte
    data/case/<name>.yml         the case file as ingested
    data/archive.db              SQLite with this case's rows only
    data/log.jsonl               the log: this case's entries in full, others as {seq, hash, prev}
    data/report.html             a human-readable report (no scripts, inline CSS)

Which log entries belong to the case: those whose (table, key) is a row exported here, plus any
entry for a source, claim or citation key under "<case id>/" (rows since deleted, such as a
withdrawn citation). Every other entry keeps only seq, hash and prev, which is enough to check
that the chain links through it but shows nothing of other cases.

Order of writing: payload, bagit.txt, bag-info.txt and the payload manifests; then the signature
(khronika-signature.json: the SHA-256 of manifest-sha256.txt, the SHA-512 of manifest-sha512.txt,
the log's chain head and the SHA-256 of every file but itself and the tag manifests); then the
tag manifests, which list every tag file, the signature included (RFC 8493 section 2.2.1).
docs/formats.md says all of this for someone writing their own checker.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from ingest import __version__
from ingest.errors import KhronikaError
from ingest.evidence.bag import (
    ALGORITHMS,
    TAG_MANIFESTS,
    file_digest,
    payload_files,
    write_bag,
    write_tag_manifests,
    zip_bag,
)
from ingest.evidence.bagwarc import copy_warc_records
from ingest.evidence.rows import CaseRows, case_rows, entry_belongs, reduced, rows_in
from ingest.evidence.signing import fingerprint, load_or_create_key, raw_public, sign
from ingest.store import db as dbm
from ingest.store.archive import Archive
from ingest.store.log import Head, canonical, utcnow

SIGNATURE_FILE = "khronika-signature.json"
CHECKPOINT_FORMAT_1 = "khronika-checkpoint/1"  # signed the tag manifests (earlier bags); still checked
CHECKPOINT_FORMAT = "khronika-checkpoint/2"
WARC_RECORDS_TABLE = "bag_warc_records"
UNKNOWN = "unknown"


class ExportError(KhronikaError):
    pass


@dataclass
class ExportOptions:
    organization: str = UNKNOWN
    contact_name: str = UNKNOWN
    contact_email: str = UNKNOWN
    zip: bool = False
    wacz: bool = False
    run_verify: bool = True
    wait: float = 0.0


@dataclass
class ExportResult:
    bag: Path | None
    zip: Path | None
    key_fingerprint: str
    head: Head
    counts: dict[str, int] = field(default_factory=dict)
    wacz: Path | None = None


def parse_contact(text: str | None) -> tuple[str, str]:
    """"Name <email>" or "email" or "Name" into (name, email); missing parts are "unknown"."""
    if not text:
        return UNKNOWN, UNKNOWN
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, _, email = text[:-1].partition("<")
        return name.strip() or UNKNOWN, email.strip() or UNKNOWN
    if "@" in text and " " not in text:
        return UNKNOWN, text
    return text, UNKNOWN


# -- the bag's database ------------------------------------------------------------------------


def latest_verify(db: sqlite_utils.Database) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    runs = list(db.query("SELECT * FROM verify_runs ORDER BY id DESC LIMIT 1"))
    if not runs:
        return None, []
    return runs[0], list(db.query("SELECT * FROM verify_results WHERE run_id = ? ORDER BY id", [runs[0]["id"]]))


def case_subjects(rows: CaseRows, seqs: set[int]) -> tuple[set[str], tuple[str, ...]]:
    """Exact verify subjects and subject prefixes that concern this case."""
    exact = {"log chain", "database rows"} | {f"log entry {s}" for s in seqs}
    for table, key in rows.keys():
        exact.add(f"{table} row {key}")
    exact |= {f"citation {c['id']}" for c in rows.tables["citations"]}
    exact |= {f"visibility of citation {c['id']}" for c in rows.tables["citations"]}
    exact |= {f"warc {w['name']}" for w in rows.tables["warcs"]}
    prefixes = tuple(f"file {f['blake3']} " for f in rows.tables["files"]) + tuple(
        f"extraction {e['id']} of " for e in rows.tables["extractions"])
    return exact, prefixes


def write_database(path: Path, rows: CaseRows, log_rows: list[dict[str, Any]], run: dict[str, Any] | None,
                   results: list[dict[str, Any]], warc_records: list[dict[str, Any]]) -> None:
    db = sqlite_utils.Database(path)
    db.conn.create_function("fold", 1, dbm.fold, deterministic=True)
    dbm.ensure_schema(db)
    with db.conn:
        for table in (*dbm.LOGGED_TABLES, "claim_origins", "origin_links"):
            if rows.tables[table]:
                db[table].insert_all(rows.tables[table], pk=dbm.SCHEMA[table]["pk"])
        for e in rows.tables["extractions"]:
            if e.get("text") is not None:
                dbm.index_text(db, e["id"], e.get("title"), e["text"])
        if log_rows:
            db["log"].insert_all(log_rows, pk="seq")
        if run is not None:
            db["verify_runs"].insert(run, pk="id")
            if results:
                db["verify_results"].insert_all(results, pk="id")
        db[WARC_RECORDS_TABLE].create({
            "n": int, "refers_to": str, "ref_key": str, "warc_file": str, "warc_offset": int, "length": int,
            "bag_offset": int, "warc_type": str, "record_id": str, "target_uri": str, "sha256": str,
        }, pk="n")
        if warc_records:
            db[WARC_RECORDS_TABLE].insert_all(warc_records, pk="n")
    db.execute("VACUUM")
    db.close()


# -- the export ------------------------------------------------------------------------------


def case_file_name(case: dict[str, Any]) -> str:
    name = Path(case["case_file"] or f"{case['id']}.yml").name
    return name if name.endswith((".yml", ".yaml")) else name + ".yml"


def wacz_pages(rows: CaseRows) -> list[dict[str, Any]]:
    """One WACZ page per web capture: the URL as the case file gives it (redirects replay from
    there), the capture time, and the extracted title, else the source's title."""
    titles: dict[str, str] = {}
    for e in rows.tables["extractions"]:
        if e.get("title"):
            titles.setdefault(e["blake3"], e["title"])
    sources = {s["id"]: s for s in rows.tables["sources"]}
    pages = []
    for c in rows.tables["captures"]:
        if c["method"] == "http":
            title = titles.get(c["blake3"]) or sources.get(c["source_id"], {}).get("title") or c["url"]
            pages.append({"id": f"capture-{c['id']}", "url": c["url"], "ts": c["captured_at"], "title": title})
    return pages


def export_case(archive_root: Path, case_id: str, out: Path, options: ExportOptions | None = None) -> ExportResult:
    options = options or ExportOptions()
    archive_root = Path(archive_root)
    out = Path(out)
    zip_only = out.suffix == ".zip"
    if zip_only:
        zip_path: Path | None = out
        bag_dir = Path(tempfile.mkdtemp(prefix="khronika-bag-")) / out.stem
    else:
        zip_path = out.with_name(out.name + ".zip") if options.zip else None
        bag_dir = out
    wacz_path = out.with_suffix(".wacz") if zip_only else (out.with_name(out.name + ".wacz") if options.wacz else None)
    if not options.wacz:
        wacz_path = None
    for p in (bag_dir, zip_path, wacz_path):
        if p is not None and p.exists() and (p.is_file() or any(p.iterdir())):
            raise ExportError(f"{p} already exists; choose a new path")
    if wacz_path is not None:
        from ingest.evidence.wacz import require_wacz

        require_wacz()
    with Archive.open(archive_root, create=False, write=True, wait=options.wait) as archive:
        if options.run_verify:
            from ingest.checks.verify import verify

            verify(archive)
        key = load_or_create_key(archive_root)
        rows = case_rows(archive.db, case_id)
        if wacz_path is not None and not any(c["method"] == "http" for c in rows.tables["captures"]):
            raise ExportError(f"case {case_id} has no web captures to put in a WACZ")
        head = archive.log.head()
        created = not bag_dir.exists()
        ok = False
        try:
            result = _write(archive, rows, head, bag_dir, options)
            fp = fingerprint(raw_public(key.public_key()))
            _sign(bag_dir, key, case_id, head)
            if zip_path is not None:
                zip_bag(bag_dir, zip_path)
            if wacz_path is not None:
                from ingest.evidence.wacz import write_wacz

                write_wacz(bag_dir / "data" / "warc" / f"{case_id}.warc.gz", wacz_path, rows.case["title"],
                           wacz_pages(rows))
            ok = True
        finally:
            if not ok:  # never leave a half-written package behind: the next export to this path must work
                if created:
                    shutil.rmtree(bag_dir, ignore_errors=True)
                for p in (zip_path, wacz_path):
                    if p is not None and p.is_file():
                        p.unlink()
            if zip_only:
                shutil.rmtree(bag_dir.parent, ignore_errors=True)
    return ExportResult(None if zip_only else bag_dir, zip_path, fp, head, result, wacz_path)


def _write(archive: Archive, rows: CaseRows, head: Head, bag: Path, options: ExportOptions) -> dict[str, int]:
    from ingest.evidence.report import write_report
    from ingest.text.extract import extractor_versions

    case = rows.case
    data = bag / "data"
    for sub in ("files", "texts", "warc", "case"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    raw = [f for f in rows.tables["files"] if f["blake3"] != case["case_file_blake3"]]
    for f in raw:
        shutil.copyfile(archive.root / f["path"], data / "files" / f["blake3"])
    case_src = archive.store.path(case["case_file_blake3"])
    shutil.copyfile(case_src, data / "case" / case_file_name(case))
    texts = 0
    for e in rows.tables["extractions"]:
        if e["text"] is not None:
            (data / "texts" / f"{e['id']}.txt").write_bytes(e["text"].encode("utf-8"))
            texts += 1
    warc_records = copy_warc_records(archive.root, rows, data / "warc" / f"{case['id']}.warc.gz")

    keys = rows.keys()
    full_seqs: set[int] = set()
    with open(data / "log.jsonl", "wb") as out:
        for path in archive.log.files():
            with open(path, "rb") as fh:
                for line in fh:
                    entry = json.loads(line)
                    if entry_belongs(entry, keys, case["id"]):
                        full_seqs.add(entry["seq"])
                        out.write(line if line.endswith(b"\n") else line + b"\n")
                    else:
                        out.write(canonical(reduced(entry)) + b"\n")
    log_rows = rows_in(archive.db, "log", "seq", full_seqs, "seq")
    run, results = latest_verify(archive.db)
    exact, prefixes = case_subjects(rows, full_seqs)
    results = [r for r in results if r["subject"] in exact or r["subject"].startswith(prefixes)]
    write_database(data / "archive.db", rows, log_rows, run, results, warc_records)
    versions = extractor_versions()
    write_report(data / "report.html", rows, run, results, head, versions, warc_records)
    info = {
        "Source-Organization": options.organization,
        "Contact-Name": options.contact_name,
        "Contact-Email": options.contact_email,
        "Bagging-Date": utcnow()[:10],
        "External-Identifier": case["id"],
        "External-Description": f"Khronika evidence package for the case {case['title']}",
        "Bag-Software-Agent": f"Khronika {__version__}",
        "Khronika-Extractor-Versions": ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
        "Khronika-Log-Head": str(head),
    }
    write_bag(bag, info)
    return {"files": len(raw), "texts": texts, "warc_records": len(warc_records), "log_entries_full": len(full_seqs),
            "claims": len(rows.tables["claims"]), "citations": len(rows.tables["citations"])}


def signed_manifests(fmt: str) -> tuple[tuple[str, str], ...]:
    """The manifests whose digest a checkpoint of format `fmt` signs by name, with the algorithm."""
    kind = "tagmanifest" if fmt == CHECKPOINT_FORMAT_1 else "manifest"
    return tuple((f"{kind}-{a}.txt", a) for a in ALGORITHMS)


def unsigned_files(fmt: str) -> set[str]:
    """The bag's files that a checkpoint of format `fmt` does not list: itself, and (format 2)
    the tag manifests, which are written after it so that they can list it."""
    return {SIGNATURE_FILE} if fmt == CHECKPOINT_FORMAT_1 else {SIGNATURE_FILE, *TAG_MANIFESTS}


def checkpoint_statement(bag: Path, case_id: str, head: Head | str) -> dict[str, Any]:
    """What the bag's signature states: payload manifest digests, log head, every other file's SHA-256."""
    files = {rel: file_digest(bag / rel, "sha256") for rel in payload_files(bag)}
    for p in sorted(bag.iterdir()):
        if p.is_file() and p.name not in unsigned_files(CHECKPOINT_FORMAT):
            files[p.name] = file_digest(p, "sha256")
    statement: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "external_identifier": case_id,
        "log_head": str(head),
        "files": files,
        "signed_at": utcnow(),
        "tool": f"Khronika {__version__}",
    }
    for name, alg in signed_manifests(CHECKPOINT_FORMAT):
        statement[name[:-4].replace("-", "_")] = file_digest(bag / name, alg)
    return statement


def _sign(bag: Path, key: Any, case_id: str, head: Head | str) -> None:
    doc = sign(checkpoint_statement(bag, case_id, head), key)
    (bag / SIGNATURE_FILE).write_text(json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n", "utf-8")
    write_tag_manifests(bag)  # last: they list the signature file like any other tag file


def resign(bag: Path, key: Any) -> None:
    """Sign a bag again with another key, keeping its case id and log head (used to show that a
    signature alone proves nothing without the published fingerprint)."""
    from ingest.evidence.bag import read_bag_info

    info = read_bag_info(bag)
    (bag / SIGNATURE_FILE).unlink(missing_ok=True)
    for name in TAG_MANIFESTS:
        (bag / name).unlink(missing_ok=True)
    _sign(bag, key, info.get("External-Identifier", ""), info.get("Khronika-Log-Head", ""))

