"""Probing task sets: balanced, seeded tables of clip ids and labels.

Genre tasks are the paper's three variants (section IV-B2), every class equally
represented: one genre (y=1) vs a uniform sample of the others (y=0); genre A (y=0)
vs genre B (y=1), i.e. "steer from A towards B"; n genres one-hot (multi-label).
SynTheory tasks (IV-B1) are multi-class: pitch class over notes, chord quality at one
root, progression in one key, and instrument identity over chords of one root and
quality.

A task table has the columns ``task, kind, clip_id, label, y`` (``y``: 0/1 for binary
kinds, the class index for ``multilabel``/``multiclass``), plus one-hot ``is_<class>``
columns for ``multilabel``, and ``group`` where clips could leak into each other's
folds: held-out accuracy keeps each group in one test fold. A genre clip's group is its
track (``<dataset>/<track>``: the other 10-s clips of the same recording); a SynTheory
clip's is the item it was rendered from without the instrument (the same note or chord
on another instrument), or, for progressions in one key, where the label *is* the item,
the instrument (so test timbres are unseen). Rows keep the manifest's order. The same
manifest and seed give the same table. Silent clips (manifest column ``silent``) never
enter a task.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from musicsteer.corpora.syntheory import (
    GM_PROGRAM_NAMES,
    PITCH_CLASS_NAMES,
    PROGRESSION_NAMES,
    QUALITIES,
    pitch_class,
    resolve_program,
)
from musicsteer.storage import read_table, write_table

BASE_COLUMNS = ["task", "kind", "clip_id", "label", "y"]
INDEX_COLUMNS = ["task", "kind", "classes", "n"]
DEFAULT_INSTRUMENTS = ("Flute", "Violin", "Xylophone")  # the paper's timbre table
MIN_PER_CLASS = 2  # a probe needs two clips of a class to fit and score anything

# ---------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------


def _usable(manifest: pd.DataFrame, column: str = "label") -> pd.DataFrame:
    """Manifest rows that may enter a task (silent clips carry no concept)."""
    missing = [c for c in ("clip_id", column) if c not in manifest.columns]
    if missing:
        raise ValueError(f"manifest lacks column(s) {missing}; has {list(manifest.columns)}")
    if "silent" in manifest.columns:
        manifest = manifest.loc[~manifest["silent"].astype(bool)]
    if "group" not in manifest.columns and "track" in manifest.columns:
        manifest = manifest.assign(group=_track_groups(manifest))
    return manifest.reset_index(drop=True)


def _track_groups(manifest: pd.DataFrame) -> pd.Series:
    """``<dataset>/<track>``: the clips cut from one recording (track ids are per dataset)."""
    track = manifest["track"].astype(str)
    if "dataset" not in manifest.columns:
        return track
    return manifest["dataset"].astype(str) + "/" + track


def _grouped(rows: pd.DataFrame, prefix: str, columns: Sequence[str]) -> pd.DataFrame:
    """``rows`` with ``group = <prefix>:<col>:<col>…`` (unchanged if a column is missing)."""
    if not set(columns) <= set(rows.columns):
        return rows
    parts = [rows[c].astype(str) for c in columns]
    group = parts[0].radd(f"{prefix}:")
    for part in parts[1:]:
        group = group + ":" + part
    return rows.assign(group=group)


def _counts(frame: pd.DataFrame, column: str) -> dict[str, int]:
    """Clips per class, sorted by class name (for error messages and quotas)."""
    return {
        str(k): int(v) for k, v in frame[column].astype(str).value_counts().sort_index().items()
    }


def _require(classes: Iterable[str], counts: Mapping[str, int], need: int, column: str) -> None:
    """Raise unless every class has at least ``need`` clips (naming class and counts)."""
    for cls in classes:
        have = counts.get(cls, 0)
        if have == 0:
            raise ValueError(f"{column} {cls!r} is absent from the manifest; counts: {counts}")
        if have < need:
            raise ValueError(
                f"{column} {cls!r} has {have} clips, fewer than the {need} needed; counts: {counts}"
            )


def _check_per_class(per_class: int | None) -> None:
    """Raise unless ``per_class`` is None or at least :data:`MIN_PER_CLASS`."""
    if per_class is not None and int(per_class) < MIN_PER_CLASS:
        raise ValueError(f"per_class must be at least {MIN_PER_CLASS}, got {per_class}")


def even_split(capacities: Mapping[str, int], total: int) -> dict[str, int]:
    """Split ``total`` as evenly as the capacities allow (smallest classes served first).

    Shared with ``probing`` (which balances its probes the same way); kept here so that
    building task tables does not import torch.
    """
    quota: dict[str, int] = {}
    remaining = total
    ordered = sorted(capacities, key=lambda c: (capacities[c], c))
    for i, cls in enumerate(ordered):
        quota[cls] = min(capacities[cls], remaining // (len(ordered) - i))
        remaining -= quota[cls]
    return quota


def _sample(frame: pd.DataFrame, column: str, quota: Mapping[str, int], seed: int) -> np.ndarray:
    """Sorted row positions: ``quota[c]`` random rows of each class ``c``."""
    rng = np.random.default_rng(seed)
    labels = frame[column].astype(str).to_numpy()
    picks = [
        rng.choice(np.flatnonzero(labels == cls), size=n, replace=False)
        for cls, n in sorted(quota.items())
    ]
    return np.sort(np.concatenate(picks)) if picks else np.array([], dtype=np.int64)


def _table(
    task: str, kind: str, frame: pd.DataFrame, rows: np.ndarray, column: str, y: np.ndarray
) -> pd.DataFrame:
    """A task table of the chosen rows."""
    chosen = frame.iloc[rows]
    table = pd.DataFrame(
        {
            "task": task,
            "kind": kind,
            "clip_id": chosen["clip_id"].astype(str).to_numpy(),
            "label": chosen[column].astype(str).to_numpy(),
            "y": np.asarray(y, dtype=np.int64),
        },
        columns=BASE_COLUMNS,
    )
    if "group" in chosen.columns:
        table["group"] = chosen["group"].astype(str).to_numpy()
    return table


def _slug(name: object) -> str:
    """A class name fit for a task or file name (``C#`` → ``Cs``, spaces → ``_``)."""
    return re.sub(r"[^0-9A-Za-z_-]+", "_", str(name).replace("#", "s")).strip("_")


# ---------------------------------------------------------------------------------------
# The three genre variants
# ---------------------------------------------------------------------------------------


def one_vs_rest(
    manifest: pd.DataFrame,
    positive: str,
    seed: int,
    per_class: int | None = None,
    column: str = "label",
    task: str | None = None,
) -> pd.DataFrame:
    """``positive`` (y=1) vs an equal number of clips of all other classes (y=0).

    The negatives are spread as evenly over the other classes as their sizes allow.
    ``per_class`` is the number of positives (= negatives); default: as many as both
    sides allow.
    """
    _check_per_class(per_class)
    frame = _usable(manifest, column)
    counts = _counts(frame, column)
    positive = str(positive)
    _require([positive], counts, MIN_PER_CLASS, column)
    others = {c: n for c, n in counts.items() if c != positive}
    if not others:
        raise ValueError(f"no classes other than {positive!r} to draw negatives from")
    n = min(counts[positive], sum(others.values())) if per_class is None else int(per_class)
    if n > counts[positive] or n > sum(others.values()):
        raise ValueError(
            f"per_class={n} needs {n} clips of {positive!r} and {n} of the others; counts: {counts}"
        )
    rows = _sample(frame, column, {**even_split(others, n), positive: n}, seed)
    y = frame[column].astype(str).to_numpy()[rows] == positive
    return _table(task or f"ovr_{_slug(positive)}", "one_vs_rest", frame, rows, column, y)


def pairwise(
    manifest: pd.DataFrame,
    a: str,
    b: str,
    seed: int,
    per_class: int | None = None,
    column: str = "label",
    task: str | None = None,
) -> pd.DataFrame:
    """Steer from ``a`` towards ``b``: ``b`` is y=1, ``a`` is y=0, equal counts."""
    _check_per_class(per_class)
    a, b = str(a), str(b)
    if a == b:
        raise ValueError(f"pairwise needs two different classes, got {a!r} twice")
    frame = _usable(manifest, column)
    counts = _counts(frame, column)
    _require([a, b], counts, per_class or MIN_PER_CLASS, column)
    n = per_class or min(counts[a], counts[b])
    rows = _sample(frame, column, {a: n, b: n}, seed)
    y = frame[column].astype(str).to_numpy()[rows] == b
    return _table(task or f"pair_{_slug(a)}_to_{_slug(b)}", "pairwise", frame, rows, column, y)


def multiclass(
    manifest: pd.DataFrame,
    classes: Sequence[str],
    seed: int,
    per_class: int | None = None,
    column: str = "label",
    task: str = "multiclass",
    kind: str = "multiclass",
) -> pd.DataFrame:
    """Equally many clips of each of ``classes``; ``y`` is the index into ``classes``."""
    _check_per_class(per_class)
    classes = [str(c) for c in classes]
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"need at least 2 distinct classes, got {classes}")
    frame = _usable(manifest, column)
    counts = _counts(frame, column)
    _require(classes, counts, per_class or MIN_PER_CLASS, column)
    n = per_class or min(counts[c] for c in classes)
    rows = _sample(frame, column, dict.fromkeys(classes, n), seed)
    index = {c: i for i, c in enumerate(classes)}
    y = [index[c] for c in frame[column].astype(str).to_numpy()[rows]]
    return _table(task, kind, frame, rows, column, np.asarray(y))


def multilabel(
    manifest: pd.DataFrame,
    classes: Sequence[str],
    seed: int,
    per_class: int | None = None,
    column: str = "label",
    task: str = "multilabel",
) -> pd.DataFrame:
    """n classes one-hot: columns ``is_<class>`` (0/1, one per row), equal counts."""
    table = multiclass(manifest, classes, seed, per_class, column, task, kind="multilabel")
    for i, cls in enumerate(str(c) for c in classes):
        table[f"is_{cls}"] = (table["y"] == i).astype(np.int64)
    return table


def _pair(pair: object) -> tuple[str, str]:
    """``(source, target)`` of a pair given as a tuple or a ``{source, target}`` mapping."""
    if isinstance(pair, Mapping):
        return str(pair["source"]), str(pair["target"])
    source, target = cast(Iterable[object], pair)
    return str(source), str(target)


def ovr_task_name(genre: object) -> str:
    """The one-vs-rest task of a genre: ``ovr_<genre>``."""
    return f"ovr_{_slug(genre)}"


def pair_task_name(source: object, target: object) -> str:
    """The pairwise task steering ``source`` towards ``target``: ``pair_<source>_to_<target>``."""
    return f"pair_{_slug(source)}_to_{_slug(target)}"


def genre_task_specs(genres: Sequence[str], pairs: Iterable[object]) -> dict[str, dict[str, Any]]:
    """Each genre task's name and the recipe :func:`build_genre_task` follows.

    A recipe holds only what its task depends on, so a pipeline that passes it as a
    job's parameters reruns a task only when that task changes: adding a pair leaves
    the one-vs-rest and multi-label tasks (and every probe and steering job on them)
    alone.
    """
    genres = [str(g) for g in genres]
    specs: dict[str, dict[str, Any]] = {
        ovr_task_name(g): {"kind": "one_vs_rest", "positive": g, "genres": genres} for g in genres
    }
    for source, target in map(_pair, pairs):
        specs[pair_task_name(source, target)] = {
            "kind": "pairwise",
            "source": source,
            "target": target,
        }
    if len(genres) >= 2:
        specs["multilabel"] = {"kind": "multilabel", "genres": genres}
    return specs


def genre_task_names(genres: Sequence[str], pairs: Iterable[object]) -> list[str]:
    """The genre tasks :func:`build_genre_tasks` writes, for the DAG to declare."""
    return list(genre_task_specs(genres, pairs))


def build_genre_task(
    manifest: pd.DataFrame,
    name: str,
    spec: Mapping[str, Any],
    seed: int,
    per_class: int | None = None,
) -> pd.DataFrame:
    """One genre task from its recipe (see :func:`genre_task_specs`)."""
    kind = spec["kind"]
    if kind == "pairwise":
        return pairwise(manifest, spec["source"], spec["target"], seed, per_class, task=name)
    genres = [str(g) for g in spec["genres"]]
    within = manifest.loc[manifest["label"].astype(str).isin(genres)]
    if kind == "one_vs_rest":
        return one_vs_rest(within, spec["positive"], seed, per_class, task=name)
    if kind == "multilabel":
        return multilabel(within, genres, seed, per_class, task=name)
    raise ValueError(f"task {name!r}: unknown kind {kind!r} (one_vs_rest, pairwise, multilabel)")


def build_genre_tasks(
    manifest: pd.DataFrame,
    pairs: Iterable[object],
    genres: Sequence[str] | None,
    seed: int,
    per_class: int | None = None,
) -> dict[str, pd.DataFrame]:
    """All genre tasks: ``ovr_<g>`` per genre, ``pair_<a>_to_<b>`` per pair, ``multilabel``.

    ``genres`` (default: every label) limits the one-vs-rest negatives and the
    multi-label classes; ``pairs`` are ``(source, target)`` tuples or config mappings
    with ``source``/``target`` keys (steering from source towards target).
    """
    genres = sorted(_counts(_usable(manifest), "label")) if genres is None else list(genres)
    specs = genre_task_specs(genres, pairs)
    return {
        name: build_genre_task(manifest, name, spec, seed, per_class)
        for name, spec in specs.items()
    }


# ---------------------------------------------------------------------------------------
# SynTheory tasks
# ---------------------------------------------------------------------------------------


def _concept_rows(manifest: pd.DataFrame, concept: str) -> pd.DataFrame:
    """Rows of one SynTheory concept (a manifest may hold several, as the demo's does)."""
    if "concept" not in manifest.columns:
        return manifest
    rows = manifest.loc[manifest["concept"] == concept]
    if rows.empty:
        found = sorted(manifest["concept"].unique())
        raise ValueError(f"manifest has no {concept!r} clips; concepts: {found}")
    return rows


def _with_pc(rows: pd.DataFrame, column: str, value: int | str | None) -> pd.DataFrame:
    """Rows whose pitch-class column (``root_pc``/``key_pc``) is ``value`` (None: all)."""
    if value is None:
        return rows
    kept = rows.loc[rows[column].astype(int) == pitch_class(value)]
    if kept.empty:
        raise ValueError(
            f"no clips with {column.removesuffix('pitch_class')} {value!r} in the manifest"
        )
    return kept


def _with_value(rows: pd.DataFrame, column: str, value: str | None) -> pd.DataFrame:
    """Rows whose ``column`` equals ``value`` (None: all)."""
    if value is None:
        return rows
    kept = rows.loc[rows[column].astype(str) == str(value)]
    if kept.empty:
        found = sorted(rows[column].astype(str).unique())
        raise ValueError(f"no clips with {column} {value!r} in the manifest; found: {found}")
    return kept


def _name_part(value: object) -> str:
    """A task-name part: the slug of a value, ``all`` for None."""
    return "all" if value is None else _slug(value)


def _pc_part(value: int | str | None) -> str:
    """A task-name part for a root or key: its sharp name (``Db`` → ``Cs``), or ``all``."""
    return "all" if value is None else _slug(PITCH_CLASS_NAMES[pitch_class(value)])


def pitch_class_task(
    notes_manifest: pd.DataFrame, seed: int, per_class: int | None = None
) -> pd.DataFrame:
    """The 12 pitch classes over all instruments and octaves, equally many of each.

    Grouped by MIDI note: the same note on another instrument shares a test fold.
    """
    rows = _grouped(_concept_rows(notes_manifest, "notes"), "note", ["midi_note"])
    return multiclass(rows, PITCH_CLASS_NAMES, seed, per_class, task="pitch_class")


def chord_quality_task(
    chords_manifest: pd.DataFrame,
    root: int | str | None = "C",
    seed: int = 0,
    per_class: int | None = None,
    qualities: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Chord quality (default: all 4) of the chords on ``root`` (None: every root).

    Grouped by chord (root, quality, inversion): the same chord on another instrument
    shares a test fold.
    """
    rows = _with_pc(_concept_rows(chords_manifest, "chords"), "root_pc", root)
    rows = _grouped(rows, "chord", ["root_pc", "quality", "inversion"])
    task = f"chord_quality_{_pc_part(root)}"
    return multiclass(rows, qualities or QUALITIES, seed, per_class, task=task)


def progression_task(
    prog_manifest: pd.DataFrame,
    key: int | str | None = "C",
    mode: str | None = None,
    seed: int = 0,
    per_class: int | None = None,
) -> pd.DataFrame:
    """Progression (19, or the 10 ionian / 9 aeolian of ``mode``) in one ``key``.

    In one key a progression is a single item played by every instrument, so clips are
    grouped by instrument (the probe is tested on unseen timbres); over every key
    (``key=None``), by (key, progression).
    """
    rows = _with_pc(_concept_rows(prog_manifest, "chord_progressions"), "key_pc", key)
    rows = _with_value(rows, "mode", mode)
    if key is None:
        rows = _grouped(rows, "progression", ["key_pc", "label"])
    else:
        rows = _grouped(rows, "program", ["program"])
    classes = [p for p in PROGRESSION_NAMES if mode is None or p.startswith(f"{mode}:")]
    task = f"progression_{_pc_part(key)}" + (f"_{mode}" if mode else "")
    return multiclass(rows, classes, seed, per_class, task=task)


def _instrument_names(rows: pd.DataFrame, instruments: Sequence[int | str] | None) -> list[str]:
    """GM names of the wanted instruments (None: all in ``rows``, by program number)."""
    if instruments is None:
        programs = sorted(rows["program"].astype(int).unique())
    else:
        programs = [resolve_program(i) for i in instruments]
    return [GM_PROGRAM_NAMES[p] for p in programs]


def instrument_task(
    chords_manifest: pd.DataFrame,
    root: int | str | None = None,
    quality: str | None = None,
    instruments: Sequence[int | str] | None = DEFAULT_INSTRUMENTS,
    seed: int = 0,
    per_class: int | None = None,
) -> pd.DataFrame:
    """Instrument identity over chords (label: instrument), grouped by (root, quality).

    ``root``/``quality`` restrict the chords (default None: every root, quality and
    inversion, 144 clips per instrument in the full spec; one root and quality leave
    only its 3 inversions). ``instruments``: GM names or numbers (default flute,
    violin, xylophone as in the paper's timbre table; None: every instrument in the
    manifest). All inversions of one chord, on every instrument, share a test fold.
    """
    rows = _with_pc(_concept_rows(chords_manifest, "chords"), "root_pc", root)
    rows = _with_value(rows, "quality", quality)
    rows = _grouped(rows, "chord", ["root_pc", "quality"])
    task = instrument_task_name(root, quality)
    names = _instrument_names(rows, instruments)
    return multiclass(rows, names, seed, per_class, column="instrument", task=task)


INSTRUMENT_CHORDS = ("all", "task_root")


def instrument_task_name(root: int | str | None, quality: str | None) -> str:
    """``instrument`` over every chord, ``instrument_<root>_<quality>`` at one chord."""
    if root is None and quality is None:
        return "instrument"
    return f"instrument_{_pc_part(root)}_{_name_part(quality)}"


def instrument_scope(
    instrument_chords: str, root: int | str, quality: str
) -> tuple[int | str | None, str | None]:
    """The (root, quality) the instrument task is restricted to (None: all)."""
    if instrument_chords not in INSTRUMENT_CHORDS:
        raise ValueError(
            f"instrument_chords must be one of {INSTRUMENT_CHORDS}, got {instrument_chords!r}"
        )
    return (None, None) if instrument_chords == "all" else (root, quality)


def syntheory_task_names(
    concepts: Iterable[str],
    root: int | str = "C",
    quality: str = "major",
    key: int | str = "C",
    instrument_chords: str = "all",
) -> dict[str, str]:
    """Task name → concept of the tasks :func:`syntheory_tasks` builds (no data needed)."""
    concepts = set(concepts)
    names = {}
    if "notes" in concepts:
        names["pitch_class"] = "notes"
    if "chords" in concepts:
        names[f"chord_quality_{_pc_part(root)}"] = "chords"
        names[instrument_task_name(*instrument_scope(instrument_chords, root, quality))] = "chords"
    if "chord_progressions" in concepts:
        names[f"progression_{_pc_part(key)}"] = "chord_progressions"
    return names


def syntheory_tasks(
    manifests: Mapping[str, pd.DataFrame] | pd.DataFrame,
    root: int | str = "C",
    quality: str = "major",
    key: int | str = "C",
    instruments: Sequence[int | str] | None = DEFAULT_INSTRUMENTS,
    seed: int = 0,
    instrument_chords: str = "all",
) -> dict[str, pd.DataFrame]:
    """The SynTheory tasks of the concepts given, by task name.

    ``manifests``: one manifest per concept (``{"notes": df, ...}``) or one manifest
    with a ``concept`` column. notes → ``pitch_class``; chords →
    ``chord_quality_<root>`` and the instrument task (``instrument`` over every chord,
    or ``instrument_<root>_<quality>`` with ``instrument_chords="task_root"``);
    chord_progressions → ``progression_<key>``. Names as :func:`syntheory_task_names`.
    """
    if isinstance(manifests, pd.DataFrame):
        manifest = manifests
    else:
        frames = [m.assign(concept=c) for c, m in manifests.items()]
        manifest = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    concepts = set(manifest["concept"]) if "concept" in manifest.columns else set()
    tasks: list[pd.DataFrame] = []
    if "notes" in concepts:
        tasks.append(pitch_class_task(manifest, seed))
    if "chords" in concepts:
        tasks.append(chord_quality_task(manifest, root, seed))
        scope = instrument_scope(instrument_chords, root, quality)
        tasks.append(instrument_task(manifest, *scope, instruments, seed))
    if "chord_progressions" in concepts:
        tasks.append(progression_task(manifest, key, seed=seed))
    return {t["task"].iloc[0]: t for t in tasks}


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def _classes_text(table: pd.DataFrame) -> str:
    """Classes in ``y`` order, comma-separated; a ``y`` of several labels is ``rest``."""
    names = []
    for _, labels in table.groupby("y", sort=True)["label"]:
        unique = labels.unique()
        names.append(str(unique[0]) if len(unique) == 1 else "rest")
    return ",".join(names)


def task_index(tasks: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per task: ``task, kind, classes, n``."""
    rows = [
        {"task": name, "kind": str(t["kind"].iloc[0]), "classes": _classes_text(t), "n": len(t)}
        for name, t in tasks.items()
    ]
    return pd.DataFrame(rows, columns=INDEX_COLUMNS)


def index_of_task_files(paths: Iterable[str | Path]) -> pd.DataFrame:
    """The task index of task tables already written, one per ``<task>.parquet``."""
    return task_index({Path(p).stem: read_table(p) for p in paths})


def write_tasks(tasks: Mapping[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write ``out_dir/<task>.parquet`` for each task and ``out_dir/index.tsv``."""
    out = Path(out_dir)
    paths = [write_table(table, out / f"{name}.parquet") for name, table in tasks.items()]
    paths.append(write_table(task_index(tasks), out / "index.tsv"))
    return paths


def _balanced_draw(
    positives: np.ndarray, negative_pools: dict[str, np.ndarray], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Equally many positives and negatives, the negatives spread over their pools.

    Returns sorted clip indices and their 0/1 labels (1 = positive).
    """
    n = min(len(positives), sum(len(p) for p in negative_pools.values()))
    if n < 2:
        raise ValueError(f"need at least 2 samples per side, got {n}")
    quota = even_split({c: len(p) for c, p in negative_pools.items()}, n)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(positives, size=n, replace=False)
    negatives = [
        rng.choice(pool, size=quota[c], replace=False) for c, pool in negative_pools.items()
    ]
    indices = np.sort(np.concatenate([chosen, *negatives]))
    return indices, np.isin(indices, chosen).astype(np.int64)


def balance_binary(
    labels: Sequence[str] | np.ndarray, positive: str, negative: str | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Balanced positive-vs-negative subsample of a labelled set.

    Args:
        labels: class label of every clip.
        positive: the positive class.
        negative: the negative class, or ``None`` for "rest": all other classes,
            drawn as evenly across them as their sizes allow.
        seed: random seed (the result is deterministic given it).

    Returns:
        ``(indices, y)``: sorted clip indices and their 0/1 labels (1 = positive),
        with equally many positives and negatives.
    """
    labels = np.asarray(labels)
    if positive not in labels:
        raise ValueError(f"positive class {positive!r} not found in labels")
    if negative is not None and negative not in labels:
        raise ValueError(f"negative class {negative!r} not found in labels")
    if negative == positive:
        raise ValueError(f"positive and negative are the same class {positive!r}")
    neg_classes = [negative] if negative is not None else sorted(set(labels) - {positive})
    if not neg_classes:
        raise ValueError(f"no classes other than {positive!r} to use as negatives")
    pools = {c: np.flatnonzero(labels == c) for c in neg_classes}
    return _balanced_draw(np.flatnonzero(labels == positive), pools, seed)
