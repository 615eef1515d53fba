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
is replaced after RECYCLE_AFTER jobs. While every worker is busy, one more job
is written behind each one's running job (not behind OCR), so a worker starts
it as soon as it has written its result, however busy this process is; that
job's wall-clock limit runs from when this process reads the result before it,
and if the worker dies first, the job goes to the next worker. Extraction keeps no state between jobs,
so a job's result does not depend on the worker that ran it.

`run_jobs` yields (job, extraction) pairs in COMPLETION order, not input
order; match them by `Job.key`. Jobs are taken from the iterable lazily, as
workers free up. Forking is only safe from a process that has no other
threads running; call `run_jobs` from the main thread of a single-threaded
program.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ingest.text import extract as _extract
from ingest.text.extract import Extraction
from ingest.text.hogs import TEST_HOG_TYPE, TEST_HOOKS_ENV
from ingest.text.workerproc import EXIT_MEMORY, Job, WorkerLimits, spawn, write_all

__all__ = ["TEST_HOG_TYPE", "TEST_HOOKS_ENV", "Job", "WorkerLimits", "run_jobs"]


@dataclass
class _Running:
    """The job a worker is on."""

    job: Job
    deadline: float
    started: float
    timed_out: bool = False


@dataclass
class _Worker:
    pid: int
    job_fd: int  # the parent writes job lines here
    result_fd: int  # and reads length-prefixed results here
    done: int = 0
    running: _Running | None = None
    queued: deque[Job] = field(default_factory=deque)  # written to its pipe, to start when `running` ends

    @property
    def handed(self) -> int:
        """Jobs it has been given in all: done, running and queued."""
        return self.done + (self.running is not None) + len(self.queued)

    inbox: bytearray = field(default_factory=bytearray)  # result bytes read and not yet taken

    def take_frame(self) -> bytes | None:
        """The next whole result frame once it has fully arrived. One read can bring the end of one
        result and the start, or all, of the next: what follows a frame stays for the next job."""
        if len(self.inbox) < 8:
            return None
        size = int.from_bytes(self.inbox[:8], "big")
        if len(self.inbox) < 8 + size:
            return None
        frame = bytes(self.inbox[8 : 8 + size])
        del self.inbox[: 8 + size]
        return frame


_warmed = False
RECYCLE_AFTER = 500  # a worker is replaced after this many jobs, so nothing accumulates for long
IDLE_EVERY = 0.25  # seconds between calls of run_jobs' `idle` while it waits
LOOKAHEAD = 8  # jobs made ready per worker ahead of time: a slow capture or a group commit does not leave a worker idle
# Jobs written to a busy worker's pipe behind the one it runs: most pages take a few milliseconds
# to extract, as long as this process takes to record one, so with one queued job a worker often
# finished it before this process came back and then waited (measured: 2,000 documents, 4 ms of
# this process's work per document beside a 13 s extraction: 15.3 to 17.0 s with 1 queued, 14.6
# to 14.8 s with 4; in the real run, with its group commits, 8 queued and LOOKAHEAD 8 gained
# about 1 s more over 4 and 2, on a noisy machine).
QUEUE_DEPTH = 8


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
            if idle is None and len(pool) < workers:
                _warm_up_once()  # imports and warms the extractors once, before the first fork
                pid, job_fd, result_fd = spawn(limits)
                idle = pool[result_fd] = _Worker(pid, job_fd, result_fd)
                selector.register(result_fd, selectors.EVENT_READ)
            if idle is not None:
                job = ready.popleft()
                _start(idle, job, limits)
                _write_job(idle, job)
                continue
            # Every worker is busy: up to QUEUE_DEPTH more jobs behind ordinary ones, so a worker goes
            # on the moment it has written a result instead of when this process gets round to reading it.
            spare = next((w for w in pool.values() if len(w.queued) < QUEUE_DEPTH and w.handed < RECYCLE_AFTER
                          and w.running is not None and _short(w.running.job) and all(map(_short, w.queued))),
                         None)
            if spare is None:
                return
            job = ready.popleft()
            spare.queued.append(job)
            _write_job(spare, job)

    def requeue(worker: _Worker) -> None:
        """The jobs queued behind one that killed its worker go to the next worker, first."""
        ready.extendleft(reversed(worker.queued))
        worker.queued.clear()

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
                    worker.inbox += chunk
                    while worker.running is not None and (frame := worker.take_frame()) is not None:
                        run, worker.running = worker.running, None
                        worker.done += 1
                        done.append((run.job, _result(run, frame)))
                        if worker.queued:  # it has started on it already: its time counts from now
                            _start(worker, worker.queued.popleft(), limits)
                    if worker.running is None and worker.done >= RECYCLE_AFTER:
                        retire(worker)  # closing its job pipe ends it
                        _reap(worker.pid)
                    continue
                retire(worker)
                requeue(worker)
                done.append((worker.running.job, _failure(worker.running, worker.pid, limits)))
            now = time.monotonic()
            for worker in [w for w in pool.values() if w.running is not None and w.running.deadline <= now]:
                assert worker.running is not None
                _kill(worker.pid)
                worker.running.timed_out = True
                retire(worker)
                requeue(worker)
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


def _short(job: Job) -> bool:
    """A job another may wait behind: not OCR, whose pages can take minutes."""
    return not job.ocr_pages and job.pages <= 1


def _start(worker: _Worker, job: Job, limits: WorkerLimits) -> None:
    """The worker is on `job` from now: its wall-clock limit runs."""
    now = time.monotonic()
    worker.running = _Running(job, now + limits.wall_seconds * max(1, job.pages), now)


def _write_job(worker: _Worker, job: Job) -> None:
    line = json.dumps({"key": job.key, "path": job.path, "media_type": job.media_type, "charset": job.charset,
                       "ocr_pages": job.ocr_pages, "pages": job.pages, "reader": job.reader}).encode("utf-8") + b"\n"
    try:
        write_all(worker.job_fd, line)
    except OSError:
        pass  # the worker is gone; its result pipe says so


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
        return Extraction.from_json(json.loads(frame.decode("utf-8", "surrogatepass")))
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
        if code == EXIT_MEMORY:
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
