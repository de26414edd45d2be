"""Shared fixtures: small recording files in the real file's format, made on the fly."""

import numpy as np
import pytest


def write_recording(path, n_neurons=40, stimuli=None, dtype=np.float32, seed=0):
    """Write a small recording-format npz (``resp``, ``stimuli``) of tuned random responses.

    Args:
        path: where to write the file.
        n_neurons: number of columns of ``resp``.
        stimuli: 1-D stimulus values in degrees (default: integers 0..359).
        dtype: dtype of both arrays.
        seed: seed of the random tuning and noise.

    Returns:
        The path written.
    """
    rng = np.random.default_rng(seed)
    stimuli = np.arange(360.0) if stimuli is None else np.asarray(stimuli, dtype=float)
    pref = rng.uniform(0, 180, n_neurons)
    theta = np.deg2rad(stimuli[:, None] - pref[None, :])
    resp = np.exp(2 * (np.cos(2 * theta) - 1)) + 0.3 * rng.standard_normal(theta.shape)
    np.savez(path, resp=resp.astype(dtype), stimuli=stimuli.astype(dtype))
    return path


@pytest.fixture
def recording(tmp_path):
    """Path of a small recording-format file with 40 neurons and stimuli 0..359 deg."""
    return str(write_recording(tmp_path / "recording.npz"))
