"""Figures for probing results, with one consistent look.

Every ``plot_*`` function writes the figure to ``out_png`` and, when that path
ends in ``.png``, a vector ``.pdf`` copy next to it (same stem). It returns the
list of written paths.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from musicsteer.steering.grid import VARIANT_KEYS  # noqa: E402

_DPI = 150


_PANEL_SIZE = (5.0, 3.6)  # inches per panel


# Any keys: recent matplotlib stubs type rc_context's keys as a Literal of rc names.
_RC: dict[Any, Any] = {
    "figure.figsize": _PANEL_SIZE,
    "figure.dpi": _DPI,
    "savefig.dpi": _DPI,
    "figure.constrained_layout.use": True,  # like tight_layout, but also handles colour bars
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@contextmanager
def _style() -> Iterator[None]:
    """Apply the shared rc settings for the figures drawn inside the block."""
    with plt.rc_context(_RC):
        yield


def _panels(n: int, title: str) -> tuple[Figure, np.ndarray]:
    """A row of ``n`` equally sized panels with an optional overall title."""
    fig, axes = plt.subplots(1, n, figsize=(_PANEL_SIZE[0] * n, _PANEL_SIZE[1]), squeeze=False)
    if title:
        fig.suptitle(title)
    return fig, axes[0]


def _save(fig: Figure, out_png: str | Path) -> list[Path]:
    """Write ``fig`` (plus a PDF twin for ``.png`` paths) and close it."""
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out]
    if out.suffix.lower() == ".png":
        paths.append(out.with_suffix(".pdf"))
    for path in paths:
        fig.savefig(path)
    plt.close(fig)
    return paths


def _require_columns(df: pd.DataFrame, columns: list[str]) -> None:
    """Raise a readable error when ``df`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"missing columns {missing}; got {list(df.columns)}")


def _integer_xticks(ax: plt.Axes) -> None:
    """Layer indices are integers: never show fractional ticks."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_clustering(df: pd.DataFrame, out_png: str | Path, title: str = "") -> list[Path]:
    """ARI and NMI of KMeans clusters vs. labels per layer index, one line per site.

    Args:
        df: columns ``site, index, ari, nmi``.
        out_png: output path (``.png`` also gets a ``.pdf`` twin).
        title: overall figure title.
    """
    _require_columns(df, ["site", "layer", "ari", "nmi"])
    with _style():
        fig, axes = _panels(2, title)
        for ax, metric, label in zip(axes, ("ari", "nmi"), ("ARI", "NMI"), strict=True):
            for site, rows in df.sort_values("layer").groupby("site", sort=True):
                ax.plot(rows["layer"], rows[metric], marker="o", markersize=3, label=str(site))
            ax.set(xlabel="layer index", ylabel=label, title=f"{label} per layer")
            _integer_xticks(ax)
            ax.legend(title="site")
        return _save(fig, out_png)


def plot_probe_accuracy(
    df: pd.DataFrame, out_png: str | Path, chance: float = 0.5, title: str = ""
) -> list[Path]:
    """Held-out probe accuracy per layer index: one panel per site, one line per method.

    Args:
        df: columns ``site, index, method, accuracy``.
        out_png: output path (``.png`` also gets a ``.pdf`` twin).
        chance: accuracy of guessing, drawn as a dashed line.
        title: overall figure title.
    """
    _require_columns(df, ["site", "layer", "method", "accuracy"])
    sites = list(pd.unique(df["site"]))  # keep the caller's site order
    with _style():
        fig, axes = _panels(max(len(sites), 1), title)
        for ax, site in zip(axes, sites, strict=False):
            rows = df[df["site"] == site].sort_values("layer")
            for method, part in rows.groupby("method", sort=True):
                ax.plot(part["layer"], part["accuracy"], marker="o", markersize=3, label=method)
            ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
            ax.set(xlabel="layer index", ylabel="held-out accuracy", title=f"site: {site}")
            ax.set_ylim(min(chance, float(rows["accuracy"].min())) - 0.05, 1.02)
            _integer_xticks(ax)
            ax.legend(title="method")
        return _save(fig, out_png)


def plot_task_accuracy(probes: pd.DataFrame, out_png: str | Path, title: str = "") -> list[Path]:
    """A task's probe accuracy per layer, against its chance level.

    Multi-class tasks show the all-class argmax accuracy (chance 1/k); binary tasks,
    and the per-class probes of one-vs-rest tasks, the mean over classes (chance 1/2).
    """
    classes = [c for c in probes.positive.unique() if c != "__all__"]
    if "__all__" in set(probes.positive):
        return plot_probe_accuracy(
            probes[probes.positive == "__all__"], out_png, 1 / len(classes), title
        )
    keys = ["site", "layer", "method"]
    mean = probes.groupby(keys, as_index=False).accuracy.mean()
    return plot_probe_accuracy(cast(pd.DataFrame, mean), out_png, 0.5, title)


def _annotation_colour(value: float) -> str:
    """Readable text colour on ``viridis`` over [0, 1] (dark cells get white text)."""
    return "white" if value < 0.6 else "black"


def plot_jaccard(matrix: pd.DataFrame, out_png: str | Path, title: str = "") -> list[Path]:
    """Heatmap of a label × cluster Jaccard matrix, with a colour bar and values.

    Args:
        matrix: rows = true labels, columns = clusters (see
            :func:`musicsteer.probing.jaccard_matrix`).
        out_png: output path (``.png`` also gets a ``.pdf`` twin).
        title: axes title.
    """
    values = matrix.to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    with _style(), plt.rc_context({"axes.grid": False}):
        size = (max(4.0, 0.6 * n_cols + 2.5), max(3.2, 0.5 * n_rows + 1.8))
        fig, ax = plt.subplots(figsize=size)
        image = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        fig.colorbar(image, ax=ax, label="Jaccard index")
        for (i, j), value in np.ndenumerate(values):
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color=_annotation_colour(value),
            )
        ax.set_xticks(range(n_cols), [str(c) for c in matrix.columns], rotation=45, ha="right")
        ax.set_yticks(range(n_rows), [str(r) for r in matrix.index])
        ax.set(xlabel="cluster (Hungarian-matched)", ylabel="true label")
        ax.set_title(title or "label vs. cluster Jaccard")
        return _save(fig, out_png)


_METHOD_COLORS = {"dim": "tab:blue", "bce": "tab:orange", "mse": "tab:green"}


_SITE_STYLES = {"resid": "-", "attn": "--"}


def plot_alpha_sweep(
    sweep: pd.DataFrame,
    out_png: str | Path,
    source: str | None = None,
    label_set: str = "pair",
    title: str = "",
    headline: Mapping[str, str] | None = None,
) -> list[Path]:
    """Steering strength sweep, written by :func:`alpha_sweep_figure`."""
    with _style():
        return _save(alpha_sweep_figure(sweep, source, label_set, title, headline), out_png)


def alpha_sweep_figure(
    sweep: pd.DataFrame,
    source: str | None = None,
    label_set: str = "pair",
    title: str = "",
    headline: Mapping[str, str] | None = None,
) -> Figure:
    """Gain, steered source score and preservation against α, with 95 % CI bands.

    With a ``headline`` setting (site, method, layers) present in the sweep, the top row
    shows it alone, one panel per target's gain, the source score (when ``source``) and
    the preservation; below, one small panel per setting shows its gains towards each
    target on a shared y axis, the headline's panel framed. Without one, every setting
    is overlaid in one row (colour = method, line style = site, marker = layer choice).
    Every line drawn has its legend entry.
    """
    targets = sorted(set(sweep.target))
    panels = [("gain", t) for t in targets] + ([("steered", source)] if source else [])
    panels.append(("preservation", ""))
    settings = sorted(set(sweep[list(VARIANT_KEYS)].astype(str).itertuples(index=False, name=None)))
    key = tuple(str(headline[k]) for k in VARIANT_KEYS) if headline else None
    if key not in settings:
        fig, axes = _panels(len(panels), title)
        for ax, (metric, label) in zip(axes, panels, strict=True):
            _sweep_panel(ax, sweep, metric, label, label_set, len(targets) > 1)
        _legend(fig, list(axes))
        return fig
    columns = max(len(panels), min(6, len(settings)))
    rows = 1 + -(-len(settings) // columns)
    fig = plt.figure(figsize=(3.4 * columns, 2.9 * rows))
    if title:
        fig.suptitle(title)
    grid = fig.add_gridspec(rows, columns)
    chosen = sweep[(sweep[list(VARIANT_KEYS)].astype(str) == list(key)).all(axis=1)]
    top = [fig.add_subplot(grid[0, i]) for i in range(len(panels))]
    for ax, (metric, label) in zip(top, panels, strict=True):
        _sweep_panel(ax, chosen, metric, label, label_set, len(targets) > 1, width=2.2)
        ax.set_title(f"headline: {' · '.join(key)}", fontsize=9)
    small = _setting_multiples(fig, grid, sweep, settings, targets, label_set, key)
    _legend(fig, [*top, *small])
    return fig


def _setting_multiples(
    fig: Figure,
    grid: Any,
    sweep: pd.DataFrame,
    settings: Sequence[tuple[str, ...]],
    targets: Sequence[str],
    label_set: str,
    headline: tuple[str, ...],
) -> list[Any]:
    """One small panel per setting: its gain towards each target against α."""
    columns = grid.ncols
    gains = sweep[(sweep.metric == "gain") & (sweep.label_set == label_set)]
    gains = gains[gains.label == gains.target]
    colours = dict(zip(targets, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    axes: list[Any] = []
    for i, setting in enumerate(settings):
        ax = fig.add_subplot(grid[1 + i // columns, i % columns], sharey=axes[0] if axes else None)
        mine = gains[(gains[list(VARIANT_KEYS)].astype(str) == list(setting)).all(axis=1)]
        for target, line in mine.groupby("target", sort=True):
            line = line.sort_values("alpha")
            colour = colours.get(cast(str, target))
            ax.plot(line.alpha, line["mean"], "-o", color=colour, markersize=3, label=f"→ {target}")
            ax.fill_between(line.alpha, line.ci_low, line.ci_high, color=colour, alpha=0.15)
        ax.axhline(0.0, color="grey", linewidth=0.8)
        _alpha_axis(ax, sweep.alpha)
        ax.set_title(" · ".join(setting), fontsize=9)
        if setting == headline:
            for spine in ax.spines.values():
                spine.set(visible=True, color="tab:red", linewidth=2.0)
        if i % columns == 0:
            ax.set_ylabel("gain")
        axes.append(ax)
    return axes


def _alpha_axis(ax: Any, alphas: pd.Series) -> None:
    """α on a log2 axis, ticked at the swept values."""
    ax.set_xscale("log", base=2)
    ticks = sorted(set(alphas))
    ax.set_xticks(ticks, [f"{a:g}" for a in ticks])
    ax.minorticks_off()


def _legend(fig: Figure, axes: Sequence[Any]) -> None:
    """One figure legend holding every distinct line label of ``axes``."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    fig.legend(list(entries.values()), list(entries), loc="outside right upper")


def _sweep_panel(
    ax,
    sweep: pd.DataFrame,
    metric: str,
    label: str,
    label_set: str,
    per_target: bool,
    width: float = 1.5,
) -> None:
    rows = sweep[(sweep.metric == metric) & (sweep.label == label)]
    if metric != "preservation":
        rows = rows[rows.label_set == label_set]
    if metric == "gain":  # towards this target, not another target's effect on it
        rows = rows[rows.target == label]
    markers = dict(zip(sorted(set(sweep.layers)), "osD^v<>", strict=False))
    keys = list(VARIANT_KEYS) + (["target"] if per_target and metric == "preservation" else [])
    for key, line in rows.groupby(keys, sort=True):
        line = line.sort_values("alpha")
        site, method, layers = key[:3]
        name = f"{site} {method} {layers}" + (f" → {key[3]}" if len(key) > 3 else "")
        color = _METHOD_COLORS.get(cast(str, method))
        ax.plot(
            line.alpha,
            line["mean"],
            _SITE_STYLES.get(cast(str, site), "-"),
            color=color,
            marker=markers[layers],
            label=name,
            markersize=4,
            linewidth=width,
        )
        ax.fill_between(line.alpha, line.ci_low, line.ci_high, color=color, alpha=0.12)
    _alpha_axis(ax, sweep.alpha)
    ax.set_xlabel("α")
    names = {
        "gain": f"gain in p({label})",
        "steered": f"steered p({label})",
        "preservation": "preservation (CLAP cosine)",
    }
    ax.set_ylabel(names[metric])
    if metric == "gain":
        ax.axhline(0.0, color="grey", linewidth=0.8)
