"""A checker for Khronika's archives and bags written from docs/formats.md alone.

It imports nothing from Khronika: hashlib, blake3, rfc8785 and cryptography, and reads WARC
files by gzip framing and the WARC header syntax. Each function raises AssertionError with what
is wrong, or returns what it found.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import blake3
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ZEROS = "0" * 64
REDUCED = {"seq", "hash", "prev"}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def warc_digest(data: bytes) -> str:
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode()


# -- the log -----------------------------------------------------------------------------------


def check_log(lines: list[bytes], allow_reduced: bool = False) -> str:
    """Check a sequence of log lines as one chain; return the head SEQ:HASH."""
    prev, seq = ZEROS, 0
    for line in lines:
        entry = json.loads(line)
        seq += 1
        assert entry["seq"] == seq, f"entry {entry['seq']}: expected seq {seq}"
        assert entry["prev"] == prev, f"entry {seq}: prev does not link"
        if allow_reduced and set(entry) == REDUCED:
            assert line == rfc8785.dumps(entry), f"entry {seq}: not in canonical form"
        else:
            assert line == rfc8785.dumps(entry), f"entry {seq}: not in canonical form"
            body = {k: v for k, v in entry.items() if k != "hash"}
            assert entry["hash"] == sha256_hex(rfc8785.dumps(body)), f"entry {seq}: hash"
            if "row" in entry:
                assert entry["row_hash"] == sha256_hex(rfc8785.dumps(entry["row"] or {})), f"entry {seq}: row_hash"
        prev = entry["hash"]
    return f"{seq}:{prev}"


def check_archive_log(archive: Path) -> str:
    lines = []
    for path in sorted((archive / "log").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            assert json.loads(line)["time"][:7] == path.stem, f"{path.name}: entry of another month"
            lines.append(line)
    return check_log(lines)


# -- the content store ---------------------------------------------------------------------------


def check_content_store(archive: Path) -> dict[str, tuple[str, str]]:
    """Every stored file against its name and its files row; return {blake3: (sha256, path)}."""
    conn = sqlite3.connect(archive / "archive.db")
    rows = {b3: sha for b3, sha in conn.execute("SELECT blake3, sha256 FROM files")}
    conn.close()
    found = {}
    for path in sorted((archive / "files").glob("*/*")):
        data = path.read_bytes()
        b3 = blake3.blake3(data).hexdigest()
        assert path.name == b3 and path.parent.name == b3[:2], f"{path}: BLAKE3 is {b3}"
        assert rows[b3] == sha256_hex(data), f"{path}: SHA-256 differs from its row"
        found[b3] = (sha256_hex(data), str(path))
    assert set(found) == set(rows)
    return found


# -- WARC ------------------------------------------------------------------------------------------


def warc_records(path: Path) -> list[tuple[dict[str, str], bytes]]:
    """(headers, block) of each record; each record is one gzip member."""
    data = path.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        raw = d.decompress(data[pos:])
        assert d.eof, f"{path.name}: torn gzip member at {pos}"
        pos = len(data) - len(d.unused_data)
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8").split("\r\n")
        assert lines[0] == "WARC/1.1", f"{path.name}: {lines[0]}"
        headers = dict(line.split(": ", 1) for line in lines[1:])
        n = int(headers["Content-Length"])
        assert rest[n:] == b"\r\n\r\n", f"{path.name}: record not closed by two CRLF"
        out.append((headers, rest[:n]))
    return out


def check_warcs(paths: list[Path]) -> list[tuple[dict[str, str], bytes]]:
    """Digests, warcinfo first in each file, requests tied to responses, revisits to the record
    they repeat (which may be in an earlier file)."""
    recs = []
    for path in paths:
        mine = warc_records(path)
        assert mine[0][0]["WARC-Type"] == "warcinfo", f"{path.name}: no warcinfo first"
        recs += mine
    by_id = {h["WARC-Record-ID"]: (h, b) for h, b in recs}
    for headers, block in recs:
        kind = headers["WARC-Type"]
        assert headers["WARC-Block-Digest"] == warc_digest(block), f"{kind} {headers['WARC-Record-ID']}: block digest"
        if kind == "response":
            assert headers["WARC-Payload-Digest"] == warc_digest(block.partition(b"\r\n\r\n")[2])
        elif kind == "resource":
            assert headers["WARC-Payload-Digest"] == warc_digest(block)
        elif kind == "request":
            assert by_id[headers["WARC-Concurrent-To"]][0]["WARC-Type"] in ("response", "revisit")
        elif kind == "revisit":
            assert headers["WARC-Profile"] == "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
            original, _ = by_id[headers["WARC-Refers-To"]]
            assert original["WARC-Type"] == "response"
            assert (original["WARC-Target-URI"], original["WARC-Date"], original["WARC-Payload-Digest"]) == (
                headers["WARC-Refers-To-Target-URI"], headers["WARC-Refers-To-Date"], headers["WARC-Payload-Digest"])
            assert block.endswith(b"\r\n\r\n") and block.count(b"\r\n\r\n") == 1  # headers only
    return recs


def payload(block: bytes, headers: dict[str, str]) -> bytes:
    """The body as sent (response) or the document (resource)."""
    return block.partition(b"\r\n\r\n")[2] if headers["WARC-Type"] == "response" else block


def content_of(block: bytes, headers: dict[str, str]) -> bytes:
    """What the content store keeps: the payload with its content coding (gzip only here) removed."""
    if headers["WARC-Type"] == "resource":
        return block
    head, _, body = block.partition(b"\r\n\r\n")
    return gzip.decompress(body) if b"\r\ncontent-encoding: gzip" in head.lower() else body


# -- bags --------------------------------------------------------------------------------------------


def _manifest(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text("utf-8").splitlines():
        digest, rel = line.split("  ", 1)
        out[rel.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")] = digest
    return out


def check_bag(bag: Path, published_fingerprint: str) -> dict[str, Any]:
    """The bag's manifests, signature and log; return the signed checkpoint."""
    assert (bag / "bagit.txt").read_bytes() == b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    payload_files = sorted(p.relative_to(bag).as_posix() for p in (bag / "data").rglob("*") if p.is_file())
    for alg in ("sha256", "sha512"):
        listed = _manifest(bag / f"manifest-{alg}.txt")
        assert sorted(listed) == payload_files
        for rel, digest in listed.items():
            assert hashlib.new(alg, (bag / rel).read_bytes()).hexdigest() == digest, f"{rel}: {alg}"
        tags = _manifest(bag / f"tagmanifest-{alg}.txt")
        assert sorted(tags) == ["bag-info.txt", "bagit.txt", "khronika-signature.json", "manifest-sha256.txt",
                                "manifest-sha512.txt"]
        for rel, digest in tags.items():
            assert hashlib.new(alg, (bag / rel).read_bytes()).hexdigest() == digest, f"{rel}: {alg}"
    doc = json.loads((bag / "khronika-signature.json").read_bytes())
    assert doc["format"] == "khronika-checkpoint/2"
    public = base64.b64decode(doc["public_key"])
    assert doc["key_fingerprint"] == sha256_hex(public) == published_fingerprint
    signed = rfc8785.dumps({k: v for k, v in doc.items() if k != "signature"})
    Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(doc["signature"]), signed)  # raises if not
    unsigned = {"khronika-signature.json", "tagmanifest-sha256.txt", "tagmanifest-sha512.txt"}
    present = sorted(p.relative_to(bag).as_posix() for p in bag.rglob("*") if p.is_file()
                     and p.relative_to(bag).as_posix() not in unsigned)
    assert sorted(doc["files"]) == present
    for rel, digest in doc["files"].items():
        assert sha256_hex((bag / rel).read_bytes()) == digest, f"{rel}: differs from the signed checkpoint"
    assert doc["manifest_sha256"] == sha256_hex((bag / "manifest-sha256.txt").read_bytes())
    assert doc["manifest_sha512"] == hashlib.sha512((bag / "manifest-sha512.txt").read_bytes()).hexdigest()
    info = dict(line.split(": ", 1) for line in (bag / "bag-info.txt").read_text("utf-8").splitlines())
    assert doc["external_identifier"] == info["External-Identifier"]
    head = check_log((bag / "data" / "log.jsonl").read_bytes().splitlines(), allow_reduced=True)
    assert head == info["Khronika-Log-Head"] == doc["log_head"]
    return doc
