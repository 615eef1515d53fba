"""A stand-in OpenTimestamps calendar on 127.0.0.1: pending attestations, then a Bitcoin one once `mined`."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentimestamps.core import notary, op, serialize, timestamp

BLOCK = 812345


def _bytes(stamp: timestamp.Timestamp) -> bytes:
    ctx = serialize.BytesSerializationContext()
    stamp.serialize(ctx)
    return ctx.getbytes()


class Calendar:
    def __init__(self) -> None:
        self.mined = False
        self.pending: set[bytes] = set()  # commitments it promised to put in a block
        calendar = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                digest = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                stamp = timestamp.Timestamp(digest)
                leaf = stamp.ops.add(op.OpAppend(b"calendar-nonce")).ops.add(op.OpSHA256())
                leaf.attestations.add(notary.PendingAttestation(calendar.url))
                calendar.pending.add(leaf.msg)
                self._send(200, _bytes(stamp))

            def do_GET(self) -> None:  # noqa: N802
                commitment = bytes.fromhex(self.path.rsplit("/", 1)[-1])
                if not self.path.startswith("/timestamp/") or commitment not in calendar.pending or not calendar.mined:
                    self._send(404, b"Pending confirmation in Bitcoin blockchain")
                    return
                stamp = timestamp.Timestamp(commitment)
                stamp.ops.add(op.OpSHA256()).attestations.add(notary.BitcoinBlockHeaderAttestation(BLOCK))
                self._send(200, _bytes(stamp))

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
