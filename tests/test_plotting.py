"""``solution.plotting``: each figure draws what it shows.

Each test reads back what was drawn (lines, error bars, histograms, images) and compares it
with the same quantity computed here from the inputs.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import random_rdm, tuned_population  # noqa: E402

from v1_orientation.course.stimuli import filters  # noqa: E402
from v1_orientation.solution.plotting import (  # noqa: E402
    plot_embeddings,
    plot_error_by_orientation,
    plot_filters,
    plot_rdms,
    plot_saturation,
    plot_tuning_curves,
    plot_tuning_distributions,
)
from v1_orientation.solution.saturation import saturation_fits  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_plot_rdms_shares_one_colour_scale():
    rng = np.random.default_rng(0)
    rdms = {"V1 data": random_rdm(rng, 5), "model\n'fc' layer": 2 * random_rdm(rng, 5)}
    fig = plot_rdms(rdms, np.linspace(-90, 90, 5), " (surrogate)")
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 2
    assert {im.get_clim() for im in images} == {(0, max(r.max() for r in rdms.values()))}
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["V1 data (surrogate)", "model 'fc' layer (surrogate)"]


def test_plot_tuning_curves_and_embeddings_and_filters():
    pop = tuned_population(np.arange(360.0), 4)
    fig, ax = plt.subplots()
    plot_tuning_curves(ax, pop.stimuli, pop.resp, [0, 2], n_bins=12, title="t")
    assert len(ax.lines) == 4 and ax.get_title() == "t"  # raw + binned for each unit
    fig = plot_embeddings({"a": np.zeros((7, 2)), "b": np.ones((7, 2))},
                             np.linspace(-90, 90, 7), " (surrogate)")
    assert [a.get_title() for a in fig.axes[:2]] == ["a (surrogate)", "b (surrogate)"]
    fig = plot_filters({"before": filters(), "after": filters()[:4]})
    assert sum(bool(a.images) for a in fig.axes) == 10


def test_error_by_orientation_draws_binned_rms_errors_with_delta_method_se():
    rng = np.random.default_rng(0)
    orientation = np.linspace(-90, 89, 180)
    e2 = rng.exponential(1.0, 180) * (1 + (np.abs(orientation) > 45))
    fig, ax = plt.subplots()
    plot_error_by_orientation(ax, {"interleaved": e2}, orientation, n_bins=6, title="t (x)")
    (bars,) = ax.containers
    centres, heights = bars.lines[0].get_data()
    np.testing.assert_allclose(centres, np.arange(-75, 90, 30))
    which = np.clip(np.digitize(orientation, np.linspace(-90, 90, 7)) - 1, 0, 5)
    expected = [np.sqrt(e2[which == k].mean()) for k in range(6)]
    np.testing.assert_allclose(heights, expected)
    # error bar: SE of the mean squared error, divided by 2 sqrt(mean) (delta method)
    segments = bars.lines[2][0].get_segments()
    half = [(s[1, 1] - s[0, 1]) / 2 for s in segments]
    se = [e2[which == k].std(ddof=1) / np.sqrt(np.sum(which == k)) / (2 * expected[k])
          for k in range(6)]
    np.testing.assert_allclose(half, se)
    assert ax.get_title() == "t (x)"
    assert any(np.allclose(line.get_ydata(), np.sqrt(e2.mean())) for line in ax.lines)


def test_saturation_figure_draws_the_curves_and_the_fits():
    sizes = np.array([10, 100, 1000, 3000, 10000])
    rmse = np.sqrt(900 / sizes[:, None] + 0.01) * np.linspace(0.97, 1.03, 3)
    curves = {"interleaved": {"sizes": sizes, "rmse": rmse},
              "blocked": {"sizes": sizes, "rmse": 1.2 * rmse}}
    fits = saturation_fits(curves)
    fig, axes = plt.subplots(1, 2)
    plot_saturation(axes, curves, fits, floor=0.08, title_suffix=" (s)")
    errorbars = [c for c in axes[0].containers]
    assert len(errorbars) == 2
    np.testing.assert_allclose(errorbars[0].lines[0].get_ydata(), rmse.mean(1))
    info = [line for line in axes[1].lines if line.get_marker() == "o"]
    np.testing.assert_allclose(info[1].get_ydata(), 1 / np.mean((1.2 * rmse) ** 2, axis=1))
    floor = [line for line in axes[0].lines if np.allclose(line.get_ydata(), 0.08)]
    assert floor and axes[0].get_title().endswith(" (s)") and axes[1].get_title().endswith(" (s)")
    fitted = [line for line in axes[0].lines if line.get_marker() == "None"
              and len(line.get_xdata()) > 10]
    assert len(fitted) == 4  # two models for each of the two splits
    grid = fitted[0].get_xdata()
    f = fits["interleaved"]["models"]["series"]["params"]
    np.testing.assert_allclose(fitted[0].get_ydata(),
                               np.sqrt(f["a"] / grid + f["c"] / grid**2 + f["b"]))
    assert grid.min() >= fits["interleaved"]["sizes"][0] == 100  # drawn where it was fitted


def test_tuning_distributions_draw_every_group():
    rng = np.random.default_rng(1)
    v1 = (rng.uniform(-90, 90, 500), rng.uniform(5, 40, 500))
    models = {"pool": (rng.uniform(-90, 90, 50), rng.uniform(5, 40, 50), rng.uniform(0, 1, 60)),
              "fc": (rng.uniform(-90, 90, 5), np.array([20.0, np.inf, 30.0, 25.0, 22.0]),
                     rng.uniform(0, 1, 10))}
    fig, axes = plt.subplots(1, 4)
    plot_tuning_distributions(axes, v1, models, rng.uniform(-0.2, 1, 300), 0.02,
                                 rng.uniform(0, 1, 400), 0.25, " (s)")
    assert all(ax.get_title().endswith(" (s)") for ax in axes)
    # V1's preferred orientations: a density histogram over 36 bins of 5 deg
    bars = axes[0].patches[:36]
    assert sum(b.get_height() * b.get_width() for b in bars) == pytest.approx(1.0)
    # 'fc' units are tick marks, one per unit with a finite width
    ticks = [line for line in axes[1].lines if line.get_marker() == "|"]
    assert len(ticks[0].get_xdata()) == 4
    assert [line.get_xdata()[0] for line in axes[2].lines] == [0.25]
    assert any(line.get_xdata()[0] == 0.02 for line in axes[3].lines)
