"""Conventions every analysis follows, checked across the modules.

The notebook passes ``load_data``'s float32 tensors with (n, 1) stimuli: each analysis computes
them as the same values in float64 and 1-D. And it calls the analyses with their defaults: a
changed default would change its numbers, so each default is the documented one.
"""

from dataclasses import astuple
from functools import partial

import numpy as np
import pytest
import torch
from conftest import flat, tuned_population

from v1_orientation.solution.circular import decoding_errors
from v1_orientation.solution.embeddings import (
    embed,
    explained_variance,
)
from v1_orientation.solution.tuning import (
    binned_tuning,
    preferred_orientation,
    reliability_threshold,
)
from v1_orientation.solution.von_mises import (
    VonMisesFit,
    fit_von_mises,
    von_mises_cv_r2,
    von_mises_cv_threshold,
)


def test_float32_and_column_inputs_are_computed_in_float64():
    # load_data returns float32 tensors with (n, 1) stimuli: the results must be those of the
    # same values in float64 and 1-D
    pop = tuned_population(np.arange(0.0, 360.0, 2.0), 12, noise=0.3, baseline=2.0)
    resp32 = torch.tensor(pop.resp, dtype=torch.float32)
    stim32 = torch.tensor(pop.stimuli, dtype=torch.float32)[:, None]
    resp64, stim64 = resp32.double().numpy(), stim32.double().numpy()[:, 0]
    pairs = [
        (lambda r, s: decoding_errors(r[:, 0], s), "decoding_errors"),
        (lambda r, s: decoding_errors(s + 1.5, s), "decoding_errors (columns)"),
        (lambda r, s: preferred_orientation(r, s), "preferred_orientation"),
        (lambda r, s: reliability_threshold(r, s, n_bins=12), "reliability_threshold"),
        (lambda r, s: explained_variance(r), "explained_variance"),
        (lambda r, s: embed(r), "embed"),
        (lambda r, s: von_mises_cv_r2(r, s), "von_mises_cv_r2"),
        (lambda r, s: von_mises_cv_threshold(r, s), "von_mises_cv_threshold"),
        (lambda r, s: binned_tuning(r, s, n_bins=10), "binned_tuning"),
        (lambda r, s: astuple(fit_von_mises(r, s))[:5], "fit_von_mises"),
    ]
    for compute, name in pairs:
        np.testing.assert_allclose(flat(compute(resp32, stim32)), flat(compute(resp64, stim64)),
                                   rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize(("function", "documented", "uses_stimuli"), [
    (preferred_orientation, {"period": 180.0}, True),
    (reliability_threshold, {"n_bins": 36, "n_shuffles": 5, "quantile": 0.99, "seed": 0}, True),
    (von_mises_cv_r2, {"period": 360.0, "n_peaks": 2, "n_iter": 0}, True),
    (von_mises_cv_threshold, {"period": 360.0, "n_peaks": 2, "n_shuffles": 1,
                                 "quantile": 0.99, "seed": 0}, True),
    (fit_von_mises, {"period": 360.0, "n_peaks": 2, "n_phi": 72,
                        "kappas": np.geomspace(0.5, 200.0, 12), "n_iter": 3}, True),
    (binned_tuning, {"n_bins": 36}, True),
    (embed, {"method": "pca", "n_components": 2}, False),
    (partial(embed, method="tsne"), {"n_components": 2, "seed": 0, "perplexity": 30.0},
     False),
])
def test_defaults_are_the_documented_ones(function, documented, uses_stimuli):
    # the notebook calls these with their defaults: a changed default changes its numbers
    pop = tuned_population(np.arange(0.0, 360.0, 3.0), 20, period=360, n_peaks=2,
                           amplitudes=[1.0, 0.5], noise=0.5)
    args = (pop.resp, pop.stimuli) if uses_stimuli else (pop.resp,)
    got, expected = function(*args), function(*args, **documented)
    if isinstance(got, VonMisesFit):
        got = (got.preferred, got.kappa, got.baseline, got.amplitudes)
        expected = (expected.preferred, expected.kappa, expected.baseline, expected.amplitudes)
    np.testing.assert_array_equal(flat(got), flat(expected))
