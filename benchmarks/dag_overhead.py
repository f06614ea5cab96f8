"""What a dry run costs on a finished workflow, against snakemake's own start-up.

Every dry run, SLURM job start and ``--report`` parses the workflow. This times, in
one run and interleaved, ``snakemake --version`` (the bare start-up: Python, snakemake
and its plugins, e.g. the SLURM plugin's ``scontrol show config`` probe) and
``snakemake -n`` on a workflow whose outputs all exist, and checks that the dry run
found nothing to do and that parsing imported neither torch nor transformers.
The last line is ``dag_noop_seconds <median dry-run seconds>``.

    make demo   # or any finished run
    .venv/bin/python benchmarks/dag_overhead.py [--configfile config/demo.yaml] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
HEAVY = ("torch", "transformers")


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    return time.perf_counter() - start, done


def parse_imports(configfile: str) -> set[str]:
    """Top-level packages the dry run imported (``python -X importtime``)."""
    command = [sys.executable, "-X", "importtime", SNAKEMAKE, "-n", "--configfile", configfile]
    done = subprocess.run(command, capture_output=True, text=True)
    names = (line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines())
    return {name.split(".")[0] for name in names if name and "|" not in name}


def summary(label: str, seconds: list[float]) -> str:
    low, mid, high = min(seconds), statistics.median(seconds), max(seconds)
    return f"{label:<22} min {low:6.2f} s   median {mid:6.2f} s   max {high:6.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", default="config/demo.yaml")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    version, dry = [], []
    for _ in range(args.repeats):
        seconds, _ = timed([SNAKEMAKE, "--version"])
        version.append(seconds)
        seconds, done = timed([SNAKEMAKE, "-n", "--configfile", args.configfile])
        if done.returncode != 0 or "Nothing to be done" not in done.stdout + done.stderr:
            sys.exit(f"the dry run is not a no-op here (finish the run first):\n{done.stdout}")
        dry.append(seconds)
    heavy = sorted(set(HEAVY) & parse_imports(args.configfile))
    print(summary("snakemake --version", version))
    print(summary("snakemake -n (no-op)", dry))
    print(
        f"parse overhead (median dry run - median start-up): "
        f"{statistics.median(dry) - statistics.median(version):.2f} s"
    )
    print(f"heavy imports while parsing: {', '.join(heavy) or 'none'}")
    print(f"dag_noop_seconds {statistics.median(dry):.2f}")


if __name__ == "__main__":
    main()
