"""Hook bookkeeping shared by the activation and steering tests."""

import torch


def hook_count(model: torch.nn.Module) -> int:
    """Every forward hook and pre-hook registered anywhere in the model."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
