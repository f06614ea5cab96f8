"""MIDI → audio with FluidSynth, in process: the engine every rendered corpus uses.

Rendering steps through the MIDI events itself and pulls audio from the synthesizer
between events (no audio driver). Audio comes out as 32-bit float
(``fluid_synth_write_float``), not through pyfluidsynth's ``get_samples`` (16-bit with
dither), so there is no dither noise and no 16-bit rounding before our own. Each call
uses a fresh ``Synth``: a reused one keeps reverb/chorus state and releasing voices
across ``system_reset``, so only a fresh one gives the same samples for the same input.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import mido
import numpy as np

if TYPE_CHECKING:
    import fluidsynth


DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


DEFAULT_GAIN = 0.45


INSTALL_HINT = "apt-get install fluidsynth timgm6mb-soundfont"


TICKS_PER_BEAT = 480


DRUM_CHANNEL = 9


PEAK_DBFS = -1.0


def find_soundfont(path: str | Path | None = None) -> Path:
    """Return the SoundFont to use: ``path``, else the Debian TimGM6mb one.

    Raises ``FileNotFoundError`` with the install command when the file is missing.
    """
    sf2 = Path(path) if path is not None else DEFAULT_SOUNDFONT
    if not sf2.is_file():
        raise FileNotFoundError(
            f"SoundFont not found: {sf2}. Install it with `{INSTALL_HINT}` "
            "(Debian/Ubuntu) or pass the path of a General MIDI .sf2 file."
        )
    return sf2


@functools.cache
def _float_writer() -> Callable[..., int]:
    """``fluid_synth_write_float`` from the libfluidsynth that pyfluidsynth loaded."""
    import fluidsynth

    func = ctypes.CDLL(fluidsynth.lib).fluid_synth_write_float
    func.argtypes = [ctypes.c_void_p, ctypes.c_int]
    func.argtypes += [ctypes.c_void_p, ctypes.c_int, ctypes.c_int] * 2
    func.restype = ctypes.c_int
    return func


@functools.cache
def _libgomp() -> ctypes.CDLL | None:
    """The OpenMP runtime libfluidsynth links against, if there is one."""
    name = ctypes.util.find_library("gomp")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def single_thread_openmp() -> None:
    """Make this thread's OpenMP regions single-threaded.

    libfluidsynth loads SoundFonts in an OpenMP parallel region. A libgomp thread pool
    does not survive ``fork()``: a forked worker then hangs in its first ``sfload``.
    Keeping OpenMP at one thread (before any load) keeps fork-based process pools safe.
    """
    lib = _libgomp()
    if lib is not None:
        lib.omp_set_num_threads(1)


def _new_synth(sample_rate: int, soundfont: Path, gain: float) -> fluidsynth.Synth:
    """A driverless Synth with ``soundfont`` loaded and presets assigned."""
    import fluidsynth

    single_thread_openmp()
    synth = fluidsynth.Synth(gain=gain, samplerate=sample_rate, **{"synth.lock-memory": 0})
    if synth.sfload(str(soundfont), 1) < 0:
        synth.delete()
        raise RuntimeError(f"FluidSynth could not load the SoundFont {soundfont}")
    return synth


def _pull(synth: fluidsynth.Synth, n: int) -> np.ndarray:
    """Render ``n`` frames; stereo averaged to mono float32."""
    buf = np.zeros(2 * n, dtype=np.float32)
    ptr = buf.ctypes.data
    if _float_writer()(synth.synth, n, ptr, 0, 2, ptr, 1, 2) != 0:
        raise RuntimeError("fluid_synth_write_float failed")
    return buf.reshape(n, 2).mean(axis=1, dtype=np.float32)


def _timed_messages(midi: mido.MidiFile, sample_rate: int) -> list[tuple[int, mido.Message]]:
    """Channel messages of ``midi`` with their start frame (tempo changes applied)."""
    out: list[tuple[int, mido.Message]] = []
    now = 0.0
    for msg in midi:  # merged tracks, delta times in seconds
        now += msg.time
        if not msg.is_meta:
            out.append((int(round(now * sample_rate)), msg))
    return out


def _dispatch(synth: fluidsynth.Synth, msg: mido.Message) -> None:
    """Send one MIDI channel message to the synthesizer."""
    kind = msg.type
    if kind == "note_on" and msg.velocity > 0:
        synth.noteon(msg.channel, msg.note, msg.velocity)
    elif kind in ("note_on", "note_off"):
        synth.noteoff(msg.channel, msg.note)
    elif kind == "program_change":
        synth.program_change(msg.channel, msg.program)
    elif kind == "control_change":
        synth.cc(msg.channel, msg.control, msg.value)
    elif kind == "pitchwheel":
        synth.pitch_bend(msg.channel, msg.pitch)


def _n_frames(midi: mido.MidiFile, sample_rate: int, seconds: float | None) -> int:
    """Output length: ``seconds`` if given, else the MIDI length (no release tail)."""
    if seconds is None:
        return int(midi.length * sample_rate)
    return int(round(seconds * sample_rate))


def _run(synth: fluidsynth.Synth, events: list[tuple[int, mido.Message]], total: int) -> np.ndarray:
    """Play ``events`` into ``synth`` and collect exactly ``total`` frames."""
    chunks: list[np.ndarray] = []
    cursor = 0
    for frame, msg in events:
        if frame >= total:
            break
        if frame > cursor:
            chunks.append(_pull(synth, frame - cursor))
            cursor = frame
        _dispatch(synth, msg)
    if total > cursor:
        chunks.append(_pull(synth, total - cursor))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def render_midi(
    midi: mido.MidiFile,
    sample_rate: int,
    soundfont: Path,
    gain: float = DEFAULT_GAIN,
    seconds: float | None = None,
) -> np.ndarray:
    """Render ``midi`` to float32 mono audio in [-1, 1].

    Without ``seconds`` the output is ``int(sample_rate × MIDI length)`` frames, as the
    SynTheory renderer writes (no release tail). With ``seconds`` it is exactly
    ``round(seconds × sample_rate)`` frames: cut, or continued (release tail) if the
    MIDI is shorter. Deterministic: same input, same samples.
    """
    total = _n_frames(midi, sample_rate, seconds)
    events = _timed_messages(midi, sample_rate)
    synth = _new_synth(sample_rate, Path(soundfont), gain)
    try:
        audio = _run(synth, events, total)
    finally:
        synth.delete()
    return np.clip(audio, -1.0, 1.0)


def peak_normalise(audio: np.ndarray, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Scale so that the absolute peak is ``peak_dbfs``; silence stays silence."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 0.0:
        return audio
    return (audio * (10.0 ** (peak_dbfs / 20.0) / peak)).astype(np.float32)
