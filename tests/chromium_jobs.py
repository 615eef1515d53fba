"""Jobs for the browser child process in tests/test_chromium.py (imported in the child, by name)."""

from __future__ import annotations

import os
import sys
from typing import Any


def handle(browser: Any, job: dict[str, Any]) -> dict[str, Any]:
    if job["do"] == "raise":
        raise ValueError("bad job")
    if job["do"] == "exit":
        sys.stderr.write("going away\n")
        sys.stderr.flush()
        os._exit(3)
    if job["do"] == "print":
        print("not an answer")
    page = browser.new_page()
    try:
        page.set_content(job.get("html", "<title>t</title>"))
        if job["do"] == "spin":
            page.evaluate("() => { for (;;) {} }")
        return {"title": page.title(), "pid": os.getpid(), "pgid": os.getpgrp()}
    finally:
        page.close()
