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

import hashlib
import json
import sqlite3
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import blake3 as blake3_mod
import sqlite_utils

from ingest.checks.verify import (
    MISMATCH,
    MISSING,
    OK,
    Check,
    Report,
    wanted_gaps,
)
from ingest.evidence import signing
from ingest.evidence.bag import (
    file_digest,
    payload_files,
    read_bag_info,
    unzip_bag,
    validate_with_bagit,
)
from ingest.evidence.bagcontent import (
    check_log,
    check_quotes,
    check_reproducibility,
    check_texts,
    check_warc,
)
from ingest.evidence.export import SIGNATURE_FILE, case_file_name

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
        check_warc(bag, db, checks, case)
        texts = check_texts(bag, db, checks)
        check_reproducibility(bag, db, checks, intact, texts)
        gaps += wanted_gaps(db)
        gaps += check_quotes(db, checks, intact, texts)
        check_log(bag, db, info, signed, checks)
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
