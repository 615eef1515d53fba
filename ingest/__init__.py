"""Khronika: capture sources byte-for-byte, anchor claims in them, prove the chain."""

import sys

__version__ = "0.1.0"


def _import_sqlite_utils() -> None:
    """Import sqlite-utils with numpy and pandas hidden from it.

    sqlite-utils imports both when they are installed, only to accept their values in inserts;
    Khronika never inserts them, and numpy (which datasketch brings) was about a quarter of every
    command's start-up. They are hidden for this one import only: a later `import numpy` works
    as before (datasketch's, when texts are compared)."""
    if "sqlite_utils" in sys.modules:
        return
    hidden = [name for name in ("numpy", "pandas") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # "import name" now raises ImportError
    try:
        import sqlite_utils  # noqa: F401
    except ImportError:
        pass  # an interpreter without it (the recording proxy's, which imports ingest.capture only)
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


_import_sqlite_utils()
