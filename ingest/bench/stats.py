"""Repeated timings: runs interleaved with their baseline, min and median, ratios of minimums, unstable marks.

On a shared machine one timing says little: other processes come and go. So every timed phase
runs at least three times, its runs interleaved with its baseline's (A B A B A B: a burst of
load hits both sides alike rather than all of one), and a ratio is reported as the ratio of the
two minimums (the runs least disturbed). Each round's own ratio is kept too: when those disagree
by more than UNSTABLE (the largest over the smallest), the ratio is marked unstable, so a
figure that moved with the machine is not taken for one that moved with the code.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

UNSTABLE = 0.20  # rounds whose ratios differ by more than 20% make the ratio unstable


@dataclass(frozen=True)
class Series:
    """The timings of one phase, in the order they were taken (seconds, or any positive measure)."""

    values: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def summary(self, unit: str = "s", digits: int = 2) -> str:
        """"12.73 / 13.10 s (min / median of 3)"."""
        return f"{self.min:.{digits}f} / {self.median:.{digits}f} {unit} (min / median of {len(self.values)})"

    def as_json(self, digits: int = 3) -> dict[str, Any]:
        return {"runs": [round(v, digits) for v in self.values], "min": round(self.min, digits),
                "median": round(self.median, digits)}


@dataclass(frozen=True)
class Ratio:
    """A ratio from the minimums, with each round's own ratio to judge how stable it is."""

    value: float
    rounds: tuple[float, ...]

    @property
    def spread(self) -> float:
        """How far the rounds disagree: largest round over smallest, minus one (0.25 = 25%)."""
        low, high = min(self.rounds), max(self.rounds)
        return high / low - 1 if low > 0 else float("inf")

    @property
    def unstable(self) -> bool:
        return len(self.rounds) > 1 and self.spread > UNSTABLE

    def mark(self) -> str:
        """Nothing when stable, else "unstable: rounds disagree by 36%"."""
        return f"unstable: rounds disagree by {self.spread * 100:.0f}%" if self.unstable else ""

    def as_json(self, digits: int = 3) -> dict[str, Any]:
        return {"value": round(self.value, digits), "rounds": [round(r, digits) for r in self.rounds],
                "spread_pct": round(self.spread * 100, 1), "unstable": self.unstable}


def ratio(a: Series, b: Series) -> Ratio:
    """a over b: min(a) / min(b), and round i's a[i] / b[i] (the two were taken one after the other)."""
    return Ratio(a.min / b.min, tuple(x / y for x, y in zip(a.values, b.values, strict=True)))


def ratio_of_ratios(a: Series, b: Series, c: Series, d: Series) -> Ratio:
    """(a / b) over (c / d), from the minimums and round by round (e.g. ingest speedup over bare speedup)."""
    rounds = tuple((w / x) / (y / z) for w, x, y, z in zip(a.values, b.values, c.values, d.values, strict=True))
    return Ratio((a.min / b.min) / (c.min / d.min), rounds)


def interleave(phases: Sequence[tuple[str, Callable[[int], float]]], repeats: int,
               say: Callable[[str], None] = lambda s: None) -> dict[str, Series]:
    """Run every phase once per round, in the given order, `repeats` rounds; each call returns its measure.

    The phase is told its round number (0-based), e.g. to use a fresh archive each time.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    taken: dict[str, list[float]] = {name: [] for name, _ in phases}
    for n in range(repeats):
        for name, fn in phases:
            say(f"  round {n + 1}/{repeats}: {name} ...")
            taken[name].append(fn(n))
    return {name: Series(tuple(values)) for name, values in taken.items()}


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]
