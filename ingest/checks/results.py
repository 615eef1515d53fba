"""What a check says: one state of a few, with a reason (Check), and a run's findings together (Report)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

OK, MISMATCH, MISSING, UNVERIFIABLE, DRIFT = "ok", "mismatch", "missing", "unverifiable", "drift"
STATES = (OK, MISMATCH, MISSING, UNVERIFIABLE, DRIFT)


@dataclass(frozen=True)
class Check:
    check: str  # fixity | reproducibility | quote | visibility | log | head | timestamp | live
    subject: str
    state: str
    detail: str
    finding: str | None = None  # live checks only

    def as_json(self) -> dict[str, Any]:
        out = {"check": self.check, "subject": self.subject, "state": self.state}
        if self.finding is not None:
            out["finding"] = self.finding
        out["detail"] = self.detail
        return out


@dataclass
class Report:
    checks: list[Check]
    gaps: list[str]
    warnings: list[Any] = field(default_factory=list)  # consistency findings: shown, never in the exit code
    trusted_time: str = ""  # what the checked timestamps prove about the log
    ots: list[str] = field(default_factory=list)  # what OpenTimestamps proofs say (never counted as checked)
    witnesses: list[str] = field(default_factory=list)  # what other web archives hold (never in the exit code)
    witness_states: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        c = Counter(ch.state for ch in self.checks)
        return {s: c.get(s, 0) for s in STATES}

    def exit_code(self) -> int:
        counts = self.counts()
        # Precedence: 1 mismatch or missing > 4 unverifiable > 3 drift > 0; the counts name every category.
        if counts[MISMATCH] or counts[MISSING]:
            return 1
        if counts[UNVERIFIABLE]:
            return 4
        if counts[DRIFT]:
            return 3
        return 0

    def findings(self) -> dict[str, int]:
        """Drift results by what was found (quote_changed, page_gone, ...)."""
        c = Counter(ch.finding for ch in self.checks if ch.finding and ch.state != OK)
        return dict(sorted(c.items()))

    def as_json(self) -> dict[str, Any]:
        return {"counts": self.counts(), "checks": [c.as_json() for c in self.checks],
                "warnings": [w.as_json() for w in self.warnings], "trusted_time": self.trusted_time,
                "opentimestamps": self.ots, **({"witnesses": self.witness_states} if self.witness_states else {})}
