"""Shared test data: one synthetic tuned population, and recording files made from it.

Every test that needs neurons with known tuning takes them from ``tuned_population``: von Mises
tuning with K peaks per period, independent Gaussian noise, and an optional per-stimulus jitter
of the orientation the population "sees" (information-limiting noise). What is planted (the
noise-free curves, each unit's parameters, the Fisher information) comes back with the responses,
so a test can compare what the code recovers with what was put in.
"""

import contextlib
import io
from dataclasses import dataclass

import numpy as np
import pytest
import template_cells

from v1_orientation.course.rdm import RDM
from v1_orientation.solution.circular import orientation_difference


def _peak_terms(stimuli, preferred, kappa, amplitudes, period):
    """Each peak's ``a_nk exp(kappa_n (cos u_k - 1))`` and its phase u_k, as (S, N) arrays."""
    preferred = np.atleast_1d(np.asarray(preferred, dtype=float))
    amplitudes = np.asarray(amplitudes, dtype=float)
    amplitudes = amplitudes.reshape(1, -1) if amplitudes.ndim < 2 else amplitudes  # (1 or N, K)
    n_peaks = amplitudes.shape[1]
    phase = 2 * np.pi * (np.asarray(stimuli, dtype=float)[:, None] - preferred) / period
    for k in range(n_peaks):
        u = phase - 2 * np.pi * k / n_peaks
        yield amplitudes[:, k] * np.exp(kappa * (np.cos(u) - 1)), u


def tuning_curves(stimuli, preferred, kappa, amplitudes, baseline=0.0, period=180.0):
    """Noise-free von Mises tuning, K peaks per period, evaluated directly.

    ``r_n(theta) = b_n + sum_k a_nk exp(kappa_n (cos(2 pi (theta - mu_n) / P - 2 pi k / K) - 1))``.

    Args:
        stimuli: (S,) stimulus values, degrees.
        preferred: (N,) mu, the stimulus at peak k = 0, degrees.
        kappa: (N,) or scalar concentration.
        amplitudes: (N, K), (K,) or scalar peak heights a_nk (a scalar: K = 1).
        baseline: (N,) or scalar b.
        period: P, degrees.

    Returns:
        (S, N) responses.
    """
    terms = [term for term, _ in _peak_terms(stimuli, preferred, kappa, amplitudes, period)]
    return np.asarray(baseline, dtype=float) + sum(terms)


def tuning_slopes(stimuli, preferred, kappa, amplitudes, period=180.0):
    """Derivative of ``tuning_curves`` with respect to the stimulus, (S, N), per degree."""
    terms = _peak_terms(stimuli, preferred, kappa, amplitudes, period)
    return sum(term * (-kappa * np.sin(u)) for term, u in terms) * 2 * np.pi / period


@dataclass
class Population:
    """Responses of a synthetic population and everything planted in them.

    Attributes:
        resp: (S, N) noisy responses, one row per stimulus.
        clean: (S, N) noise-free responses (at the jittered stimuli).
        stimuli: (S,) stimulus values, degrees.
        preferred: (N,) stimulus at each unit's first peak, degrees in [0, period).
        kappa: (N,) concentrations.
        amplitudes: (N, K) peak heights.
        baseline: (N,) baselines.
        jitter: (S,) the shift xi of the stimulus each row's population saw, degrees.
        fisher: (S,) Fisher information of the population about the stimulus, deg^-2
            (independent Gaussian noise: sum_n r_n'(theta)^2 / noise^2; inf without noise).
        noise: standard deviation of the Gaussian noise.
        period: period of the tuning, degrees.
    """

    resp: np.ndarray
    clean: np.ndarray
    stimuli: np.ndarray
    preferred: np.ndarray
    kappa: np.ndarray
    amplitudes: np.ndarray
    baseline: np.ndarray
    jitter: np.ndarray
    fisher: np.ndarray
    noise: float
    period: float


def tuned_population(stimuli, n_units, *, period=180.0, n_peaks=1, preferred=None, kappa=2.0,
                     amplitudes=1.0, baseline=0.0, noise=0.3, jitter=0.0, seed=0,
                     noise_seed=None):
    """Von Mises-tuned units with independent Gaussian noise, their planted truth alongside.

    Unit n responds to stimulus s with ``tuning_curves(theta_s + xi_s) + noise * N(0, 1)``, where
    ``xi_s ~ N(0, jitter^2)`` is drawn once per stimulus and shared by all units: no decoder can
    recover it, so it limits the information however many units there are.

    Args:
        stimuli: (S,) stimulus values, degrees.
        n_units: N.
        period: period of the tuning, degrees (180: orientation; 360: direction).
        n_peaks: K, peaks per period, evenly spaced.
        preferred: (N,) first-peak stimuli in degrees (default: uniform on [0, period)).
        kappa: scalar or (N,) concentration.
        amplitudes: scalar, (K,) or (N, K) peak heights.
        baseline: scalar or (N,) baselines.
        noise: standard deviation of the independent noise, scalar or (S,) per stimulus
            (e.g. smaller for a bin that averages more trials).
        jitter: standard deviation of the shared stimulus jitter, degrees.
        seed: seed (or numpy Generator) of the preferences, jitter and noise.
        noise_seed: separate seed of the noise only (the same units, new noise).

    Returns:
        Population.
    """
    rng = np.random.default_rng(seed)
    stimuli = np.asarray(stimuli, dtype=float)
    if preferred is None:
        preferred = rng.uniform(0, period, n_units)
    preferred = np.broadcast_to(np.asarray(preferred, dtype=float), (n_units,))
    kappa = np.broadcast_to(np.asarray(kappa, dtype=float), (n_units,))
    amplitudes = np.broadcast_to(np.asarray(amplitudes, dtype=float), (n_units, n_peaks))
    baseline = np.broadcast_to(np.asarray(baseline, dtype=float), (n_units,))
    xi = jitter * rng.standard_normal(stimuli.size)
    seen = stimuli + xi
    clean = tuning_curves(seen, preferred, kappa, amplitudes, baseline, period)
    slopes = tuning_slopes(seen, preferred, kappa, amplitudes, period)
    sigma = np.broadcast_to(np.asarray(noise, dtype=float), stimuli.shape)
    with np.errstate(divide="ignore"):
        fisher = (slopes**2).sum(axis=1) / sigma**2
    noise_rng = rng if noise_seed is None else np.random.default_rng(noise_seed)
    resp = clean + sigma[:, None] * noise_rng.standard_normal(clean.shape)
    return Population(resp, clean, stimuli, np.mod(preferred, period), kappa, amplitudes,
                      baseline, xi, fisher, noise, period)


def write_recording(path, n_neurons=40, stimuli=None, dtype=np.float32, seed=0, **extra):
    """Write a small recording-format npz (``resp``, ``stimuli``) of a tuned population.

    Args:
        path: where to write the file.
        n_neurons: number of columns of ``resp``.
        stimuli: 1-D stimulus values in degrees (default: integers 0..359).
        dtype: dtype of both arrays.
        seed: seed of the population.
        **extra: more arrays to store in the file (e.g. a ``surrogate`` marker).

    Returns:
        The path written.
    """
    stimuli = np.arange(360.0) if stimuli is None else np.asarray(stimuli, dtype=float)
    resp = tuned_population(stimuli, n_neurons, seed=seed).resp
    np.savez(path, resp=resp.astype(dtype), stimuli=stimuli.astype(dtype), **extra)
    return path


@pytest.fixture
def recording(tmp_path):
    """Path of a small recording-format file with 40 neurons and stimuli 0..359 deg."""
    return str(write_recording(tmp_path / "recording.npz"))


# --- helpers that several test modules share ---------------------------------------------


def random_rdm(rng, n_stimuli=20, n_units=30):
    return RDM(rng.normal(size=(n_stimuli, n_units)))


def flat(result):
    """One float64 vector of a result: an array, a tuple of arrays or a dict of numbers."""
    parts = result.values() if isinstance(result, dict) else \
        result if isinstance(result, tuple) else [result]
    return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts])


@pytest.fixture(scope="module")
def split():
    """181 stimuli at 1-deg steps, 300 noisy tuned neurons, a random 108 / 73 split."""
    theta = np.linspace(-90, 90, 181)
    resp = tuned_population(theta, 300, noise=0.2).resp
    idx = np.random.default_rng(1).permutation(len(theta))
    return resp, theta, idx[:108], idx[108:]


def circular_rmse(predicted, true):
    return np.sqrt(np.mean(orientation_difference(predicted, true) ** 2))


def tuned_rows(n_stimuli, n_units, seed=0):
    """Responses and angles of ``tuned_population`` at sorted random orientations in -90..90."""
    theta = np.sort(np.random.default_rng(seed).uniform(-90, 90, n_stimuli))
    return tuned_population(theta, n_units, noise=0.2, seed=seed).resp, theta


def orientations(n_stimuli=180):
    return np.arange(n_stimuli) * 180.0 / n_stimuli


@pytest.fixture(scope="module")
def trained_namespace():
    """Namespace after `from ccn_helpers import *` and the template's cell C1."""
    namespace = {}
    exec("from ccn_helpers import *", namespace)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(template_cells.C1, namespace)
    return namespace


def with_ties(rdm):
    """Copy an RDM and make a few of its dissimilarities exactly equal."""
    rdm = rdm.copy()
    for (i, j), (k, m) in [((0, 1), (2, 3)), ((0, 4), (2, 3)), ((5, 6), (7, 8))]:
        rdm[i, j] = rdm[j, i] = rdm[k, m]
    return rdm


def fake_curves():
    sizes = np.array([10, 100, 1000, 10000])
    rng = np.random.default_rng(4)
    rmse = np.sqrt(900 / sizes[:, None] + 0.01) * rng.uniform(0.95, 1.05, (4, 5))
    blocked = rmse * 1.3
    return {"interleaved": {"sizes": sizes, "rmse": rmse},
            "blocked": {"sizes": sizes, "rmse": blocked}}


# --- the course release, built once per session ----------------------------------------------


@pytest.fixture(scope="session")
def release_dir(tmp_path_factory):
    """``dist/`` of ``tools/release.py``, built into a temporary folder (BASE_URL on 127.0.0.1)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import release

    return release.release("http://127.0.0.1:9/course/", tmp_path_factory.mktemp("dist") / "dist")


@pytest.fixture(scope="session")
def course_env(release_dir, tmp_path_factory):
    """Environment variables that put the course's wheel, alone, on a kernel's path."""
    import json
    import subprocess
    import sys

    site = tmp_path_factory.mktemp("course-site")
    wheel = json.loads((release_dir / "release.json").read_text())["course_wheel"]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(site), str(release_dir / "student" / wheel)], check=True)
    return {"PYTHONPATH": str(site), "CCN_DATA_DIR": str(tmp_path_factory.mktemp("data"))}
