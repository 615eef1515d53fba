"""WARC 1.1 output: one gzip file per run, SHA-256 digests, written as .open and renamed when complete."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import secrets
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from ingest import __version__, faults
from ingest.errors import StoreError
from ingest.store.files import fsync_dir, hash_file, os_reason
from ingest.store.warcs import CompletedWarc, RecordPlace, WarcReadError, record_at

HOP_BY_HOP = {"transfer-encoding"}
REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
# Measured on the bench's 2,000 documents (35 MB): level 6, gzip's default, 0.79 s and 12.8 MB;
# level 3, 0.43 s and 13.3 MB (4% larger); level 1, 0.35 s and 14.5 MB. The run's own CPU is what
# a second worker waits for, so the middle one.
GZIP_LEVEL = 3


class _Sha256WARCWriter(WARCWriter):
    """warcio writes WARC/1.0 with SHA-1 by default; evidence wants SHA-256."""

    @staticmethod
    def _create_digester() -> Digester:  # type: ignore[override]
        return Digester("sha256")


@dataclass(frozen=True)
class RecordRef:
    file: str
    offset: int
    length: int


def _http_request_bytes(hop: Any) -> bytes:
    from urllib.parse import urlsplit

    parts = urlsplit(hop.url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    lines = [f"{hop.method} {target} {hop.http_version}"]
    lines += [f"{k}: {v}" for k, v in hop.request_headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + getattr(hop, "request_body", b"")


def local_document_uri(case_id: str, path: str) -> str:
    """The WARC-Target-URI of a local document: urn:khronika:case/<case id>/<path as written in
    the case file, relative to its folder>, percent-encoded as UTF-8. It names the document
    within the case and says nothing of the folder it was read from (see docs/formats.md)."""
    from urllib.parse import quote

    return f"urn:khronika:case/{quote(case_id, safe='')}/{quote(Path(path).as_posix(), safe='/')}"


def payload_digest(data: bytes) -> str:
    """A WARC digest value as warcio writes it: "sha256:" and the base32 SHA-256."""
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode("ascii")


def _same_payload(hop: Any, earlier: RecordPlace | None) -> bool:
    return (earlier is not None and earlier.warc_type == "response"
            and earlier.headers.get("WARC-Payload-Digest") == payload_digest(hop.body_raw))


def earlier_response(archive: Path, warc_file: str | None, offset: int | None) -> RecordPlace | None:
    """The response record at (warc_file, offset) in the archive, or None when it cannot be read
    (then the next capture is written in full rather than as a revisit of a record not found)."""
    if not warc_file or offset is None or "/" in warc_file:
        return None
    try:
        with open(archive / "warc" / warc_file, "rb") as fh:
            found = record_at(fh, offset)
    except (OSError, WarcReadError):
        return None
    return found[0] if found and found[0].warc_type == "response" else None


def _http_response_bytes(hop: Any, body: bool = True) -> bytes:
    lines = [f"{hop.http_version} {hop.status} {hop.reason}".rstrip()]
    for k, v in hop.response_headers:
        if k.lower() in HOP_BY_HOP:
            # The body is stored de-chunked; keep the fact, not a framing that no longer applies.
            k = "X-Khronika-Original-" + k
        elif k.lower() == "content-length" and v.strip() != str(len(hop.body_raw)):
            # A redirect or error body too large to keep is recorded empty; say so in the record.
            k = "X-Khronika-Original-" + k
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + (hop.body_raw if body else b"")


class RunWarc:
    """The WARC file of one run, created on first use."""

    def __init__(self, archive: Path) -> None:
        self.dir = archive / "warc"
        self.name: str | None = None
        self._fh: io.BufferedWriter | None = None
        self._writer: _Sha256WARCWriter | None = None
        self.records = 0

    def _open(self) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        self.name = f"khronika-{stamp}-{secrets.token_hex(4)}.warc.gz"
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self._fh = open(self.dir / (self.name + ".open"), "xb", buffering=0)
        except OSError as exc:
            raise StoreError(f"cannot create WARC {self.name}: {os_reason(exc)}; nothing already archived was changed") from exc
        # Each record is built in memory and then written whole, so a failed write can be cut back.
        self._buf = io.BytesIO()
        # warcio compresses at level 9; each record is compressed here instead, as its own gzip
        # member, at GZIP_LEVEL (a sixth of level 9's time, a few % larger).
        self._writer = _Sha256WARCWriter(self._buf, gzip=False, warc_version="1.1")
        info = self._writer.create_warcinfo_record(
            self.name, {"software": f"Khronika/{__version__}", "format": "WARC File Format 1.1"}
        )
        self._write(info)

    def _write(self, record: Any) -> RecordRef:
        assert self._fh is not None and self._writer is not None and self.name is not None
        start = self._fh.tell()
        self._buf.seek(0)
        self._buf.truncate()
        self._writer.write_record(record)
        packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        member = packer.compress(self._buf.getbuffer()) + packer.flush()
        view = memoryview(member)
        try:
            while view:
                view = view[self._fh.write(view):]
        except OSError as exc:
            self.cut_back(start)
            raise StoreError(f"cannot write to WARC {self.name}: {os_reason(exc)}; nothing already archived was changed") from exc
        finally:
            del view
        self.records += 1
        return RecordRef(self.name, start, self._fh.tell() - start)

    def cut_back(self, offset: int) -> None:
        """Drop what was written from `offset` on (a record that could not be written whole)."""
        assert self._fh is not None
        os.ftruncate(self._fh.fileno(), offset)
        self._fh.seek(offset)

    def write_exchanges(self, hops: list[Any], earlier: RecordPlace | None = None) -> RecordRef | None:
        """Write every hop's request and response; return the last response's place. The last
        response is a revisit of `earlier` when its payload is the very bytes `earlier` holds."""
        ref = None
        for i, hop in enumerate(hops):
            same = earlier if i == len(hops) - 1 and _same_payload(hop, earlier) else None
            ref = self.write_exchange(hop, same)
        return ref

    def write_exchange(self, hop: Any, revisit_of: RecordPlace | None = None) -> RecordRef:
        """Write request and response records of one HTTP exchange; return the response's place.

        With `revisit_of`, the response is a WARC 1.1 identical-payload-digest revisit record: the
        status line and headers as received, no body, and WARC-Refers-To-* naming the record
        whose payload it repeats (the payload digest is the same, so replay tools take the
        body from there)."""
        if self._writer is None:
            self._open()
        assert self._writer is not None
        date = hop.started_at
        if revisit_of is None:
            resp_payload = _http_response_bytes(hop)
            response = self._writer.create_warc_record(
                hop.url, "response", payload=io.BytesIO(resp_payload), length=len(resp_payload),
                warc_headers_dict=_headers(date, hop.ip),
            )
        else:
            head = _http_response_bytes(hop, body=False)
            response = self._writer.create_warc_record(
                hop.url, "revisit", payload=io.BytesIO(head), length=len(head),
                warc_content_type="application/http; msgtype=response", warc_headers_dict=_headers(date, hop.ip),
            )
            for name, value in (("WARC-Profile", REVISIT_PROFILE),
                                ("WARC-Refers-To-Target-URI", revisit_of.target_uri),
                                ("WARC-Refers-To-Date", revisit_of.headers.get("WARC-Date")),
                                ("WARC-Refers-To", revisit_of.record_id),
                                ("WARC-Payload-Digest", revisit_of.headers.get("WARC-Payload-Digest"))):
                response.rec_headers.add_header(name, value or "")
        req_payload = _http_request_bytes(hop)
        request = self._writer.create_warc_record(
            hop.url, "request", payload=io.BytesIO(req_payload), length=len(req_payload),
            warc_headers_dict=_headers(date, None),
        )
        request.rec_headers.add_header("WARC-Concurrent-To", response.rec_headers.get_header("WARC-Record-ID"))
        self._writer.ensure_digest(response, block=True, payload=revisit_of is None)
        self._writer.ensure_digest(request, block=True, payload=True)
        ref = self._write(response)
        faults.point("mid_warc")
        try:
            self._write(request)
        except StoreError:
            self.cut_back(ref.offset)  # no response record without its request
            self.records -= 1
            raise
        return ref

    def write_resource(self, uri: str, data: bytes, media_type: str, date: str) -> RecordRef:
        """A local document as a WARC resource record."""
        if self._writer is None:
            self._open()
        assert self._writer is not None
        record = self._writer.create_warc_record(
            uri, "resource", payload=io.BytesIO(data), length=len(data),
            warc_content_type=media_type, warc_headers_dict=_headers(date, None),
        )
        self._writer.ensure_digest(record, block=True, payload=True)
        return self._write(record)

    def write_metadata(self, uri: str, data: bytes, media_type: str, date: str) -> RecordRef:
        """A WARC metadata record about `uri` (a browser capture's provenance, a certificate chain)."""
        if self._writer is None:
            self._open()
        assert self._writer is not None
        record = self._writer.create_warc_record(
            uri, "metadata", payload=io.BytesIO(data), length=len(data),
            warc_content_type=media_type, warc_headers_dict=_headers(date, None),
        )
        self._writer.ensure_digest(record, block=True, payload=False)
        return self._write(record)

    def sync(self) -> None:
        """fsync what has been written so far (before any log entry names its records)."""
        if self._fh is not None:
            try:
                os.fsync(self._fh.fileno())
            except OSError as exc:
                raise StoreError(f"cannot sync WARC {self.name}: {os_reason(exc)}") from exc

    def close(self) -> CompletedWarc | None:
        """fsync, rename .open to its final name and hash it; None when nothing was written."""
        if self._fh is None or self.name is None:
            return None
        try:
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise StoreError(f"cannot complete WARC {self.name}: {os_reason(exc)}") from exc
        self._fh.close()
        final = self.dir / self.name
        os.replace(self.dir / (self.name + ".open"), final)
        fsync_dir(self.dir)
        b3, sha, size = hash_file(final)
        self._fh = None
        return CompletedWarc(self.name, b3, sha, size, self.records)


def _headers(date: str, ip: str | None) -> dict[str, str]:
    # WARC-Date in WARC 1.1 allows sub-second precision; keep the fetch time as recorded.
    headers = {"WARC-Date": date}
    if ip:
        headers["WARC-IP-Address"] = ip
    return headers
