"""OpenTimestamps, an optional second witness: submit a log head to calendars, upgrade pending proofs, read them.

A proof is an OpenTimestamps detached timestamp file (`.ots`) whose file digest is the head
entry's hash (SHA-256 of the entry's canonical form, so the "file" is the entry itself). A
calendar first answers with a pending attestation; `timestamp --upgrade` later asks it for the
path to a Bitcoin block. Checking that path against the block's header needs a Bitcoin node,
which Khronika does not run: what the proof says is reported, and never counted as checked.
The opentimestamps library does the format (serialising, parsing, operations).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ingest.errors import KhronikaError

MAX_PROOF_BYTES = 64 * 1024
ACCEPT = "application/vnd.opentimestamps.v1"


class OtsError(KhronikaError):
    """A calendar that failed, or a proof that cannot be read or does not cover the head."""


def _lib():  # type: ignore[no-untyped-def]
    try:
        from opentimestamps.core import notary, op, serialize, timestamp
    except ImportError:
        raise OtsError("OpenTimestamps needs the opentimestamps package (pip install opentimestamps)") from None
    return notary, op, serialize, timestamp


def _http(method: str, url: str, body: bytes | None = None, timeout: float = 30.0) -> bytes | None:
    """The body of a 200 answer, None for 404 (not yet upgradable), OtsError otherwise."""
    import httpx  # here: a run that timestamps nothing does not pay for importing it

    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.request(method, url, content=body, headers={"Accept": ACCEPT})
    except httpx.HTTPError as exc:
        raise OtsError(f"calendar {url} unreachable: {exc or type(exc).__name__}") from None
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise OtsError(f"calendar {url} answered HTTP {response.status_code}")
    if len(response.content) > MAX_PROOF_BYTES:
        raise OtsError(f"calendar {url} answered more than {MAX_PROOF_BYTES} bytes")
    return response.content


def _serialise(detached: object) -> bytes:
    _, _, serialize, _ = _lib()
    ctx = serialize.BytesSerializationContext()
    detached.serialize(ctx)  # type: ignore[attr-defined]
    return ctx.getbytes()


def submit(calendar: str, head_hash: str) -> bytes:
    """A pending proof for the head from one calendar (the .ots bytes)."""
    notary, op, serialize, timestamp = _lib()
    root = timestamp.Timestamp(bytes.fromhex(head_hash))
    # A random nonce first, as OpenTimestamps clients do: the calendar never sees the head itself.
    commitment = root.ops.add(op.OpAppend(os.urandom(16))).ops.add(op.OpSHA256())
    answer = _http("POST", calendar.rstrip("/") + "/digest", commitment.msg)
    if answer is None:
        raise OtsError(f"calendar {calendar} answered HTTP 404")
    try:
        commitment.merge(timestamp.Timestamp.deserialize(serialize.BytesDeserializationContext(answer), commitment.msg))
    except Exception as exc:  # the library's own errors for bad bytes
        raise OtsError(f"calendar {calendar} answered something that is not a timestamp ({exc})") from None
    return _serialise(timestamp.DetachedTimestampFile(op.OpSHA256(), root))


def read(proof: bytes) -> object:
    _, _, serialize, timestamp = _lib()
    try:
        return timestamp.DetachedTimestampFile.deserialize(serialize.BytesDeserializationContext(proof))
    except Exception as exc:
        raise OtsError(f"unreadable OpenTimestamps proof ({exc})") from None


def upgrade(proof: bytes) -> bytes | None:
    """The proof with every pending attestation its calendar can now complete; None if nothing changed."""
    notary, _, serialize, timestamp = _lib()
    detached = read(proof)
    changed = False
    for stamp in _nodes(detached.timestamp):  # type: ignore[attr-defined]
        for attestation in list(stamp.attestations):
            if not isinstance(attestation, notary.PendingAttestation):
                continue
            answer = _http("GET", f"{attestation.uri.rstrip('/')}/timestamp/{stamp.msg.hex()}")
            if answer is None:
                continue  # the calendar has not reached a block yet
            try:
                stamp.merge(timestamp.Timestamp.deserialize(serialize.BytesDeserializationContext(answer), stamp.msg))
            except Exception as exc:
                raise OtsError(f"calendar {attestation.uri} answered something that is not a timestamp ({exc})") from None
            changed = True
    return _serialise(detached) if changed else None


def _nodes(stamp: object) -> list[object]:
    out, todo = [], [stamp]
    while todo:
        node = todo.pop()
        out.append(node)
        todo.extend(node.ops.values())  # type: ignore[attr-defined]
    return out


@dataclass(frozen=True)
class Reading:
    """What a proof says: pending at calendars, or attested in Bitcoin blocks (headers not checked)."""

    pending: tuple[str, ...]
    blocks: tuple[tuple[int, str], ...]  # (height, the merkle root the proof commits the head to)

    def line(self, head_seq: int) -> str:
        if self.blocks:
            attested = ", ".join(f"block {h} (merkle root {root})" for h, root in self.blocks)
            return (f"opentimestamps: entries 1–{head_seq} attested in Bitcoin {attested}; that block header is "
                    "not checked here (compare it with a Bitcoin node)")
        return (f"opentimestamps: entries 1–{head_seq} pending at {', '.join(self.pending)} "
                "(python -m ingest timestamp --upgrade)")


def describe(proof: bytes, head_hash: str) -> Reading:
    """Read a proof over `head_hash`; OtsError when it is unreadable or covers another digest."""
    notary, _, _, _ = _lib()
    detached = read(proof)
    if detached.file_digest != bytes.fromhex(head_hash):  # type: ignore[attr-defined]
        raise OtsError(f"the proof covers {detached.file_digest.hex()}, not the head {head_hash}")  # type: ignore[attr-defined]
    pending, blocks = [], []
    for msg, attestation in detached.timestamp.all_attestations():  # type: ignore[attr-defined]
        if isinstance(attestation, notary.PendingAttestation):
            pending.append(attestation.uri)
        elif isinstance(attestation, notary.BitcoinBlockHeaderAttestation):
            blocks.append((attestation.height, msg[::-1].hex()))
    return Reading(tuple(sorted(pending)), tuple(sorted(blocks)))
