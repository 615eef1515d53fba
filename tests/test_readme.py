"""The README's generated blocks (sample output, --help, schema) match a real run."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_readme_is_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "readme.py"), "--check"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
