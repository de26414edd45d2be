"""``course.runtime``: one seed for every generator, and the device."""

import numpy as np
import pytest
import torch

from v1_orientation.course.runtime import get_device, set_seed


def test_get_device_and_set_seed():
    assert get_device("cpu") == torch.device("cpu")
    assert get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            get_device("cuda")
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda'"):
        get_device("tpu")
    import random
    draws = []
    for _ in range(2):
        set_seed(5)
        draws.append((random.random(), np.random.rand(), torch.rand(1).item()))
    assert draws[0] == draws[1]
