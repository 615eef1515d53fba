"""The exceptions Khronika raises; the CLI turns each into a message and an exit code.

    KhronikaError
    ├── CaseFileError      one problem in a case file (file, line, key path)
    ├── CaseFileErrors     every problem found in one case file
    ├── FetchFailed        a source could not be captured (outcome: gone, unreachable, refused, failed)
    ├── ExtractionFailed   an extractor failed, timed out or hit a resource limit
    ├── StoreError         archived bytes could not be written (disk full, I/O error)
    ├── WitnessConfigError the witness archives' configuration is invalid (file and key path)
    └── ArchiveError       a folder is not an archive, or is damaged
        └── ArchiveLocked  another process holds the archive's lock
"""

from __future__ import annotations


class KhronikaError(Exception):
    """Base class of every error Khronika reports to a user."""


class CaseFileError(KhronikaError):
    """A case file is invalid; the message names file, line and key path."""

    def __init__(self, file: str, line: int | None, path: str, message: str) -> None:
        self.file = file
        self.line = line
        self.path = path
        self.message = message
        where = f"{file}:{line}" if line else file
        key = f" {path}:" if path else ""
        super().__init__(f"{where}:{key} {message}")


class CaseFileErrors(KhronikaError):
    """All the problems found in one case file, one line each."""

    def __init__(self, errors: list[CaseFileError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class FetchFailed(KhronikaError):
    """A fetch did not produce a capture. `outcome` is gone, unreachable, refused or failed."""

    def __init__(self, outcome: str, reason: str, hops: list | None = None) -> None:
        self.outcome = outcome
        self.reason = reason
        self.hops = hops or []
        super().__init__(f"{outcome}: {reason}")


class ExtractionFailed(KhronikaError):
    """Extraction produced no usable text, crashed, or hit a resource limit."""


class StoreError(KhronikaError):
    """Archived bytes could not be written; nothing already archived was touched."""


class WitnessConfigError(KhronikaError):
    """The configuration of the archives a witness asks is invalid; the message names file and key."""


class ArchiveError(KhronikaError):
    """A folder is not a Khronika archive, or the archive is damaged."""


class ArchiveLocked(ArchiveError):
    """Another process is writing to the archive."""
