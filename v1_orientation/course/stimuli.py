"""Grating stimuli: the template's ``grating``, ``gratings`` for a batch, the CNN's ``filters``."""

from __future__ import annotations

import numpy as np
import torch

from v1_orientation._internal import _as_numpy

__all__ = [
    "grating", "gratings", "filters",
]


_WPIX, _HPIX = 640, 480  # image size at res=1.0


def _check_grating_args(sf, res):
    if not (np.isfinite(sf) and sf > 0):
        raise ValueError(
            f"sf (spatial frequency, radians per pixel at res=1) must be > 0, got {sf!r}"
        )
    if not (np.isfinite(res) and res > 0):
        raise ValueError(
            f"res (resolution; 1.0 gives 640 x 480 pixels) must be > 0, got {res!r}"
        )


def _pixel_phases(sf, res):
    """Pixel coordinates times the spatial frequency: x (W,) and y (H,), float64, radians."""
    return sf * np.arange(0, _WPIX * res) / res, sf * np.arange(0, _HPIX * res) / res


def _outside_patch(h, w, res):
    """Pixels outside the template's disc (right of centre), as an (h, w) bool array.

    Args:
        h: image height in pixels.
        w: image width in pixels.
        res: image resolution, which sets the disc's radius (640 / 6 * res pixels).
    """
    xxc, yyc = np.meshgrid(np.arange(0, w), np.arange(0, h))
    return ((xxc - w * 0.75) ** 2 + (yyc - h / 2) ** 2) ** 0.5 >= _WPIX / 3 / 2 * res


def grating(angle, sf=1 / 28, res=0.1, patch=False):
    """Generate a square-wave oriented grating, as the template does.

    ``image(x, y) = 1 if cos(sf (x cos(theta) + y sin(theta)) / res) > 0 else 0``.

    Args:
        angle (float): orientation (angle from vertical), in degrees.
        sf (float): spatial frequency, in radians per pixel at ``res=1``; > 0.
        res (float): resolution; 1.0 gives 640 x 480 pixels, 0.1 gives 64 x 48; > 0.
        patch (bool): restrict the grating to a disc right of the image centre
            (grey, 0.5, elsewhere) instead of filling the image.

    Returns:
        torch.Tensor: float32 image of shape (ceil(480 res), ceil(640 res)),
        values 0 and 1 (and 0.5 outside the patch).

    Raises:
        ValueError: ``sf`` or ``res`` is not a positive finite number.
    """
    _check_grating_args(sf, res)
    theta = np.deg2rad(angle)
    if patch:
        theta = theta + 0.1  # the template's phase shift, to fit the grating in the patch
    xx, yy = np.meshgrid(*_pixel_phases(sf, res))
    image = np.cos(xx * np.cos(theta) + yy * np.sin(theta))
    image[image < 0] = 0
    image[image > 0] = 1
    if patch:
        image[_outside_patch(*image.shape, res)] = 0.5
    return torch.tensor(image, dtype=torch.float32)


def gratings(angles, sf=1 / 28, res=0.1, patch=False):
    """Generate a batch of gratings in one vectorised computation.

    Equal to ``torch.stack([grating(a, sf, res, patch) for a in angles])``
    but about 15 times faster for 1000 angles (``benchmarks/gratings.py``):
    the phase separates into a column and a row term, so
    ``cos(a_x + b_y) = cos(a_x) cos(b_y) - sin(a_x) sin(b_y)`` needs trigonometry
    only on the n x (W + H) terms and one batched matrix product. Rounding can
    flip a pixel where the cosine is within ~1e-15 of zero, i.e. only on
    exact 0/1 boundaries.

    Args:
        angles (array-like or torch.Tensor): n orientations, in degrees.
        sf (float): spatial frequency (see ``grating``).
        res (float): resolution (see ``grating``).
        patch (bool): see ``grating``.

    Returns:
        torch.Tensor: float32, shape (n, H, W).

    Raises:
        ValueError: ``sf`` or ``res`` is not a positive finite number.
    """
    _check_grating_args(sf, res)
    theta = torch.deg2rad(torch.as_tensor(_as_numpy(angles), dtype=torch.float64).reshape(-1))
    if patch:
        theta = theta + 0.1
    x, y = (torch.from_numpy(v) for v in _pixel_phases(sf, res))
    col = x[None, :] * torch.cos(theta)[:, None]  # n x W
    row = y[None, :] * torch.sin(theta)[:, None]  # n x H
    left = torch.stack([torch.cos(row), -torch.sin(row)], dim=2)  # n x H x 2
    right = torch.stack([torch.cos(col), torch.sin(col)], dim=1)  # n x 2 x W
    # In chunks, so that the float64 products stay in cache for thousands of angles.
    chunks = zip(left.split(256), right.split(256), strict=True)
    images = torch.cat([torch.bmm(lc, rc) > 0 for lc, rc in chunks]).to(torch.float32)
    if patch:
        images[:, torch.from_numpy(_outside_patch(*images.shape[1:], res))] = 0.5
    return images


def filters(out_channels=6, K=7):
    """Make the template's initial convolution filters.

    Two centre-surround filters (ON and OFF) followed by ``out_channels - 2``
    Gabor filters at orientations evenly spaced over [0, 180) deg, each
    scaled to a maximum absolute value of 1.

    Args:
        out_channels (int): number of filters, at least 3.
        K (int): filter size in pixels.

    Returns:
        torch.Tensor: float32, shape (out_channels, 1, K, K).
    """
    grid = np.linspace(-K / 2, K / 2, K).astype(np.float32)
    xx, yy = np.meshgrid(grid, grid, indexing="ij")

    sigma = 1.1
    gaussian = np.exp(-((xx**2 + yy**2) ** 0.5) / (2 * sigma**2))
    wide_gaussian = np.exp(-((xx**2 + yy**2) ** 0.5) / (2 * (sigma * 2) ** 2))
    center_surround = gaussian - 0.5 * wide_gaussian

    thetas = np.linspace(0, 180, out_channels - 2 + 1)[:-1] * np.pi / 180
    gabors = np.zeros((len(thetas), K, K), np.float32)
    lam = 10
    phi = np.pi / 2
    gaussian = np.exp(-((xx**2 + yy**2) ** 0.5) / (2 * (sigma * 0.4) ** 2))
    for i, theta in enumerate(thetas):
        x = xx * np.cos(theta) + yy * np.sin(theta)
        gabors[i] = gaussian * np.cos(2 * np.pi * x / lam + phi)

    bank = np.concatenate(
        (center_surround[np.newaxis], -1 * center_surround[np.newaxis], gabors), axis=0
    )
    bank /= np.abs(bank).max(axis=(1, 2))[:, np.newaxis, np.newaxis]
    return torch.from_numpy(bank).unsqueeze(1)
