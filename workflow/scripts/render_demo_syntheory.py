"""Render a small SynTheory subset: notes of octave 4 and chords on C (rule render_demo_syntheory)."""

from pathlib import Path

import pandas as pd

from musicsteer.data import write_table
from musicsteer.logs import job_log
from musicsteer.syntheory import chord_items, note_items, render_items

p = snakemake.params
out = Path(snakemake.output[0])
with job_log(snakemake.log) as log:
    items = note_items(programs=p.programs, midi_notes=range(48, 60)) + chord_items(
        programs=p.programs, roots=["C"]
    )
    manifest = render_items(items, out.parent, soundfont=p.soundfont, threads=snakemake.threads)
    write_table(pd.DataFrame(manifest), out)
    log.info("rendered %d SynTheory clips (%d silent)", len(manifest), int(manifest.silent.sum()))
