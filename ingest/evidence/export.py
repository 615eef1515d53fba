"""Evidence package: one case exported as a signed BagIt bag that can be checked without the archive.

Layout (all under the bag folder):

    bagit.txt, bag-info.txt, manifest-sha256.txt, manifest-sha512.txt,
    tagmanifest-sha256.txt, tagmanifest-sha512.txt, khronika-signature.json
    data/files/<blake3>          raw captured files, byte for byte
    data/texts/<extraction>.txt  extracted texts, UTF-8 exactly as stored
    data/warc/<case>.warc.gz     the case's WARC records, gzip members copied byte for byte
    data/case/<name>.yml         the case file as ingested
    data/archive.db              SQLite with this case's rows only
    data/log.jsonl               the log: this case's entries in full, others as {seq, hash, prev}
    data/report.html             a human-readable report (no scripts, inline CSS)

Which log entries belong to the case: those whose (table, key) is a row exported here, plus any
entry for a source, claim or citation key under "<case id>/" (rows since deleted, such as a
withdrawn citation). Every other entry keeps only seq, hash and prev, which is enough to check
that the chain links through it but shows nothing of other cases.

The signature (khronika-signature.json) is written last. It covers the SHA-256 of
tagmanifest-sha256.txt, the SHA-512 of tagmanifest-sha512.txt, the log's chain head and the
SHA-256 of every other file in the bag, so it cannot itself be listed in the tag manifests;
the `bagit` validator only checks tag files that a tag manifest lists, and still passes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from ingest import __version__
from ingest.errors import KhronikaError
from ingest.evidence.bag import file_digest, payload_files, write_bag, zip_bag
from ingest.evidence.rows import CaseRows, case_rows, entry_belongs, reduced, rows_in
from ingest.evidence.signing import fingerprint, load_or_create_key, raw_public, sign
from ingest.store import db as dbm
from ingest.store.archive import Archive
from ingest.store.log import Head, canonical, utcnow
from ingest.store.warcs import WarcReadError, record_at

SIGNATURE_FILE = "khronika-signature.json"
CHECKPOINT_FORMAT = "khronika-checkpoint/1"
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


# -- WARC records ----------------------------------------------------------------------------


def copy_warc_records(archive_root: Path, rows: CaseRows, target: Path) -> list[dict[str, Any]]:
    """Copy the case's response/resource records and their request records; return their places."""
    wanted: dict[tuple[str, int], tuple[str, str]] = {}
    for table in ("captures", "attempts"):
        for r in rows.tables[table]:
            if r["warc_file"] and r["warc_offset"] is not None:
                place = (r["warc_file"], r["warc_offset"])
                wanted.setdefault(place, (table, str(r["id"])))
    records: list[dict[str, Any]] = []
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        for (name, offset), (table, key) in sorted(wanted.items()):
            path = archive_root / "warc" / name
            if not path.is_file():
                raise ExportError(f"WARC file {name} referenced by {table} {key} is missing from the archive")
            with open(path, "rb") as fh:
                try:
                    found = record_at(fh, offset)
                    if found is None:
                        raise WarcReadError(f"no WARC record at offset {offset}")
                    place, member = found
                    parts = [(table, key, place, member)]
                    following = record_at(fh, place.offset + place.length)
                except WarcReadError as exc:
                    raise ExportError(f"WARC file {name} ({table} {key}): {exc}") from None
                if following is not None:
                    req, req_member = following
                    if req.warc_type == "request" and req.concurrent_to == place.record_id:
                        parts.append(("request", f"{table} {key}", req, req_member))
            for what, ref, rec, data in parts:
                records.append({
                    "n": len(records) + 1, "refers_to": what, "ref_key": ref, "warc_file": name,
                    "warc_offset": rec.offset, "length": len(data), "bag_offset": out.tell(),
                    "warc_type": rec.warc_type, "record_id": rec.record_id, "target_uri": rec.target_uri,
                    "sha256": hashlib.sha256(data).hexdigest(),
                })
                out.write(data)
    return records


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
        for table in dbm.LOGGED_TABLES:
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

                write_wacz(bag_dir / "data" / "warc" / f"{case_id}.warc.gz", wacz_path, rows.case["title"])
            ok = True
        finally:
            if not ok and created:
                shutil.rmtree(bag_dir, ignore_errors=True)  # never leave a half-written package behind
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


def checkpoint_statement(bag: Path, case_id: str, head: Head | str) -> dict[str, Any]:
    """What the bag's signature states: tag manifest digests, log head, every file's SHA-256."""
    files = {rel: file_digest(bag / rel, "sha256") for rel in payload_files(bag)}
    for p in sorted(bag.iterdir()):
        if p.is_file() and p.name != SIGNATURE_FILE:
            files[p.name] = file_digest(p, "sha256")
    return {
        "format": CHECKPOINT_FORMAT,
        "external_identifier": case_id,
        "log_head": str(head),
        "tagmanifest_sha256": file_digest(bag / "tagmanifest-sha256.txt", "sha256"),
        "tagmanifest_sha512": file_digest(bag / "tagmanifest-sha512.txt", "sha512"),
        "files": files,
        "signed_at": utcnow(),
        "tool": f"Khronika {__version__}",
    }


def _sign(bag: Path, key: Any, case_id: str, head: Head | str) -> None:
    doc = sign(checkpoint_statement(bag, case_id, head), key)
    (bag / SIGNATURE_FILE).write_text(json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n", "utf-8")


def resign(bag: Path, key: Any) -> None:
    """Sign a bag again with another key, keeping its case id and log head (used to show that a
    signature alone proves nothing without the published fingerprint)."""
    from ingest.evidence.bag import read_bag_info

    info = read_bag_info(bag)
    (bag / SIGNATURE_FILE).unlink(missing_ok=True)
    _sign(bag, key, info.get("External-Identifier", ""), info.get("Khronika-Log-Head", ""))

