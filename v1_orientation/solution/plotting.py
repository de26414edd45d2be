"""The notebook's figures, each drawn from the results of an analysis onto given or new axes."""

from __future__ import annotations

import numpy as np

from v1_orientation._internal import _as_numpy
from v1_orientation.solution.saturation import MODELS, saturation_mse
from v1_orientation.solution.tuning import binned_tuning

__all__ = [
    "plot_decoder_errors", "plot_rdm_comparison", "plot_tuning_fits", "plot_tuning_curves",
    "plot_rdms", "plot_embeddings", "plot_tuning_distributions", "plot_saturation",
    "plot_error_by_orientation", "plot_filters",
]


def plot_decoder_errors(axes, true, predictions, title_suffix=""):
    """Decoded against true orientation, and absolute error against orientation.

    Args:
        axes (sequence of 2 Axes): where to draw.
        true (array-like): n true orientations, degrees.
        predictions (dict): decoder name -> n decoded orientations, degrees.
        title_suffix (str): appended to each title (e.g. " (surrogate)").
    """
    true = np.asarray(_as_numpy(true), dtype=np.float64).reshape(-1)
    lo, hi = true.min(), true.max()
    axes[0].plot([lo, hi], [lo, hi], "k:", lw=1)
    for name, predicted in predictions.items():
        predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
        axes[0].scatter(true, predicted, s=12, alpha=0.7, label=name)
        order = np.argsort(true)
        error = np.abs(predicted - true)[order]
        axes[1].semilogy(true[order], np.maximum(error, 1e-3), ".", ms=4, alpha=0.7, label=name)
    axes[0].set(xlabel="true orientation (deg)", ylabel="decoded orientation (deg)",
                title="test set: decoded vs true" + title_suffix)
    axes[1].set(xlabel="true orientation (deg)", ylabel="|decoded - true| (deg, raw labels)",
                title="error against orientation" + title_suffix)
    for ax in axes:
        ax.legend(frameon=False, fontsize=8)


def plot_rdm_comparison(ax, comparison, ceiling=None, title=""):
    """Forest plot: each RDM's similarity to the reference with its interval.

    Args:
        ax (matplotlib.axes.Axes): where to draw.
        comparison (RDMComparison): from ``rsa_compare``.
        ceiling (float): noise ceiling to draw as a vertical band edge (optional).
        title (str): axes title.
    """
    y = np.arange(len(comparison.names))[::-1]
    low, high = comparison.ci.T
    r = comparison.estimate
    ax.errorbar(r, y, xerr=[r - low, high - r], fmt="o", color="k", capsize=3)
    if ceiling is not None:
        ax.axvspan(ceiling, 1.0, color="0.85", zorder=0)
        ax.axvline(ceiling, color="0.4", lw=1, label=f"noise ceiling {ceiling:.4f}")
        ax.legend(frameon=False, loc="lower left", fontsize="small")
    ax.axvline(0, color="k", lw=0.5, ls=":")
    ax.set_yticks(y, comparison.names)
    ax.set(xlabel=f"{comparison.method} r with the reference RDM "
                  f"({comparison.level:.0%} bootstrap CI)", title=title)


def plot_tuning_fits(ax, stimuli, resp, fit, units, labels=None, title=""):
    """Plot units' responses (dots) with their fitted von Mises curves (lines).

    Args:
        ax (matplotlib.axes.Axes): where to draw.
        stimuli (array-like): S stimulus values, degrees.
        resp (array-like): S x N responses.
        fit (VonMisesFit): fit of the same N units.
        units (sequence of int): units to show.
        labels (sequence of str): legend labels (default "unit i").
        title (str): axes title.
    """
    theta = np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1)
    resp = np.asarray(_as_numpy(resp), dtype=np.float64)
    fine = np.linspace(theta.min(), theta.max(), 721)
    labels = labels or [f"unit {u}" for u in units]
    curves = fit.predict(fine, units)
    for i, (unit, label) in enumerate(zip(units, labels, strict=True)):
        dots = ax.plot(theta, resp[:, unit], ".", ms=2, alpha=0.5)[0]
        ax.plot(fine, curves[:, i], color=dots.get_color(), lw=1.8, label=label)
    ax.set(xlabel="orientation (deg)", ylabel="response", title=title)
    ax.legend(fontsize="small", frameon=False)


def plot_tuning_curves(ax, stimuli, resp, units, labels=None, n_bins=None, title=""):
    """Plot responses of a few units against orientation (tuning curves).

    Args:
        ax (matplotlib.axes.Axes): where to draw.
        stimuli (array-like): n_stimuli orientations, degrees.
        resp (array-like): n_stimuli x n_units responses.
        units (sequence of int): columns of ``resp`` to plot.
        labels (sequence of str): legend labels (default "unit i").
        n_bins (int): if given, draw the raw responses faintly and their
            average in ``n_bins`` orientation bins on top.
        title (str): axes title.
    """
    stimuli = np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1)
    resp = np.asarray(_as_numpy(resp), dtype=np.float64)
    order = np.argsort(stimuli)
    labels = labels or [f"unit {u}" for u in units]
    for unit, label in zip(units, labels, strict=True):
        if n_bins:
            line = ax.plot(stimuli[order], resp[order, unit], lw=0.5, alpha=0.35)[0]
            centres, curves = binned_tuning(resp[:, [unit]], stimuli, n_bins)
            ax.plot(centres, curves[:, 0], lw=2, color=line.get_color(), label=label)
        else:
            ax.plot(stimuli[order], resp[order, unit], lw=1.5, label=label)
    ax.set(xlabel="orientation (deg)", ylabel="response", title=title)
    ax.legend(fontsize="small", frameon=False)


def plot_rdms(rdm_dict, ori, title_suffix=""):
    """Show RDMs side by side with orientation on both axes and one colour scale.

    Args:
        rdm_dict (dict): ``{label: S x S RDM}``.
        ori (array-like): the S stimulus orientations (degrees, ascending).
        title_suffix (str): appended to every title, e.g. " (surrogate)".

    Returns:
        matplotlib.figure.Figure: the figure.
    """
    import matplotlib.pyplot as plt

    ori = np.asarray(_as_numpy(ori), dtype=np.float64).reshape(-1)
    vmax = max(float(np.max(r)) for r in rdm_dict.values())
    fig, axes = plt.subplots(1, len(rdm_dict), figsize=(4.2 * len(rdm_dict), 4),
                             constrained_layout=True)
    extent = [ori[0], ori[-1], ori[-1], ori[0]]
    for ax, (label, rdm) in zip(np.atleast_1d(axes), rdm_dict.items(), strict=True):
        image = ax.imshow(rdm, vmin=0, vmax=vmax, cmap="viridis", extent=extent)
        ax.set(title=label.replace("\n", " ") + title_suffix, xlabel="orientation (deg)",
               ylabel="orientation (deg)")
    fig.colorbar(image, ax=axes, label="dissimilarity (1 - Pearson r)", shrink=0.8)
    return fig


def plot_embeddings(embeddings, ori, title_suffix=""):
    """Scatter 2-D embeddings, one point per stimulus, coloured by orientation.

    The colour map is cyclic (twilight), because -90 and +90 deg are the same
    orientation.

    Args:
        embeddings (dict): ``{title: n_stimuli x 2 coordinates}``.
        ori (array-like): n_stimuli orientations, degrees.
        title_suffix (str): appended to every title.

    Returns:
        matplotlib.figure.Figure: the figure.
    """
    import matplotlib.pyplot as plt

    ori = np.asarray(_as_numpy(ori), dtype=np.float64).reshape(-1)
    fig, axes = plt.subplots(1, len(embeddings), figsize=(3.6 * len(embeddings), 3.4),
                             constrained_layout=True)
    for ax, (title, xy) in zip(np.atleast_1d(axes), embeddings.items(), strict=True):
        points = ax.scatter(xy[:, 0], xy[:, 1], c=ori, cmap="twilight", vmin=-90, vmax=90, s=12)
        ax.set(title=title + title_suffix, xticks=[], yticks=[])
    fig.colorbar(points, ax=axes, label="orientation (deg)", shrink=0.8)
    return fig


def plot_tuning_distributions(axes, v1, models, cv_r2, cv_chance, peak_ratio, two_peak_ratio,
                              title_suffix=""):
    """Four panels on the fitted tuning curves: preference, width, second peak, fit quality.

    Args:
        axes (sequence of 4 Axes): where to draw.
        v1 (tuple): V1's (preferred orientations in -90..90 deg, HWHM in deg) of the
            reliably tuned neurons.
        models (dict): layer -> (preferred orientations, HWHM, R^2) of its units
            (preference and width of the units with a peak, R^2 of those that vary).
        cv_r2 (ndarray): V1's held-out R^2 of every neuron.
        cv_chance (float): its chance level.
        peak_ratio (ndarray): a2 / a1 of the reliably tuned V1 neurons.
        two_peak_ratio (float): the two-peak threshold.
        title_suffix (str): appended to each title (e.g. " (surrogate)").
    """
    def ticks(ax, values, label):  # a few units: one tick mark each, not a histogram
        ax.plot(values, np.zeros(len(values)), "|", ms=25, mew=2, label=label)

    bins = np.linspace(-90, 90, 37)
    pool_pref, pool_width, pool_r2 = models["pool"]
    fc_pref, fc_width, fc_r2 = models["fc"]
    axes[0].hist(v1[0], bins=bins, density=True, color="0.4", label=f"V1 ({len(v1[0])} tuned)")
    axes[0].hist(pool_pref, bins=bins, density=True, histtype="step", lw=2,
                 label=f"'pool' ({len(pool_pref)} units with a peak)")
    ticks(axes[0], fc_pref, "'fc' units")
    axes[0].set(xlabel="preferred orientation (deg)", ylabel="density",
                title="preferred orientation" + title_suffix, xticks=range(-90, 91, 45))
    width_bins = np.linspace(0, 60, 31)
    axes[1].hist(v1[1][np.isfinite(v1[1])], bins=width_bins, density=True, color="0.4",
                 label="V1")
    axes[1].hist(pool_width[np.isfinite(pool_width)], bins=width_bins, density=True,
                 histtype="step", lw=2, label="'pool'")
    ticks(axes[1], fc_width[np.isfinite(fc_width)], "'fc' units")
    axes[1].set(xlabel="HWHM (deg of orientation)", ylabel="density",
                title="tuning width" + title_suffix)
    axes[2].hist(peak_ratio, bins=np.linspace(0, 1, 41), color="0.4")
    axes[2].axvline(two_peak_ratio, color="r", label=f"threshold {two_peak_ratio}")
    axes[2].set(xlabel="second / main peak height, a2 / a1", ylabel="V1 neurons",
                title="V1: two peaks 180 deg apart" + title_suffix)
    r2_bins = np.linspace(-0.2, 1, 49)
    axes[3].hist(cv_r2, bins=r2_bins, density=True, color="0.4", label="V1, held-out R2")
    axes[3].axvline(cv_chance, color="r", label=f"V1 chance level {cv_chance:.3f}")
    axes[3].hist(pool_r2, bins=r2_bins, density=True, histtype="step", lw=2,
                 label="'pool', R2 (noise-free)")
    ticks(axes[3], fc_r2, "'fc', R2")
    axes[3].set(xlabel="R2 of the von Mises fit", ylabel="density",
                title="goodness of fit" + title_suffix)
    for ax in axes:
        ax.legend(frameon=False, fontsize="small")


def plot_saturation(axes, curves, fits, floor, title_suffix=""):
    """Decoding error and information against population size, with both floor models' fits.

    Args:
        axes (sequence of 2 Axes): error (left) and information 1 / error^2 (right).
        curves (dict): scheme -> ``decoding_error_curves`` output.
        fits (dict): ``saturation_fits`` output.
        floor (float): the binning floor of the error, deg.
        title_suffix (str): appended to each title.
    """
    sizes = next(iter(curves.values()))["sizes"]
    grid = np.geomspace(sizes[0], sizes[-1], 200)
    styles = {"series": "-", "power": "-."}
    for (scheme, curve), color in zip(curves.items(), ("C0", "C1", "C2"), strict=False):
        f = fits[scheme]
        fitted = grid >= f["sizes"][0]
        axes[0].errorbar(sizes, curve["rmse"].mean(1), curve["rmse"].std(1, ddof=1), fmt="o",
                         color=color, capsize=3, label=f"{scheme} split (mean +- SD over subsets)")
        info = 1 / np.mean(curve["rmse"] ** 2, axis=1)
        axes[1].loglog(sizes, info, "o", color=color, label=f"{scheme}: 1 / mean squared error")
        for model, m in f["models"].items():
            error = np.sqrt(saturation_mse(grid, m["params"], model))
            axes[0].plot(grid[fitted], error[fitted], color=color, ls=styles[model],
                         label=f"{scheme}: {MODELS[model]}, N >= {f['sizes'][0]:g}")
            axes[1].loglog(grid[fitted], 1 / error[fitted] ** 2, color=color, ls=styles[model])
    axes[1].axhline(1 / floor**2, color="0.5", ls="--", lw=1,
                    label="ceiling from the binning, 1 / floor^2")
    axes[0].axhline(floor, color="0.5", ls="--", lw=1, label="floor from the binning")
    axes[0].set(xscale="log", yscale="log", xlabel="number of neurons N",
                ylabel="cross-validated circular RMS error (deg)",
                title="decoding error vs population size" + title_suffix)
    axes[1].set(xlabel="number of neurons N", ylabel="information 1/error$^2$ (deg$^{-2}$)",
                title="decoded information vs population size" + title_suffix)
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(frameon=False, fontsize=8)


def plot_error_by_orientation(ax, squared_errors, orientation, n_bins=12, title=""):
    """RMS decoding error in bins of orientation, with cardinal orientations shaded.

    Args:
        ax (matplotlib.axes.Axes): where to draw.
        squared_errors (dict): scheme -> (n,) squared error of each stimulus, deg^2.
        orientation (array-like): (n,) orientations, assignment's convention (-90..90 deg).
        n_bins (int): bins over -90..90 deg.
        title (str): axes title.
    """
    edges = np.linspace(-90, 90, n_bins + 1)
    which = np.clip(np.digitize(orientation, edges) - 1, 0, n_bins - 1)
    centres = (edges[:-1] + edges[1:]) / 2
    for lo, hi in [(-90, -67.5), (-22.5, 22.5), (67.5, 90)]:
        ax.axvspan(lo, hi, color="0.9", lw=0)
    for (scheme, e2), color in zip(squared_errors.items(), ("C0", "C1", "C2"), strict=False):
        count = np.bincount(which, minlength=n_bins)
        mean_sq = np.bincount(which, e2, n_bins) / count
        sd_sq = np.sqrt(np.bincount(which, (e2 - mean_sq[which]) ** 2, n_bins) / (count - 1))
        per_bin = np.sqrt(mean_sq)
        # delta method: SE of sqrt(mean of e^2) = SE(mean e^2) / (2 sqrt(mean e^2))
        ax.errorbar(centres, per_bin, sd_sq / np.sqrt(count) / (2 * per_bin), fmt="o-",
                    capsize=3, color=color, label=f"{scheme} split (+- SE)")
        ax.axhline(np.sqrt(e2.mean()), color=color, ls=":", lw=1)
    ax.text(0, 0.02, "cardinal", ha="center", transform=ax.get_xaxis_transform())
    ax.set(xlabel="orientation (deg, 0 = vertical)", ylabel="RMS error (deg)", title=title,
           xticks=range(-90, 91, 30), ylim=(0, None))
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, fontsize=8)


def plot_filters(banks, title_suffix=""):
    """Show banks of convolution filters, one row per bank, one colour scale per filter.

    Args:
        banks (dict): ``{row title: tensor or array of shape (C, 1, K, K)}``.
        title_suffix (str): appended to the row titles.

    Returns:
        matplotlib.figure.Figure: the figure.
    """
    import matplotlib.pyplot as plt

    banks = {k: np.asarray(_as_numpy(v))[:, 0] for k, v in banks.items()}
    n_cols = max(len(v) for v in banks.values())
    fig, axes = plt.subplots(len(banks), n_cols, figsize=(1.6 * n_cols, 1.8 * len(banks)),
                             squeeze=False, constrained_layout=True)
    for row, (title, bank) in zip(axes, banks.items(), strict=True):
        for i, ax in enumerate(row):
            ax.set_axis_off()
            if i < len(bank):
                lim = np.abs(bank[i]).max()
                ax.imshow(bank[i], cmap="RdBu_r", vmin=-lim, vmax=lim)
        row[0].set_title(title + title_suffix, loc="left", fontsize="medium")
    return fig
