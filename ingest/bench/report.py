"""The benchmark report: the machine it ran on, verdicts against the targets, the Markdown table."""

from __future__ import annotations

import os
import platform
import sqlite3
from importlib import metadata
from pathlib import Path
from typing import Any

from ingest.bench.captures import capture_rows
from ingest.bench.common import PACKAGES, TARGETS
from ingest.bench.visibility_bench import markdown_rows

# -- machine and report ----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(ram, 1), "python": platform.python_version(),
            "platform": platform.platform(), "sqlite": sqlite3.sqlite_version, "packages": versions,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def verdict(name: str, value: float | None) -> str:
    if value is None:
        return "not measured"
    kind, target, unit = TARGETS[name]
    if (value <= target) if kind == "max" else (value >= target):
        return "met"
    if unit == "x":
        return f"missed: {value:g}{unit}, {target / value:.1f}x short of {target:g}{unit}"
    return f"missed by {abs(value - target):.1f} {unit}"


def judged(name: str, value: float, stability: dict[str, Any]) -> str:
    """The verdict against the target, with the unstable mark when the rounds disagree by more than 20%."""
    mark = f"; unstable: rounds disagree by {stability['spread_pct']:.0f}%" if stability["unstable"] else ""
    return verdict(name, value) + mark


def _s(series: dict[str, Any], unit: str = "s") -> str:
    """"12.73 / 13.10 s" (min / median) from a Series' JSON."""
    return f"{series['min']:.2f} / {series['median']:.2f} {unit}"


def _rounds(r: dict[str, Any], pct: bool = False) -> str:
    vals = [((v - 1) * 100 if pct else v) for v in r["rounds"]]
    return ", ".join(f"{v:.1f}%" if pct else f"{v:.2f}" for v in vals)


def _workers(phase: str) -> str:
    n = int(phase.rsplit(" ", 1)[1])
    return f"{n} worker{'s' if n > 1 else ''}"


def ingest_rows(ing: dict[str, Any]) -> list[str]:
    """The ingest part of the table: every timing as min / median of its interleaved rounds."""
    w, s, r = ing["workers"], ing["series"], ing["ratios"]
    n = ing["repeats"]
    rows = [
        f"| corpus | {ing['documents']} documents ({ing['pdfs']} PDF), {ing['bytes'] / 1e6:.1f} MB, {ing['claims']} claims; "
        f"{n} interleaved rounds, times as min / median | | |",
        f"| machine load (1, 5, 15 min) before / after the ingest rounds | {ing['load_before']} / {ing['load_after']} | | |",
        f"| ingest, 1 worker vs bare extraction loop | {_s(s['ingest 1'])} vs {_s(s['bare 1'])}: overhead "
        f"{ing['pipeline_overhead_pct']}% (rounds {_rounds(r['pipeline_overhead'], pct=True)}) | ≤ 15% | "
        f"{judged('pipeline_overhead_pct', ing['pipeline_overhead_pct'], r['pipeline_overhead'])} |",
        *([f"| CPU time (user + system, the run and its workers), ingest 1 worker vs bare loop | "
           f"{ing['cpu_seconds']['ingest 1']} vs {ing['cpu_seconds']['bare 1']} s (least of the rounds): "
           f"{ing['cpu_overhead_pct']:+}% | | measured |"] if ing.get("cpu_overhead_pct") is not None else []),
        f"| ingest, {w} workers vs 1 | {_s(s[f'ingest {w}'])}: speedup {r['ingest_speedup']['value']:.2f}x; bare loop "
        f"{_s(s[f'bare {w}'])}: {r['bare_speedup']['value']:.2f}x; ratio {ing['worker_scaling_pct_of_bare']}% "
        f"(rounds {', '.join(f'{v * 100:.0f}%' for v in r['worker_scaling']['rounds'])}) | ≥ 90% | "
        f"{judged('worker_scaling_pct_of_bare', ing['worker_scaling_pct_of_bare'], r['worker_scaling'])} |",
        f"| second ingest, unchanged | {_s(s['rerun'])}: {ing['rerun_speedup']}x faster (rounds "
        f"{', '.join(f'{v:.1f}x' for v in r['rerun_speedup']['rounds'])}) | ≥ 50x (≥ 2,000 docs) | "
        f"{judged('rerun_speedup', ing['rerun_speedup'], r['rerun_speedup'])} |",
    ]
    for name in (k for k in s if k.startswith("python start")):
        share = s[name]["min"] / s["rerun"]["min"] * 100
        rows.append(f"| {name} | {_s(s[name])}: {share:.0f}% of the unchanged re-run | | measured |")
    rows += [
        f"| fixity vs raw BLAKE3+SHA-256 | {ing['fixity_mb_per_s']} vs {ing['raw_hash_mb_per_s']} MB/s "
        f"({ing['fixity_files']} files): {ing['fixity_pct_of_raw_hashing']}% | ≥ 70% | "
        f"{judged('fixity_pct_of_raw_hashing', ing['fixity_pct_of_raw_hashing'], ing['fixity_ratio'])} |",
        f"| ingest peak RSS (main process) | {', '.join(f'{v} MiB at {k}' for k, v in ing['rss_mib'].items())}: "
        f"{ing['rss_growth_pct']:+}% | flat (≤ +10%) | {verdict('rss_growth_pct', ing['rss_growth_pct'])} |",
        f"| ingest peak RSS (process tree: main and workers) | "
        f"{', '.join(f'{v} MiB with {_workers(k)}' for k, v in ing['tree_rss_mib'].items())} | | measured |",
        f"| quotes anchored | {ing['citation_matches']} | all exact | "
        f"{'met' if set(ing['citation_matches']) <= {'exact'} else 'missed'} |",
        f"| extractions equal to bare loop's | {ing['documents'] - ing['extractions_differing_from_bare_loop']} of "
        f"{ing['documents']} | all | {'met' if not ing['extractions_differing_from_bare_loop'] else 'missed'} |",
    ]
    return rows


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}, SQLite {m['sqlite']}; "
             + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v) + f". Load average at start {m['load_average_at_start']}.",
             "", "| measurement | result | target | verdict |", "|---|---|---|---|"]
    ing = results.get("ingest")
    if ing:
        lines += ingest_rows(ing)
    if results.get("visibility"):
        lines += markdown_rows(results["visibility"])
    o = results.get("ocr")
    if o:
        lines.append(f"| OCR, scanned A4 pages ({o['dpi']} dpi, {o['languages']}, tesseract {o['tesseract']}) | "
                     f"{o['pages_read']} of {o['pages']} pages in {_s(o['series'])} ({o['repeats']} rounds): "
                     f"{o['pages_per_minute']} pages/min (median {o['pages_per_minute_median']}); peak RSS of the "
                     f"process tree {o['tree_rss_mib']} MiB{', error: ' + o['error'] if o['error'] else ''} | | measured |")
    if results.get("captures"):
        lines += capture_rows(results["captures"])
    for web in results.get("web") or []:
        lines += web_rows(web)
    return "\n".join(lines)


def web_rows(web: dict[str, Any]) -> list[str]:
    """One Datasette size: the database, its published snapshot, every route's p50/p95, the plans."""
    at = f"at {web['claims']:,} claims"
    rows = [f"| Datasette DB {at} | {web['documents']:,} documents, {web['claims']:,} claims, {web['db_mib']} MiB; "
            f"built in {web['build_seconds']:.0f} s (once, then kept"
            + (f"; stopped and resumed, its parts: {'; '.join(web['build_parts'])}" if len(web.get("build_parts") or []) > 1
               else "") + ") | | |"]
    if "snapshot_mib" in web:
        rows.append(f"| published snapshot {at} | {web['snapshot_mib']} MiB, made in {web['snapshot_seconds']:.0f} s | | measured |")
    for name, r in web["routes"].items():
        if r.get("absent"):
            rows.append(f"| {name} {at} | route absent | | not measured |")
        else:
            # A fast refusal or error page is not the page: only answers that are all 200 count.
            failed = {int(k) for k in r["statuses"]} != {200}
            rows.append(f"| {name} {at} | p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms ({r['requests']} requests, "
                        f"HTTP {r['statuses']}) | p95 < 150 ms | "
                        f"{'missed: not every answer was HTTP 200' if failed else verdict('web_p95_ms', r['p95_ms'])} |")
    scans = web["queries_with_full_scans"]
    rows.append(f"| queries scanning a table {at} | {', '.join(scans) or 'none'} | none | {'met' if not scans else 'missed'} |")
    return rows


def plans_text(web: dict[str, Any]) -> str:
    out = []
    for name, p in web["plans"].items():
        out.append(f"{name}:\n  {p['sql']}\n  params {p['params']}")
        out += [f"    {ln}" for ln in p.get("plan", [])] or [f"    error: {p.get('error')}"]
    return "\n".join(out)
