"""The recording proxy seen from the run: start `capture/recorder` in its own environment, read what it kept.

mitmproxy cannot share the project's virtual environment (it pins cryptography, h11, Brotli and
ruamel.yaml below the versions the project uses), so it lives in `.venv-mitm` (made by `make
ingest`) and runs as a child program: in a process group of its own, asked by the kernel to die
with this process (PR_SET_PDEATHSIG), and ending by itself when its standard input closes. Its
spool holds one JSON file per exchange; this module turns them into `Hop`s for the WARC writer.
"""

from __future__ import annotations

import base64
import ctypes
import datetime as dt
import json
import os
import select
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.capture.hops import Hop, redact
from ingest.errors import KhronikaError

ENV = "KHRONIKA_MITM_PYTHON"
START_TIMEOUT = 30.0
_PR_SET_PDEATHSIG = 1


class ProxyUnavailable(KhronikaError):
    """The recording proxy cannot be started (no mitmproxy environment, or it did not listen)."""


def proxy_python() -> Path:
    """The Python of the environment holding mitmproxy: $KHRONIKA_MITM_PYTHON, else .venv-mitm
    beside the package's folder or in the current folder."""
    named = os.environ.get(ENV)
    candidates = [Path(named)] if named else [Path(__file__).resolve().parents[2] / ".venv-mitm" / "bin" / "python",
                                               Path.cwd() / ".venv-mitm" / "bin" / "python"]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    where = f"${ENV} names {named}, which is not an executable" if named else \
        f"no {candidates[0]} (make ingest creates it: python3 -m venv .venv-mitm && .venv-mitm/bin/pip install mitmproxy)"
    raise ProxyUnavailable(f"browser capture needs its recording proxy (mitmproxy): {where}")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the closed standard input still ends it


@dataclass
class Failure:
    """A request that got no response: refused by the address policy, over a limit, or failed."""

    kind: str  # refused | limited | failed | unfinished
    url: str
    method: str
    reason: str
    started_at: str


@dataclass
class Recorded:
    """What the proxy kept, in the order the requests were made."""

    exchanges: list[Hop] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    chains: dict[str, list[str]] = field(default_factory=dict)  # origin -> PEM certificates, leaf first


def _iso(ts: float | None) -> str:
    when = dt.datetime.fromtimestamp(ts or time.time(), dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def read_spool(spool: Path) -> Recorded:
    out = Recorded()
    entries = []
    for meta_file in sorted(spool.glob("*.json")):
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        body = (spool / meta["response_body_file"]).read_bytes()
        entries.append((meta.get("started") or 0.0, meta, body))
    entries.sort(key=lambda e: e[0])  # the spool is in order of completion; the WARC in order of request
    for started, meta, body in entries:
        when = _iso(started)
        if meta["kind"] != "exchange":
            out.failures.append(Failure(meta["kind"], meta["url"], meta["method"], meta["error"], when))
            continue
        tls = None
        if meta.get("tls"):
            chain = meta["tls"].pop("chain_pem", [])
            tls = {**meta["tls"], "chain_sha256": [_pem_sha256(p) for p in chain]}
            if chain:
                out.chains.setdefault(_origin(meta["url"]), chain)
        out.exchanges.append(Hop(
            url=meta["url"], method=meta["method"], request_headers=redact([tuple(h) for h in meta["request_headers"]]),
            http_version=meta["response_http_version"], status=meta["status"], reason=meta["reason"],
            response_headers=[tuple(h) for h in meta["response_headers"]], body_raw=body, ip=meta["ip"],
            port=meta["port"], tls=tls, started_at=when,
            request_body=base64.b64decode(meta["request_body_b64"]),
        ))
    return out


def _pem_sha256(pem: str) -> str:
    import hashlib
    import ssl

    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


class RecordingProxy:
    """`with RecordingProxy(...) as proxy:` the proxy listens on 127.0.0.1:`proxy.port` for the block."""

    def __init__(self, allow_private: bool, max_requests: int, max_bytes: int, ca_file: str | None = None,
                 resolve: tuple[str, ...] = ()) -> None:
        self.python = proxy_python()
        self.config = {"allow_private": allow_private, "max_requests": max_requests, "max_bytes": max_bytes,
                       "ca_file": ca_file, "resolve": list(resolve)}
        self.port = 0
        self.version = ""
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RecordingProxy:
        self._dir = tempfile.TemporaryDirectory(prefix="khronika-proxy-")
        work = Path(self._dir.name)
        (work / "spool").mkdir()
        config = {**self.config, "confdir": str(work / "conf")}
        (work / "config.json").write_text(json.dumps(config), encoding="utf-8")
        package_root = str(Path(__file__).resolve().parents[2])
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PYTHONPATH"] = package_root
        self._proc = subprocess.Popen(
            [str(self.python), "-m", "ingest.capture.recorder", str(work / "spool"), str(work / "config.json")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(work / "stderr", "wb"),
            env=env, cwd=work, start_new_session=True, preexec_fn=_die_with_parent,
        )
        try:
            said = self._first_line(work)
        except BaseException:
            self._stop()
            raise
        self.port, self.version = int(said["port"]), f"mitmproxy {said['mitmproxy']}"
        return self

    def _first_line(self, work: Path) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], START_TIMEOUT)
        line = self._proc.stdout.readline() if ready else b""
        try:
            said = json.loads(line)
        except ValueError:
            said = {}
        if "port" not in said:
            err = (work / "stderr").read_text(errors="replace").strip().splitlines()
            why = said.get("error") or (err[-1] if err else f"no answer within {START_TIMEOUT:.0f} s")
            raise ProxyUnavailable(f"the recording proxy did not start ({self.python}): {why}")
        return said

    def _stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()  # the recorder ends when its input closes
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            if proc.stdout:
                proc.stdout.close()
        self._proc = None

    def stop(self) -> Recorded:
        """Stop the proxy and return what it recorded."""
        self._stop()
        assert self._dir is not None
        return read_spool(Path(self._dir.name) / "spool")

    def __exit__(self, *exc: object) -> None:
        self._stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
