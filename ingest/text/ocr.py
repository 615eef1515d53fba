"""OCR with Tesseract: text for image sources and for PDF pages that have no text layer.

An OCR extraction is an Extraction of its own (``extractor="tesseract"``), recorded beside the
PDF's text-layer extraction, never merged into it: a quote found in it is a quote *read by a
machine from a picture*, and the claim page says so. Its ``text`` has one part per page of the
document joined by the page separator (U+000C), like a pypdf extraction; pages that had a text
layer are left empty here (their text is in the pypdf extraction), and ``pages`` says which
pages were OCR'd (``has_text``). Every option is recorded: Tesseract's version and the
Leptonica it uses, the languages and the BLAKE3 of each language file, the page segmentation
mode, the resolution and the rasteriser.

PDF pages are rasterised with poppler's ``pdftoppm`` rather than by taking a page's embedded
image out with pypdf: a rendered page is what a reader sees (crop box, rotation, masks, several
images or vector text on one page), at one known resolution, and poppler decodes the scanners'
formats (JBIG2, CCITT) that pypdf's image export does not always handle.

Both tools run as child processes of the sandboxed extraction worker (``ingest.text.workers``):
they inherit its memory and CPU limits and its process group (the parent kills the group when a
job outlives its wall-clock limit), die with the worker (PR_SET_PDEATHSIG), and each page has a
timeout of its own. OpenMP is held to one thread: the result must not depend on the machine.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import blake3

from ingest.text.blocks import text_blocks
from ingest.text.extraction import IMAGE_TYPES, PAGE_SEPARATOR, Extraction, PageSpan, text_hash

LANGUAGES = ("rus", "eng")  # Tesseract tries them in this order; Russian court papers come first
DPI = 300  # rasterising resolution for PDF pages: Tesseract's own recommendation for print
PSM = 3  # page segmentation: fully automatic, no orientation detection
MAX_PAGES = 500  # pages OCR'd in one document; the rest are recorded as skipped
PAGE_TIMEOUT = 120.0  # seconds one page may take to rasterise or to read
OCR_DISABLED = "OCR disabled (run --no-ocr)"
__all__ = ["IMAGE_TYPES", "OCR_DISABLED", "OcrUnavailable", "PageFailed", "ocr_image", "ocr_pdf", "render_page"]
INSTALL = "apt-get install tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng"
_ENV = {"OMP_THREAD_LIMIT": "1", "LC_ALL": "C"}


class OcrUnavailable(Exception):
    """Tesseract, its language data or pdftoppm is not installed: nothing can be OCR'd."""


def _tool_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "TESSDATA_PREFIX", "HOME")}
    env.update(_ENV)
    return env


def _run(args: list[str], timeout: float, in_worker: bool = True) -> subprocess.CompletedProcess[bytes]:
    die = in_worker and sys.platform.startswith("linux")  # a worker is single-threaded: preexec_fn is safe
    return subprocess.run(args, capture_output=True, timeout=timeout, env=_tool_env(),
                          preexec_fn=_die_with_worker if die else None)


def _die_with_worker() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@functools.cache
def tesseract_info() -> dict[str, Any]:
    """What Tesseract is installed: version, Leptonica, language files. Raises OcrUnavailable."""
    try:
        version = _run(["tesseract", "--version"], 30)
        langs = _run(["tesseract", "--list-langs"], 30)
    except FileNotFoundError:
        raise OcrUnavailable(f"tesseract is not installed (on Debian: {INSTALL})") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise OcrUnavailable(f"tesseract cannot be run: {exc}") from None
    lines = (version.stdout or version.stderr).decode("utf-8", "replace").splitlines()
    m = re.match(r"tesseract\s+(\S+)", lines[0] if lines else "")
    if version.returncode != 0 or m is None:
        raise OcrUnavailable("tesseract --version gave no version")
    listing = langs.stdout.decode("utf-8", "replace").splitlines()
    folder = re.search(r'"([^"]+)"', listing[0]) if listing else None
    have = {line.strip() for line in listing[1:]}
    missing = [lang for lang in LANGUAGES if lang not in have]
    if missing or folder is None:
        packages = " ".join(f"tesseract-ocr-{lang}" for lang in missing or LANGUAGES)
        raise OcrUnavailable(f"Tesseract language data missing: {', '.join(missing or LANGUAGES)} "
                             f"(on Debian: apt-get install {packages})")
    data: dict[str, dict[str, Any]] = {}
    for lang in LANGUAGES:
        path = Path(folder.group(1)) / f"{lang}.traineddata"
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise OcrUnavailable(f"Tesseract language data {lang} unreadable: {exc.strerror}") from None
        data[lang] = {"blake3": blake3.blake3(raw).hexdigest(), "size": len(raw)}
    leptonica = next((x.strip() for x in lines[1:] if x.strip().startswith("leptonica")), None)
    return {"version": m.group(1), "leptonica": leptonica, "language_data": data}


def tesseract_version() -> str:
    """The installed Tesseract's version, "" when it cannot be used."""
    try:
        return tesseract_info()["version"]
    except OcrUnavailable:
        return ""


@functools.cache
def pdftoppm_version() -> str:
    try:
        out = _run(["pdftoppm", "-v"], 30)
    except FileNotFoundError:
        raise OcrUnavailable("pdftoppm is not installed (on Debian: apt-get install poppler-utils)") from None
    m = re.search(rb"pdftoppm version (\S+)", out.stdout + out.stderr)
    return f"pdftoppm {m.group(1).decode()}" if m else "pdftoppm (version unknown)"


def options(kind: str) -> dict[str, Any]:
    """The options an OCR extraction of `kind` ("pdf" or "image") runs with, as recorded."""
    try:
        info = tesseract_info()
    except OcrUnavailable:
        info = {"leptonica": None, "language_data": {}}
    opts: dict[str, Any] = {
        "languages": "+".join(LANGUAGES), "psm": PSM, "oem": "default (LSTM)",
        "leptonica": info["leptonica"], "language_data": info["language_data"],
        "page_separator": PAGE_SEPARATOR, "omp_thread_limit": 1,
    }
    if kind == "pdf":
        opts.update(dpi=DPI, rasteriser=_rasteriser(), colour="gray", max_pages=MAX_PAGES)
    else:
        opts.update(dpi="the image's own, else estimated by Tesseract", rasteriser=None)
    return opts


def _rasteriser() -> str | None:
    try:
        return pdftoppm_version()
    except OcrUnavailable:
        return None


def failed(error: str, kind: str = "image", **metadata: Any) -> Extraction:
    return Extraction(extractor="tesseract", extractor_version=tesseract_version(), options=options(kind),
                      text=None, text_blake3=None, metadata=dict(metadata), error=error)


def disabled() -> Extraction:
    """What a run with --no-ocr records for a document that only OCR could read."""
    return Extraction(extractor="tesseract", extractor_version="", options={}, text=None,
                      text_blake3=None, metadata={"ocr": "disabled"}, error=OCR_DISABLED)


def _tesseract(image: Path, out: Path, timeout: float, dpi: int | None) -> tuple[list[str], dict[str, Any]]:
    """Tesseract on one image file: (text of each page in it, what it said about them)."""
    args = ["tesseract", str(image), str(out), "-l", "+".join(LANGUAGES), "--psm", str(PSM)]
    if dpi is not None:
        args += ["--dpi", str(dpi)]
    args += ["-c", f"page_separator={PAGE_SEPARATOR}", "txt", "tsv"]
    try:
        done = _run(args, timeout)
    except FileNotFoundError:
        raise OcrUnavailable(f"tesseract is not installed (on Debian: {INSTALL})") from None
    except subprocess.TimeoutExpired:
        raise PageFailed(f"tesseract timed out after {timeout:g} s") from None
    if done.returncode != 0:
        raise PageFailed(_tool_failure("tesseract", done))
    text = out.with_suffix(".txt").read_text("utf-8", errors="replace")
    tsv = out.with_suffix(".tsv").read_text("utf-8", errors="replace")
    stderr = done.stderr.decode("utf-8", "replace")
    return text.split(PAGE_SEPARATOR), {"confidence": _confidence(tsv), "estimated_dpi": [
        int(x) for x in re.findall(r"Estimating resolution as (\d+)", stderr)]}


class PageFailed(Exception):
    pass


def _tool_failure(name: str, done: subprocess.CompletedProcess[bytes]) -> str:
    if done.returncode < 0:
        sig = -done.returncode
        what = "CPU limit" if sig == signal.SIGXCPU else signal.Signals(sig).name if sig in signal.valid_signals() else sig
        return f"{name} killed ({what})"
    last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    return f"{name} exited with status {done.returncode}: {last[0][:200]}"


def _confidence(tsv: str) -> dict[int, dict[str, Any]]:
    """Per page (1-based within the image): word count and Tesseract's mean word confidence."""
    pages: dict[int, list[float]] = {}
    for line in tsv.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) >= 12 and cols[0] == "5" and cols[11].strip():
            try:
                conf = float(cols[10])
            except ValueError:
                continue
            if conf >= 0:
                pages.setdefault(int(cols[1]), []).append(conf)
    return {p: {"words": len(c), "mean_confidence": round(sum(c) / len(c), 1)} for p, c in pages.items()}


def _clean(page: str) -> str:
    # Tesseract ends a page with a newline; keep its text otherwise as it came, so the offsets
    # of a quote are offsets in exactly what Tesseract read.
    return page.rstrip("\n")


def _extraction(kind: str, texts: list[str], ocred: list[int], meta: dict[str, Any]) -> Extraction:
    spans: list[PageSpan] = []
    offset = 0
    for i, t in enumerate(texts):
        if i:
            offset += len(PAGE_SEPARATOR)
        spans.append(PageSpan(i + 1, None, offset, offset + len(t), (i + 1) in ocred and bool(t.strip())))
        offset += len(t)
    text = PAGE_SEPARATOR.join(texts)
    info = tesseract_info()
    result = Extraction(extractor="tesseract", extractor_version=info["version"], options=options(kind),
                        text=text, text_blake3=text_hash(text), page_count=len(texts), pages=spans,
                        has_text_layer=False, metadata=meta,
                        blocks=text_blocks(text))  # Tesseract ends a paragraph with a blank line
    if not any(s.has_text for s in spans):
        meta["ocr_text"] = "none"
    return result


def ocr_image(data: bytes, media_type: str) -> Extraction:
    """OCR an archived image (every frame of a multi-page TIFF)."""
    try:
        tesseract_info()
        with tempfile.TemporaryDirectory(prefix="khronika-ocr-") as tmp:
            image = Path(tmp) / ("in." + media_type.rsplit("/", 1)[-1])
            image.write_bytes(data)
            try:
                pages, said = _tesseract(image, Path(tmp) / "out", PAGE_TIMEOUT, None)
            except PageFailed as exc:
                return failed(f"OCR failed: {exc}", "image")
    except OcrUnavailable as exc:
        return failed(str(exc), "image")
    texts = [_clean(p) for p in pages]
    meta: dict[str, Any] = {"ocr_pages": list(range(1, len(texts) + 1)), "page_results": [
        {"page": n, **said["confidence"].get(n, {"words": 0, "mean_confidence": None}),
         "dpi": said["estimated_dpi"][n - 1] if len(said["estimated_dpi"]) >= n else "from the image"}
        for n in range(1, len(texts) + 1)]}
    return _extraction("image", texts, meta["ocr_pages"], meta)


def ocr_pdf(data: bytes, pages: list[PageSpan]) -> Extraction:
    """OCR the pages of a PDF that have no text layer (`pages`: its pypdf extraction's spans)."""
    todo = [s.number for s in pages if not s.has_text]
    skipped = todo[MAX_PAGES:]
    todo = todo[:MAX_PAGES]
    texts = [""] * len(pages)
    meta: dict[str, Any] = {"ocr_pages": todo, "page_results": []}
    if skipped:
        meta["pages_not_ocred"] = {"count": len(skipped), "reason": f"more than {MAX_PAGES} pages without text"}
    errors: dict[str, str] = {}
    try:
        tesseract_info()
        pdftoppm_version()
        with tempfile.TemporaryDirectory(prefix="khronika-ocr-") as tmp:
            pdf = Path(tmp) / "in.pdf"
            pdf.write_bytes(data)
            for n in todo:
                try:
                    image = _rasterise(pdf, n, Path(tmp))
                    got, said = _tesseract(image, Path(tmp) / f"out-{n}", PAGE_TIMEOUT, DPI)
                    image.unlink()
                except PageFailed as exc:
                    errors[str(n)] = str(exc)
                    continue
                texts[n - 1] = _clean(got[0]) if got else ""
                meta["page_results"].append({"page": n, "dpi": DPI,
                                             **said["confidence"].get(1, {"words": 0, "mean_confidence": None})})
    except OcrUnavailable as exc:
        return failed(str(exc), "pdf")
    if errors:
        meta["page_errors"] = errors
    if todo and len(errors) == len(todo):
        return failed(f"OCR failed on every page without text ({next(iter(errors.values()))})", "pdf",
                      page_errors=errors)
    return _extraction("pdf", texts, [n for n in todo if str(n) not in errors], meta)


def _rasterise(pdf: Path, n: int, folder: Path) -> Path:
    stem = folder / f"page-{n}"
    try:
        done = _run(["pdftoppm", "-r", str(DPI), "-gray", "-f", str(n), "-l", str(n), "-singlefile",
                     str(pdf), str(stem)], PAGE_TIMEOUT)
    except FileNotFoundError:
        raise OcrUnavailable("pdftoppm is not installed (on Debian: apt-get install poppler-utils)") from None
    except subprocess.TimeoutExpired:
        raise PageFailed(f"pdftoppm timed out after {PAGE_TIMEOUT:g} s") from None
    image = stem.with_suffix(".pgm")
    if done.returncode != 0 or not image.is_file():
        raise PageFailed(_tool_failure("pdftoppm", done))
    return image


def render_page(data: bytes, n: int, side: int, timeout: float = 60.0) -> bytes:
    """Page `n` of a PDF as a gray PNG `side` pixels on its long side (for the page-image link).

    Runs in the web server, where threads make a preexec_fn unsafe: the size cap bounds memory."""
    with tempfile.TemporaryDirectory(prefix="khronika-page-") as tmp:
        pdf = Path(tmp) / "in.pdf"
        pdf.write_bytes(data)
        stem = Path(tmp) / "page"
        try:
            done = _run(["pdftoppm", "-scale-to", str(side), "-gray", "-png", "-f", str(n), "-l", str(n),
                         "-singlefile", str(pdf), str(stem)], timeout, in_worker=False)
        except FileNotFoundError:
            raise OcrUnavailable("pdftoppm is not installed (on Debian: apt-get install poppler-utils)") from None
        except subprocess.TimeoutExpired:
            raise PageFailed(f"pdftoppm timed out after {timeout:g} s") from None
        png = stem.with_suffix(".png")
        if done.returncode != 0 or not png.is_file():
            raise PageFailed(_tool_failure("pdftoppm", done))
        return png.read_bytes()
