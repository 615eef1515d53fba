"""Regenerate the README's generated blocks from a real run: schema, --help texts, sample output.

    python tools/readme.py          rewrite README.md
    python tools/readme.py --check  exit 1 if README.md is out of date (used by the tests)

A block is the text between `<!-- generated: NAME -->` and `<!-- /generated -->`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
COMMANDS = ["run", "check", "lint", "verify", "quote", "add-source", "timestamp", "witness", "serve", "export", "verify-bag",
            "telegram-login", "telegram-list"]
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.S)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ingest", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "100"})


def blocks() -> dict[str, str]:
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "cases", work / "cases")
        run = _cli("run", cwd=work)
        out["ingest-output"] = "```\n$ python -m ingest run\n" + _stable(run.stderr + run.stdout) + "```\n"
        ver = _cli("verify", cwd=work)
        out["verify-output"] = "```\n$ python -m ingest verify\n" + _stable(ver.stderr + ver.stdout) + "```\n"
        import sqlite_utils

        db = sqlite_utils.Database(work / "archive" / "archive.db")
        schema = "\n".join(
            sql.strip() + ";" for (sql,) in db.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'extractions_fts_%' "
                "ORDER BY type = 'index', name")
        )
        out["schema"] = "```sql\n" + schema + "\n```\n"
        available = _cli("--help", cwd=work).stdout
        helps = []
        for command in COMMANDS:
            if re.search(rf"^\s+{re.escape(command)}\s", available, re.M):
                helps.append(f"#### `python -m ingest {command}`\n\n```\n" + _cli(command, "--help", cwd=work).stdout + "```\n")
        out["help"] = "\n".join(helps)
    return out


def _stable(text: str) -> str:
    """Hide what differs from run to run: times, chain hashes, WARC names."""
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>", text)
    text = re.sub(r"log head \d+:[0-9a-f]{64}", "log head <seq>:<sha256>", text)
    text = re.sub(r"khronika-\d{8}T\d{6}Z-[0-9a-f]{8}\.warc\.gz", "khronika-<time>.warc.gz", text)
    text = re.sub(r"head \d+:[0-9a-f]{64}", "head <seq>:<sha256>", text)
    return text


def render(readme: str, generated: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group("name")
        body = generated.get(name, m.group("body"))
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(sub, readme)


def main() -> int:
    current = README.read_text(encoding="utf-8")
    new = render(current, blocks())
    if "--check" in sys.argv:
        if new != current:
            print("README.md is out of date: run `python tools/readme.py`", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
