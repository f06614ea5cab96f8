from contextlib import AbstractContextManager, nullcontext

import numpy as np
import torch

from musicsteer.models.hookpoints import decoder_layers
from musicsteer.steering.vector import SteeringVector


def _vector(tiny, site="resid", seed=0, **kw):
    n = len(decoder_layers(tiny.model))
    rows = n + 1 if site == "resid" else n
    dirs = np.random.default_rng(seed).normal(size=(rows, 64)).astype(np.float32)
    kw.setdefault("mean_norm", [4.0 + i for i in range(rows)])
    return SteeringVector(dirs, layer=1, site=site, model="tiny", **kw)


def layer_input(
    tiny,
    layer: int,
    steering: AbstractContextManager | None = None,
    prompts: tuple[str, ...] = ("a", "b"),
) -> torch.Tensor:
    """The input of decoder ``layer`` in one teacher-forced forward (no CFG doubling),
    after any steering hook on it: the reading hook is registered after ``steering``'s."""
    seen = {}
    rows = len(prompts) * tiny.num_codebooks
    ids = torch.randint(0, 2048, (rows, 5), generator=torch.Generator().manual_seed(0))
    text = tiny.tokenizer(list(prompts), return_tensors="pt", padding=True)
    with torch.inference_mode(), steering or nullcontext():
        handle = decoder_layers(tiny.model)[layer].register_forward_pre_hook(
            lambda _m, a, k: seen.update(x=(a[0] if a else k["hidden_states"]).clone()),
            with_kwargs=True,
        )
        try:
            tiny.model(**text, decoder_input_ids=ids, use_cache=False)
        finally:
            handle.remove()
    return seen["x"]
