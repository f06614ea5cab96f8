"""Tests for musicsteer.figures: files are written, readable and sized as styled."""

from __future__ import annotations

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
