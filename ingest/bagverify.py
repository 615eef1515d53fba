"""Check an evidence package on its own: no network, no archive folder.

Checks, each ending ok, mismatch, missing or unverifiable with a reason (ingest.verify.Check):

    bagit            the `bagit` package's validator (manifests, Payload-Oxum, completeness)
    signature        the Ed25519 signature, and every file against the digests it signs
    key              the signing key against a fingerprint published elsewhere (--key-fingerprint)
    database         data/archive.db opens and holds exactly one case, the one bag-info names
    case             the case file against the recorded BLAKE3
    fixity           each raw file against its name and its files row (BLAKE3, SHA-256, size)
    warc             each WARC record against its recorded digest, its own WARC digests and its capture
    text             each text file against the recorded text BLAKE3
    reproducibility  each text re-extracted from its raw file, when the installed extractor is the recorded one
    quote            each citation's exact passage at [start, end) of its text
    log              the log chain (entries of other cases reduced to seq, hash, prev) and the rows it records
    head             bag-info's Khronika-Log-Head against the log's last entry and the signed head
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import tempfile
import zipfile
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import blake3 as blake3_mod
import sqlite_utils

from ingest import signing
from ingest.bag import file_digest, payload_files, read_bag_info, unzip_bag, validate_with_bagit
from ingest.export import SIGNATURE_FILE, WARC_RECORDS_TABLE, case_file_name
from ingest.log import BadLine, check_chain
from ingest.verify import MISMATCH, MISSING, OK, UNVERIFIABLE, CITATIONS_SQL, Check, Report, anchored, wanted_gaps

TRUST_NOTE = ("no --key-fingerprint given: the signature shows only that the key carried in the bag signed it; "
              "trust comes from comparing this fingerprint with one published elsewhere")


def verify_bag(path: Path, key_fingerprint: str | None = None) -> Report:
    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="khronika-verify-") as tmp:
            try:
                bag = unzip_bag(path, Path(tmp))
            except ValueError as exc:
                return Report([Check("bagit", str(path), MISMATCH, str(exc))], [])
            return _verify(bag, key_fingerprint)
    if not path.is_dir():
        return Report([Check("bagit", str(path), MISSING, "no such bag folder or zip file")], [])
    return _verify(path, key_fingerprint)


def normalize_fingerprint(text: str) -> str:
    return text.strip().lower().replace(":", "").replace(" ", "")


def _verify(bag: Path, key_fingerprint: str | None) -> Report:
    checks: list[Check] = []
    gaps: list[str] = []
    info = read_bag_info(bag)
    checks += _check_bagit(bag)
    signed = _check_signature(bag, info, key_fingerprint, checks)
    db = _open_db(bag, checks)
    if db is None:
        return Report(checks, gaps)
    try:
        case = _check_case(bag, db, info, checks)
        intact = _check_files(bag, db, checks, case)
        _check_warc(bag, db, checks, case)
        texts = _check_texts(bag, db, checks)
        _check_reproducibility(bag, db, checks, intact, texts)
        gaps += wanted_gaps(db)
        gaps += _check_quotes(db, checks, intact, texts)
        _check_log(bag, db, info, signed, checks)
    finally:
        db.close()
    return Report(checks, gaps)


# -- bag and signature -------------------------------------------------------------------------


def _check_bagit(bag: Path) -> list[Check]:
    problems = list(validate_with_bagit(bag))
    if not problems:
        version = (bag / "bagit.txt").read_text("utf-8", "replace").splitlines()[0]
        return [Check("bagit", "bag", OK, f"the bagit validator accepts the bag ({version})")]
    out = []
    for p in problems:
        state = MISSING if "missing" in p.reason else MISMATCH
        out.append(Check("bagit", p.path or "bag", state, p.reason))
    return out


def _check_signature(bag: Path, info: dict[str, str], key_fingerprint: str | None,
                     checks: list[Check]) -> dict[str, Any] | None:
    """Check the signature and what it covers; return the signed statement when the signature is valid."""
    path = bag / SIGNATURE_FILE
    if not path.is_file():
        checks.append(Check("signature", SIGNATURE_FILE, MISSING, "the bag has no signature file"))
        return None
    try:
        doc = json.loads(path.read_bytes())
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        checks.append(Check("signature", SIGNATURE_FILE, MISMATCH, f"not a readable signature document ({exc})"))
        return None
    fp = doc.get("key_fingerprint")
    if key_fingerprint is not None:
        wanted = normalize_fingerprint(key_fingerprint)
        if fp == wanted:
            checks.append(Check("key", wanted, OK, "the bag is signed by the key with the published fingerprint"))
        else:
            checks.append(Check("key", wanted, MISMATCH,
                                f"the bag is signed by another key (fingerprint {fp}), not the one published"))
    problem = signing.check(doc)
    if problem is not None:
        checks.append(Check("signature", SIGNATURE_FILE, MISMATCH, problem))
        return None
    if key_fingerprint is None:
        checks.append(Check("key", str(fp), OK, TRUST_NOTE))
    files: dict[str, str] = doc.get("files") or {}
    present = set(payload_files(bag)) | {p.name for p in bag.iterdir() if p.is_file() and p.name != SIGNATURE_FILE}
    bad = 0
    for rel in sorted(set(files) | present):
        if rel not in files:
            checks.append(Check("signature", rel, MISMATCH, "file is not covered by the signature (added after signing)"))
        elif rel not in present:
            checks.append(Check("signature", rel, MISSING, "signed file is missing from the bag"))
        elif file_digest(bag / rel, "sha256") != files[rel]:
            checks.append(Check("signature", rel, MISMATCH, "file differs from the signed checkpoint (SHA-256 "
                                f"now {file_digest(bag / rel, 'sha256')}, signed {files[rel]})"))
        else:
            continue
        bad += 1
    for name, alg in (("tagmanifest-sha256.txt", "sha256"), ("tagmanifest-sha512.txt", "sha512")):
        if not (bag / name).is_file() or file_digest(bag / name, alg) != doc.get(name[:-4].replace("-", "_")):
            if name not in files:  # otherwise already named above
                checks.append(Check("signature", name, MISMATCH, "tag manifest differs from the signed one"))
            bad += 1
    if doc.get("external_identifier") != info.get("External-Identifier"):
        checks.append(Check("signature", "bag-info.txt", MISMATCH, "External-Identifier differs from the signed case id"))
        bad += 1
    if not bad:
        checks.append(Check("signature", SIGNATURE_FILE, OK,
                            f"Ed25519 signature valid (key {fp}); it covers both tag manifests, log head "
                            f"{doc.get('log_head')} and all {len(files)} files, which match"))
    return doc


# -- database, case, raw files -------------------------------------------------------------------


def _open_db(bag: Path, checks: list[Check]) -> sqlite_utils.Database | None:
    path = bag / "data" / "archive.db"
    if not path.is_file():
        checks.append(Check("database", "data/archive.db", MISSING, "the bag has no database"))
        return None
    try:
        # immutable: read only, and no journal or lock files written into the bag
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise sqlite3.DatabaseError(verdict)
        db = sqlite_utils.Database(conn)
        db.execute("SELECT count(*) FROM cases").fetchone()
    except sqlite3.Error as exc:
        checks.append(Check("database", "data/archive.db", MISMATCH, f"not a readable SQLite database ({exc})"))
        return None
    return db


def _check_case(bag: Path, db: sqlite_utils.Database, info: dict[str, str], checks: list[Check]) -> dict[str, Any] | None:
    cases = list(db.query("SELECT * FROM cases"))
    ident = info.get("External-Identifier")
    if len(cases) != 1 or cases[0]["id"] != ident:
        ids = ", ".join(c["id"] for c in cases) or "none"
        checks.append(Check("database", "data/archive.db", MISMATCH,
                            f"holds case(s) {ids}; bag-info.txt External-Identifier is {ident}"))
        return cases[0] if cases else None
    checks.append(Check("database", "data/archive.db", OK, f"holds the one case {ident}"))
    case = cases[0]
    rel = f"data/case/{case_file_name(case)}"
    path = bag / rel
    if not path.is_file():
        checks.append(Check("case", rel, MISSING, "the case file is missing"))
    else:
        b3 = blake3_mod.blake3(path.read_bytes()).hexdigest()
        if b3 != case["case_file_blake3"]:
            checks.append(Check("case", rel, MISMATCH, f"altered: BLAKE3 is {b3}, recorded {case['case_file_blake3']}"))
        else:
            checks.append(Check("case", rel, OK, "BLAKE3 matches the case file as ingested"))
    return case


def _check_files(bag: Path, db: sqlite_utils.Database, checks: list[Check], case: dict[str, Any] | None) -> set[str]:
    intact: set[str] = set()
    skip = case["case_file_blake3"] if case else None
    rows = [r for r in db.query("SELECT * FROM files ORDER BY blake3") if r["blake3"] != skip]
    for row in rows:
        rel = f"data/files/{row['blake3']}"
        path = bag / rel
        if not path.is_file():
            checks.append(Check("fixity", rel, MISSING, "raw file is missing"))
            continue
        data = path.read_bytes()
        b3, sha = blake3_mod.blake3(data).hexdigest(), hashlib.sha256(data).hexdigest()
        if (b3, sha, len(data)) != (row["blake3"], row["sha256"], row["size"]):
            checks.append(Check("fixity", rel, MISMATCH, f"altered: BLAKE3 is now {b3}, SHA-256 {sha}, {len(data)} bytes "
                                f"(recorded {row['sha256']}, {row['size']} bytes)"))
            continue
        intact.add(b3)
        checks.append(Check("fixity", rel, OK, "BLAKE3, SHA-256 and size match"))
    known = {r["blake3"] for r in rows}
    folder = bag / "data" / "files"
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name not in known:
            checks.append(Check("fixity", f"data/files/{path.name}", MISMATCH, "file that no files row accounts for"))
    return intact


# -- WARC ----------------------------------------------------------------------------------------


def _digest_matches(value: str | None, data: bytes) -> bool | None:
    """A WARC digest header ("sha256:BASE32" or hex) against data; None when absent or unknown."""
    if not value or ":" not in value:
        return None
    alg, _, digest = value.partition(":")
    try:
        h = hashlib.new(alg.lower().replace("-", ""), data).digest()
    except ValueError:
        return None
    return digest.upper() == base64.b32encode(h).decode() or digest.lower() == h.hex()


def _parse_record(member: bytes) -> tuple[dict[str, str], bytes]:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    raw = d.decompress(member)
    if not d.eof or d.unused_data:
        raise ValueError("not exactly one complete gzip member")
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"WARC/"):
        raise ValueError("no WARC header")
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip(), value.strip())
    length = int(headers.get("Content-Length", "-1"))
    if length < 0 or len(rest) < length:
        raise ValueError("record block shorter than its Content-Length")
    return headers, rest[:length]


def _check_warc(bag: Path, db: sqlite_utils.Database, checks: list[Check], case: dict[str, Any] | None) -> None:
    if WARC_RECORDS_TABLE not in db.table_names():
        checks.append(Check("warc", "data/archive.db", MISSING, f"no {WARC_RECORDS_TABLE} table"))
        return
    records = list(db.query(f"SELECT * FROM [{WARC_RECORDS_TABLE}] ORDER BY n"))
    if not records:
        return
    rel = f"data/warc/{case['id'] if case else 'case'}.warc.gz"
    path = bag / rel
    if not path.is_file():
        checks.append(Check("warc", rel, MISSING, "the WARC file is missing"))
        return
    data = path.read_bytes()
    expected_size = sum(r["length"] for r in records)
    bad = 0
    if len(data) != expected_size:
        checks.append(Check("warc", rel, MISMATCH, f"{len(data)} bytes where the records add up to {expected_size}"))
        bad += 1
    captures = {str(c["id"]): c for c in db.query("SELECT id, blake3 FROM captures")}
    for r in records:
        member = data[r["bag_offset"]:r["bag_offset"] + r["length"]]
        where = f"record {r['n']} ({r['warc_type']}, {r['refers_to']} {r['ref_key']}) at offset {r['bag_offset']}"
        if hashlib.sha256(member).hexdigest() != r["sha256"]:
            checks.append(Check("warc", rel, MISMATCH, f"{where} differs from the copied record's SHA-256"))
            bad += 1
            continue
        try:
            headers, block = _parse_record(member)
        except (ValueError, zlib.error) as exc:
            checks.append(Check("warc", rel, MISMATCH, f"{where} is unreadable: {exc}"))
            bad += 1
            continue
        problems = []
        if _digest_matches(headers.get("WARC-Block-Digest"), block) is False:
            problems.append("WARC-Block-Digest does not match the block")
        if r["warc_type"] == "resource" and r["refers_to"] == "captures":
            cap = captures.get(r["ref_key"])
            if cap is not None and blake3_mod.blake3(block).hexdigest() != cap["blake3"]:
                problems.append(f"resource body is not capture {r['ref_key']}'s file {cap['blake3']}")
        if problems:
            checks.append(Check("warc", rel, MISMATCH, f"{where}: {'; '.join(problems)}"))
            bad += 1
    if not bad:
        checks.append(Check("warc", rel, OK, f"{len(records)} record(s) match their digests and captures"))


# -- texts, reproducibility, quotes ----------------------------------------------------------------


def _check_texts(bag: Path, db: sqlite_utils.Database, checks: list[Check]) -> dict[int, str]:
    """Check each text file; return the texts that match their recorded hash, by extraction id."""
    good: dict[int, str] = {}
    for e in db.query("SELECT id, text, text_blake3, error FROM extractions ORDER BY id"):
        if e["error"] or e["text_blake3"] is None:
            continue
        rel = f"data/texts/{e['id']}.txt"
        path = bag / rel
        if not path.is_file():
            checks.append(Check("text", rel, MISSING, "text file is missing"))
            continue
        data = path.read_bytes()
        b3 = blake3_mod.blake3(data).hexdigest()
        if b3 != e["text_blake3"]:
            checks.append(Check("text", rel, MISMATCH, f"altered: BLAKE3 is {b3}, recorded text_blake3 {e['text_blake3']}"))
            continue
        if e["text"] is None or e["text"].encode("utf-8") != data:
            checks.append(Check("text", f"data/archive.db extraction {e['id']}", MISMATCH,
                                "the database's copy of the text differs from the text file"))
        good[e["id"]] = data.decode("utf-8")
        checks.append(Check("text", rel, OK, "BLAKE3 matches the recorded text hash"))
    return good


def _check_reproducibility(bag: Path, db: sqlite_utils.Database, checks: list[Check], intact: set[str],
                           texts: dict[int, str]) -> None:
    from ingest.extract import extract, extractor_for, extractor_versions

    installed = extractor_versions()
    rows = db.query(
        "SELECT e.id, e.blake3, e.extractor, e.extractor_version, e.text_blake3, e.error, f.media_type AS file_type, "
        "(SELECT charset FROM captures c WHERE c.blake3 = e.blake3 ORDER BY id LIMIT 1) AS http_charset "
        "FROM extractions e JOIN files f ON f.blake3 = e.blake3 ORDER BY e.id")
    for row in rows:
        rel = f"data/texts/{row['id']}.txt"
        if row["error"]:
            checks.append(Check("reproducibility", rel, UNVERIFIABLE, f"extraction failed at ingest: {row['error']}"))
            continue
        if row["id"] not in texts or row["blake3"] not in intact:
            checks.append(Check("reproducibility", rel, UNVERIFIABLE, "text or raw file is missing or altered (see above)"))
            continue
        name = extractor_for(row["file_type"])
        here = (name, installed.get(name, ""))
        if here != (row["extractor"], row["extractor_version"]):
            checks.append(Check("reproducibility", rel, UNVERIFIABLE,
                                f"recorded with {row['extractor']} {row['extractor_version']}; installed is {here[0]} {here[1]}"))
            continue
        again = extract((bag / "data" / "files" / row["blake3"]).read_bytes(), row["file_type"], row["http_charset"])
        if again.error or again.text_blake3 != row["text_blake3"]:
            checks.append(Check("reproducibility", rel, MISMATCH,
                                f"re-extracting data/files/{row['blake3']} gives a different text "
                                f"({again.error or again.text_blake3})"))
        else:
            checks.append(Check("reproducibility", rel, OK, f"re-extracting data/files/{row['blake3'][:16]}… gives the same text"))


def _check_quotes(db: sqlite_utils.Database, checks: list[Check], intact: set[str], texts: dict[int, str]) -> list[str]:
    from ingest.anchor import quotes_equivalent

    gaps: list[str] = []
    rows = db.query(CITATIONS_SQL)
    for c in rows:
        if not anchored(c, checks, gaps):
            continue
        subject = f"citation {c['id']}"
        text = texts.get(c["extraction_id"])
        rel = f"data/texts/{c['extraction_id']}.txt"
        if text is None:
            checks.append(Check("quote", subject, MISMATCH, f"its text {rel} is missing or altered"))
        elif c["etext_blake3"] != c["text_blake3"]:
            checks.append(Check("quote", subject, MISMATCH, "anchored extraction's text hash differs from the citation's"))
        elif c["blake3"] not in intact:
            checks.append(Check("quote", subject, MISMATCH, f"its capture data/files/{c['blake3']} is missing or altered"))
        elif text[c["start"]:c["end"]] != c["exact"]:
            checks.append(Check("quote", subject, MISMATCH,
                                f"{rel} at [{c['start']}, {c['end']}) is {text[c['start']:c['end']][:80]!r}, "
                                f"not the recorded exact {str(c['exact'])[:80]!r}"))
        elif not quotes_equivalent(c["exact"], c["quote"]):
            checks.append(Check("quote", subject, MISMATCH, "the recorded passage and the case file's quote differ after normalisation"))
        else:
            checks.append(Check("quote", subject, OK, f"quote present ({c['match']}) at [{c['start']}, {c['end']}) of {rel}"))
    return gaps


# -- log and head --------------------------------------------------------------------------------


def _read_log(path: Path) -> list[dict[str, Any] | BadLine]:
    entries: list[dict[str, Any] | BadLine] = []
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                entry = json.loads(raw)
            except ValueError:
                entries.append(BadLine("data/log.jsonl", n, "not valid JSON"))
                continue
            entries.append(entry if isinstance(entry, dict) else BadLine("data/log.jsonl", n, "not a JSON object"))
    return entries


def _check_log(bag: Path, db: sqlite_utils.Database, info: dict[str, str], signed: dict[str, Any] | None,
               checks: list[Check]) -> None:
    from ingest.verify import _check_rows

    path = bag / "data" / "log.jsonl"
    if not path.is_file():
        checks.append(Check("log", "data/log.jsonl", MISSING, "the bag has no log"))
        return
    entries = _read_log(path)
    problems = check_chain(entries, allow_reduced=True)
    for subject, problem in problems:
        # "log entry N" -> "data/log.jsonl entry N"; "log data/log.jsonl line N" -> "data/log.jsonl line N"
        subject = subject.replace("log entry ", "data/log.jsonl entry ", 1).removeprefix("log ")
        checks.append(Check("log", subject, MISMATCH, problem))
    good = [e for e in entries if isinstance(e, dict)]
    full = [e for e in good if set(e) != {"seq", "hash", "prev"}]
    last = good[-1] if good else None
    if not problems:
        checks.append(Check("log", "data/log.jsonl", OK,
                            f"{len(good)} entries chain correctly ({len(full)} of this case in full)"))
    checks.extend(_check_rows(SimpleNamespace(db=db), full))  # type: ignore[arg-type]
    mirrored = {r["seq"]: r["hash"] for r in db.query("SELECT seq, hash FROM log")}
    for e in full:
        if mirrored.get(e.get("seq")) != e.get("hash"):
            checks.append(Check("log", f"data/archive.db log {e.get('seq')}", MISMATCH,
                                "the database's log table differs from data/log.jsonl"))
    head = info.get("Khronika-Log-Head")
    actual = f"{last['seq']}:{last['hash']}" if last else None
    if head is None:
        checks.append(Check("head", "bag-info.txt", MISSING, "no Khronika-Log-Head"))
    elif head != actual:
        checks.append(Check("head", "bag-info.txt", MISMATCH, f"Khronika-Log-Head {head} is not the log's last entry {actual}"))
    elif signed is not None and signed.get("log_head") != head:
        checks.append(Check("head", "bag-info.txt", MISMATCH, f"Khronika-Log-Head {head} is not the signed head {signed.get('log_head')}"))
    else:
        checks.append(Check("head", head, OK, "bag-info's head is the log's last entry"
                            + (" and the signed head" if signed is not None else "")))
