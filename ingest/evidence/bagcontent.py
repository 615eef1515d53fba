"""Checking what a bag holds against its own database: WARC records, texts, reproducibility, quotes, the log."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import blake3 as blake3_mod
import sqlite_utils

from ingest.checks.verify import (
    CITATIONS_SQL,
    MISMATCH,
    MISSING,
    OK,
    UNVERIFIABLE,
    Check,
    anchored,
)
from ingest.claims.blocks import block_gate, blocks_moved
from ingest.evidence.bagpaths import BagPathError, in_bag
from ingest.evidence.export import WARC_RECORDS_TABLE
from ingest.store.log import BadLine, check_chain
from ingest.store.warcs import WarcReadError, parse_member
from ingest.text.workers import WorkerLimits

# -- WARC ----------------------------------------------------------------------------------------


def digest_matches(value: str | None, data: bytes) -> bool | None:
    """A WARC digest header ("sha256:BASE32" or hex) against data; None when absent or unknown."""
    if not value or ":" not in value:
        return None
    alg, _, digest = value.partition(":")
    try:
        h = hashlib.new(alg.lower().replace("-", ""), data).digest()
    except ValueError:
        return None
    return digest.upper() == base64.b32encode(h).decode() or digest.lower() == h.hex()


def check_warc(bag: Path, db: sqlite_utils.Database, checks: list[Check], case: dict[str, Any] | None) -> None:
    if WARC_RECORDS_TABLE not in db.table_names():
        checks.append(Check("warc", "data/archive.db", MISSING, f"no {WARC_RECORDS_TABLE} table"))
        return
    records = list(db.query(f"SELECT * FROM [{WARC_RECORDS_TABLE}] ORDER BY n"))
    if not records:
        return
    rel = f"data/warc/{case['id'] if case else 'case'}.warc.gz"
    try:
        data = in_bag(bag, rel).read_bytes()
    except FileNotFoundError:
        checks.append(Check("warc", rel, MISSING, "the WARC file is missing"))
        return
    except BagPathError as exc:
        checks.append(Check("warc", rel, MISMATCH, str(exc)))
        return
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
            headers, block = parse_member(member)
        except WarcReadError as exc:
            checks.append(Check("warc", rel, MISMATCH, f"{where} is unreadable: {exc}"))
            bad += 1
            continue
        problems = []
        if digest_matches(headers.get("WARC-Block-Digest"), block) is False:
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


def check_texts(bag: Path, db: sqlite_utils.Database, checks: list[Check]) -> dict[int, str]:
    """Check each text file; return the texts that match their recorded hash, by extraction id."""
    good: dict[int, str] = {}
    for e in db.query("SELECT id, text, text_blake3, error FROM extractions ORDER BY id"):
        if e["error"] or e["text_blake3"] is None:
            continue
        rel = f"data/texts/{e['id']}.txt"
        try:
            data = in_bag(bag, rel).read_bytes()
        except FileNotFoundError:
            checks.append(Check("text", rel, MISSING, "text file is missing"))
            continue
        except BagPathError as exc:
            checks.append(Check("text", rel, MISMATCH, str(exc)))
            continue
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


def check_reproducibility(bag: Path, db: sqlite_utils.Database, checks: list[Check], intact: set[str],
                           texts: dict[int, str], limits: WorkerLimits) -> None:
    """Re-extract each text from its raw file in the sandboxed workers (ingest.text.workers), with
    their CPU, memory and time limits: a bag's files and rows are someone else's input."""
    from ingest.text.extract import extractor_for, extractor_versions
    from ingest.text.workers import Job, run_jobs

    installed = extractor_versions()
    # A bag made before witnesses were kept has no witness_captures table.
    witness_charset = ("(SELECT charset FROM witness_captures w WHERE w.blake3 = e.blake3 ORDER BY w.id LIMIT 1)"
                       if "witness_captures" in db.table_names() else "NULL")
    rows = db.query(
        f"SELECT e.id, e.blake3, e.extractor, e.extractor_version, e.text_blake3, e.error, e.blocks, e.page_count, "
        "f.media_type AS file_type, "
        "coalesce((SELECT charset FROM captures c WHERE c.blake3 = e.blake3 ORDER BY id LIMIT 1), "
        f"{witness_charset}) AS http_charset "
        "FROM extractions e JOIN files f ON f.blake3 = e.blake3 ORDER BY e.id")
    pending: dict[str, dict[str, Any]] = {}
    jobs: list[Job] = []
    found: dict[str, Check] = {}
    order: list[str] = []
    for row in rows:
        rel = f"data/texts/{row['id']}.txt"
        order.append(rel)
        if row["error"]:
            found[rel] = Check("reproducibility", rel, UNVERIFIABLE, f"extraction failed at ingest: {row['error']}")
            continue
        if row["id"] not in texts or row["blake3"] not in intact:
            found[rel] = Check("reproducibility", rel, UNVERIFIABLE, "text or raw file is missing or altered (see above)")
            continue
        ocr_pages = row["extractor"] == "tesseract"  # a PDF's OCR extraction is redone as such
        reader = "telegram" if row["extractor"] == "telegram" else None  # asked for by name, as at ingest
        name = "tesseract" if ocr_pages else reader or extractor_for(row["file_type"])
        here = (name, installed.get(name, ""))
        if here != (row["extractor"], row["extractor_version"]):
            found[rel] = Check("reproducibility", rel, UNVERIFIABLE,
                               f"recorded with {row['extractor']} {row['extractor_version']}; installed is {here[0]} {here[1]}")
            continue
        # intact: the fixity check found data/files/<blake3> a regular file inside the bag
        pending[rel] = row
        jobs.append(Job(rel, str(in_bag(bag, f"data/files/{row['blake3']}")), row["file_type"] or "", row["http_charset"],
                        ocr_pages=ocr_pages, pages=(row["page_count"] or 1) if ocr_pages else 1, reader=reader))
    results = {job.key: again for job, again in run_jobs(jobs, workers=1, limits=limits)}
    for rel, row in pending.items():
        again = results[rel]
        if again.error and again.metadata.get("worker"):
            found[rel] = (Check("reproducibility", rel, UNVERIFIABLE,
                                f"re-extracting data/files/{row['blake3']} was stopped: {again.error}"))
        elif again.error or again.text_blake3 != row["text_blake3"]:
            found[rel] = (Check("reproducibility", rel, MISMATCH,
                                f"re-extracting data/files/{row['blake3']} gives a different text "
                                f"({again.error or again.text_blake3})"))
        elif moved := blocks_moved(row, again.blocks):
            found[rel] = Check("reproducibility", rel, MISMATCH, f"re-extracting data/files/{row['blake3'][:16]}…: {moved}")
        else:
            found[rel] = (Check("reproducibility", rel, OK, f"re-extracting data/files/{row['blake3'][:16]}… gives the same text"))
    checks.extend(found[rel] for rel in order)


def check_quotes(db: sqlite_utils.Database, checks: list[Check], intact: set[str], texts: dict[int, str]) -> list[str]:
    from ingest.claims.anchor import quotes_equivalent

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
        elif not (kept := block_gate(c, text))[0]:
            checks.append(Check("quote", subject, MISMATCH, kept[1]))
        else:
            checks.append(Check("quote", subject, OK, f"quote present ({c['match']}{', found in OCR text' if c.get('ocr') else ''}) "
                                f"at [{c['start']}, {c['end']}) of {rel}{kept[1]}"))
    return gaps


# -- log and head --------------------------------------------------------------------------------


def read_log(path: Path) -> list[dict[str, Any] | BadLine]:
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


def check_log(bag: Path, db: sqlite_utils.Database, info: dict[str, str], signed: dict[str, Any] | None,
               checks: list[Check]) -> None:
    from ingest.checks.verify import _check_rows

    try:
        path = in_bag(bag, "data/log.jsonl")
    except FileNotFoundError:
        checks.append(Check("log", "data/log.jsonl", MISSING, "the bag has no log"))
        return
    except BagPathError as exc:
        checks.append(Check("log", "data/log.jsonl", MISMATCH, str(exc)))
        return
    entries = read_log(path)
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


def check_timestamps(bag: Path, db: sqlite_utils.Database, checks: list[Check], notes: list[str]) -> str:
    """Each RFC 3161 token the bag carries, offline: its file, the bag's log entry it covers, its pin."""
    from ingest.store import timestamps

    if "timestamps" not in db.table_names():
        return timestamps.coverage([], lambda n: [])
    try:  # every path from the bag through in_bag: inside it, no link followed
        entries = [e for e in read_log(in_bag(bag, "data/log.jsonl")) if isinstance(e, dict)]
    except (FileNotFoundError, BagPathError):
        entries = []  # check_log names the missing or unsafe log
    hashes = {e.get("seq"): e.get("hash") for e in entries}

    def read(blake3: str | None) -> bytes | None:
        if not blake3 or not re.fullmatch(r"[0-9a-f]{64}", blake3):
            return None
        try:
            return in_bag(bag, f"data/files/{blake3}").read_bytes()
        except (FileNotFoundError, BagPathError):
            return None

    findings = timestamps.check_recorded(list(db.query("SELECT * FROM timestamps ORDER BY id")), hashes.get, read)
    proofs: list = []
    if "ots_proofs" in db.table_names():
        proofs, lines = timestamps.check_ots(list(db.query("SELECT * FROM ots_proofs ORDER BY id")), hashes.get, read)
        notes.extend(lines)
    checks.extend(Check("timestamp", f.subject, f.state, f.detail) for f in findings + proofs)
    return timestamps.coverage(findings, lambda n: timestamps.uncovered(entries, n))
