"""Jobs that misbehave on purpose, so tests can drive the workers' limits (KHRONIKA_TEST_HOOKS=1 only)."""

from __future__ import annotations

import faulthandler
import os
import signal
import subprocess
import time

TEST_HOG_TYPE = "application/x-khronika-test-hog"
TEST_HOOKS_ENV = "KHRONIKA_TEST_HOOKS"


def misbehave(path: str) -> None:
    """Misbehave as the file says (tests only: needs KHRONIKA_TEST_HOOKS=1)."""
    with open(path, encoding="ascii") as fh:
        what = fh.read().strip()
    if what == "memory":
        hog = []
        while True:
            hog.append(bytearray(64 * 2**20))
    elif what == "cpu":
        while True:
            pass
    elif what == "sleep":
        time.sleep(3600)
    elif what == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif what == "segv":
        faulthandler.disable()  # no traceback on stderr for a crash that is meant
        os.kill(os.getpid(), signal.SIGSEGV)
    elif what == "exit":
        os._exit(3)
    elif what == "child":  # a tool that outlives its job unless the worker's group is killed
        child = subprocess.Popen(["sleep", "3600"])
        with open(path + ".pid", "w", encoding="ascii") as fh:
            fh.write(str(child.pid))
        time.sleep(3600)
