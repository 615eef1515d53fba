"""The benchmark report: the machine it ran on, verdicts against the targets, the Markdown table."""

from __future__ import annotations

import os
import platform
import sqlite3
from importlib import metadata
from pathlib import Path
from typing import Any

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


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}, SQLite {m['sqlite']}; "
             + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v) + f". Load average at start {m['load_average_at_start']}.",
             "", "| measurement | result | target | verdict |", "|---|---|---|---|"]
    ing = results.get("ingest")
    if ing:
        w = ing["workers"]
        lines += [
            f"| corpus | {ing['documents']} documents ({ing['pdfs']} PDF), {ing['bytes'] / 1e6:.1f} MB, {ing['claims']} claims | | |",
            f"| ingest, 1 worker vs bare extraction loop | {ing['ingest_1_seconds']:.2f} s vs {ing['bare_1_seconds']:.2f} s: "
            f"overhead {ing['pipeline_overhead_pct']}% | ≤ 15% | {verdict('pipeline_overhead_pct', ing['pipeline_overhead_pct'])} |",
            f"| ingest, {w} workers vs 1 | {ing[f'ingest_{w}_seconds']:.2f} s: speedup {ing['ingest_speedup']}x; bare loop "
            f"{ing[f'bare_{w}_seconds']:.2f} s: {ing['bare_speedup']}x; ratio {ing['worker_scaling_pct_of_bare']}% | ≥ 90% | "
            f"{verdict('worker_scaling_pct_of_bare', ing['worker_scaling_pct_of_bare'])} |",
            f"| second ingest, unchanged | {ing['rerun_seconds']:.2f} s: {ing['rerun_speedup']}x faster | ≥ 50x (≥ 2,000 docs) | "
            f"{verdict('rerun_speedup', ing['rerun_speedup'])} |",
            f"| fixity vs raw BLAKE3+SHA-256 | {ing['fixity_mb_per_s']} vs {ing['raw_hash_mb_per_s']} MB/s "
            f"({ing['fixity_files']} files): {ing['fixity_pct_of_raw_hashing']}% | ≥ 70% | {verdict('fixity_pct_of_raw_hashing', ing['fixity_pct_of_raw_hashing'])} |",
            f"| ingest peak RSS | {', '.join(f'{v} MiB at {k}' for k, v in ing['rss_mib'].items())}: {ing['rss_growth_pct']:+}% | "
            f"flat (≤ +10%) | {verdict('rss_growth_pct', ing['rss_growth_pct'])} |",
            f"| quotes anchored | {ing['citation_matches']} | all exact | "
            f"{'met' if set(ing['citation_matches']) <= {'exact'} else 'missed'} |",
            f"| extractions equal to bare loop's | {ing['documents'] - ing['extractions_differing_from_bare_loop']} of {ing['documents']} | all | "
            f"{'met' if not ing['extractions_differing_from_bare_loop'] else 'missed'} |",
        ]
    if results.get("visibility"):
        lines += markdown_rows(results["visibility"])
    o = results.get("ocr")
    if o:
        lines.append(f"| OCR, scanned A4 pages ({o['dpi']} dpi, {o['languages']}, tesseract {o['tesseract']}) | "
                     f"{o['pages_read']} of {o['pages']} pages in {o['seconds']} s: {o['pages_per_minute']} pages/min"
                     f"{', error: ' + o['error'] if o['error'] else ''} | | measured |")
    b = results.get("browser")
    if b:
        lines.append(f"| browser captures per minute (a script-rendered page, behind the recording proxy, {b['browser']}) | "
                     f"{b['pages']} pages in {b['seconds']} s: {b['per_minute']} per minute ({b['outcomes']})"
                     f"{', error: ' + b['error'] if b['error'] else ''} | | measured |")
    web = results.get("web")
    if web:
        lines.append(f"| Datasette DB | {web['documents']} documents, {web['claims']} claims, {web['db_mib']} MiB | | |")
        for name, r in web["routes"].items():
            if r.get("absent"):
                lines.append(f"| {name} | route absent | | not measured |")
            else:
                lines.append(f"| {name} | p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms ({r['requests']} requests, HTTP {r['statuses']}) "
                             f"| p95 < 150 ms | {verdict('web_p95_ms', r['p95_ms'])} |")
        scans = web["queries_with_full_scans"]
        lines.append(f"| queries scanning a table | {', '.join(scans) or 'none'} | none | {'met' if not scans else 'missed'} |")
    return "\n".join(lines)


def plans_text(web: dict[str, Any]) -> str:
    out = []
    for name, p in web["plans"].items():
        out.append(f"{name}:\n  {p['sql']}\n  params {p['params']}")
        out += [f"    {ln}" for ln in p.get("plan", [])] or [f"    error: {p.get('error')}"]
    return "\n".join(out)
