"""The decoder comparison of the 1b bonus: every decoder on the same splits, and its tables."""

from __future__ import annotations

import time
from itertools import chain

import numpy as np
import pandas as pd
from sklearn.base import clone

from v1_orientation._internal import _single_threaded, _torch_threads
from v1_orientation.solution.circular import _check_angle_data, decoding_errors
from v1_orientation.solution.crossval import (
    blocked_split_indices,
    class_split_indices,
    random_split_indices,
)
from v1_orientation.solution.tables import ResultTable

__all__ = [
    "compare_decoders", "format_decoder_comparison", "decoder_comparison_table", "selection_table",
    "recipe_table", "block_width_sweep", "format_block_width_sweeps", "block_width_table",
]


def compare_decoders(decoders, X, y, n_random=20, n_blocked=20, block_width=10.0, repeat=None,
                     period=180.0, seed=0, progress=True, n_jobs=1, fitted=None):
    """Fit and test decoders on the class split, on random splits and on blocked splits.

    Every decoder sees the same splits, and each fit (a fresh clone) gets only the
    training rows; a decoder that selects a model does so inside them, with its own
    folds, whatever the split.

    Args:
        decoders (dict): name -> unfitted decoder.
        X (array-like): n x p responses.
        y (array-like): n angles, degrees.
        n_random (int): random 60/40 splits (``random_split_indices``).
        n_blocked (int): blocked 60/40 splits (``blocked_split_indices``).
        block_width (float): width of the held-out blocks, degrees.
        repeat (iterable of str or None): decoders to test on the random and blocked
            splits (None: all); the others are tested on the class split only.
        period (float): period of orientation, degrees.
        seed (int): seed of the random and blocked splits.
        progress (bool): show progress bars.
        n_jobs (int): processes that fit: this one takes the fits from the front (the
            class split's networks first), ``n_jobs - 1`` worker processes from the back,
            each on one thread. Every fit seeds its own randomness, so the result does
            not depend on n_jobs (beyond BLAS rounding with another number of threads;
            only the fit times do). 1: all in this process, with its threads.
        fitted (dict or None): name -> that decoder already fitted on the class split's
            training stimuli (e.g. the 1b network, ``ClassMLPDecoder.from_trained``),
            used there instead of fitting it again (its fit time is then NaN).

    Returns:
        dict: ``names``, ``block_width`` and, for each scheme ``"class"``, ``"random"``
        and ``"blocked"``, a dict with ``splits`` (list of (train, test) indices) and,
        per decoder tested on it, lists with one entry per split: ``predicted``
        (test-set angles), ``errors`` (``decoding_errors``), ``fit_seconds`` and
        ``chosen`` (the candidate a selecting decoder picked, else None); for the class
        split also ``fitted``, each decoder as fitted on its training set.
    """
    from tqdm.auto import tqdm

    x, y = _check_angle_data(X, y)
    names = list(decoders)
    repeated = names if repeat is None else [name for name in names if name in set(repeat)]
    schemes = {
        "class": ([class_split_indices(y.size)], names),
        "random": (random_split_indices(y.size, n_random, seed=seed), repeated),
        "blocked": (blocked_split_indices(y, block_width, n_blocked, period=period, seed=seed),
                    repeated),
    }
    result = {"names": names, "block_width": block_width}
    fitted = dict(fitted or {})
    jobs = []
    for scheme, (splits, tested) in schemes.items():
        result[scheme] = {"splits": splits, "predicted": {}, "errors": {}, "fit_seconds": {},
                          "chosen": {}, "fitted": {}}
        jobs += [(scheme, name, k) for name in tested for k in range(len(splits))
                 if not (scheme == "class" and name in fitted)]
    arguments = [(decoders[name], x, y, *schemes[scheme][0][k], scheme == "class")
                 for scheme, name, k in jobs]
    fits = _shared_with_workers(_fit_and_decode_split, arguments, n_jobs - 1)
    test_class = schemes["class"][0][0][1]
    given = [(("class", name, 0), (model, getattr(model, "best_name_", None),
                                   np.asarray(model.predict(x[test_class]),
                                              dtype=np.float64).reshape(-1), np.nan))
             for name, model in fitted.items()]
    for (scheme, name, k), (model, chosen, predicted, seconds) in tqdm(
            chain(given, zip(jobs, fits, strict=True)), total=len(jobs) + len(given),
            disable=not progress or not jobs, desc="decoder fits"):
        part, test = result[scheme], schemes[scheme][0][k][1]
        for key, value in (("predicted", predicted), ("fit_seconds", seconds),
                           ("errors", decoding_errors(predicted, y[test], period)),
                           ("chosen", chosen)):
            part[key].setdefault(name, []).append(value)
        if model is not None:  # kept to be inspected (e.g. the selection's scores)
            part["fitted"][name] = model
    return result


def _fit_and_decode_split(decoder, x, y, train, test, keep):
    """One job of ``compare_decoders``: fit a clone on the training rows, decode the test rows.

    Returns:
        tuple: the fitted decoder (if ``keep``, else None), the candidate it chose (or
        None), the decoded test angles (degrees) and the fit time (s).
    """
    start = time.perf_counter()
    fitted = clone(decoder).fit(x[train], y[train])
    seconds = time.perf_counter() - start
    predicted = np.asarray(fitted.predict(x[test]), dtype=np.float64).reshape(-1)
    return fitted if keep else None, getattr(fitted, "best_name_", None), predicted, seconds


def _shared_with_workers(function, arguments, n_workers):
    """``function(*a)`` for each tuple ``a`` in ``arguments``, yielded in order.

    This process takes the jobs from the front (the first, the largest in
    ``compare_decoders``, at once), ``n_workers`` worker processes take them from the
    back, and they meet where the work is shared out, whatever each job costs; the
    workers start up (importing the helpers and torch) while this process computes.
    There every job runs on one BLAS and one torch thread, wherever it runs, so the
    result does not depend on which process ran it. ``n_workers`` 0: all jobs here,
    with this process's threads.
    """
    from joblib.executor import get_memmapping_executor

    if n_workers < 1 or len(arguments) < 2:
        yield from (function(*a) for a in arguments)
        return
    # large arrays go to the workers as memory maps, once, not pickled with every job
    executor = get_memmapping_executor(n_workers)
    futures = {k: executor.submit(_on_one_thread, function, *arguments[k])
               for k in range(len(arguments) - 1, 0, -1)}  # a worker starts at the back
    taken = False  # once a worker has a job, it has every job behind it
    try:
        for k, a in enumerate(arguments):
            if k == 0 or not taken and futures[k].cancel():
                yield _on_one_thread(function, *a)
            else:
                taken = True
                yield futures[k].result()
    finally:  # on an error or an interrupt, the jobs not started are dropped
        for future in futures.values():
            future.cancel()


def _on_one_thread(function, *args):
    """``function(*args)`` with one BLAS thread and one torch thread (restored afterwards)."""
    with _torch_threads(1), _single_threaded():
        return function(*args)


def _split_summary(part, name, metric):
    """Mean and standard error over splits of one error measure, or None if not tested."""
    if name not in part["errors"]:
        return None
    values = np.array([errors[metric] for errors in part["errors"][name]])
    se = values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else np.nan
    return float(values.mean()), float(se)


def format_decoder_comparison(result, best=None, references=(), show_times=True):
    """The comparison of ``compare_decoders`` as a printable table.

    Columns: the class split's test MSE on the raw labels (deg^2), circular RMS and
    median absolute errors (deg) and, optionally, fit time (s); the mean ± standard error of
    the MSE, and the mean circular RMSE, over the random and blocked splits. Then,
    for ``best``, the candidates it chose and its MSE as a percentage of each of
    ``references``' on the class split and on the random splits.

    Args:
        result (dict): output of ``compare_decoders``.
        best (str or None): name of the decoder to compare with the references.
        references (iterable of str): names of the reference decoders.
        show_times (bool): include the fit-time column (False: a table that is identical
            on re-execution).

    Returns:
        str: the table.
    """
    names, cls = result["names"], result["class"]
    width = max(len(name) for name in names) + 2
    labels = _split_labels(result)
    time_head = f"{'fit s':>7}" if show_times else ""
    head = f"{'decoder':<{width}}{'class split: MSE':>17}{'circ RMSE':>10}{'median':>8}{time_head}"
    for label in labels.values():
        head += f" | {label + ': MSE':>33}{'circ RMSE':>10}"
    lines = [head, "-" * len(head)]
    for name in names:
        e = cls["errors"][name][0]
        row = (f"{name:<{width}}{e['mse']:>17.3f}{e['circ_rmse']:>10.3f}"
               f"{e['circ_median_abs']:>8.3f}")
        if show_times:
            row += f"{cls['fit_seconds'][name][0]:>7.1f}"
        for scheme in labels:
            mse = _split_summary(result[scheme], name, "mse")
            if mse is None:
                row += f" | {'(class split only)':>33}{'':>10}"
                continue
            circ, _ = _split_summary(result[scheme], name, "circ_rmse")
            row += f" | {f'{mse[0]:.3f} ± {mse[1]:.3f}':>33}{circ:>10.3f}"
        lines.append(row)
    lines.append("MSE: mean squared error on the raw labels (deg^2, the assignment's loss); "
                 "circ RMSE, median: circular RMS and median absolute error (deg); "
                 "± is the standard error over splits.")
    return "\n".join(lines + _best_decoder_lines(result, best, references))


def _split_labels(result):
    """Column labels of the random and blocked splits of a ``compare_decoders`` result."""
    return {"random": f"{len(result['random']['splits'])} random splits",
            "blocked": f"{len(result['blocked']['splits'])} blocked splits "
                       f"({result['block_width']:g} deg)"}


def _best_decoder_lines(result, best, references):
    """What ``best`` chose on each split, and its MSE relative to each reference's."""
    from collections import Counter

    if best is None:
        return []
    cls = result["class"]
    lines = [f"'{best}' chose '{cls['chosen'][best][0]}' on the class split"]
    for scheme, label in _split_labels(result).items():
        counts = Counter(result[scheme]["chosen"].get(best, [])).most_common()
        if counts:
            lines.append(f"  and on the {label}: "
                         + ", ".join(f"'{choice}' {count}x" for choice, count in counts))
    for ref in references:
        ratio = 100 * cls["errors"][best][0]["mse"] / cls["errors"][ref][0]["mse"]
        text = f"'{best}' MSE as a percentage of '{ref}': class split {ratio:.2f}%"
        best_random = _split_summary(result["random"], best, "mse")
        ref_random = _split_summary(result["random"], ref, "mse")
        if best_random and ref_random:
            text += f", mean over random splits {100 * best_random[0] / ref_random[0]:.2f}%"
        lines.append(text)
    return lines


def decoder_comparison_table(result, best=None, references=(), show_times=False, title=""):
    """The comparison of ``compare_decoders`` as a table: ``format_decoder_comparison``'s values.

    Args:
        result (dict): output of ``compare_decoders``.
        best (str or None): decoder whose choices and relative MSE the notes state.
        references (iterable of str): decoders to compare ``best`` with.
        show_times (bool): include the class split's fit time (s), which differs
            between runs.
        title (str): line above the table.

    Returns:
        ResultTable: one row per decoder: the class split's MSE (deg^2), circular RMSE
        and median absolute error (deg), and over the random and blocked splits the
        mean MSE, its standard error and the mean circular RMSE (missing for decoders
        tested on the class split only); the notes say how many splits of each kind.
    """
    cls = result["class"]
    rows = []
    for name in result["names"]:
        e = cls["errors"][name][0]
        row = {"class: MSE": e["mse"], "class: circ RMSE": e["circ_rmse"],
               "class: median |err|": e["circ_median_abs"]}
        if show_times:
            row["fit (s)"] = cls["fit_seconds"][name][0]
        for scheme in ("random", "blocked"):
            mse = _split_summary(result[scheme], name, "mse") or (np.nan, np.nan)
            circ = _split_summary(result[scheme], name, "circ_rmse") or (np.nan, np.nan)
            row |= {f"{scheme}: MSE": mse[0], f"{scheme}: SE": mse[1],
                    f"{scheme}: circ RMSE": circ[0]}
        rows.append(row)
    frame = pd.DataFrame(rows, index=pd.Index(result["names"], name="decoder"))
    labels = _split_labels(result)
    notes = [f"class: the class split; random: mean over {labels['random']}; blocked: mean "
             f"over {labels['blocked']}.",
             "MSE: mean squared error on the raw labels (deg^2, the assignment's loss); circ "
             "RMSE, median |err|: circular RMS and median absolute error (deg); SE: standard "
             "error of the MSE over splits; -: tested on the class split only."]
    formats = {column: ".3f" for column in frame.columns} | {"fit (s)": ".1f"}
    return ResultTable(frame, formats, title, notes + _best_decoder_lines(result, best,
                                                                          references))


def selection_table(selector, title=""):
    """The cross-validated scores on which a ``CVSelectedDecoder`` chose, as a table.

    Args:
        selector (CVSelectedDecoder): fitted.
        title (str): line above the table.

    Returns:
        ResultTable: one row per candidate: out-of-fold MSE on the raw labels (deg^2),
        circular RMSE (deg), and whether it was chosen.
    """
    names = list(selector.cv_mse_)
    frame = pd.DataFrame({"CV MSE (deg^2)": [selector.cv_mse_[n] for n in names],
                          "CV circular RMSE (deg)": [selector.cv_circ_rmse_[n] for n in names],
                          "chosen": ["yes" if n == selector.best_name_ else "" for n in names]},
                         index=pd.Index(names, name="candidate"))
    return ResultTable(frame, {"CV MSE (deg^2)": ".3f", "CV circular RMSE (deg)": ".3f"}, title)


def recipe_table(result, names, title=""):
    """Training and test MSE of network recipes on the class split of ``compare_decoders``.

    Args:
        result (dict): output of ``compare_decoders``; the named decoders must keep a
            ``loss_history_`` (one training MSE per iteration, deg^2).
        names (iterable of str): the recipes.
        title (str): line above the table.

    Returns:
        ResultTable: per recipe, the training MSE at the last iteration and the test MSE
        (deg^2); their difference is the part of the fit that does not generalise.
    """
    cls = result["class"]
    frame = pd.DataFrame(
        {"training MSE, last iteration (deg^2)": [cls["fitted"][n].loss_history_[-1]
                                                  for n in names],
         "test MSE (deg^2)": [cls["errors"][n][0]["mse"] for n in names]},
        index=pd.Index(list(names), name="recipe"))
    return ResultTable(frame, dict.fromkeys(frame.columns, ".3f"), title)


def block_width_sweep(decoder, X, y, widths=(1, 2, 5, 10, 20), n_splits=10, period=180.0,
                      seed=0, progress=False):
    """Test error of one decoder against the width of the held-out orientation blocks.

    For each width, ``blocked_split_indices`` (40% of the blocks held out); with
    1-deg blocks of 1-deg bins this is a random split. The error grows with the
    width as the decoder must bridge wider gaps: the difference between width 1
    and wider blocks is the part of the random-split score that comes from
    interpolating between neighbouring bins.

    Args:
        decoder: unfitted decoder (cloned for every fit).
        X (array-like): n x p responses.
        y (array-like): n angles, degrees.
        widths (iterable of float): block widths, degrees.
        n_splits (int): splits per width.
        period (float): period of orientation, degrees.
        seed (int): seed of the splits.
        progress (bool): show a progress bar.

    Returns:
        dict: width -> ``{"mse": (mean, se), "circ_rmse": (mean, se)}`` over the splits.
    """
    from tqdm.auto import tqdm

    x, y = _check_angle_data(X, y)
    sweep = {}
    for width in tqdm(widths, disable=not progress, desc="block widths"):
        part = {"errors": {"d": []}}
        for train, test in blocked_split_indices(y, width, n_splits, period=period, seed=seed):
            predicted = clone(decoder).fit(x[train], y[train]).predict(x[test])
            part["errors"]["d"].append(decoding_errors(predicted, y[test], period))
        sweep[width] = {metric: _split_summary(part, "d", metric)
                        for metric in ("mse", "circ_rmse")}
    return sweep


def format_block_width_sweeps(sweeps):
    """Outputs of ``block_width_sweep``, by decoder name, as a printable table."""
    width = max(len(name) for name in sweeps) + 2
    lines = [f"{'decoder':<{width}}{'block width (deg)':>18}{'MSE (deg^2)':>22}"
             f"{'circ RMSE (deg)':>20}"]
    for name, sweep in sweeps.items():
        for block, summary in sweep.items():
            (mse, mse_se), (circ, circ_se) = summary["mse"], summary["circ_rmse"]
            lines.append(f"{name:<{width}}{block:>18g}{f'{mse:.3f} ± {mse_se:.3f}':>22}"
                         f"{f'{circ:.3f} ± {circ_se:.3f}':>20}")
    return "\n".join(lines)


def block_width_table(sweeps, title=""):
    """Outputs of ``block_width_sweep``, by decoder name, as a table.

    Returns:
        ResultTable: one row per (decoder, block width in deg): mean and standard error
        over splits of the MSE (deg^2) and of the circular RMSE (deg).
    """
    rows, index = [], []
    for name, sweep in sweeps.items():
        for block, summary in sweep.items():
            (mse, mse_se), (circ, circ_se) = summary["mse"], summary["circ_rmse"]
            index.append((name, block))
            rows.append({"MSE (deg^2)": mse, "MSE SE": mse_se, "circ RMSE (deg)": circ,
                         "circ RMSE SE": circ_se})
    frame = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(
        index, names=["decoder", "block width (deg)"]))
    return ResultTable(frame, dict.fromkeys(frame.columns, ".3f"), title,
                       ["SE: standard error over splits; block width 1 deg = a random split."])
