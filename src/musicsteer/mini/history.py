"""Loss curves of the mini models' training runs: kept per step, logged, saved, plotted."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class History:
    """Per-step values of one training run (for the log, the figure and the manifest)."""

    rows: list[dict[str, float]] = field(default_factory=list)

    def add(self, **values: float) -> None:
        """Record one step's values."""
        self.rows.append(values)

    def frame(self) -> pd.DataFrame:
        """The history as a table, one row per step."""
        return pd.DataFrame(self.rows)

    def final(self, key: str = "loss", last: int = 20) -> float:
        """Mean of ``key`` over the last ``last`` steps (one step is too noisy to report)."""
        values = [r[key] for r in self.rows[-last:]]
        if not values:
            raise ValueError("the history is empty")
        return float(sum(values) / len(values))

    def save(self, path: str | Path) -> None:
        """Write the history as CSV."""
        self.frame().to_csv(path, index=False)

    def curve(self, points: int = 10, key: str = "loss") -> str:
        """The loss at ``points`` evenly spaced steps, smoothed over its neighbours (for logs)."""
        values = self.frame()[key]
        window = max(1, len(values) // (2 * points))
        smooth = values.rolling(window, min_periods=1).mean()
        picks = sorted({int(i) for i in np.linspace(0, len(values) - 1, points)})
        return ", ".join(f"{i}: {smooth.iloc[i]:.3f}" for i in picks)
