"""Package-internal helpers that several modules share: NumPy conversion, threads, device.

Not part of the public API (every name is private); any module of either layer may import
it, and it imports nothing from the package.
"""

from __future__ import annotations

import contextlib
import os
from functools import cache

import numpy as np
import torch
from torch import nn


def _single_threaded(user_api="blas"):
    """Context that runs NumPy's BLAS (or, with ``user_api=None``, also OpenMP) on one thread.

    The Gram matrices, eigendecompositions and t-SNE runs here are small: one
    thread is as fast, and it does not collapse when the cores are shared with
    torch's threads or other processes (50-fold slowdowns were seen on 2 shared
    cores).

    The BLAS libraries are found once (finding them reads the process's memory map,
    which costs more than a small eigendecomposition); OpenMP, whose libraries load
    with the code that uses them (scikit-learn's t-SNE), is looked up on every call.

    Args:
        user_api (str or None): ``"blas"``, ``"openmp"`` or ``None`` for both.
    """
    from threadpoolctl import ThreadpoolController

    pools = _blas_pools() if user_api == "blas" else ThreadpoolController()
    return pools.limit(limits=1, user_api=user_api)


@cache
def _blas_pools():
    """The thread pools of the BLAS libraries loaded with NumPy and SciPy (found once)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def _module_device(net: nn.Module) -> torch.device:
    """Device of a module's first parameter (CPU for a module without parameters)."""
    for p in net.parameters():
        return p.device
    return torch.device("cpu")


def _as_numpy(x) -> np.ndarray:
    """Convert a tensor (on any device) or array-like to a NumPy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _display_path(path):
    """The path relative to the working directory when it lies below it, else absolute."""
    path = os.path.abspath(path)
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


@contextlib.contextmanager
def _torch_threads(n):
    """Within the block, torch uses ``n`` intra-op threads (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
