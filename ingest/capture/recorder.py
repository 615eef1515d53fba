"""The recording proxy: a mitmproxy addon that keeps every exchange the browser makes, as received.

Runs as a program of its own (`python -m ingest.capture.recorder SPOOL CONFIG`) from the
virtual environment that holds mitmproxy (`.venv-mitm`: mitmproxy pins versions of
cryptography, h11, Brotli and ruamel.yaml that clash with the project's own), so it imports
nothing of Khronika but the address policy, which needs only the standard library. The parent
(`capture/proxy`) reads the spool and writes the WARC with the one WARC writer.

Where it connects, the name is resolved once, every address is judged by `policy.check_address`
and the connection is made to the checked address (TLS still names the host), so a name that
resolves to a refused address is never reached. Each exchange is written to the spool as one
JSON file and its two bodies, exactly as on the wire but for HTTP/1.1 chunking (the content
coding is kept); a refused, failed or limited request is written with its reason. The program
ends when its standard input closes, so it never outlives the run that started it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ingest.capture.policy import (
    AddressRefused,
    ResolveFailed,
    check_address,
    is_ip_literal,
    parse_resolve,
    pinned_allowed,
    resolve_allowed,
)


def _fields(headers: Any) -> list[list[str]]:
    return [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers.fields]


def _pems(certificates: list[Any]) -> list[str]:
    """The server's certificate chain as it sent it, leaf first, in PEM."""
    return [c.to_pem().decode("ascii") for c in certificates]


class Recorder:
    """The addon: policy at connect time, limits, and one spool entry per exchange."""

    def __init__(self, spool: Path, config: dict[str, Any]) -> None:
        self.spool = spool
        self.allow_private = bool(config["allow_private"])
        self.max_requests = int(config["max_requests"])
        self.max_bytes = int(config["max_bytes"])
        self.resolve_timeout = float(config.get("resolve_timeout", 15.0))
        # run --resolve HOST:PORT:ADDRESS: the mapping replaces the lookup, never the policy
        self.pins = dict(parse_resolve(entry) for entry in config.get("resolve", []))
        self.n = 0
        self.requests = 0
        self.bytes = 0
        self.refused: set[str] = set()  # the rules that refused a connection, as mitmproxy repeats them

    # -- where the proxy connects --------------------------------------------------------

    async def server_connect(self, data: Any) -> None:
        server = data.server
        host, port = server.address
        pinned = self.pins.get((host.lower().strip("[]"), port))
        try:
            if pinned is not None:
                allowed = pinned_allowed(host, port, pinned, self.allow_private)
            elif is_ip_literal(host):
                reason = check_address(host, self.allow_private)
                if reason is not None:
                    raise AddressRefused(reason)
                allowed = [host.strip("[]")]
            else:
                allowed = await asyncio.to_thread(resolve_allowed, host, port, self.allow_private,
                                                  self.resolve_timeout)
        except AddressRefused as exc:
            self.refused.add(str(exc))
            server.error = str(exc)
            return
        except ResolveFailed as exc:  # not a refusal: the name did not lead anywhere
            server.error = str(exc)
            return
        if server.sni is None and not is_ip_literal(host):
            server.sni = host  # TLS names the host even though the connection goes to its checked address
        server.address = (allowed[0], port)

    def server_connected(self, data: Any) -> None:
        peer = data.server.peername
        reason = check_address(str(peer[0]), self.allow_private) if peer else "no peer address"
        if reason is not None:  # belt and braces: judge what was actually reached
            self.refused.add(reason)
            data.server.error = reason

    # -- limits --------------------------------------------------------------------------

    def requestheaders(self, flow: Any) -> None:
        self.requests += 1
        if self.requests > self.max_requests:
            self._limited(flow, f"more than {self.max_requests} requests (limit --browser-max-requests)")
        elif self.bytes > self.max_bytes:
            self._limited(flow, f"over {self.max_bytes} bytes received (limit --browser-max-bytes)")

    def responseheaders(self, flow: Any) -> None:
        declared = flow.response.headers.get("content-length", "")
        if declared.isdigit() and self.bytes + int(declared) > self.max_bytes:
            self._limited(flow, f"a response of {declared} bytes would pass {self.max_bytes} bytes received "
                                "(limit --browser-max-bytes)")

    def _limited(self, flow: Any, reason: str) -> None:
        flow.metadata["khronika_limit"] = reason
        flow.kill()

    # -- the spool -----------------------------------------------------------------------

    def response(self, flow: Any) -> None:
        try:
            self._response(flow)
        except Exception as exc:  # noqa: BLE001 - an exchange that cannot be kept must still be listed
            self._entry({"kind": "failed", "error": f"the recording proxy could not keep this exchange "
                                                    f"({type(exc).__name__}: {exc})", **self._request(flow, False)},
                        b"", b"")

    def _response(self, flow: Any) -> None:
        req, resp = flow.request, flow.response
        body = resp.raw_content or b""
        self.bytes += len(body)
        self._entry({
            "kind": "exchange", **self._request(flow),
            "status": resp.status_code, "reason": resp.reason, "response_http_version": resp.http_version,
            "response_headers": _fields(resp.headers), "response_started": resp.timestamp_start,
            "response_ended": resp.timestamp_end,
        }, req.raw_content or b"", body)

    def error(self, flow: Any) -> None:
        msg = flow.error.msg if flow.error else "no response"
        if flow.metadata.get("khronika_limit"):
            kind, reason = "limited", flow.metadata["khronika_limit"]
        elif msg.removeprefix("Connection killed: ") in self.refused:
            kind, reason = "refused", msg.removeprefix("Connection killed: ")
        else:
            kind, reason = "failed", msg
        self._entry({"kind": kind, "error": reason, **self._request(flow)}, b"", b"")

    def _request(self, flow: Any, tls: bool = True) -> dict[str, Any]:
        req, server = flow.request, flow.server_conn
        peer = server.peername if server else None
        return {
            "url": req.url, "method": req.method, "http_version": req.http_version,
            "request_headers": _fields(req.headers), "started": req.timestamp_start,
            "ip": str(peer[0]) if peer else None, "port": peer[1] if peer else None,
            "tls": {"version": server.tls_version, "cipher": server.cipher, "sni": server.sni,
                    "chain_pem": _pems(server.certificate_list)} if tls and server and server.tls_established else None,
        }

    def _entry(self, meta: dict[str, Any], request_body: bytes, response_body: bytes) -> None:
        self.n += 1
        stem = self.spool / f"{self.n:06d}"
        meta["request_body_b64"] = base64.b64encode(request_body).decode("ascii")
        meta["response_body_file"] = f"{self.n:06d}.body"
        Path(f"{stem}.body").write_bytes(response_body)
        tmp = Path(f"{stem}.json.tmp")
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, f"{stem}.json")  # an entry is there whole or not at all


async def _serve(spool: Path, config: dict[str, Any]) -> None:
    from mitmproxy import options
    from mitmproxy.tools.dump import DumpMaster

    opts = options.Options(listen_host="127.0.0.1", listen_port=0, confdir=config["confdir"], mode=["regular"])
    master = DumpMaster(opts, with_termlog=False, with_dumper=False)
    master.options.update(
        # Lazy: the request (and so its URL) is known before the connection is made, so a refused
        # request is recorded with the address it asked for.
        connection_strategy="lazy",
        http2=False,  # HTTP/1.1 on both sides: the records are the bytes as exchanged
        ssl_insecure=False, body_size_limit=str(config["max_bytes"]),
    )
    if config.get("ca_file"):
        master.options.update(ssl_verify_upstream_trusted_ca=config["ca_file"])
    master.addons.add(Recorder(spool, config))

    async def said_port() -> None:
        server = master.addons.get("proxyserver")
        for _ in range(500):
            addrs = server.listen_addrs()
            if addrs:
                from mitmproxy.version import VERSION

                print(json.dumps({"port": addrs[0][1], "mitmproxy": VERSION}), flush=True)
                return
            await asyncio.sleep(0.01)
        print(json.dumps({"error": "the proxy did not start listening"}), flush=True)
        master.shutdown()

    loop = asyncio.get_running_loop()

    def watch_stdin() -> None:
        sys.stdin.buffer.read()  # returns when the parent closes the pipe, or dies
        loop.call_soon_threadsafe(master.shutdown)

    threading.Thread(target=watch_stdin, daemon=True).start()
    asyncio.ensure_future(said_port())
    await master.run()


def main() -> None:
    spool, config_file = Path(sys.argv[1]), Path(sys.argv[2])
    config = json.loads(config_file.read_text(encoding="utf-8"))
    started = time.monotonic()
    asyncio.run(_serve(spool, config))
    (spool / "done").write_text(f"{time.monotonic() - started:.3f}\n")


if __name__ == "__main__":
    main()
