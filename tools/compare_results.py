"""Compare two pipeline result folders: are the tables, vectors, arrays and audio the same?

    python tools/compare_results.py BEFORE/results AFTER/results [--rename index=layer]
        [--move 'REGEX=>REPLACEMENT' ...] [--ignore-meta task]

Tables (Parquet/TSV/CSV) are compared as frames: same rows, and the same columns after
renames, in any column order; numbers exactly or within ``--rtol``. Vectors (``.npz``)
compare their arrays and metadata, ``.npy`` and ``.wav`` files their content. Figures,
HTML and logs are skipped (they carry paths, fonts and timestamps). ``--move`` maps
files that moved (``re.sub`` on the path relative to the results folder, also applied
to path strings inside tables); a target ``A+B`` compares the before-table with the
two after-tables stacked. Prints one line per difference and a summary; exits 1 if
anything differs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

COMPARED = {".parquet", ".tsv", ".csv", ".npz", ".npy", ".wav", ".md"}


def read_table(paths: list[Path], renames: dict[str, str]) -> pd.DataFrame:
    frames = []
    for path in paths:
        if path.suffix == ".parquet":
            frames.append(pd.read_parquet(path))
        else:
            frames.append(pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ","))
    frame = pd.concat(frames, ignore_index=True).rename(columns=renames)
    return frame[sorted(frame.columns, key=str)].reset_index(drop=True)


def tables_differ(a: pd.DataFrame, b: pd.DataFrame, rtol: float, words: dict) -> str | None:
    if list(a.columns) != list(b.columns):
        return f"columns {sorted(set(a.columns) ^ set(b.columns))} differ"
    if len(a) != len(b):
        return f"{len(a)} vs {len(b)} rows"
    for column in a.columns:
        x, y = a[column], b[column]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            if not np.allclose(
                x.to_numpy(float), y.to_numpy(float), rtol=rtol, atol=0, equal_nan=True
            ):
                return f"column {column!r} differs numerically"
        elif not _renamed(x.astype(str), words).equals(y.astype(str)):
            return f"column {column!r} differs"
    return None


def _renamed(values: pd.Series, words: dict[str, str]) -> pd.Series:
    for old, new in words.items():
        values = values.str.replace(old, new, regex=False)
    return values


def vectors_differ(a: Path, b: Path, rtol: float, ignore: set[str]) -> str | None:
    with np.load(a) as x, np.load(b) as y:
        if not np.allclose(x["directions"], y["directions"], rtol=rtol, atol=0):
            return "directions differ"
        meta = [
            {k: v for k, v in json.loads(str(z["meta"])).items() if k not in ignore} for z in (x, y)
        ]
        if meta[0] != meta[1]:
            return f"metadata differs: {sorted(k for k in meta[0] if meta[0][k] != meta[1].get(k))}"
    return None


def differs(
    a: Path, b: list[Path], renames: dict[str, str], rtol: float, words: dict, ignore: set[str]
) -> str | None:
    if a.suffix in {".parquet", ".tsv", ".csv"}:
        return tables_differ(read_table([a], renames), read_table(b, renames), rtol, words)
    b = b[0]
    if a.suffix == ".npz":
        return vectors_differ(a, b, rtol, ignore)
    if a.suffix == ".npy":
        return None if np.array_equal(np.load(a), np.load(b), equal_nan=True) else "array differs"
    if a.suffix == ".md":
        text = a.read_text()
        for old, new in words.items():
            text = text.replace(old, new)
        return None if text == b.read_text() else "text differs"
    return None if a.read_bytes() == b.read_bytes() else "bytes differ"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rename", nargs="*", default=["index=layer"], help="old=new columns")
    parser.add_argument("--rtol", type=float, default=0.0, help="0: numbers must be equal")
    parser.add_argument("--move", nargs="*", default=[], help="REGEX=>REPLACEMENT path maps")
    parser.add_argument("--ignore-meta", nargs="*", default=[], help="vector metadata keys")
    args = parser.parse_args(argv)
    renames = dict(item.split("=", 1) for item in args.rename)
    moves = [tuple(item.split("=>", 1)) for item in args.move]
    # wording renamed on purpose (the layer column, its evidence text), and moved paths
    words = {" at index ": " at layer ", "fixed index from": "fixed layer from"}

    def moved(rel: str) -> str:
        for pattern, replacement in moves:
            rel = re.sub(pattern, replacement, rel)
        return rel

    def files(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix in COMPARED}

    before, after = files(args.before), files(args.after)
    pairs = {rel: moved(rel).split("+") for rel in before}
    problems = [f"only before: {r}" for r, m in sorted(pairs.items()) if not set(m) <= after]
    matched = {r: m for r, m in pairs.items() if set(m) <= after}
    used = {m for targets in matched.values() for m in targets}
    problems += [f"only after: {p}" for p in sorted(after - used)]
    same = 0
    for rel, targets in sorted(matched.items()):
        path_words = {**words, **{r: "+".join(m) for r, m in pairs.items() if [r] != m}}
        why = differs(
            args.before / rel,
            [args.after / t for t in targets],
            renames,
            args.rtol,
            {**path_words, **_value_moves(args.before, matched)},
            set(args.ignore_meta),
        )
        if why:
            problems.append(f"{rel}: {why}")
        else:
            same += 1
    print("\n".join(problems))
    print(f"compared {len(matched)} files: {same} equal, {len(problems)} problems")
    return 1 if problems else 0


def _value_moves(root: Path, matched: dict[str, list[str]]) -> dict[str, str]:
    """Path strings inside tables move with their files (``results/<rel>``)."""
    prefix = root.name
    return {
        f"{prefix}/{r}": f"{prefix}/{m[0]}" for r, m in matched.items() if [r] != m and len(m) == 1
    }


if __name__ == "__main__":
    sys.exit(main())
