"""Headless Chromium: Debian's browser through Playwright, in this process or in a child process group killed on overrun.

Never a downloaded browser build: the executable is $KHRONIKA_CHROMIUM when set (a path that
does not exist means "no browser", which is how a run is told to do without one), else Debian's
`chromium` on PATH or /usr/bin/chromium. Anything that prevents a launch is a BrowserUnavailable
with a sentence saying why; callers record it, they never treat it as a pass.

Two ways to use it:
- `launched()`: a browser for the duration of a `with` block, in this process.
- `BrowserProcess(handler)`: the browser in a child process (`python -m ingest.capture.chromium
  HANDLER`), started in a session of its own, that answers one JSON job at a time through
  `handler(browser, job) -> dict`. A job that overruns its wall-clock limit (a page whose scripts
  never stop) gets the child's process group (the child and Playwright's driver) and the
  browser's own (Playwright starts it detached) killed and raises JobFailed; the next job starts
  a fresh browser. A child whose parent dies kills the same groups.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ingest.capture import procs
from ingest.errors import KhronikaError

ENV = "KHRONIKA_CHROMIUM"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run")
DEFAULT = "/usr/bin/chromium"
START_LIMIT = 60.0  # wall seconds for the child's browser to start
KILL_WAIT = 10.0  # wall seconds for killed processes to be gone
Handler = Callable[[Any, dict[str, Any]], dict[str, Any]]


class BrowserUnavailable(KhronikaError):
    """No browser could be launched; the message says why (missing executable, package, or a failed start)."""


class JobFailed(KhronikaError):
    """One job in the browser process gave no answer: it overran its limit, the process ended, or the handler raised."""


def executable() -> Path:
    """The browser to launch, or BrowserUnavailable naming where it was looked for."""
    named = os.environ.get(ENV)
    if named:
        path = Path(named)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BrowserUnavailable(f"Chromium not available: no executable at {named} (${ENV})")
        return path
    found = shutil.which("chromium") or (DEFAULT if os.access(DEFAULT, os.X_OK) else None)
    if not found:
        raise BrowserUnavailable(f"Chromium not available: no `chromium` on PATH or at {DEFAULT} "
                                 "(Debian: apt-get install chromium)")
    return Path(found)


@contextmanager
def launched(extra_args: Sequence[str] = ()) -> Iterator[tuple[Any, str]]:
    """(browser, "chromium VERSION (playwright VERSION)") for the duration of the block, launched
    with FLAGS and `extra_args` (browser capture's proxy and quiet flags)."""
    path = executable()
    try:
        from importlib.metadata import version

        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        raise BrowserUnavailable("Chromium not available: the Python package playwright is not installed") from None
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=str(path), args=[*FLAGS, *extra_args])
        except Error as exc:
            raise BrowserUnavailable(f"Chromium not available: {path} did not start ({_first_line(exc)})") from None
        try:
            yield browser, f"chromium {browser.version} (playwright {version('playwright')})"
        finally:
            browser.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


class BrowserProcess:
    """The parent's side of a browser in a child process group: `call` one job at a time.

    `handler` is "package.module:function", imported in the child. `version` names the browser
    once it has started (None before). Use it as a context manager, or call `close`.
    """

    def __init__(self, handler: str, start_limit: float = START_LIMIT) -> None:
        self.handler = handler
        self.start_limit = start_limit
        self.proc: subprocess.Popen[bytes] | None = None
        self.version: str | None = None
        self.groups: list[int] = []  # the browser's own process groups (Playwright starts it in a session of its own)
        self._buffer = b""
        self._stderr: IO[bytes] | None = None

    def __enter__(self) -> BrowserProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the child and its browser, or raise BrowserUnavailable saying why."""
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "ingest.capture.chromium", self.handler],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     start_new_session=True)
        self._buffer = b""
        try:
            first = self._read(self.start_limit)
        except JobFailed as exc:
            self.close()
            raise BrowserUnavailable(f"Chromium not available: {exc}") from None
        if first is None or "ready" not in first:
            self.close()
            raise BrowserUnavailable(first["unavailable"] if first and "unavailable" in first
                                     else f"Chromium not available: it did not start within {self.start_limit:g} s")
        self.version = first["ready"]
        self.groups = first["groups"]

    def call(self, job: dict[str, Any], limit: float) -> dict[str, Any]:
        """The handler's answer to `job` within `limit` wall seconds, or JobFailed (the group then killed)."""
        if self.proc is None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(job).encode() + b"\n")
            self.proc.stdin.flush()
            answer = self._read(limit)
        except (OSError, ValueError):
            answer = None
        except JobFailed:
            self.close()
            raise
        if answer is None:
            self.close()  # the next job gets a fresh browser
            raise JobFailed(f"the browser did not finish within {limit:g} s")
        if "failed" in answer:
            raise JobFailed(answer["failed"])
        return answer["answer"]

    def _read(self, limit: float) -> dict[str, Any] | None:
        """One JSON line from the child within `limit` seconds; None when the time ran out."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + limit
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise JobFailed(self._ended())
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _ended(self) -> str:
        assert self.proc is not None
        code = self.proc.wait()
        last = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            lines = [x for x in self._stderr.read().decode("utf-8", "replace").splitlines() if x.strip()]
            last = f": {lines[-1].strip()[:200]}" if lines else ""
        return f"the browser process ended (exit code {code}){last}"

    def close(self) -> None:
        """Kill the child's process group (child, driver) and the browser's, and reap the child."""
        if self.proc is not None:
            _kill_groups([self.proc.pid], self.groups)
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
            self.proc = None
            self.groups = []
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _descendant_groups() -> list[int]:
    """Process groups other than ours among our descendants: the browser's (the driver starts it detached)."""
    own = os.getpgrp()
    return sorted({p.pgid for p in procs.descendants([os.getpid()], procs.processes()) if p.pgid != own})


def _kill_groups(leaders: list[int], browsers: list[int]) -> None:
    """SIGKILL our child's group, then each browser group that still holds a Chromium process.

    A browser group is checked first because its number could have been reused once the
    browser was gone; its helpers (crash handlers) leave by themselves when the browser does.
    """
    live = {p.pgid for p in procs.processes() if p.name.startswith("chrom")} if browsers else set()
    targets = [*leaders, *(g for g in browsers if g in live)]
    for group in targets:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    # SIGKILL is delivered at once but a large process takes a moment to go; wait for it (bounded)
    # so that "killed" means gone when this returns.
    deadline = time.monotonic() + KILL_WAIT
    while time.monotonic() < deadline and any(p.pgid in targets and p.state != "Z" for p in procs.processes()):
        time.sleep(0.05)


def _watch_parent(groups: list[int]) -> None:
    """In the child: end the whole group and the browser's when the parent dies (a killed run leaves no browser behind)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        _kill_groups([os.getpgrp()], groups)
    threading.Thread(target=watch, daemon=True).start()


def serve(handler: Handler) -> None:
    """The child's side: launch the browser once, then answer JSON jobs on stdin, one per line."""
    # Answers go to a copy of stdout; stdout itself now points at stderr, so that nothing a
    # library prints can be taken for an answer.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)

    def say(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj).encode() + b"\n")
        out.flush()

    groups: list[int] = []
    _watch_parent(groups)
    try:
        with launched() as (browser, version):
            groups.extend(_descendant_groups())
            say({"ready": version, "groups": groups})
            for line in sys.stdin.buffer:
                job = json.loads(line)
                try:
                    say({"answer": handler(browser, job)})
                except Exception as exc:  # one job's failure is reported, the browser serves the next
                    say({"failed": f"{type(exc).__name__}: {_first_line(exc)}"})
    except BrowserUnavailable as exc:
        say({"unavailable": str(exc)})


def main(spec: str) -> None:
    module, _, name = spec.partition(":")
    serve(getattr(importlib.import_module(module), name))


if __name__ == "__main__":
    # Through the package's own module, so the child's exception classes are the handler's.
    from ingest.capture.chromium import main as package_main

    package_main(sys.argv[1])
