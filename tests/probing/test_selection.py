from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from musicsteer import tasks as tk
from musicsteer.probing.probes import (
    ALL_CLASSES,
    PROBE_COLUMNS,
    probe_task,
)
from musicsteer.probing.selection import layer_selection, select_layer, summary_table
from tests.probing.planted import (
    METHODS,
    PLANTED_LAYER,
)
from tests.probing.science import chords_manifest


@pytest.mark.parametrize("method", METHODS)
def test_select_layer_picks_planted_layer(planted_table, method):
    assert select_layer(planted_table, "accuracy", site="resid", method=method) == PLANTED_LAYER


# ---------------------------------------------------------------------------
# Layer selection, projections, vectors
# ---------------------------------------------------------------------------


def test_select_layer_rules():
    table = pd.DataFrame(
        {
            "site": ["resid"] * 8 + ["attn"] * 4,
            "layer": [0, 1, 2, 3] * 3,
            "method": ["mse"] * 4 + ["dim"] * 4 + ["mse"] * 4,
            "accuracy": [0.6, 0.9, 0.9, 0.95, 0.99, 0.5, 0.5, 0.5, 0.5, 0.7, 0.8, np.nan],
        }
    )
    assert select_layer(table) == 3
    assert select_layer(table, max_index=2) == 1  # tie between 1 and 2 -> earliest
    assert select_layer(table, method="dim") == 0
    assert select_layer(table, site="attn") == 2  # NaN ignored
    assert select_layer(table, rule="fixed", fixed=2, max_index=3) == 2
    ari = pd.DataFrame({"layer": [0, 1, 2], "ari": [0.1, 0.4, 0.2], "nmi": [0.9, 0.1, 0.1]})
    assert select_layer(ari, rule="ari") == 1
    assert select_layer(ari, rule="ari", max_index=0) == 0


def test_select_layer_errors():
    table = pd.DataFrame({"layer": [0, 1], "accuracy": [0.5, 0.6]})
    with pytest.raises(ValueError, match="needs a `fixed`"):
        select_layer(table, rule="fixed")
    with pytest.raises(ValueError, match="outside"):
        select_layer(table, rule="fixed", fixed=5, max_index=3)
    with pytest.raises(ValueError, match="rule must be"):
        select_layer(table, rule="best")
    with pytest.raises(ValueError, match="'ari' column"):
        select_layer(table, rule="ari")
    with pytest.raises(ValueError, match="no rows"):
        select_layer(table, site="attn", max_index=-1)


# ---------------------------------------------------------------------------
# Summary table and layer selection
# ---------------------------------------------------------------------------


@pytest.fixture()
def probe_rows():
    """Two classes and the all-class row, one method, at two sites, 4 indices."""
    accuracy = {
        ("resid", "a"): [0.5, 0.9, 0.8, 0.95],
        ("resid", "b"): [0.6, 0.7, 0.7, 0.5],
        ("resid", ALL_CLASSES): [0.4, 0.99, 0.3, 0.3],
        ("attn", "a"): [0.5, 0.5, 0.5, 0.5],
    }
    frames = [
        pd.DataFrame(
            {
                "site": site,
                "layer": range(4),
                "method": "mse",
                "positive": positive,
                "accuracy": acc,
                "accuracy_h0": acc,  # both halves agree: nested = max over layers
                "accuracy_h1": acc,
                "n_h0": 10,
                "n_h1": 10,
                "n_positive": 30,
                "n_negative": 30,
                "folds": 5,
                "grouped": False,
            }
        )
        for (site, positive), acc in accuracy.items()
    ]
    return pd.concat(frames, ignore_index=True)[PROBE_COLUMNS]


def test_summary_table(probe_rows):
    summary = summary_table(probe_rows)
    assert list(summary.columns) == [
        "site",
        "method",
        "positive",
        "best_index",
        "max_accuracy",
        "nested_accuracy",
        "mean_accuracy",
        "n_indices",
        "n_positive",
        "n_negative",
        "folds",
        "grouped",
    ]
    row = summary.set_index(["site", "positive"])
    assert row.loc[("resid", "a"), "best_index"] == 3
    assert row.loc[("resid", "a"), "max_accuracy"] == pytest.approx(0.95)
    assert row.loc[("resid", "a"), "nested_accuracy"] == pytest.approx(0.95)
    assert row.loc[("resid", "a"), "mean_accuracy"] == pytest.approx(0.7875)
    assert row.loc[("resid", "b"), "best_index"] == 1  # tie 1/2 -> earliest
    assert row.loc[("attn", "a"), "best_index"] == 0
    assert (summary["n_indices"] == 4).all()
    clustering = pd.DataFrame(
        {
            "site": ["resid"] * 4 + ["attn"] * 4,
            "layer": list(range(4)) * 2,
            "ari": [0.1, 0.2, 0.6, 0.3, 0.0, 0.4, 0.1, 0.1],
        }
    )
    with_ari = summary_table(probe_rows, clustering).set_index(["site", "positive"])
    assert with_ari.loc[("resid", "b"), "ari_index"] == 2
    assert with_ari.loc[("resid", "b"), "best_ari"] == pytest.approx(0.6)
    assert with_ari.loc[("attn", "a"), "ari_index"] == 1
    no_site = summary_table(
        probe_rows, clustering[clustering["site"] == "attn"].drop(columns="site")
    )
    assert (no_site["ari_index"] == 1).all()


def test_layer_selection_accuracy_rule(probe_rows):
    chosen = layer_selection(probe_rows, "accuracy", site="resid", method="mse")
    assert list(chosen.columns) == [
        "site",
        "method",
        "positive",
        "layer",
        "accuracy",
        "nested_accuracy",
        "rule",
        "evidence",
    ]
    assert chosen["positive"].tolist() == ["a", "b"]  # "__all__" has no direction to steer
    assert chosen["layer"].tolist() == [3, 1]
    assert chosen["accuracy"].tolist() == pytest.approx([0.95, 0.7])
    assert (chosen["rule"] == "accuracy").all()
    assert "(max over layers) 0.950 at layer 3" in chosen["evidence"].iloc[0]
    assert "next best 0.900 at layer 1" in chosen["evidence"].iloc[0]
    capped = layer_selection(probe_rows, "accuracy", site="resid", max_index=2)
    assert capped["layer"].tolist() == [1, 1]
    # Agrees with select_layer on each class's rows.
    for positive, layer in zip(chosen["positive"], chosen["layer"], strict=True):
        assert select_layer(probe_rows[probe_rows["positive"] == positive]) == layer


def test_layer_selection_fixed_and_ari_rules(probe_rows):
    fixed = layer_selection(probe_rows, "fixed", site="resid", fixed=2)
    assert fixed["layer"].tolist() == [2, 2]
    assert fixed["accuracy"].tolist() == pytest.approx([0.8, 0.7])
    assert "fixed" in fixed["evidence"].iloc[0] and "layer 3" in fixed["evidence"].iloc[0]
    clustering = pd.DataFrame({"site": "resid", "layer": range(4), "ari": [0.1, 0.2, 0.6, 0.3]})
    ari = layer_selection(probe_rows, "ari", site="resid", clustering=clustering)
    assert ari["layer"].tolist() == [2, 2]
    assert "ARI 0.600 at layer 2" in ari["evidence"].iloc[0]
    with pytest.raises(ValueError, match="needs the clustering"):
        layer_selection(probe_rows, "ari")
    with pytest.raises(ValueError, match="no probe rows"):
        layer_selection(probe_rows, method="dim")
    with pytest.raises(ValueError, match="rule must be"):
        layer_selection(probe_rows, "best")
    with pytest.raises(ValueError, match="outside"):
        layer_selection(probe_rows, "fixed", fixed=5, max_index=3)


def test_layer_selection_refuses_too_few_clips_per_class():
    manifest = chords_manifest(roots=[0])
    table = tk.instrument_task(manifest, "C", "major")  # 3 clips per instrument
    X = np.random.default_rng(0).standard_normal((len(table), 3, 8)).astype(np.float32)
    probes = probe_task({"resid": X}, table.drop(columns="group"), ["mse"], folds=3)
    with pytest.raises(ValueError, match=r"instrument_C_major: class 'Flute' has 3 clips"):
        layer_selection(probes, min_class_clips=20, task="instrument_C_major")
    chosen = layer_selection(probes, min_class_clips=3, task="instrument_C_major")
    assert len(chosen) == 3
