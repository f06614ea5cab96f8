"""Peak RSS of streaming extraction does not grow with the number of clips.

Runs ``extract_manifest`` on N and 4N clips (tiny Melody model) in fresh processes and
prints both peaks, then reads one layer back and compares its RSS growth with the size
of that layer's matrix. The last line is ``extract_rss_growth <ratio>`` (4N / N peak).

    .venv/bin/python benchmarks/extract_memory.py [--clips 16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys
from pathlib import Path
import numpy as np, pandas as pd
from musicsteer import activations as act, audio
from musicsteer.models import random_musicgen

n, folder = int(sys.argv[1]), Path(sys.argv[2])
mg = random_musicgen(melody=True)
rng = np.random.default_rng(0)
rows = []
for i in range(n):
    path = audio.write_wav(folder / f"c{i}.wav", rng.normal(0, 0.1, 32000 * 10), 32000)
    rows.append({"clip_id": f"c{i}", "label": "x", "source": str(path),
                 "offset_s": 0.0, "duration_s": 10.0})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
settings = act.ExtractSettings(model="tiny", batch_size=4, shard_size=8)
index = act.extract_manifest(mg, pd.DataFrame(rows), folder / "acts", settings, progress=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
def rss_kb():
    return int(open("/proc/self/statm").read().split()[1]) * 4

before = rss_kb()
layer = act.load_site(folder / "acts", "resid", 2, index)
read_kb = rss_kb() - before
print(json.dumps({"base_kb": base, "peak_kb": peak, "layer_bytes": layer.nbytes,
                  "read_kb": read_kb}))
"""


def run(n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(n), tmp], check=True, capture_output=True, text=True
        ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16)
    args = parser.parse_args()
    small, large = run(args.clips), run(4 * args.clips)
    for n, r in ((args.clips, small), (4 * args.clips, large)):
        print(
            f"{n} clips: peak RSS {r['peak_kb'] / 1024:.0f} MiB "
            f"(+{(r['peak_kb'] - r['base_kb']) / 1024:.0f} MiB during extraction); reading one "
            f"layer grew RSS by {r['read_kb']} KiB for a {r['layer_bytes'] / 1024:.0f}-KiB matrix"
        )
    print(f"extract_rss_growth {large['peak_kb'] / small['peak_kb']:.3f}")


if __name__ == "__main__":
    main()
