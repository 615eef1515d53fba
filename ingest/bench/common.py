"""What every benchmark shares: targets, the repository root, timing child processes and best-of loops."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ingest.capture import procs

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("blake3", "trafilatura", "pypdf", "datasette", "sqlite-utils", "charset-normalizer", "reportlab")

# name -> (comparison, threshold, unit); "min" means the measurement must be at least the threshold.
TARGETS: dict[str, tuple[str, float, str]] = {
    "pipeline_overhead_pct": ("max", 15.0, "%"),
    "worker_scaling_pct_of_bare": ("min", 90.0, "%"),
    "rerun_speedup": ("min", 50.0, "x"),
    "fixity_pct_of_raw_hashing": ("min", 70.0, "%"),
    "rss_growth_pct": ("max", 10.0, "%"),
    "web_p95_ms": ("max", 150.0, "ms"),
}


# -- measuring child processes ---------------------------------------------------------------


@dataclass
class ChildRun:
    seconds: float
    max_rss_mib: float
    returncode: int
    stderr_tail: str
    tree_rss_mib: float = 0.0  # peak of the RSS summed over the child and all its descendants
    tree_pss_mib: float = 0.0  # peak of their PSS summed: shared pages counted once in all
    cpu_seconds: float = 0.0  # user + system time of the child and every descendant it waited for (wait4)


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and every process descended from it, now."""
    return tree_memory(root)[0]


def tree_memory(root: int) -> tuple[int, int]:
    """RSS and PSS bytes of `root` and every process descended from it, each summed, now."""
    table = procs.processes()
    tree = [p for p in table if p.pid == root] + procs.descendants([root], table)
    return sum(p.rss for p in tree), sum(procs.pss(p.pid) for p in tree)


class TreePeak:
    """Samples the RSS of a process tree every `interval` seconds in a thread of this process
    (the bench itself never forks while it samples); `.peak` is the largest sum seen."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        import threading

        self.root, self.interval, self.peak, self.pss_peak = root, interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, pss = tree_memory(self.root)
            self.peak, self.pss_peak = max(self.peak, rss), max(self.pss_peak, pss)
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_child(args: list[str], log: Path) -> ChildRun:
    """Run a command to completion; wall time, peak RSS and its process tree's peak.

    wait4's peak is that of the largest single process (Linux folds reaped descendants in as a
    maximum); the tree's peak, sampled, is the most its processes held at once, summed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # As Python runs for a user: modules' bytecode cached between runs. A shell that sets
    # PYTHONDONTWRITEBYTECODE (some containers do) would make every child compile the project's
    # modules again, about 0.1 s of each run, which no installed tool pays.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with open(log, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env=env)
        sampler = TreePeak(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        tree = sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
    own = usage.ru_maxrss / 1024
    return ChildRun(seconds, own, proc.returncode, tail, max(own, tree / 2**20), sampler.pss_peak / 2**20,
                    usage.ru_utime + usage.ru_stime)


def ingest(case: Path, archive: Path, workers: int, log: Path, *extra: str) -> ChildRun:
    run = run_child([sys.executable, "-m", "ingest", "run", str(case), "--archive", str(archive),
                     "--offline", "--workers", str(workers), "--visibility", "off", *extra], log)  # visibility measured apart
    if run.returncode != 0:
        raise click.ClickException(f"ingest into {archive} exited {run.returncode}:\n{run.stderr_tail}")
    return run


def bare(files: list[Path], workers: int, work: Path, tag: str) -> tuple[ChildRun, dict[str, str | None]]:
    listing = work / f"bare-{tag}.list"
    out = work / f"bare-{tag}.json"
    listing.write_text("\n".join(str(p) for p in files) + "\n", encoding="utf-8")
    run = run_child([sys.executable, "-c", "import sys; from ingest.bench.common import bare_main; bare_main(sys.argv[1:])",
                     str(listing), str(workers), str(out)], work / f"bare-{tag}.log")
    if run.returncode != 0:
        raise click.ClickException(f"bare extraction loop exited {run.returncode}:\n{run.stderr_tail}")
    return run, json.loads(out.read_text(encoding="utf-8"))


def _bare_one(path: str) -> tuple[str, str | None]:
    import mimetypes

    from ingest.capture.fetch import sniff_media_type
    from ingest.text.extract import extract

    data = Path(path).read_bytes()
    ex = extract(data, sniff_media_type(data, mimetypes.guess_type(path)[0]))
    return path, ex.text_blake3


def bare_main(argv: list[str]) -> None:
    """Child entry point: extract every listed file with ingest.extract.extract, nothing else."""
    import multiprocessing

    import ingest.text.extract  # noqa: F401  (imported before forking, as the pipeline does)

    listing, workers, out = argv[0], int(argv[1]), argv[2]
    paths = [p for p in Path(listing).read_text(encoding="utf-8").splitlines() if p]
    if workers == 1:
        results = dict(map(_bare_one, paths))
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = dict(pool.imap_unordered(_bare_one, paths))
    Path(out).write_text(json.dumps(results), encoding="utf-8")


# -- hashing ------------------------------------------------------------------------------------


def raw_hash(paths: list[Path]) -> int:
    """BLAKE3 and SHA-256 of each file, read in 1 MiB chunks: the floor any fixity check sits on."""
    import blake3

    total = 0
    for path in paths:
        b3, sha = blake3.blake3(), hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                b3.update(chunk)
                sha.update(chunk)
                total += len(chunk)
        b3.hexdigest(), sha.hexdigest()
    return total


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


# What a Python process costs before it does anything: the interpreter alone, then the imports
# `python -m ingest run` makes before it reads a case file.
STARTUP = {
    "python start": ["-c", "pass"],
    "python start and the run command's imports": ["-c", "import ingest.cli, ingest.pipeline, ingest.claims.standing"],
}


def startup(name: str, work: Path) -> ChildRun:
    run = run_child([sys.executable, *STARTUP[name]], work / "startup.log")
    if run.returncode != 0:
        raise click.ClickException(f"{name} exited {run.returncode}:\n{run.stderr_tail}")
    return run
