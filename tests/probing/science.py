from __future__ import annotations

import pandas as pd


def chords_manifest(programs=(73, 40, 13), roots=range(12)) -> pd.DataFrame:
    """The SynTheory chords manifest of some instruments (no audio: task building only)."""
    from musicsteer.corpora.syntheory import (
        GM_PROGRAM_NAMES,
        INVERSIONS,
        PITCH_CLASS_NAMES,
        QUALITIES,
    )

    rows = [
        {
            "clip_id": f"{r}_{q}_{i}_{p}",
            "concept": "chords",
            "label": q,
            "program": p,
            "instrument": GM_PROGRAM_NAMES[p],
            "root": PITCH_CLASS_NAMES[r],
            "root_pc": r,
            "quality": q,
            "inversion": i,
        }
        for r in roots
        for q in QUALITIES
        for i in INVERSIONS
        for p in programs
    ]
    return pd.DataFrame(rows)
