"""The walkthrough in examples/ runs as a script on the shipped mini models."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from musicsteer.steering.vector import SteeringVector
from tests.corpora.syntheory_helpers import needs_soundfont

REPO = Path(__file__).resolve().parents[1]


@needs_soundfont
def test_the_notebook_walkthrough_steers_rock_towards_pop(tmp_path):
    done = subprocess.run(
        [sys.executable, "examples/steer_in_a_notebook.py", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "p_target_vs_alpha.png").stat().st_size > 10_000
    vector = SteeringVector.load(tmp_path / "rock_to_pop.npz")
    assert vector.model == "mini-musicgen" and vector.site == "resid"
    line = next(x for x in done.stdout.splitlines() if x.startswith("P(pop) by alpha:"))
    p_pop = ast.literal_eval(line.split(":", 1)[1].strip())
    assert p_pop[0.3] > p_pop[0.0] + 0.2, p_pop  # the walkthrough's point: it steers
