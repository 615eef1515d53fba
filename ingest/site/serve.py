"""Run Datasette on an archive's published copy, with the repository's metadata, plugins and templates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingest.site.publish import DB_NAME, INSPECT_NAME, published_dir

ROOT = Path(__file__).resolve().parents[2]
METADATA = ROOT / "metadata.yml"
PLUGINS = ROOT / "plugins"
TEMPLATES = ROOT / "templates"


def datasette_args(host: str, port: int) -> list[str]:
    # Run from the published folder and name the database relatively, so that no page
    # (such as /-/databases.json) shows where the archive lies on this machine.
    return [
        sys.executable, "-m", "datasette", "serve", "-i", DB_NAME, "--inspect-file", INSPECT_NAME,
        "--metadata", str(METADATA), "--plugins-dir", str(PLUGINS), "--template-dir", str(TEMPLATES),
        "--host", host, "--port", str(port),
        "--setting", "sql_time_limit_ms", "2000",
    ]


def environment(archive: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["KHRONIKA_ARCHIVE"] = str(Path(archive).resolve())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def serve(archive: Path, host: str, port: int) -> int:
    proc = subprocess.Popen(datasette_args(host, port), cwd=published_dir(archive), env=environment(archive))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait()
