"""Task sets: balance, determinism, direction, one-hot, SynTheory subsets, writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musicsteer import tasks as tk
from musicsteer.corpora import syntheory
from musicsteer.probing.probes import (
    probe_task,
)
from musicsteer.storage import write_table
from musicsteer.tasks import balance_binary
from tests.probing.science import chords_manifest

SIZES = {"rock": 30, "pop": 20, "jazz": 5, "folk": 40}


def genre_manifest(sizes: dict[str, int] = SIZES) -> pd.DataFrame:
    """Clips of unequal genre sizes, interleaved so manifest order is not class order."""
    rows = [
        {"clip_id": f"{genre}_{i:03d}", "label": genre}
        for genre, n in sizes.items()
        for i in range(n)
    ]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)


def syn_manifest(concept: str, **subset) -> pd.DataFrame:
    """A SynTheory manifest of item records (no audio needed for task tables)."""
    frame = pd.DataFrame([it.record() for it in syntheory.select_items(concept, **subset)])
    return frame.assign(silent=False)


def assert_balanced(table: pd.DataFrame) -> None:
    counts = table.groupby("y").size()
    assert counts.nunique() == 1, counts.to_dict()
    assert table.clip_id.is_unique


# --- genre variants --------------------------------------------------------------------


def test_one_vs_rest_balanced_and_spread_over_others() -> None:
    table = tk.one_vs_rest(genre_manifest(), "rock", seed=0)
    assert_balanced(table)
    assert list(table.columns) == tk.BASE_COLUMNS
    assert (table.task == "ovr_rock").all() and (table.kind == "one_vs_rest").all()
    assert set(table.loc[table.y == 1, "label"]) == {"rock"}
    negatives = table.loc[table.y == 0, "label"].value_counts().to_dict()
    # 30 negatives: jazz gives all it has (5), the rest split evenly (12 + 13)
    assert negatives == {"jazz": 5, "pop": 12, "folk": 13}


def test_one_vs_rest_is_limited_by_the_smaller_side() -> None:
    table = tk.one_vs_rest(genre_manifest({"rock": 50, "pop": 7, "jazz": 3}), "rock", seed=1)
    assert table.y.sum() == 10 and len(table) == 20
    assert table.loc[table.y == 0, "label"].value_counts().to_dict() == {"pop": 7, "jazz": 3}


def test_tasks_deterministic_per_seed() -> None:
    manifest = genre_manifest()
    for build in (
        lambda s: tk.one_vs_rest(manifest, "pop", seed=s),
        lambda s: tk.pairwise(manifest, "rock", "folk", seed=s),
        lambda s: tk.multilabel(manifest, ["rock", "pop", "folk"], seed=s),
    ):
        pd.testing.assert_frame_equal(build(3), build(3))
        assert build(3).clip_id.tolist() != build(4).clip_id.tolist()


def test_pairwise_direction_and_counts() -> None:
    table = tk.pairwise(genre_manifest(), "rock", "pop", seed=0)
    assert (table.task == "pair_rock_to_pop").all()
    assert set(table.loc[table.y == 1, "label"]) == {"pop"}
    assert set(table.loc[table.y == 0, "label"]) == {"rock"}
    assert table.groupby("label").size().to_dict() == {"pop": 20, "rock": 20}
    small = tk.pairwise(genre_manifest(), "rock", "pop", seed=0, per_class=4)
    assert len(small) == 8 and set(small.clip_id) <= set(genre_manifest().clip_id)


def test_multilabel_one_hot() -> None:
    classes = ["rock", "pop", "jazz"]
    table = tk.multilabel(genre_manifest(), classes, seed=0)
    one_hot = table[[f"is_{c}" for c in classes]]
    assert (one_hot.sum(axis=1) == 1).all()
    assert one_hot.sum().tolist() == [5, 5, 5]
    for i, cls in enumerate(classes):
        assert (table.loc[table.y == i, "label"] == cls).all()
        assert (table[f"is_{cls}"] == (table.label == cls)).all()


def test_rows_keep_manifest_order() -> None:
    manifest = genre_manifest()
    table = tk.multilabel(manifest, ["rock", "pop"], seed=0)
    position = dict(zip(manifest.clip_id, manifest.index, strict=True))
    assert np.all(np.diff([position[c] for c in table.clip_id]) > 0)


def test_absent_or_too_small_classes_are_named() -> None:
    manifest = genre_manifest()
    with pytest.raises(ValueError, match=r"'metal' is absent.*'rock': 30"):
        tk.one_vs_rest(manifest, "metal", seed=0)
    with pytest.raises(ValueError, match=r"'jazz' has 5 clips, fewer than the 10"):
        tk.multilabel(manifest, ["rock", "jazz"], seed=0, per_class=10)
    with pytest.raises(ValueError, match="per_class=31"):
        tk.one_vs_rest(manifest, "rock", seed=0, per_class=31)
    with pytest.raises(ValueError, match="two different classes"):
        tk.pairwise(manifest, "rock", "rock", seed=0)


def test_silent_clips_never_enter_a_task() -> None:
    manifest = genre_manifest().assign(silent=False)
    manifest.loc[manifest.label == "jazz", "silent"] = True
    table = tk.one_vs_rest(manifest, "rock", seed=0)
    assert "jazz" not in set(table.label)
    with pytest.raises(ValueError, match="'jazz' is absent"):
        tk.pairwise(manifest, "jazz", "rock", seed=0)


def test_build_and_write_genre_tasks(tmp_path: Path) -> None:
    manifest = genre_manifest()
    pairs = [{"source": "rock", "target": "pop"}, ("folk", "jazz")]
    tasks = tk.build_genre_tasks(manifest, pairs, ["rock", "pop", "folk"], seed=0)
    assert list(tasks) == [
        "ovr_rock",
        "ovr_pop",
        "ovr_folk",
        "pair_rock_to_pop",
        "pair_folk_to_jazz",
        "multilabel",
    ]
    assert "jazz" not in set(tasks["ovr_rock"].label)  # negatives only from `genres`
    for table in tasks.values():
        assert_balanced(table)
    paths_a = tk.write_tasks(tasks, tmp_path / "a")
    again = tk.build_genre_tasks(manifest, pairs, ["rock", "pop", "folk"], seed=0)
    paths_b = tk.write_tasks(again, tmp_path / "b")
    assert [p.name for p in paths_a][-1] == "index.tsv" and len(paths_a) == 7
    for pa, pb in zip(paths_a, paths_b, strict=True):
        assert pa.read_bytes() == pb.read_bytes()
    index = pd.read_csv(tmp_path / "a/index.tsv", sep="\t").set_index("task")
    assert index.loc["ovr_rock", "classes"] == "rest,rock"
    assert index.loc["pair_rock_to_pop", "classes"] == "rock,pop"
    assert index.loc["multilabel", "classes"] == "rock,pop,folk"
    assert index.loc["multilabel", "kind"] == "multilabel" and index.loc["multilabel", "n"] == 60
    back = pd.read_parquet(tmp_path / "a/pair_rock_to_pop.parquet")
    pd.testing.assert_frame_equal(back, tasks["pair_rock_to_pop"])


def test_a_task_recipe_holds_only_what_the_task_depends_on(tmp_path: Path) -> None:
    """Adding a pair must leave every other task's recipe (a job's params) and table alone."""
    manifest = genre_manifest()
    genres = ["rock", "pop", "folk"]
    before = tk.genre_task_specs(genres, [("rock", "pop")])
    after = tk.genre_task_specs(genres, [("rock", "pop"), ("folk", "rock")])
    assert set(after) - set(before) == {"pair_folk_to_rock"}
    assert all(after[name] == spec for name, spec in before.items())
    one_by_one = {
        name: tk.build_genre_task(manifest, name, spec, seed=0) for name, spec in after.items()
    }
    together = tk.build_genre_tasks(manifest, [("rock", "pop"), ("folk", "rock")], genres, seed=0)
    assert list(one_by_one) == list(together)
    for name, table in together.items():
        pd.testing.assert_frame_equal(one_by_one[name], table)
    paths = [write_table(t, tmp_path / f"{n}.parquet") for n, t in together.items()]
    pd.testing.assert_frame_equal(tk.index_of_task_files(paths), tk.task_index(together))
    with pytest.raises(ValueError, match="unknown kind 'ranking'"):
        tk.build_genre_task(manifest, "x", {"kind": "ranking", "genres": genres}, seed=0)


# --- SynTheory tasks -------------------------------------------------------------------


def test_pitch_class_task_balanced_over_12() -> None:
    notes = syn_manifest("notes", programs=[0, 40, 73], octaves=[3, 4])
    notes.loc[notes.clip_id == "notes_p000_m048", "silent"] = True  # one C fewer
    table = tk.pitch_class_task(notes, seed=0)
    counts = table.groupby("label").size()
    assert sorted(counts.index) == sorted(syntheory.PITCH_CLASS_NAMES)
    assert set(counts) == {5} and (table.task == "pitch_class").all()
    assert (table.kind == "multiclass").all()


def test_chord_quality_task_only_one_root() -> None:
    chords = pd.concat(
        [syn_manifest("chords", programs=[0, 40]), syn_manifest("notes", programs=[0])]
    )
    table = tk.chord_quality_task(chords, root="C", seed=0)
    chosen = chords.set_index("clip_id").loc[table.clip_id]
    assert set(chosen.root) == {"C"} and set(chosen.concept) == {"chords"}
    assert table.groupby("label").size().to_dict() == {q: 6 for q in syntheory.QUALITIES}
    assert table.task.iloc[0] == "chord_quality_C"
    assert tk.chord_quality_task(chords, root="Db", seed=0).task.iloc[0] == "chord_quality_Cs"
    major_minor = tk.chord_quality_task(chords, "C", 0, qualities=["major", "minor"])
    assert set(major_minor.label) == {"major", "minor"} and len(major_minor) == 12


def test_progression_task_one_key_and_mode() -> None:
    progs = syn_manifest("chord_progressions", programs=[0, 73], keys=["C", "D"])
    table = tk.progression_task(progs, key="D", seed=0)
    chosen = progs.set_index("clip_id").loc[table.clip_id]
    assert set(chosen.key) == {"D"} and table.label.nunique() == 19
    assert set(table.groupby("label").size()) == {2}
    ionian = tk.progression_task(progs, key="C", mode="ionian", seed=0)
    assert ionian.label.nunique() == 10 and ionian.label.str.startswith("ionian:").all()
    assert ionian.task.iloc[0] == "progression_C_ionian"


def test_instrument_task_subset_and_classes() -> None:
    chords = syn_manifest("chords", programs=[0, 13, 40, 73], roots=["C", "G"])
    table = tk.instrument_task(chords, root="C", quality="major", seed=0)
    chosen = chords.set_index("clip_id").loc[table.clip_id]
    assert set(chosen.root) == {"C"} and set(chosen.quality) == {"major"}
    assert table.groupby("label").size().to_dict() == {"Flute": 3, "Violin": 3, "Xylophone": 3}
    assert [table.loc[table.label == n, "y"].iloc[0] for n in tk.DEFAULT_INSTRUMENTS] == [0, 1, 2]
    assert table.task.iloc[0] == "instrument_C_major"
    everyone = tk.instrument_task(chords, root="C", quality="minor", instruments=None, seed=0)
    assert everyone.label.nunique() == 4
    with pytest.raises(ValueError, match="'Xylophone' is absent"):
        tk.instrument_task(syn_manifest("chords", programs=[40, 73], roots=["C"]), seed=0)
    every_chord = tk.instrument_task(chords, seed=0)
    assert every_chord.groupby("label").size().to_dict() == {n: 24 for n in tk.DEFAULT_INSTRUMENTS}
    assert every_chord.group.nunique() == 8  # 2 roots × 4 qualities


def test_syntheory_tasks_deterministic_and_built_together() -> None:
    programs = [0, 13, 40, 73]
    manifests = {
        "notes": syn_manifest("notes", programs=programs, octaves=[4]),
        "chords": syn_manifest("chords", programs=programs, roots=["C"]),
        "chord_progressions": syn_manifest("chord_progressions", programs=[0, 73], keys="C"),
    }
    a = tk.syntheory_tasks(manifests, "C", "major", "C", ["Flute", "Violin", "Xylophone"], 0)
    b = tk.syntheory_tasks(pd.concat(manifests.values(), ignore_index=True), seed=0)
    assert sorted(a) == ["chord_quality_C", "instrument", "pitch_class", "progression_C"]
    assert sorted(a) == sorted(tk.syntheory_task_names(manifests, "C", "major", "C"))
    groups = {name: table.groupby("group").label.nunique().max() for name, table in a.items()}
    assert groups["pitch_class"] == groups["chord_quality_C"] == 1  # an item has one label
    assert groups["progression_C"] == 19  # in one key the groups are instruments
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
        assert a[name].groupby("y").size().nunique() == 1
    chords = manifests["chords"]
    other = tk.chord_quality_task(chords, "C", seed=1, per_class=5)
    assert other.clip_id.tolist() != tk.chord_quality_task(chords, "C", 0, 5).clip_id.tolist()


# ---------------------------------------------------------------------------
# Balanced subsampling
# ---------------------------------------------------------------------------


def test_balance_binary_against_one_class():
    labels = ["rock"] * 30 + ["jazz"] * 12 + ["pop"] * 50
    indices, y = balance_binary(labels, "rock", "jazz", seed=0)
    chosen = np.asarray(labels)[indices]
    assert np.count_nonzero(y == 1) == np.count_nonzero(y == 0) == 12
    assert set(chosen[y == 0]) == {"jazz"} and set(chosen[y == 1]) == {"rock"}
    assert np.all(np.diff(indices) > 0)  # sorted, no repeats


def test_balance_binary_rest_spreads_over_other_classes():
    labels = ["rock"] * 30 + ["jazz"] * 50 + ["pop"] * 50 + ["folk"] * 5
    indices, y = balance_binary(labels, "rock", None, seed=1)
    chosen = np.asarray(labels)[indices]
    assert np.count_nonzero(y == 1) == np.count_nonzero(y == 0) == 30
    negatives = pd.Series(chosen[y == 0]).value_counts().to_dict()
    assert negatives["folk"] == 5  # small class used fully, the rest split evenly
    assert sorted([negatives["jazz"], negatives["pop"]]) == [12, 13]


def test_balance_binary_subsamples_positive_when_rest_is_small():
    labels = ["rock"] * 40 + ["jazz"] * 6 + ["pop"] * 4
    _, y = balance_binary(labels, "rock", None, seed=0)
    assert np.count_nonzero(y == 1) == np.count_nonzero(y == 0) == 10


def test_balance_binary_is_deterministic_under_seed():
    labels = ["rock"] * 30 + ["jazz"] * 50 + ["pop"] * 50
    first = balance_binary(labels, "rock", None, seed=4)
    again = balance_binary(labels, "rock", None, seed=4)
    other = balance_binary(labels, "rock", None, seed=5)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_balance_binary_errors():
    labels = ["rock"] * 5 + ["jazz"] * 1
    with pytest.raises(ValueError, match="positive class 'metal'"):
        balance_binary(labels, "metal", None, seed=0)
    with pytest.raises(ValueError, match="negative class 'metal'"):
        balance_binary(labels, "rock", "metal", seed=0)
    with pytest.raises(ValueError, match="same class"):
        balance_binary(labels, "rock", "rock", seed=0)
    with pytest.raises(ValueError, match="no classes other"):
        balance_binary(["rock"] * 4, "rock", None, seed=0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        balance_binary(labels, "rock", "jazz", seed=0)


def test_genre_tasks_group_clips_by_track():
    manifest = pd.DataFrame(
        {
            "clip_id": [
                f"gtzan/{g}.{t}/{c}" for g in ("rock", "pop") for t in range(5) for c in range(3)
            ],
            "dataset": "gtzan",
            "label": np.repeat(["rock", "pop"], 15),
            "track": [f"{g}.{t}" for g in ("rock", "pop") for t in range(5) for _ in range(3)],
        }
    )
    table = tk.pairwise(manifest, "rock", "pop", seed=0)
    assert table["group"].str.startswith("gtzan/").all()
    assert table.groupby("group")["label"].nunique().max() == 1
    X = np.random.default_rng(0).standard_normal((len(table), 2, 8)).astype(np.float32)
    probes = probe_task({"resid": X}, table, ["dim"], folds=5)
    assert probes["grouped"].all() and (probes["folds"] == 5).all()


def test_instrument_task_uses_every_chord_grouped_by_root_and_quality():
    table = tk.instrument_task(chords_manifest())
    assert table["task"].iloc[0] == "instrument"
    assert table.label.value_counts().to_dict() == {"Flute": 144, "Violin": 144, "Xylophone": 144}
    assert table.group.nunique() == 48  # 12 roots × 4 qualities, every inversion inside
    old = tk.instrument_task(chords_manifest(), "C", "major")
    assert old["task"].iloc[0] == "instrument_C_major" and len(old) == 9


def test_syntheory_task_names_match_the_built_tasks_for_a_sharp_root():
    names = tk.syntheory_task_names(["chords"], "F#", "minor", instrument_chords="task_root")
    built = tk.syntheory_tasks(
        {"chords": chords_manifest()}, "F#", "minor", instrument_chords="task_root"
    )
    assert sorted(names) == sorted(built) == ["chord_quality_Fs", "instrument_Fs_minor"]
