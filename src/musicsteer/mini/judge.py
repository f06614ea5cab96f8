"""An audio judge for the mini models' quality gates: which genre does this audio sound like?

Features per clip, numpy only: the mean and standard deviation over time of log-mel
bands (timbre and register), and the autocorrelation of the onset-strength envelope at
lags up to two seconds (tempo and rhythm regularity). A standardised logistic regression
on them is the judge. It is trained per domain: a judge trained on original renders
scores decoded audio poorly (0.53 against 0.93 in the prototype), so each gate trains
its judge on audio from the domain it scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

N_MELS = 48
FRAME_S = 0.046  # ~2048 samples at 44.1 kHz: resolves a bass line's pitch
HOP_S = 0.023
MAX_LAG_S = 2.0  # a bar at 120 BPM: long enough for the backbeat and the swing


def _frames(wave: np.ndarray, frame: int, hop: int) -> np.ndarray:
    if len(wave) < frame:
        raise ValueError(f"clip of {len(wave)} samples is shorter than one {frame}-sample frame")
    count = 1 + (len(wave) - frame) // hop
    index = np.arange(frame)[None, :] + hop * np.arange(count)[:, None]
    return wave[index] * np.hanning(frame)[None, :]


def mel_filters(n_fft: int, sample_rate: int) -> np.ndarray:
    """Triangular filters, ``[n_fft // 2 + 1, N_MELS]``, evenly spaced on the mel scale."""
    mel = np.linspace(0.0, 2595.0 * np.log10(1.0 + (sample_rate / 2) / 700.0), N_MELS + 2)
    hz = 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    rising = (bins[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - bins[None, :]) / np.maximum(upper - centre, 1e-9)
    return np.clip(np.minimum(rising, falling), 0.0, None).T


def clip_features(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """One clip's feature vector: log-mel mean and std, and onset autocorrelation."""
    frame, hop = int(FRAME_S * sample_rate), int(HOP_S * sample_rate)
    power = np.abs(np.fft.rfft(_frames(np.asarray(wave, np.float64), frame, hop), axis=1)) ** 2
    log_mel = np.log(power @ mel_filters(frame, sample_rate) + 1e-10)  # [frames, mels]
    onset = np.maximum(np.diff(log_mel, axis=0), 0.0).sum(1)  # spectral flux
    onset = onset - onset.mean()
    lags = int(MAX_LAG_S / HOP_S)
    auto = np.correlate(onset, onset, mode="full")[len(onset) - 1 :][: lags + 1]
    auto = auto[1:] / max(auto[0], 1e-12)  # lag 0 is 1 by definition
    auto = np.pad(auto, (0, lags - len(auto)))  # clips shorter than the longest lag
    return np.concatenate([log_mel.mean(0), log_mel.std(0), auto]).astype(np.float32)


@dataclass
class Judge:
    """A fitted genre judge for clips of one length and sample rate."""

    model: Pipeline
    sample_rate: int
    labels: tuple[str, ...]

    def predict(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """The judged genre of each clip."""
        return self.model.predict(_features(waves, self.sample_rate))

    def probabilities(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """``[clips, labels]`` probabilities, columns in :attr:`labels` order."""
        return self.model.predict_proba(_features(waves, self.sample_rate))

    def accuracy(self, waves: Sequence[np.ndarray], labels: Sequence[str]) -> float:
        """The share of clips judged as their label."""
        return float(np.mean(self.predict(waves) == np.asarray(labels)))


def _features(waves: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
    return np.stack([clip_features(w, sample_rate) for w in waves])


def fit_judge(
    waves: Sequence[np.ndarray], labels: Sequence[str], sample_rate: int, l2: float = 1.0
) -> Judge:
    """Fit a judge on labelled clips (all from the domain it will score)."""
    names = tuple(sorted({str(x) for x in labels}))
    if len(names) < 2:
        raise ValueError(f"a judge needs at least two genres, got {names}")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0 / l2, max_iter=2000))
    model.fit(_features(waves, sample_rate), np.asarray(labels, dtype=str))
    return Judge(model, sample_rate, tuple(str(c) for c in model.classes_))
