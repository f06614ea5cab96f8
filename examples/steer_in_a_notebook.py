# %% [markdown]
# # Steer MusicGen from a notebook, without Snakemake
#
# The whole method on the shipped `mini-*` models (real transformers MusicGen and CLAP
# classes, trained by this project on four rendered genres), in about a minute on a CPU:
#
# 1. render a few rock and pop clips (FluidSynth + TimGM6mb),
# 2. capture the residual stream of every layer at the last token,
# 3. find the layer where a linear probe tells the genres apart,
# 4. fit a steering vector (difference in means) there,
# 5. generate rock prompts plainly and steered towards pop,
# 6. score both with zero-shot CLAP and plot P(pop) against α.
#
# Open it as a notebook (VS Code or Jupytext read the `# %%` cells) or run it:
# `.venv/bin/python examples/steer_in_a_notebook.py --out results/example`.
# For the real models swap the names for `facebook/musicgen-melody` and
# `laion/clap-htsat-unfused` (and `device="cuda"`).

# %%
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from musicsteer import generate, load_clap, load_musicgen  # noqa: E402
from musicsteer.activations import record  # noqa: E402
from musicsteer.evaluation.clap import ClapScorer  # noqa: E402
from musicsteer.mini.corpus import cut_clips  # noqa: E402
from musicsteer.probing.assembly import build_vector  # noqa: E402
from musicsteer.probing.probes import probe_accuracy  # noqa: E402
from musicsteer.render.genres import render_genre_corpus  # noqa: E402

parser = argparse.ArgumentParser(description="steer MusicGen in a few cells")
parser.add_argument("--out", type=Path, default=Path("results/example"), help="figure folder")
parser.add_argument("--tracks", type=int, default=8, help="rendered tracks per genre")
args, _ = parser.parse_known_args()  # a notebook kernel passes its own arguments
args.out.mkdir(parents=True, exist_ok=True)
SOURCE, TARGET, GENRES = "rock", "pop", ["rock", "pop", "folk", "hiphop"]

# %% [markdown]
# ## 1. Models and a little data

# %%
mg = load_musicgen("mini-musicgen")  # a Hub ID or a save_pretrained folder works the same
clap = ClapScorer(*load_clap("mini-clap"))
root = Path(tempfile.mkdtemp(prefix="musicsteer_example_"))
tracks = render_genre_corpus(root, [SOURCE, TARGET], args.tracks, 8.0, mg.sample_rate, seed=0)
clips = cut_clips(tracks.assign(split="train"), root, 4.0, mg.sample_rate)
waves, labels = clips.of("train")
print(
    f"{len(waves)} clips of 4 s: {labels.count(SOURCE)} {SOURCE}, {labels.count(TARGET)} {TARGET}"
)

# %% [markdown]
# ## 2. Activations: the residual stream entering every layer, at the last token

# %%
X = record(mg, np.stack(waves), sites=("resid",))["resid"]  # [clips, layers + 1, d]
y = np.array(labels) == TARGET
print("activations", X.shape)

# %% [markdown]
# ## 3. Where does the model tell rock from pop? Held-out probe accuracy per layer

# %%
# folds keep both clips of a track together: a sibling clip in training would leak
accuracy = probe_accuracy(X, y, "dim", folds=4, groups=clips.tracks)
layer = int(np.argmax(accuracy[1:-1])) + 1  # an inner layer: steering the input or output is moot
print("probe accuracy by layer:", np.round(accuracy, 2).tolist(), "-> layer", layer)

# %% [markdown]
# ## 4. A steering vector: difference in means, saved with its layer and norms

# %%
vector = build_vector(X, y, "dim", "resid", layer, "pair", TARGET, SOURCE, mg.name, accuracy)
vector.save(args.out / "rock_to_pop.npz")  # `musicsteer generate --vector` reads it too

# %% [markdown]
# ## 5. Generate rock prompts, plainly and steered; α is a fraction of the mean ‖h‖

# %%
prompts = ["energetic rock song with distorted electric guitars and drums"] * 4
alphas = [0.0, 0.15, 0.3]
steered = {}
for alpha in alphas:
    with vector.apply(mg.model, alpha):  # hooks live only inside the block
        steered[alpha] = generate(mg, prompts, max_new_tokens=153, seed=1)  # 3 s
print({alpha: waves.shape for alpha, waves in steered.items()})

# %% [markdown]
# ## 6. Score with zero-shot CLAP and plot

# %%
p_target = {
    alpha: clap.probabilities(list(w), mg.sample_rate, GENRES)[:, GENRES.index(TARGET)]
    for alpha, w in steered.items()
}
means = [float(p_target[a].mean()) for a in alphas]
fig, ax = plt.subplots(figsize=(5, 3.2))
for alpha in alphas:
    ax.scatter([alpha] * len(p_target[alpha]), p_target[alpha], color="tab:blue", alpha=0.4)
ax.plot(alphas, means, "o-", color="tab:red", label="mean")
ax.set(
    xlabel="α (× mean ‖h‖)",
    ylabel=f"P({TARGET}) by CLAP",
    title=f"{SOURCE} → {TARGET}, layer {layer}",
)
ax.legend()
fig.tight_layout()
fig.savefig(args.out / "p_target_vs_alpha.png", dpi=120)
print("P(pop) by alpha:", {a: round(m, 3) for a, m in zip(alphas, means, strict=True)})
