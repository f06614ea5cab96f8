"""The mini models' manifest (how they were made, how good they are) and loss figure."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

COMMAND = "make mini"


def manifest(
    recipe: Mapping[str, Any],
    training: Mapping[str, Any],
    gates: Mapping[str, Any],
    model_dirs: Sequence[str | Path],
) -> dict[str, Any]:
    """Command, commit, versions, recipe (seeds included), training runs, gates, files."""
    import torch
    import transformers

    files = {
        f"{Path(d).name}/{f.name}": {"bytes": f.stat().st_size, "sha256": _sha256(f)}
        for d in model_dirs
        for f in sorted(Path(d).iterdir())
        if f.is_file()
    }
    return {
        "command": COMMAND,
        "commit": _commit(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "recipe": dict(recipe),
        "training": dict(training),
        "training_seconds": round(sum(t["seconds"] for t in training.values()), 1),
        "gates": dict(gates),
        "files": files,
        "total_bytes": sum(f["bytes"] for f in files.values()),
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def plot_training(histories: Mapping[str, str | Path], out: str | Path) -> None:
    """One panel per training run: loss per step, raw and smoothed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(histories), figsize=(4 * len(histories), 3.2), squeeze=False)
    for ax, (name, path) in zip(axes[0], histories.items(), strict=True):
        loss = pd.read_csv(path)["loss"]
        ax.plot(loss.to_numpy(), color="0.75", lw=0.6, label="per step")
        smooth = loss.rolling(max(1, len(loss) // 50), min_periods=1).mean()
        ax.plot(smooth.to_numpy(), color="C0", lw=1.5, label="smoothed")
        ax.set(title=name, xlabel="step", ylabel="loss")
        ax.legend(frameon=False)
    fig.suptitle("musicsteer-mini training (make mini)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def install(models_dir: str | Path, dest: str | Path | None = None) -> list[str]:
    """Copy trained mini models and their manifest into the shipped checkpoints folder.

    Returns the gates that failed (installed anyway: the manifest says so).
    """
    from musicsteer.models.specs import CHECKPOINTS, MINI_MODELS

    source, target = Path(models_dir), Path(dest or CHECKPOINTS)
    record = json.loads((source / "manifest.json").read_text())
    names = [n for n in MINI_MODELS if (source / n).is_dir()]
    if not names:
        raise FileNotFoundError(f"no mini model folder in {source}; run `snakemake mini_models`")
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.rmtree(target / name, ignore_errors=True)
        shutil.copytree(source / name, target / name)
    shutil.copy2(source / "manifest.json", target / "manifest.json")
    return list(record["gates"]["failed"])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m musicsteer.mini.release MODELS_DIR``: install what ``mini_models`` built."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("models_dir", help="the models folder of snakemake mini_models")
    args = parser.parse_args(argv)
    failed = install(args.models_dir)
    print(f"installed the mini models from {args.models_dir}")
    if failed:
        print(f"warning: these quality gates failed (see manifest.json): {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
