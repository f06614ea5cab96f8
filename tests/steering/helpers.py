import numpy as np

from musicsteer.models.hookpoints import decoder_layers
from musicsteer.steering.vector import SteeringVector


def _vector(tiny, site="resid", seed=0, **kw):
    n = len(decoder_layers(tiny.model))
    rows = n + 1 if site == "resid" else n
    dirs = np.random.default_rng(seed).normal(size=(rows, 64)).astype(np.float32)
    kw.setdefault("mean_norm", [4.0 + i for i in range(rows)])
    return SteeringVector(dirs, layer=1, site=site, model="tiny", **kw)
