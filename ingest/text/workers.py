"""Running extractions in sandboxed worker processes, reused from job to job.

Each worker is forked from this process (os.fork: the parent has already
imported and warmed up trafilatura and pypdf, so a worker starts ready), drops
every inherited file descriptor but its two pipes, makes a process group of its
own (the OCR tools it runs are in it, and a kill of the worker is a kill of the
group, so no tool outlives its job), lowers its own limits
(RLIMIT_AS, no core files), and then loops: read a job line, give the job a CPU
budget of its own (RLIMIT_CPU raised to what the worker has used plus the
per-job limit), read the file, call `ingest.extract.extract`, write the
Extraction as length-prefixed JSON. The parent kills a worker whose job
outlives its wall-clock limit (for an OCR job, the limit times its pages) and
turns every way a worker can die into an Extraction with `error` set and
`text` None, then starts a fresh worker, so a batch always goes on:

    "timed out after 120 s"                       wall-clock limit, worker killed
    "exceeded CPU limit of 60 s"                  SIGXCPU
    "exceeded memory limit of 2.0 GiB"            MemoryError under RLIMIT_AS
    "extraction worker killed by signal SIGSEGV"  any other signal
    "extraction worker exited with status N"      any other exit

Workers are reused because a fork per job cost more than extracting a typical
page (a fork, and the copy-on-write page faults a fresh child takes); a worker
is replaced after RECYCLE_AFTER jobs. Extraction keeps no state between jobs,
so a job's result does not depend on the worker that ran it.

`run_jobs` yields (job, extraction) pairs in COMPLETION order, not input
order; match them by `Job.key`. Jobs are taken from the iterable lazily, as
workers free up. Forking is only safe from a process that has no other
threads running; call `run_jobs` from the main thread of a single-threaded
program.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import selectors
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ingest.text import extract as _extract
from ingest.text.extract import Extraction
from ingest.text.hogs import TEST_HOG_TYPE, TEST_HOOKS_ENV, misbehave

__all__ = ["TEST_HOG_TYPE", "Job", "WorkerLimits", "run_jobs"]

_EXIT_MEMORY = 86  # a child that ran out of its address space exits with this
_EXIT_FAILED = 87  # a child that could not even report its own failure


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


@dataclass
class _Running:
    """A job handed to a worker, and what has come back of its result so far."""

    job: Job
    deadline: float
    started: float
    chunks: list[bytes] = field(default_factory=list)
    timed_out: bool = False


@dataclass
class _Worker:
    pid: int
    job_fd: int  # the parent writes job lines here
    result_fd: int  # and reads length-prefixed results here
    done: int = 0
    running: _Running | None = None

    def received(self) -> bytes | None:
        """The whole result frame, once it has fully arrived."""
        assert self.running is not None
        data = b"".join(self.running.chunks)
        if len(data) >= 8:
            size = int.from_bytes(data[:8], "big")
            if len(data) >= 8 + size:
                return data[8 : 8 + size]
        return None


_warmed = False
RECYCLE_AFTER = 500  # a worker is replaced after this many jobs, so nothing accumulates for long
IDLE_EVERY = 0.25  # seconds between calls of run_jobs' `idle` while it waits
LOOKAHEAD = 2  # jobs made ready per worker ahead of time: a slow capture does not leave a worker idle


def _warm_up_once() -> None:
    global _warmed
    if not _warmed:
        _extract.warm_up()
        _warmed = True


def run_jobs(
    jobs: Iterable[Job], workers: int = 1, limits: WorkerLimits | None = None,
    idle: Callable[[], None] | None = None,
) -> Iterator[tuple[Job, Extraction]]:
    """Run jobs in at most `workers` sandboxed worker processes.

    Yields (job, extraction) in completion order. Never raises for a failing
    job; closing the generator early kills and reaps the workers it started.
    The next job is taken from `jobs` while the workers are busy, so a
    generator that does work to produce each job (capturing a source) runs
    at the same time as the extractions. While it waits for workers, `idle`
    is called at least every IDLE_EVERY seconds (the caller's group commit).
    """
    limits = limits or WorkerLimits()
    workers = max(1, int(workers))
    pending = iter(jobs)
    ready: deque[Job] = deque()
    pool: dict[int, _Worker] = {}  # by result fd
    selector = selectors.DefaultSelector()
    exhausted = False

    def retire(worker: _Worker) -> None:
        selector.unregister(worker.result_fd)
        del pool[worker.result_fd]
        for fd in (worker.job_fd, worker.result_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def pull() -> None:
        nonlocal exhausted
        job = next(pending, None)
        if job is None:
            exhausted = True
        else:
            ready.append(job)

    def fill() -> None:
        while ready:
            idle = next((w for w in pool.values() if w.running is None), None)
            if idle is None:
                if len(pool) >= workers:
                    return
                _warm_up_once()  # imports and warms the extractors once, before the first fork
                idle = _spawn(limits)
                pool[idle.result_fd] = idle
                selector.register(idle.result_fd, selectors.EVENT_READ)
            _send(idle, ready.popleft(), limits)

    try:
        while True:
            fill()
            busy = [w for w in pool.values() if w.running is not None]
            if not busy and not ready:
                if exhausted:
                    return
                pull()
                continue
            if not exhausted and len(ready) < LOOKAHEAD * workers:
                pull()  # produce the next jobs while the workers extract, so none waits for one
                timeout = 0.0
            else:
                now = time.monotonic()
                timeout = max(0.0, min(w.running.deadline for w in busy if w.running) - now) if busy else 0.0
                if idle is not None:
                    idle()
                    timeout = min(timeout, IDLE_EVERY)
            done: list[tuple[Job, Extraction]] = []
            for key, _ in selector.select(timeout):
                worker = pool.get(key.fd)
                if worker is None:
                    continue
                chunk = os.read(worker.result_fd, 1 << 20)
                if worker.running is None:  # an idle worker that ended: drop it
                    if not chunk:
                        retire(worker)
                        _reap(worker.pid)
                    continue
                if chunk:
                    worker.running.chunks.append(chunk)
                    frame = worker.received()
                    if frame is None:
                        continue
                    run, worker.running = worker.running, None
                    worker.done += 1
                    done.append((run.job, _result(run, frame)))
                    if worker.done >= RECYCLE_AFTER:
                        retire(worker)  # closing its job pipe ends it
                        _reap(worker.pid)
                    continue
                retire(worker)
                done.append((worker.running.job, _failure(worker.running, worker.pid, limits)))
            now = time.monotonic()
            for worker in [w for w in pool.values() if w.running is not None and w.running.deadline <= now]:
                assert worker.running is not None
                _kill(worker.pid)
                worker.running.timed_out = True
                retire(worker)
                done.append((worker.running.job, _failure(worker.running, worker.pid, limits)))
            # Hand out the next jobs before returning results, so workers extract while the
            # caller records what came back.
            fill()
            yield from done
    finally:
        for worker in list(pool.values()):
            _kill(worker.pid)
            retire(worker)
            _reap(worker.pid)
        selector.close()


def _send(worker: _Worker, job: Job, limits: WorkerLimits) -> None:
    line = json.dumps({"key": job.key, "path": job.path, "media_type": job.media_type, "charset": job.charset,
                       "ocr_pages": job.ocr_pages, "pages": job.pages, "reader": job.reader}).encode("utf-8") + b"\n"
    now = time.monotonic()
    worker.running = _Running(job, now + limits.wall_seconds * max(1, job.pages), now)
    try:
        _write_all(worker.job_fd, line)
    except OSError:
        pass  # the worker is gone; its result pipe says so


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _spawn(limits: WorkerLimits) -> _Worker:
    job_r, job_w = os.pipe()
    result_r, result_w = os.pipe()
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
    return _Worker(pid, job_w, result_r)


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
        os._exit(_EXIT_FAILED)


def _serve(job_fd: int, result_fd: int, limits: WorkerLimits) -> None:
    """A worker's loop: read a job line, extract, write a length-prefixed result; exit at EOF."""
    code = _EXIT_FAILED
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
        jobs = os.fdopen(job_fd, "rb", buffering=0)
        while True:
            line = _readline(jobs)
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
                payload = json.dumps(_run_job(job).to_json()).encode("ascii")
            except MemoryError:
                code = _EXIT_MEMORY
                break
            _write_all(result_fd, len(payload).to_bytes(8, "big") + payload)
    except MemoryError:
        code = _EXIT_MEMORY
    except BaseException:
        code = _EXIT_FAILED
    finally:
        os._exit(code)


def _readline(fh) -> bytes:  # type: ignore[no-untyped-def]
    """One job line; unbuffered, so nothing of the next job is read ahead."""
    out = bytearray()
    while True:
        ch = fh.read(1)
        if not ch:
            return bytes(out)
        out += ch
        if ch == b"\n":
            return bytes(out)


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


def _kill(pid: int) -> None:
    """Kill a worker and whatever it started (its process group: OCR tools)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _reap(pid: int) -> tuple[int, float]:
    """Wait for a child; return (wait status, CPU seconds it used)."""
    while True:
        try:
            _, status, usage = os.wait4(pid, 0)
            return status, usage.ru_utime + usage.ru_stime
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0, 0.0


def _result(run: _Running, frame: bytes) -> Extraction:
    try:
        return Extraction.from_json(json.loads(frame))
    except (ValueError, TypeError) as exc:
        return _extract.failed_for(run.job.media_type, f"extraction worker sent no valid result ({type(exc).__name__})",
                                   ocr_pages=run.job.ocr_pages, reader=run.job.reader)


def _failure(run: _Running, pid: int, limits: WorkerLimits) -> Extraction:
    """What became of a job whose worker died or was killed."""
    _kill(pid)  # a worker that died leaves no OCR tool behind it
    status, _ = _reap(pid)
    worker: dict[str, object] = {"wall_seconds": round(time.monotonic() - run.started, 3)}
    if run.timed_out:
        error = f"timed out after {_seconds(limits.wall_seconds * max(1, run.job.pages))} s"
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        worker["signal"] = _signame(sig)
        if sig == signal.SIGXCPU:
            error = f"exceeded CPU limit of {_seconds(limits.cpu_seconds)} s"
        else:
            error = f"extraction worker killed by signal {_signame(sig)}"
    elif os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        worker["exit_status"] = code
        if code == _EXIT_MEMORY:
            error = f"exceeded memory limit of {_size(limits.memory_bytes)}"
        else:
            error = f"extraction worker exited with status {code}"
    else:
        error = f"extraction worker ended with wait status {status}"
    return _extract.failed_for(run.job.media_type, error, ocr_pages=run.job.ocr_pages, reader=run.job.reader, worker=worker)


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def _seconds(value: float) -> str:
    return f"{value:g}"


def _size(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    return f"{n / 2**20:.0f} MiB"
