"""Running extractions in sandboxed worker processes, one forked child per job.

Each job runs in a child forked from this process (os.fork: the parent has
already imported and warmed up trafilatura and pypdf, so a child starts
ready), which lowers its own resource limits (RLIMIT_CPU, RLIMIT_AS, no core
files), reads the file, calls `ingest.extract.extract` and writes the
Extraction as JSON into a pipe. The parent reads all pipes at once, kills a
child that outlives its wall-clock limit, and turns every way a child can die
into an Extraction with `error` set and `text` None, so a batch always goes
on:

    "timed out after 120 s"                       wall-clock limit, child killed
    "exceeded CPU limit of 60 s"                  SIGXCPU (or SIGKILL past the limit)
    "exceeded memory limit of 2.0 GiB"            MemoryError under RLIMIT_AS
    "extraction worker killed by signal SIGSEGV"  any other signal
    "extraction worker exited with status N"      any other exit

`run_jobs` yields (job, extraction) pairs in COMPLETION order, not input
order; match them by `Job.key`. Jobs are taken from the iterable lazily, as
slots free up. Forking is only safe from a process that has no other threads
running; call `run_jobs` from the main thread of a single-threaded program.

Cost per job: one fork, a pipe and a JSON round trip (about 6 ms for an
empty job on the project's 2-core VM), plus the copy-on-write page faults the
child takes while extracting, which in that VM make an HTML extraction about
15 ms slower than the same call in a warm parent.
"""

from __future__ import annotations

import faulthandler
import gc
import json
import os
import resource
import selectors
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ingest import extract as _extract
from ingest.extract import Extraction

TEST_HOG_TYPE = "application/x-khronika-test-hog"
TEST_HOOKS_ENV = "KHRONIKA_TEST_HOOKS"
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


@dataclass
class _Running:
    job: Job
    pid: int
    fd: int
    deadline: float
    started: float
    chunks: list[bytes] = field(default_factory=list)
    timed_out: bool = False


_warmed = False


def _warm_up_once() -> None:
    global _warmed
    if not _warmed:
        _extract.warm_up()
        _warmed = True


def run_jobs(
    jobs: Iterable[Job], workers: int = 1, limits: WorkerLimits | None = None
) -> Iterator[tuple[Job, Extraction]]:
    """Run each job in its own sandboxed child, at most `workers` at once.

    Yields (job, extraction) in completion order. Never raises for a failing
    job; closing the generator early kills and reaps the children it started.
    """
    limits = limits or WorkerLimits()
    workers = max(1, int(workers))
    _warm_up_once()
    pending = iter(jobs)
    running: dict[int, _Running] = {}  # by pipe fd
    selector = selectors.DefaultSelector()
    exhausted = False
    def fill() -> None:
        nonlocal exhausted
        while not exhausted and len(running) < workers:
            job = next(pending, None)
            if job is None:
                exhausted = True
                break
            run = _start(job, limits)
            running[run.fd] = run
            selector.register(run.fd, selectors.EVENT_READ)

    try:
        while True:
            fill()
            if not running:
                return
            done: list[tuple[Job, Extraction]] = []
            now = time.monotonic()
            timeout = max(0.0, min(r.deadline for r in running.values()) - now)
            for key, _ in selector.select(timeout):
                run = running[key.fd]
                chunk = os.read(run.fd, 1 << 20)
                if chunk:
                    run.chunks.append(chunk)
                    continue
                selector.unregister(run.fd)
                del running[run.fd]
                done.append((run.job, _finish(run, limits)))
            now = time.monotonic()
            for run in [r for r in running.values() if r.deadline <= now]:
                _kill(run.pid)
                run.timed_out = True
                selector.unregister(run.fd)
                del running[run.fd]
                done.append((run.job, _finish(run, limits)))
            # Start the next jobs before handing results over, so workers extract while the
            # caller records what came back.
            fill()
            yield from done
    finally:
        for run in running.values():
            _kill(run.pid)
            try:
                os.close(run.fd)
            except OSError:
                pass
            _reap(run.pid)
        selector.close()


def _start(job: Job, limits: WorkerLimits) -> _Running:
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child: never returns
        # Keep only stdio and the result pipe: no other pipe, no archive lock (a killed parent
        # must free the archive at once), no database handle a hostile file could reach.
        _die_with_parent(parent)
        os.closerange(3, write_fd)
        os.closerange(write_fd + 1, _max_fd())
        _child(job, limits, write_fd)
    os.close(write_fd)
    now = time.monotonic()
    return _Running(job, pid, read_fd, now + limits.wall_seconds, now)


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


def _child(job: Job, limits: WorkerLimits, fd: int) -> None:
    code = _EXIT_FAILED
    try:
        # Objects inherited from the parent are never collected here; freezing
        # them keeps the collector from touching (and so copying) their pages.
        gc.freeze()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        cpu = max(1, int(limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            result = _run_job(job)
        except MemoryError:
            os._exit(_EXIT_MEMORY)
        payload = json.dumps(result.to_json()).encode("ascii")
        view = memoryview(payload)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        code = 0
    except MemoryError:
        code = _EXIT_MEMORY
    except BaseException:
        code = _EXIT_FAILED
    finally:
        os._exit(code)


def _run_job(job: Job) -> Extraction:
    if job.media_type == TEST_HOG_TYPE and os.environ.get(TEST_HOOKS_ENV) == "1":
        _test_hog(job.path)
    try:
        with open(job.path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return _extract.failed(job.media_type, f"cannot read {job.path}: {exc.strerror or exc}")
    return _extract.extract(data, job.media_type, job.charset)


def _test_hog(path: str) -> None:
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


def _kill(pid: int) -> None:
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


def _finish(run: _Running, limits: WorkerLimits) -> Extraction:
    os.close(run.fd)
    status, cpu = _reap(run.pid)
    wall = time.monotonic() - run.started
    worker = {"wall_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3)}
    error = None
    if run.timed_out:
        error = f"timed out after {_seconds(limits.wall_seconds)} s"
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        worker["signal"] = _signame(sig)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_seconds):
            error = f"exceeded CPU limit of {_seconds(limits.cpu_seconds)} s"
        else:
            error = f"extraction worker killed by signal {_signame(sig)}"
    elif os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        worker["exit_status"] = code
        if code == _EXIT_MEMORY:
            error = f"exceeded memory limit of {_size(limits.memory_bytes)}"
        elif code != 0:
            error = f"extraction worker exited with status {code}"
        else:
            try:
                result = Extraction.from_json(json.loads(b"".join(run.chunks)))
            except (ValueError, TypeError) as exc:
                error = f"extraction worker sent no valid result ({type(exc).__name__})"
            else:
                return result
    else:
        error = f"extraction worker ended with wait status {status}"
    return _extract.failed(run.job.media_type, error, worker=worker)


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
