"""Which web archives a witness asks: the defaults, ARCHIVE/witnesses.json, or --memento-archive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest.capture.memento import DEFAULT_ARCHIVES, ArchiveSpec, wayback
from ingest.errors import WitnessConfigError

CONFIG_NAME = "witnesses.json"
SUBMIT_INTERVAL = 10.0  # seconds between two submissions to one archive (Save Page Now asks for restraint)
_KEYS = {"name", "timemap", "raw", "submit", "timegate"}


def _template(file: str, where: str, value: Any) -> str:
    if not isinstance(value, str) or "{url}" not in value:
        raise WitnessConfigError(f"{file}: {where}: must be an http(s) URL holding {{url}}, not {value!r}"[:300])
    parts = urlsplit(value.replace("{url}", "x"))
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        raise WitnessConfigError(f"{file}: {where}: must be an http(s) URL with a host and no credentials, "
                                 f"not {value!r}"[:300])
    return value


def parse_config(data: str, file: str) -> tuple[list[ArchiveSpec], float]:
    """The archives and the submission interval a witnesses.json names; WitnessConfigError naming the key."""
    try:
        doc = json.loads(data)
    except json.JSONDecodeError as exc:
        raise WitnessConfigError(f"{file}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(doc, dict) or set(doc) - {"archives", "submit_interval"}:
        extra = sorted(set(doc) - {"archives", "submit_interval"}) if isinstance(doc, dict) else None
        raise WitnessConfigError(f"{file}: must be an object with \"archives\" (and \"submit_interval\")"
                                 + (f"; unknown key {extra[0]!r}" if extra else ""))
    items = doc.get("archives")
    if not isinstance(items, list) or not items:
        raise WitnessConfigError(f"{file}: archives: must be a non-empty list")
    specs, names = [], set()
    for n, item in enumerate(items):
        where = f"archives.{n}"
        if not isinstance(item, dict):
            raise WitnessConfigError(f"{file}: {where}: must be an object")
        if set(item) - _KEYS:
            raise WitnessConfigError(f"{file}: {where}: unknown key {sorted(set(item) - _KEYS)[0]!r} "
                                     f"(known: {', '.join(sorted(_KEYS))})")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100 or any(ord(c) < 32 for c in name):
            raise WitnessConfigError(f"{file}: {where}.name: must be a name of 1 to 100 printable characters")
        if name in names:
            raise WitnessConfigError(f"{file}: {where}.name: {name!r} names two archives")
        names.add(name)
        raw = item.get("raw")
        if raw is not None and raw != "id_":
            raise WitnessConfigError(f"{file}: {where}.raw: must be \"id_\" (Wayback-style raw replay) or null")
        submit, gate = item.get("submit"), item.get("timegate")
        specs.append(ArchiveSpec(name, _template(file, f"{where}.timemap", item.get("timemap")), raw,
                                 None if submit is None else _template(file, f"{where}.submit", submit),
                                 None if gate is None else _template(file, f"{where}.timegate", gate)))
    interval = doc.get("submit_interval", SUBMIT_INTERVAL)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 <= interval <= 3600:
        raise WitnessConfigError(f"{file}: submit_interval: must be a number of seconds from 0 to 3600")
    return specs, float(interval)


def configured(archive_root: Path, config: Path | None, bases: tuple[str, ...]) -> tuple[list[ArchiveSpec], float]:
    """--memento-archive bases when given, else the config file (--config, else ARCHIVE/witnesses.json
    when it exists), else the defaults."""
    path = config or (archive_root / CONFIG_NAME)
    specs, interval = list(DEFAULT_ARCHIVES), SUBMIT_INTERVAL
    if config is not None or path.is_file():
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise WitnessConfigError(f"{path}: cannot be read ({exc})") from None
        specs, interval = parse_config(text, str(path))
    if bases:
        try:
            specs = [wayback(b) for b in bases]
        except ValueError as exc:
            raise WitnessConfigError(str(exc)) from None
    return specs, interval
