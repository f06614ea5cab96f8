"""Tests for musicsteer.figures: files are written, readable and sized as styled."""

from __future__ import annotations

import itertools

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from musicsteer.report.figures import plot_clustering, plot_jaccard, plot_probe_accuracy

DPI = 150


def clustering_frame() -> pd.DataFrame:
    rows = [
        {"site": site, "layer": i, "ari": 0.1 * i, "nmi": 0.05 * i + 0.1}
        for site in ("resid", "attn")
        for i in range(5)
    ]
    return pd.DataFrame(rows)


def accuracy_frame() -> pd.DataFrame:
    rows = [
        {"site": site, "layer": i, "method": method, "accuracy": 0.5 + 0.08 * i}
        for site in ("resid", "attn")
        for method in ("dim", "bce", "mse")
        for i in range(6)
    ]
    return pd.DataFrame(rows)


def jaccard_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [[0.9, 0.05, 0.0], [0.1, 0.7, 0.2], [0.0, 0.2, 0.6]],
        index=pd.Index(["jazz", "pop", "rock"], name="label"),
        columns=["c2", "c0", "c1"],
    )


def assert_png_and_pdf(paths, png, expected_size=None):
    """Both files exist and are non-empty; the PNG decodes to an RGBA image."""
    assert paths == [png, png.with_suffix(".pdf")]
    assert png.stat().st_size > 1000
    assert png.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    image = mpimg.imread(png)
    assert image.ndim == 3 and image.shape[2] == 4  # Agg writes RGBA
    assert np.ptp(image[..., :3]) > 0  # something was drawn
    if expected_size is not None:
        width_in, height_in = expected_size
        assert image.shape[:2] == (round(height_in * DPI), round(width_in * DPI))


def test_plot_clustering_writes_png_and_pdf(tmp_path):
    png = tmp_path / "sub" / "clustering.png"
    paths = plot_clustering(clustering_frame(), png, title="genre clustering")
    assert_png_and_pdf(paths, png, expected_size=(10.0, 3.6))  # two panels


def test_plot_probe_accuracy_one_panel_per_site(tmp_path):
    png = tmp_path / "accuracy.png"
    paths = plot_probe_accuracy(accuracy_frame(), png, chance=0.5, title="rock vs rest")
    assert_png_and_pdf(paths, png, expected_size=(10.0, 3.6))  # resid + attn
    single = accuracy_frame().query("site == 'resid'")
    plot_probe_accuracy(single, tmp_path / "one.png")
    assert mpimg.imread(tmp_path / "one.png").shape[:2] == (round(3.6 * DPI), round(5.0 * DPI))


def test_plot_jaccard_writes_png_and_pdf(tmp_path):
    png = tmp_path / "jaccard.png"
    assert_png_and_pdf(plot_jaccard(jaccard_frame(), png, title="layer 12"), png)


def test_non_png_path_writes_only_that_file(tmp_path):
    pdf = tmp_path / "clustering.pdf"
    assert plot_clustering(clustering_frame(), pdf) == [pdf]
    assert pdf.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clustering.pdf"]


def test_missing_columns_raise(tmp_path):
    with pytest.raises(ValueError, match="missing columns"):
        plot_clustering(clustering_frame().drop(columns="nmi"), tmp_path / "x.png")
    with pytest.raises(ValueError, match="missing columns"):
        plot_probe_accuracy(accuracy_frame().drop(columns="method"), tmp_path / "x.png")


def _sweep(targets=("Flute", "Violin", "Xylophone")) -> pd.DataFrame:
    """A planted long-form sweep: 2 sites × 2 methods × 2 layer choices × 2 α, per target."""
    rows = []
    for site, method, layers, alpha, target in itertools.product(
        ["resid", "attn"], ["mse", "bce"], ["best", "all"], [0.1, 0.3], targets
    ):
        setting = {"site": site, "method": method, "layers": layers, "alpha": alpha}
        base = {**setting, "target": target, "layer": "1", "n": 6, "n_prompts": 3}
        gain = alpha * (2.0 if site == "resid" else 1.0)
        for metric, label, mean in (("gain", target, gain), ("preservation", "", 1 - alpha)):
            rows.append(
                {
                    **base,
                    "label_set": "all" if metric == "gain" else "",
                    "metric": metric,
                    "label": label,
                    "mean": mean,
                    "ci_low": mean - 0.05,
                    "ci_high": mean + 0.05,
                }
            )
    return pd.DataFrame(rows)


def test_alpha_sweep_highlights_the_headline_and_its_legend_is_complete(tmp_path):
    from musicsteer.report.figures import alpha_sweep_figure, plot_alpha_sweep

    sweep = _sweep()
    headline = {"site": "resid", "method": "mse", "layers": "best"}
    fig = alpha_sweep_figure(sweep, None, "all", "instruments", headline)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:4] == ["headline: resid · mse · best"] * 4  # 3 targets' gain + preservation
    assert len(titles) == 4 + 8 and "attn · bce · all" in titles  # one small panel per setting
    framed = [ax for ax in fig.axes[4:] if ax.spines["left"].get_linewidth() == 2.0]
    assert [ax.get_title() for ax in framed] == ["resid · mse · best"]
    top_gain = fig.axes[0].get_lines()[0].get_ydata()
    assert list(top_gain) == pytest.approx([0.2, 0.6])  # the headline's own planted gains
    drawn = {line.get_label() for ax in fig.axes for line in ax.get_lines()}
    drawn = {label for label in drawn if not label.startswith("_")}
    legend = {text.get_text() for text in fig.legends[0].get_texts()}
    assert legend == drawn and len(legend) >= 4  # every line named, e.g. the 3 targets
    # without a headline: every setting overlaid, and still one entry per drawn line
    overlaid = alpha_sweep_figure(sweep, None, "all", "instruments")
    drawn = {ln.get_label() for ax in overlaid.axes for ln in ax.get_lines()}
    drawn = {label for label in drawn if not label.startswith("_")}
    assert {t.get_text() for t in overlaid.legends[0].get_texts()} == drawn
    assert len(drawn) == 8 + 8 * 3  # gain: one per setting; preservation: per setting × target
    paths = plot_alpha_sweep(sweep, tmp_path / "sweep.png", None, "all", "t", headline)
    assert all(path.stat().st_size > 0 for path in paths)
