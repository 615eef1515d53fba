"""A sandboxed extraction worker's own side: forked from the run, it lowers its limits and serves
job lines from its pipe until the pipe ends (`ingest.text.workers` runs and watches them)."""

from __future__ import annotations

import fcntl
import gc
import json
import os
import resource
import signal
import sys
from dataclasses import dataclass

from ingest.text import extract as _extract
from ingest.text.extract import Extraction
from ingest.text.hogs import TEST_HOG_TYPE, TEST_HOOKS_ENV, misbehave

EXIT_MEMORY = 86  # a child that ran out of its address space exits with this
EXIT_FAILED = 87  # a child that could not even report its own failure


@dataclass
class WorkerLimits:
    cpu_seconds: int = 60
    wall_seconds: float = 120.0
    memory_bytes: int = 2 * 2**30


@dataclass
class Job:
    key: str  # caller's id (e.g. blake3 of the file)
    path: str  # file the worker reads (bytes never travel through pipes)
    media_type: str
    charset: str | None = None
    ocr_pages: bool = False  # OCR a PDF's pages without a text layer (ingest.text.ocr)
    pages: int = 1  # pages this job reads: its wall-clock limit is that many times the limit
    reader: str | None = None  # a reader the media type alone does not choose ("telegram")



RESULT_PIPE_BYTES = 1 << 20


def spawn(limits: WorkerLimits) -> tuple[int, int, int]:
    """Fork a worker: (pid, the fd its jobs are written to, the fd its results are read from)."""
    job_r, job_w = os.pipe()
    result_r, result_w = os.pipe()
    # A result larger than the pipe (64 KiB by default; a long page's text and blocks often are)
    # holds the worker in write() until this process comes back to read it; 1 MiB, where the
    # system allows it, lets the worker go straight on to its next job.
    try:
        fcntl.fcntl(result_w, fcntl.F_SETPIPE_SZ, RESULT_PIPE_BYTES)
    except (OSError, AttributeError):  # over the system's limit, or not Linux: the default size
        pass
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child: never returns
        # A process group of its own: the OCR tools it starts are in it, and the parent's kill
        # of the group ends them with it.
        os.setpgid(0, 0)
        # Keep only stdio and its two pipes: no other pipe, no archive lock (a killed parent
        # must free the archive at once), no database handle a hostile file could reach.
        _die_with_parent(parent)
        low, high = sorted((job_r, result_w))
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, _max_fd())
        _serve(job_r, result_w, limits)
    try:
        os.setpgid(pid, pid)  # also here, so a kill right after the fork finds the group
    except OSError:
        pass  # the child did it first, or has already gone
    os.close(job_r)
    os.close(result_w)
    return pid, job_w, result_r


def _max_fd() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if 0 < soft < 1 << 20 else 1 << 16


def _load_prctl():  # type: ignore[no-untyped-def]
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl() if sys.platform.startswith("linux") else None


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel SIGKILL this child when its parent dies (e.g. kill -9 of a run)."""
    if _prctl is not None:
        _prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(EXIT_FAILED)


def _serve(job_fd: int, result_fd: int, limits: WorkerLimits) -> None:
    """A worker's loop: read a job line, extract, write a length-prefixed result; exit at EOF."""
    code = EXIT_FAILED
    try:
        # Objects inherited from the parent are never collected here; freezing
        # them keeps the collector from touching (and so copying) their pages.
        gc.freeze()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        hard_cpu = resource.getrlimit(resource.RLIMIT_CPU)[1]
        cpu = max(1, int(limits.cpu_seconds))
        jobs = os.fdopen(job_fd, "rb")  # the parent may have written the next job already
        while True:
            line = jobs.readline()
            if not line:
                code = 0
                break
            # Each job gets its own CPU budget on top of what this worker has used so far;
            # past it the kernel sends SIGXCPU, which ends the worker.
            usage = resource.getrusage(resource.RUSAGE_SELF)
            soft = int(usage.ru_utime + usage.ru_stime) + cpu
            if hard_cpu != resource.RLIM_INFINITY:
                soft = min(soft, hard_cpu)
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard_cpu))
            job = Job(**json.loads(line))
            try:
                # UTF-8, not \u escapes: a Russian text's result is a third of the size (a lone
                # surrogate from a broken page passes through as it is, and back).
                payload = json.dumps(_run_job(job).to_json(), ensure_ascii=False).encode("utf-8", "surrogatepass")
            except MemoryError:
                code = EXIT_MEMORY
                break
            write_all(result_fd, len(payload).to_bytes(8, "big") + payload)
    except MemoryError:
        code = EXIT_MEMORY
    except BaseException:  # noqa: BLE001 - whatever it was, the worker's exit status says it failed
        code = EXIT_FAILED
    finally:
        os._exit(code)


def _run_job(job: Job) -> Extraction:
    if job.media_type == TEST_HOG_TYPE and os.environ.get(TEST_HOOKS_ENV) == "1":
        misbehave(job.path)
    try:
        with open(job.path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return _extract.failed_for(job.media_type, f"cannot read {job.path}: {exc.strerror or exc}",
                                   ocr_pages=job.ocr_pages, reader=job.reader)
    return _extract.extract(data, job.media_type, job.charset, ocr_pages=job.ocr_pages, reader=job.reader)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
