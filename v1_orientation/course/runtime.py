"""Reproducibility and device: one seed for every generator, and where torch computes."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = [
    "set_seed", "get_device",
]


def set_seed(seed: int) -> None:
    """Seed every random number generator the notebook uses.

    Seeds Python's ``random``, NumPy's global generator and torch (CPU and all
    CUDA devices), and makes cuDNN choose deterministic algorithms, so that a
    re-execution prints the same numbers.

    Args:
        seed: non-negative integer seed.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def get_device(preference: str = "auto") -> torch.device:
    """Return the torch device to compute on.

    Args:
        preference: ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.

    Returns:
        The chosen ``torch.device``.

    Raises:
        ValueError: ``preference`` is not one of the three values, or is
            ``"cuda"`` on a machine without a CUDA GPU.
    """
    preference = str(preference).lower()
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device preference must be 'auto', 'cpu' or 'cuda', got {preference!r}")
    cuda = torch.cuda.is_available()
    if preference == "cuda" and not cuda:
        raise ValueError(
            "device 'cuda' was asked for but torch sees no CUDA GPU; "
            "use 'auto' or 'cpu' (in Colab: Runtime > Change runtime type > GPU)"
        )
    if preference == "cpu" or not cuda:
        return torch.device("cpu")
    return torch.device("cuda")
