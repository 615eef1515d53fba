"""Run Datasette on an archive's published copy, with the repository's metadata, plugins and templates,
and republish the copy when the archive changes while it runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from ingest.site.guard import ALLOW_SQL_ENV, SETTINGS
from ingest.site.publish import DB_NAME, INSPECT_NAME, archive_state, ensure_snapshot, published_dir, staleness

ROOT = Path(__file__).resolve().parents[2]
METADATA = ROOT / "metadata.yml"
PLUGINS = ROOT / "plugins"
TEMPLATES = ROOT / "templates"
LOCAL_ONLY = "127.0.0.1"
POLL = 1.0  # seconds between looks at the archive's log head and verify runs
SETTLE = 1.0  # the archive must stay unchanged this long before it is republished (a run writes in bursts)


def settings(allow_sql: bool = False) -> dict[str, object]:
    return dict(SETTINGS, default_allow_sql=allow_sql)


def _setting_value(value: object) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def datasette_args(host: str, port: int, allow_sql: bool = False) -> list[str]:
    # Run from the published folder and name the database relatively, so that no page
    # (such as /-/databases.json) shows where the archive lies on this machine.
    args = [
        sys.executable, "-m", "datasette", "serve", "-i", DB_NAME, "--inspect-file", INSPECT_NAME,
        "--metadata", str(METADATA), "--plugins-dir", str(PLUGINS), "--template-dir", str(TEMPLATES),
        "--host", host, "--port", str(port),
    ]
    for name, value in settings(allow_sql).items():
        args += ["--setting", name, _setting_value(value)]
    return args


def environment(archive: Path, allow_sql: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env["KHRONIKA_ARCHIVE"] = str(Path(archive).resolve())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop(ALLOW_SQL_ENV, None)  # never inherited: only --allow-sql turns arbitrary SQL on
    if allow_sql:
        env[ALLOW_SQL_ENV] = "1"
    return env


def refusal(host: str, allow_sql: bool) -> str | None:
    """Why these options are refused, or None: arbitrary SQL is for the operator on this machine only."""
    if allow_sql and host != LOCAL_ONLY:
        return (f"--allow-sql runs any SQL a visitor sends, so it needs --host {LOCAL_ONLY} (not {host}); "
                "the public site offers its pages and canned queries only")
    return None


class _Stop(Exception):
    pass


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _end(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            # Datasette is read-only: nothing is lost by killing it, and its graceful shutdown can
            # wait on a browser's idle keep-alive connections, which would hold `serve` past a SIGTERM.
            return proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def _state(archive: Path) -> object:
    try:
        return archive_state(archive)
    except Exception as exc:  # noqa: BLE001 - a run rebuilding the database: look again later
        return f"unreadable: {exc}"


def serve(archive: Path, host: str, port: int, allow_sql: bool = False,
          say: Callable[[str], None] = lambda s: None) -> int:
    """Serve until Ctrl-C or SIGTERM (either ends Datasette too); when the archive's log head or
    verify runs change, make a new published copy and restart Datasette on it."""
    why = refusal(host, allow_sql)
    if why is not None:
        raise ValueError(why)
    start = lambda: subprocess.Popen(datasette_args(host, port, allow_sql), cwd=published_dir(archive),  # noqa: E731
                                     env=environment(archive, allow_sql))
    previous = signal.signal(signal.SIGTERM, _stop)
    proc = start()
    seen, since = _state(archive), time.monotonic()
    try:
        while True:
            try:
                return proc.wait(POLL)  # Datasette ended on its own (a port in use, say): so does serve
            except subprocess.TimeoutExpired:
                pass
            now = _state(archive)
            if now != seen:
                seen, since = now, time.monotonic()
                continue
            if time.monotonic() - since < SETTLE or staleness(archive) is None:
                continue
            try:
                snap = ensure_snapshot(archive)
            except Exception as exc:  # noqa: BLE001 - keep serving the older copy (its pages say it is older)
                say(f"could not republish: {exc}")
                since = time.monotonic()
                continue
            say(f"published copy rebuilt: {snap.reason}; restarting the site")
            _end(proc)
            proc = start()
    except (KeyboardInterrupt, _Stop):
        _end(proc)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
