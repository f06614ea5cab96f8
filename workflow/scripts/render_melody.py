"""The instrument-transfer melody: rendered with FluidSynth, or a given audio file (rule render_melody)."""

from musicsteer.audio import MUSICGEN_SAMPLE_RATE as SAMPLE_RATE
from musicsteer.audio import is_audio_path, load, write_wav
from musicsteer.corpora.syntheory import resolve_program
from musicsteer.logs import job_log
from musicsteer.render.melody import render_melody

p = snakemake.params
with job_log(snakemake.log, snakemake.threads) as log:
    if is_audio_path(p.melody):
        wave = load(p.melody, SAMPLE_RATE)
        log.info("melody from %s", p.melody)
    else:
        program = resolve_program(p.program)
        wave = render_melody(p.melody, program, p.tempo, SAMPLE_RATE, p.soundfont)
        log.info("rendered %r on GM program %d at %g BPM", p.melody, program, p.tempo)
    write_wav(snakemake.output.melody, wave, SAMPLE_RATE)
    log.info("%.1f s of melody", len(wave) / SAMPLE_RATE)
