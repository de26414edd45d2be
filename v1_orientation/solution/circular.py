"""Orientation as a circle: angle embeddings, circular differences and decoding errors.

Orientations are in degrees with period 180 unless a function says otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from v1_orientation._internal import _as_numpy
from v1_orientation.solution.tables import ResultTable

__all__ = [
    "angles_to_circle", "circle_to_angles", "orientation_difference", "decoding_errors",
    "decoding_error_table",
]


def angles_to_circle(theta, period=180.0):
    """Map angles to points on the unit circle, so that the period wraps around.

    Args:
        theta (array-like): n angles in degrees.
        period (float): period in degrees (180 for orientation).

    Returns:
        ndarray: n x 2 array of ``(cos(2 pi theta / period), sin(2 pi theta / period))``.
    """
    phase = 2 * np.pi * np.asarray(_as_numpy(theta), dtype=np.float64).reshape(-1) / period
    return np.stack([np.cos(phase), np.sin(phase)], axis=1)


def circle_to_angles(points, period=180.0, angle_min=-90.0):
    """Inverse of ``angles_to_circle``: the angle of each 2-D point (its length is ignored).

    Args:
        points (array-like): n x 2 array of (cos, sin) coordinates.
        period (float): period in degrees.
        angle_min (float): lower end of the output range, degrees.

    Returns:
        ndarray: n angles in [angle_min, angle_min + period), degrees.
    """
    points = np.asarray(points, dtype=np.float64)
    theta = (np.arctan2(points[:, 1], points[:, 0]) * period / (2 * np.pi) - angle_min) % period
    # a tiny negative angle wraps to exactly `period` in floating point: fold it back
    return np.where(theta >= period, 0.0, theta) + angle_min


def _check_angle_data(X, y):
    """``X`` (n x p) and ``y`` (n angles) as float64 arrays, or ValueError."""
    x = np.asarray(_as_numpy(X), dtype=np.float64)
    y = np.asarray(_as_numpy(y), dtype=np.float64).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.size:
        raise ValueError(f"X must be n x p with one angle per row; got {x.shape} and {y.shape}")
    return x, y


def orientation_difference(a, b, period=180.0):
    """Signed difference ``a - b`` of orientations, wrapped to [-period/2, period/2).

    Orientation is circular: a grating at -90 deg is the same image as one at
    +90 deg, so the error of decoding 89 deg as -89 deg is 2 deg, not 178.

    Args:
        a (array-like): orientations in degrees.
        b (array-like): orientations in degrees, broadcastable with ``a``.
        period (float): period in degrees (180 for orientation, 360 for direction).

    Returns:
        ndarray: wrapped differences in degrees.
    """
    d = np.asarray(_as_numpy(a), dtype=np.float64) - np.asarray(_as_numpy(b), dtype=np.float64)
    return (d + period / 2) % period - period / 2


def decoding_errors(predicted, true, period=180.0):
    """Summaries of a decoder's errors, on the line and on the circle.

    With ``e_i = yhat_i - y_i`` and its wrapped version ``c_i`` (see
    ``orientation_difference``): ``mse = mean(e^2)`` (deg^2, the assignment's
    loss), ``rmse = sqrt(mse)``, ``circ_rmse = sqrt(mean(c^2))``,
    ``circ_median_abs = median(|c|)`` (all in degrees).

    Args:
        predicted (array-like): n decoded orientations, degrees.
        true (array-like): n true orientations, degrees.
        period (float): period of the circular error, degrees.

    Returns:
        dict: ``mse``, ``rmse``, ``circ_rmse``, ``circ_median_abs`` as floats.
    """
    yhat = np.asarray(_as_numpy(predicted), dtype=np.float64).reshape(-1)
    y = np.asarray(_as_numpy(true), dtype=np.float64).reshape(-1)
    if yhat.shape != y.shape:
        raise ValueError(f"{yhat.size} predictions for {y.size} true values; pass one each")
    e = yhat - y
    c = orientation_difference(yhat, y, period)
    mse = float(np.mean(e**2))
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "circ_rmse": float(np.sqrt(np.mean(c**2))),
        "circ_median_abs": float(np.median(np.abs(c))),
    }


_ERROR_COLUMNS = {"mse": "MSE (deg^2)", "rmse": "RMSE (deg)", "circ_rmse": "circular RMSE (deg)",
                  "circ_median_abs": "circular median |err| (deg)"}


def decoding_error_table(errors, title=""):
    """``decoding_errors`` of several decoders and data sets as one table.

    Args:
        errors (dict): ``(decoder, set) -> decoding_errors(...)``, in the order to show.
        title (str): line above the table.

    Returns:
        ResultTable: one row per (decoder, set); MSE (deg^2), RMSE, circular RMSE and
        circular median absolute error (deg).
    """
    index = pd.MultiIndex.from_tuples(list(errors), names=["decoder", "set"])
    frame = pd.DataFrame([{column: e[key] for key, column in _ERROR_COLUMNS.items()}
                          for e in errors.values()], index=index)
    formats = {column: ".2f" for column in _ERROR_COLUMNS.values()} | {"MSE (deg^2)": ".1f"}
    return ResultTable(frame, formats, title)
