"""The answers' data-dependent sentences, written from this run's numbers.

Each function takes the numbers a notebook cell computed and returns a ``Finding``: Markdown
that states what was found, in plain English, with a branch for each outcome, so that the
answers stay true when the notebook runs on the real recording, the surrogate or a user's file.
The reasoning that holds whatever the data stays in the notebook's static text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from v1_orientation.solution.published import (
    CNN_TRAINING_LOG,
    STRINGER_THRESHOLD_DEG,
)
from v1_orientation.solution.tables import ResultTable

__all__ = [
    "Finding", "cnn_log_table", "cnn_log_finding", "cnn_accuracy_finding",
    "class_decoder_finding", "bonus_finding", "rdm_seam_finding", "fc_category_finding",
    "rsa_summary_finding", "model_units_finding", "embedding_finding", "part2_finding",
]


class Finding(str):
    """A paragraph of Markdown about this run's results, shown as Markdown in Jupyter."""

    def _repr_markdown_(self):
        return str(self)


def _finding(*sentences):
    return Finding(" ".join(s for s in sentences if s))


def _pct(x):
    return format(float(x), ".1%")


def cnn_log_table(loss_history, batches_per_epoch, published=None, title=""):
    """The class's published C1 log beside this run's, epoch by epoch.

    Args:
        loss_history (sequence of float): the loss of every mini-batch, in order.
        batches_per_epoch (int): mini-batches per epoch.
        published (dict or None): epoch -> published loss (default: the class's).
        title (str): line above the table.

    Returns:
        ResultTable: per printed epoch: the published loss, this run's loss on the epoch's last
        mini-batch, and their ratio.
    """
    published = CNN_TRAINING_LOG if published is None else published
    history = np.asarray(loss_history, dtype=np.float64)
    run = [history[epoch * batches_per_epoch - 1] for epoch in published]
    frame = pd.DataFrame({"class (published)": list(published.values()), "this run": run},
                         index=pd.Index(list(published), name="epoch"))
    frame["ratio"] = frame["this run"] / frame["class (published)"]
    return ResultTable(frame, {"class (published)": ".3g", "this run": ".3g", "ratio": ".3f"},
                       title=title)


def cnn_log_finding(table):
    """Whether this run's C1 log reproduces the class's (``cnn_log_table``)."""
    ratio = table.frame["ratio"].to_numpy()
    worst = float(np.max(np.abs(np.log(ratio))))
    if worst <= np.log(1.05):
        return _finding(f"This run's C1 log reproduces the class's published one: every printed "
                        f"loss is within 5% of the published value (ratios {ratio.min():.3f} to "
                        f"{ratio.max():.3f}; the table above).")
    return _finding(f"This run's C1 log departs from the class's published one: the ratios of "
                    f"the printed losses to the published values run from {ratio.min():.3g} to "
                    f"{ratio.max():.3g} (the table above), so this run's network did not train "
                    "exactly as the class's did.")


def cnn_accuracy_finding(correct, tilt, edges, filter_change):
    """Where the CNN's errors on fresh gratings lie, and how much training moved its filters.

    Args:
        correct (array-like): (n,) bools, the network's answer was right.
        tilt (array-like): (n,) the gratings' orientations, degrees.
        edges (array-like): bin edges of |tilt|, degrees.
        filter_change (float): ``||W - W0|| / ||W0||`` of the convolution weights.
    """
    filters = (f"Training moved the convolution filters by {filter_change:.1%} of their norm: "
               + ("they barely change, so 'pool' stays close to a fixed bank of designed, "
                  "rectified, pooled filters, and what training shaped is the fully connected "
                  "part." if filter_change < 0.05 else
                  "a moderate change: the filters keep their designed shapes (compare the rows "
                  "of the filter figure), and most of what training shaped is the fully "
                  "connected part." if filter_change < 0.25 else
                  "the task reshaped the filters themselves."))
    correct = np.asarray(correct, dtype=bool)
    size = np.abs(np.asarray(tilt, dtype=np.float64))
    accuracy = f"The network is right on {_pct(correct.mean())} of {correct.size} fresh gratings."
    if correct.all():
        return _finding(accuracy, "It makes no error at any tilt.", filters)
    which = np.digitize(size, edges) - 1
    bad = [k for k in range(len(edges) - 1) if np.any(~correct[which == k])]
    ranges = ", ".join(f"[{edges[k]:g}, {edges[k + 1]:g})" for k in bad)
    errors = int((~correct).sum())
    near = ("near vertical, where left and right meet" if max(bad) < 2 else
            "far from vertical, near the +-90 deg end of the range, where a grating at +89 deg "
            "('right') and one at -89 deg ('left') are almost the same image" if min(bad) >= 4
            else "at both small and large tilts")
    return _finding(accuracy, f"Its {errors} error{'s' if errors > 1 else ''} lie in the |tilt| "
                    f"range{'s' if len(bad) > 1 else ''} {ranges} deg of the breakdown above: "
                    f"{near}.", filters)


def class_decoder_finding(rows):
    """What training the class decoder did, on the training and the test stimuli.

    Args:
        rows (dict): (``"untrained"``/``"trained"``, ``"train"``/``"test"``) ->
            ``decoding_errors`` output (``mse`` in deg^2).
    """
    before, after = rows["untrained", "test"]["mse"], rows["trained", "test"]["mse"]
    train = rows["trained", "train"]["mse"]
    effect = (f"Training lowers the test MSE from {before:.0f} to {after:.1f} deg^2, "
              f"{before / after:.0f} times lower: the population response carries orientation "
              "information that generalises to stimuli the network never saw."
              if after < before else
              f"Training does not lower the test MSE ({before:.0f} before, {after:.1f} deg^2 "
              "after): what the network learned does not generalise to new stimuli.")
    gap = (f"The training MSE ({train:.1f}) is below the test MSE ({after:.1f} deg^2); the "
           "gap is the part of the fit that does not generalise." if train < after else
           f"The training MSE ({train:.1f}) is not below the test MSE ({after:.1f} deg^2): "
           "50 small steps have not fitted the training stimuli any better than new ones.")
    median = rows["trained", "test"]["circ_median_abs"]
    return _finding(effect, gap, f"Half of the test stimuli are decoded within {median:.1f} deg "
                    "(circular median absolute error).")


def bonus_finding(chosen, best_mse, recipes, selection, sweep, neighbour_r, step=1.0):
    """The 1b bonus in this run: the choice, the score, and what the tables show.

    Args:
        chosen (dict): split kind (``"class"``, ``"random"``, ``"blocked"``) -> list of the
            candidates the nested selection chose on its splits.
        best_mse (float): the selected decoder's test MSE on the class split, deg^2.
        recipes (dict): recipe name -> its test MSE on the class split, deg^2.
        selection (pandas.DataFrame): ``selection_table(...).frame``.
        sweep (dict): ``block_width_sweep`` output of circular ridge.
        neighbour_r (float): mean correlation of the responses to neighbouring stimuli.
        step (float): their spacing, degrees.
    """
    names = sorted({n for picks in chosen.values() for n in picks})
    choice = (f"The nested selection, run inside each training set, chose '{names[0]}' on every "
              "split." if len(names) == 1 else
              "The nested selection chose different candidates on different splits ("
              + ", ".join(f"{kind}: " + ", ".join(sorted(set(p))) for kind, p in chosen.items())
              + ").")
    score = f"On the class split its test MSE is {best_mse:.3g} deg^2, " + ", ".join(
        f"{100 * best_mse / mse:.2g}% of the {name}'s {mse:.1f}" for name, mse in recipes.items()
    ) + "."
    mlp = selection.loc[[n for n in selection.index if n.startswith("MLP")]]
    mlp_text = ""
    for name, row in mlp.iterrows():
        mse, circ = row["CV MSE (deg^2)"], row["CV circular RMSE (deg)"]
        mlp_text = (f"The MLP candidate's cross-validated MSE, {mse:.0f} deg^2, is "
                    f"{mse / circ**2:.0f} times its circular RMSE squared ({circ:.2f} deg): a few "
                    "predictions at the wrong end of the range (+-90 deg) dominate its raw MSE, "
                    "not a spread of small errors." if mse > 10 * circ**2 else
                    f"The MLP candidate ({name}) is worse on the circle too (circular RMSE "
                    f"{circ:.2f} deg against the chosen decoder's "
                    f"{selection['CV circular RMSE (deg)'].min():.2f}): its extra flexibility "
                    "adds variance that 108 stimuli cannot pin down.")
    widths = list(sweep)
    ratios = np.array([sweep[w]["mse"][0] / sweep[w]["circ_rmse"][0] ** 2 for w in widths])
    sweep_text = (f"In the block-width sweep the raw MSE stays within {ratios.max():.1f} times "
                  "the circular RMSE squared at every width: no stimulus lands at the wrong end, "
                  f"and the error grows from {sweep[widths[0]]['circ_rmse'][0]:.2f} deg (random "
                  f"split) to {sweep[widths[-1]]['circ_rmse'][0]:.2f} deg ({widths[-1]:g}-deg "
                  "blocks), the cost of bridging wider gaps." if ratios.max() < 2 else
                  "In the block-width sweep the raw MSE exceeds twice the circular RMSE squared "
                  "at widths " + ", ".join(f"{w:g}" for w, r in zip(widths, ratios, strict=True)
                                           if r >= 2)
                  + " deg: there some stimuli land at the wrong end of the range.")
    neighbours = (f"Responses to neighbouring stimuli ({step:.3g} deg apart) correlate at r = "
                  f"{neighbour_r:.2f} on "
                  "average (over the neurons): neighbouring bins share their tuning, not their "
                  "noise, which is why a random split tests interpolation.")
    return _finding(choice, score, mlp_text, sweep_text, neighbours)


def rdm_seam_finding(seam, name="V1", tolerance=0.05):
    """Whether a representation treats -90 and +90 as the same orientation (``seam_comparison``)."""
    if seam["n_pairs"] == 0:
        return _finding(f"The {name} RDM has no pairs across the +-90 deg seam to compare.")
    if abs(seam["excess"]) <= tolerance:
        return _finding(
            f"Across the +-90 deg seam the {name} RDM is as dark as along the diagonal: pairs "
            f"that cross it differ from interior pairs as far apart by {seam['excess']:+.3f} on "
            f"average ({seam['n_pairs']} pairs 1-10 deg apart), and RDM(-90, +90) = "
            f"{seam['ends']:.3f}. The {name} representation depends on the circular "
            "orientation difference: -90 and +90 deg are one orientation to it.")
    return _finding(
        f"The {name} RDM's corners are lighter than its diagonal: RDM(-90, +90) = "
        f"{seam['ends']:.3f}, while neighbouring orientations ({seam['step']:.3g} deg apart) "
        f"average {seam['neighbours']:.3f}; the "
        f"{seam['n_pairs']} pairs 1-10 deg apart across the seam are more dissimilar than "
        f"interior pairs as far apart by {seam['excess']:.2f} on average "
        f"({_pct(seam['fraction_above'])} of them above the interior mean). So {name} does "
        "not depend on the circular orientation difference only: -90 and +90 deg are the "
        "recording's bins 0 and 180, gratings drifting in opposite directions, and neurons' "
        "two peaks 180 deg apart differ in height (the peak ratios of 1e).")


def fc_category_finding(fc, v1):
    """The 'fc' RDM's category geometry against V1's (``category_structure`` of each)."""
    return _finding(
        f"In 'fc', gratings of the same tilt are nearly identical (mean dissimilarity "
        f"{fc['within']:.3f}) and gratings of opposite tilt are dissimilar ({fc['across']:.3f}); "
        f"orthogonal orientations, 0 and +-90 deg, are {fc['orthogonal']:.3f} apart, "
        + ("nearly identical: 'fc' does not share V1's geometry of orientation distance, "
           f"in which they are the most dissimilar pairs ({v1['orthogonal']:.3f})."
           if fc["orthogonal"] < 0.5 * fc["across"] else
           f"as far apart as in V1 ({v1['orthogonal']:.3f}): 'fc' keeps some of V1's geometry "
           "of orientation distance besides the tilt category."))


def _signs_in_words(by_measure):
    """'higher under both measures', 'no different within the intervals', or each measure's."""
    words = {"> 0": "higher", "< 0": "lower", "~ 0": "no different within the interval"}
    signs = set(by_measure.values())
    if len(signs) == 1:
        sign = signs.pop()
        every = "both measures" if len(by_measure) == 2 else "every measure"
        return f"{words[sign]} under {every}" if sign != "~ 0" else words[sign] + "s"
    return ", ".join(f"{words[sign]} by {m.capitalize()}" for m, sign in by_measure.items())


def rsa_summary_finding(layer_verdicts, ceiling_gap, widest_interval, contrast_signs,
                        max_p_permutation, smallest_p):
    """The 1d conclusion: which layer is more V1-like, how far from the ceiling, and why.

    Args:
        layer_verdicts (dict): measure -> ``difference_verdict`` of 'pool' minus 'fc'.
        ceiling_gap (dict): measure -> noise ceiling minus the highest similarity.
        widest_interval (dict): measure -> the widest interval's width among the rows.
        contrast_signs (dict): contrast -> measure -> ``"> 0"``, ``"< 0"`` or ``"~ 0"``.
        max_p_permutation (dict): measure -> the largest permutation p over the rows.
        smallest_p (float): the smallest p the permutations can give.
    """
    verdicts = []
    for measure, (verdict, evidence) in layer_verdicts.items():
        verdicts.append(f"by {measure.capitalize()}, '{verdict}' is the more V1-like layer "
                        f"({evidence})" if verdict != "undecided" else
                        f"by {measure.capitalize()} the data do not rank the two layers "
                        f"({evidence})")
    gaps = [f"{measure.capitalize()} {gap:.3f} below it" for measure, gap in ceiling_gap.items()]
    wide = max(widest_interval.values())
    ceiling = (f"Every representation stays below the noise ceiling ({'; '.join(gaps)}) by more "
               f"than the widest confidence interval ({wide:.3f}): what separates the models "
               "from V1 is geometry they do not share, not noise in the data."
               if min(ceiling_gap.values()) > wide else
               f"The most V1-like representation comes within the uncertainty of the noise "
               f"ceiling ({'; '.join(gaps)}; widest interval {wide:.3f}).")
    chance = ("Every representation, the pixels included, is related to V1 beyond chance (the "
              "largest permutation p is the smallest possible, "
              f"{smallest_p:.4f}): all of them change smoothly with orientation."
              if max(max_p_permutation.values()) <= smallest_p else
              "Not every representation is related to V1 beyond chance (largest permutation p: "
              + ", ".join(f"{m} {p:.3f}" for m, p in max_p_permutation.items()) + ").")
    sources = "; ".join(f"{name}: {_signs_in_words(by)}" for name, by in contrast_signs.items())
    return _finding("In short: " + "; ".join(verdicts) + ".", ceiling, chance,
                    f"The paired differences (the first named minus the second): {sources}.")


def model_units_finding(pool_levels, n_stimuli, pool_r2, n_peaked, n_preferences,
                        fc_good, fc_hwhm, v1_hwhm):
    """What the 'pool' and 'fc' units' tuning curves are, in numbers.

    Args:
        pool_levels (array-like): distinct values each 'pool' unit takes over the stimuli.
        n_stimuli (int): stimuli shown.
        pool_r2 (float): median R^2 of the 'pool' units' von Mises fits.
        n_peaked (int): 'pool' units whose best fit is a peak.
        n_preferences (int): distinct preferred orientations (whole degrees) among them.
        fc_good (int): 'fc' units fitted with R^2 > 0.8.
        fc_hwhm (array-like): their half-widths, degrees (NaN: no half-width, too broad).
        v1_hwhm (float): median half-width of the tuned V1 neurons, degrees.
    """
    levels = float(np.median(pool_levels))
    pool = (f"The median 'pool' unit takes {levels:.0f} distinct values over the {n_stimuli} "
            + ("stimuli: a few discrete levels, between which it jumps as the orientation "
               "changes" if levels <= 0.2 * n_stimuli else
               "stimuli: many levels, but in steps, not a smooth bump")
            + f"; a single von Mises describes them poorly (median R^2 {pool_r2:.2f}). The "
            f"{n_peaked} units whose best fit is a peak prefer {n_preferences} distinct "
            "orientations (whole degrees)"
            + (": their preferences bunch" if n_preferences < 0.5 * n_peaked else
               ": their preferences spread over the range"))
    hwhm = np.asarray(fc_hwhm, dtype=np.float64)
    broad = int(np.isnan(hwhm).sum())
    if fc_good == 0:
        fc = "No 'fc' unit is fitted well (R^2 > 0.8) by a single bump."
    else:
        finite = hwhm[~np.isnan(hwhm)]
        width = (f"half-widths of {np.median(finite):.0f} deg in the median, against V1's "
                 f"{v1_hwhm:.0f} deg" if finite.size else "")
        fc = (f"{fc_good} 'fc' unit{'s are' if fc_good > 1 else ' is'} fitted well (R^2 > 0.8): "
              + ", ".join(p for p in [width, f"{broad} too broad to fall to half height"
                                      if broad else ""] if p)
              + ": broad plateaus over a tilt category, not bumps at an orientation.")
    return _finding(pool + ".", fc)


def embedding_finding(harmonics, gaps, variance, reference="V1"):
    """What the PCA embeddings show (``harmonic_r2`` and ``seam_gap`` of each, variance shares).

    Args:
        harmonics (dict): representation -> (2,) R^2 of PC1 and PC2 on cos 2theta, sin 2theta.
        gaps (dict): representation -> ``seam_gap`` of its PCA embedding.
        variance (dict): representation -> explained variance ratios (PC1 first).
        reference (str): the representation the others are compared with.
    """
    sentences = []
    for name, r2 in harmonics.items():
        share = float(np.sum(variance[name][:2]))
        ring = (f"its first two principal components are {min(r2):.3f}-{max(r2):.3f} "
                "explained by cos 2theta and sin 2theta: a ring of orientation"
                if min(r2) > 0.9 else
                f"only PC1 follows the first harmonic of orientation (R^2 {r2[0]:.2f}; PC2 "
                f"{r2[1]:.2f}): no ring" if r2[0] > 0.9 else
                f"its first two components follow the first harmonic of orientation poorly "
                f"(R^2 {r2[0]:.2f} and {r2[1]:.2f})")
        closes = (f" that closes at the seam (-90 and +90 deg {gaps[name]:.1f} neighbour steps "
                  "apart)" if min(r2) > 0.9 and gaps[name] < 1.5 else
                  f" whose ends lie {gaps[name]:.1f} neighbour steps apart at the seam"
                  if min(r2) > 0.9 else "")
        sentences.append(f"{name}: {ring}{closes}; PC1 and PC2 hold {_pct(share)} of the "
                         "variance.")
    others = {n: min(r2) for n, r2 in harmonics.items() if n != reference}
    if others:
        closest = max(others, key=others.get)
        sentences.append(f"By the geometry of its embedding (both components harmonics of "
                         f"orientation: lowest R^2 {others[closest]:.2f}), {closest} comes "
                         f"closest to {reference}'s.")
    return _finding(*sentences)


def part2_finding(fits, verdicts, binning_floor, threshold, ratios, smallest, oblique):
    """Part 2's results in this run.

    Args:
        fits (dict): ``saturation_fits`` output, per split.
        verdicts (dict): split -> ``saturation_verdict`` output.
        binning_floor (float): the binning floor, deg^2.
        threshold (float): single-trial 75%-correct threshold, degrees.
        ratios (tuple): (sizes, random over most-reliable error ratio) arrays.
        smallest (dict): kind of neurons -> smallest tested N within 1.5 x the all-neuron error.
        oblique (tuple): ``oblique_verdict`` of the interleaved split.
    """
    slopes = "; ".join(f"{s} {f['slope']:.3f} from N = {int(f['sizes'][0])}" for s, f in
                       fits.items())
    growth = (f"The error falls with the number of neurons at a log-log slope of {slopes}, "
              + ("close to the -1/2 of independent noise."
                 if all(-0.6 <= f["slope"] <= -0.4 for f in fits.values()) else
                 "away from the -1/2 of independent noise."))
    floors = []
    for split, (verdict, _) in verdicts.items():
        low, high = fits[split]["floor_range"]
        where = ("contains the binning floor" if low <= binning_floor <= high else
                 "lies above the binning floor" if low > binning_floor else
                 "lies below the binning floor")
        if where.startswith("contains"):
            meaning = (", so this design cannot tell a floor of that size from none" if low == 0
                       else ": the binning alone can account for the floor, though the range "
                       f"also allows floors up to {high / binning_floor:.1f} times the binning's")
        else:
            meaning = (": a floor beyond the binning's, from decoder bias or information-limiting "
                       "correlations" if low > binning_floor else "")
        floors.append(f"{split} split, {verdict}: the two models allow floors from {low:.4f} to "
                      f"{high:.4f} deg^2, a range that {where} ({binning_floor:.4f} deg^2)"
                      f"{meaning}")
    ratio = float(threshold / STRINGER_THRESHOLD_DEG)
    sizes, gain = (np.asarray(x, dtype=np.float64) for x in ratios)
    best = int(np.argmax(gain))
    oblique_verdict, oblique_evidence = oblique
    return _finding(
        growth, "; ".join(f[0].upper() + f[1:] for f in floors) + ".",
        f"Converted to single trials, the 75%-correct threshold with all neurons is "
        f"{threshold:.3f} deg, {ratio:.2f} times the published {STRINGER_THRESHOLD_DEG} deg.",
        f"The most reliable neurons decode up to {gain[best]:.1f} times more precisely than "
        f"random ones (at N = {int(sizes[best])}); within 1.5 x the all-neuron error need "
        + ", ".join(f"N = {n} {kind} neurons" for kind, n in smallest.items()) + ".",
        f"Oblique effect: {oblique_verdict} ({oblique_evidence}).")
