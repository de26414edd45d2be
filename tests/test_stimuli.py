"""``course.stimuli``: grating, gratings and filters against the template's code and Fourier
analysis.
"""

import numpy as np
import pytest
import template_oracle as oracle
import torch

from v1_orientation.course.stimuli import filters, grating, gratings

ANGLES = np.concatenate([np.arange(-180, 361, 7.5), np.random.default_rng(0).uniform(-90, 90, 40)])


@pytest.mark.parametrize("patch", [False, True])
@pytest.mark.parametrize("sf, res", [(1 / 28, 0.1), (0.1, 0.2), (0.05, 0.37)])
def test_grating_equals_template(patch, sf, res):
    for angle in ANGLES:
        assert torch.equal(grating(angle, sf, res, patch), oracle.grating(angle, sf, res, patch))


def test_grating_default_shape_and_values():
    image = grating(30.0)
    assert image.shape == (48, 64) and image.dtype == torch.float32
    assert set(image.unique().tolist()) <= {0.0, 1.0}
    assert set(grating(30.0, patch=True).unique().tolist()) == {0.0, 0.5, 1.0}


@pytest.mark.parametrize("angle", [0.0, 30.0, 60.0, 100.0, 150.0])
def test_grating_spatial_frequency_peak_lies_along_its_angle(angle):
    sf, res = 0.2, 0.5  # fine enough for a sharp spectral peak at 240 x 320 pixels
    image = grating(angle, sf=sf, res=res).numpy()
    spectrum = np.abs(np.fft.fft2(image - image.mean()))
    ky, kx = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    fy = np.fft.fftfreq(image.shape[0])[ky]
    fx = np.fft.fftfreq(image.shape[1])[kx]
    peak_angle = np.rad2deg(np.arctan2(fy, fx)) % 180
    assert abs((peak_angle - angle + 90) % 180 - 90) < 3
    # fundamental frequency of cos(sf / res * (x cos + y sin)): sf / res / (2 pi) cycles/pixel
    assert np.hypot(fx, fy) == pytest.approx(sf / res / (2 * np.pi), rel=0.05)


@pytest.mark.parametrize("patch", [False, True])
@pytest.mark.parametrize("sf, res", [(1 / 28, 0.1), (0.1, 0.2), (1 / 28, 0.5)])
def test_gratings_equals_stacked_grating(patch, sf, res):
    angles = np.concatenate([ANGLES, np.arange(-90, 91)])
    batch = gratings(angles, sf, res, patch)
    stacked = torch.stack([oracle.grating(a, sf, res, patch) for a in angles])
    assert batch.shape == stacked.shape and batch.dtype == torch.float32
    assert (batch != stacked).float().mean().item() <= 1e-3


def test_gratings_accepts_tensors_and_lists():
    ori = torch.tensor([[-45.0], [10.0]])
    assert torch.equal(gratings(ori), gratings([-45.0, 10.0]))
    assert gratings([]).shape == (0, 48, 64)


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), float("inf")])
def test_non_positive_res_or_sf(bad):
    with pytest.raises(ValueError, match=r"res .* must be > 0"):
        grating(0, res=bad)
    with pytest.raises(ValueError, match=r"sf .* must be > 0"):
        grating(0, sf=bad)
    with pytest.raises(ValueError, match="must be > 0"):
        gratings([0.0], res=bad)


@pytest.mark.parametrize("out_channels, k", [(6, 7), (3, 5), (10, 9), (6, 8)])
def test_filters_equal_template(out_channels, k):
    ours = filters(out_channels, k)
    assert torch.equal(ours, oracle.filters(out_channels, k))
    assert ours.shape == (out_channels, 1, k, k)
    assert torch.allclose(ours.abs().amax(dim=(1, 2, 3)), torch.ones(out_channels))
