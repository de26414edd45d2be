"""``solution.comparison``: the 1b bonus's decoder comparison, its worker processes and tables."""

import os
import time

import numpy as np
import pytest
import torch
from conftest import tuned_population, tuned_rows

from v1_orientation.course.networks import DeepNetReLU
from v1_orientation.course.training import predict, train_decoder
from v1_orientation.solution.circular import (
    decoding_errors,
)
from v1_orientation.solution.comparison import (
    _shared_with_workers,
    block_width_sweep,
    block_width_table,
    compare_decoders,
    decoder_comparison_table,
    format_decoder_comparison,
    recipe_table,
    selection_table,
)
from v1_orientation.solution.crossval import (
    class_split_indices,
)
from v1_orientation.solution.mlp import ClassMLPDecoder, TorchMLPDecoder
from v1_orientation.solution.ridge import (
    AngleRidge,
    CircularRidge,
    PopulationVectorDecoder,
)
from v1_orientation.solution.selection import (
    CVSelectedDecoder,
)


def test_compare_decoders_scores_the_class_split_like_a_direct_fit(split):
    resp, theta, _, _ = split
    decoders = {"circle": CircularRidge(), "vector": PopulationVectorDecoder()}
    result = compare_decoders(decoders, resp, theta, n_random=2, n_blocked=2,
                                 repeat=["circle"], progress=False)
    train, test = class_split_indices(len(theta))
    direct = CircularRidge().fit(resp[train], theta[train]).predict(resp[test])
    assert result["class"]["errors"]["circle"][0] == decoding_errors(direct, theta[test])
    assert len(result["random"]["errors"]["circle"]) == 2
    assert "vector" not in result["blocked"]["errors"]
    table = format_decoder_comparison(result, "circle", ("vector",))
    assert f"{result['class']['errors']['circle'][0]['mse']:.3f}" in table
    assert "(class split only)" in table and "'circle' MSE as a percentage of 'vector'" in table


def job_record(k, flag):
    """A job of test_jobs_shared_with_a_worker: job 0 waits until a worker has started."""
    if k == 0:
        deadline = time.monotonic() + 120
        while not os.path.exists(flag) and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        open(flag, "a").close()
        time.sleep(0.02)
    return k, os.getpid(), torch.get_num_threads()


def test_decoder_comparison_in_worker_processes_equals_one_process():
    resp, theta = tuned_rows(60, 80, seed=7)
    decoders = {"circle": CircularRidge(), "line": AngleRidge(),
                "best": CVSelectedDecoder([("line", AngleRidge()),
                                              ("circle", CircularRidge())], n_folds=3)}
    kwargs = {"n_random": 2, "n_blocked": 2, "repeat": ["circle", "best"], "progress": False}
    one = compare_decoders(decoders, resp, theta, **kwargs)
    two = compare_decoders(decoders, resp, theta, n_jobs=2, **kwargs)
    for scheme in ("class", "random", "blocked"):
        assert one[scheme]["chosen"] == two[scheme]["chosen"]
        assert one[scheme]["predicted"].keys() == two[scheme]["predicted"].keys()
        for name, predicted in one[scheme]["predicted"].items():
            # the same fits; BLAS may round differently with another number of threads
            for a, b in zip(two[scheme]["predicted"][name], predicted, strict=True):
                np.testing.assert_allclose(a, b, atol=1e-9)
    assert two["class"]["fitted"].keys() == set(decoders)
    assert two["class"]["fitted"]["best"].best_name_ == one["class"]["fitted"]["best"].best_name_


def test_jobs_shared_with_a_worker_come_back_in_order_from_both_ends(tmp_path):
    flag = str(tmp_path / "a worker has started")
    results = list(_shared_with_workers(job_record, [(k, flag) for k in range(40)], 1))
    assert [r[0] for r in results] == list(range(40))  # in order
    here = os.getpid()
    pids = [r[1] for r in results]
    assert pids[0] == here and pids[-1] != here  # this process from the front, a worker the back
    meet = pids.index(pids[-1])
    assert set(pids[:meet]) == {here} and set(pids[meet:]) == {pids[-1]}
    assert all(r[2] == 1 for r in results)  # one torch thread wherever a job ran
    threads = torch.get_num_threads()
    assert list(_shared_with_workers(job_record, [(1, flag), (2, flag)], 0)) == [
        (1, here, threads), (2, here, threads)]  # no workers: here, with this process's threads


def test_a_decoder_fitted_already_is_used_on_the_class_split_without_refitting():
    resp, theta = tuned_rows(50, 30, seed=8)
    train, test = class_split_indices(theta.size)
    torch.manual_seed(1)
    net = DeepNetReLU(30, 10)
    history = train_decoder(net, torch.nn.MSELoss(), torch.tensor(resp[train]).float(),
                               torch.tensor(theta[train]).float()[:, None], quiet=True)
    given = ClassMLPDecoder.from_trained(net, history, device="cpu")
    decoders = {"class recipe": ClassMLPDecoder(device="cpu"), "circle": CircularRidge()}
    kwargs = {"n_random": 1, "n_blocked": 1, "progress": False}
    reused = compare_decoders(decoders, resp, theta, fitted={"class recipe": given}, **kwargs)
    refitted = compare_decoders(decoders, resp, theta, **kwargs)
    assert reused["class"]["fitted"]["class recipe"] is given
    assert np.isnan(reused["class"]["fit_seconds"]["class recipe"][0])
    expected = predict(net, torch.tensor(resp[test]).float())[:, 0]
    np.testing.assert_array_equal(reused["class"]["predicted"]["class recipe"][0], expected)
    # the class recipe fitted by compare_decoders is the same network
    np.testing.assert_allclose(refitted["class"]["predicted"]["class recipe"][0], expected,
                               atol=1e-4)
    for scheme in ("random", "blocked"):  # other splits are fitted as before
        np.testing.assert_array_equal(reused[scheme]["predicted"]["class recipe"][0],
                                      refitted[scheme]["predicted"]["class recipe"][0])


def decoding_data(n=60, p=40, seed=0):
    """Responses of ``tuned_population`` at n orientations spread over -90..90, and those."""
    theta = np.linspace(-90, 90, n, endpoint=False) + 0.5
    return tuned_population(theta, p, seed=seed).resp, theta


@pytest.fixture(scope="module")
def comparison():
    resp, theta = decoding_data()
    decoders = {"circle": CircularRidge(), "vector": PopulationVectorDecoder(),
                "best": CVSelectedDecoder([("line", AngleRidge()),
                                              ("circle", CircularRidge())], n_folds=3)}
    return compare_decoders(decoders, resp, theta, n_random=3, n_blocked=2,
                               repeat=["circle", "best"], progress=False)


def test_decoder_comparison_table_holds_means_and_standard_errors(comparison):
    table = decoder_comparison_table(comparison, "best", ("vector",))
    rows = {row[0]: dict(zip(table.values()["columns"], row, strict=True))
            for row in table.values()["data"]}
    for name in ("circle", "vector", "best"):
        assert rows[name]["class: MSE"] == comparison["class"]["errors"][name][0]["mse"]
    random_mse = np.array([e["mse"] for e in comparison["random"]["errors"]["circle"]])
    assert rows["circle"]["random: MSE"] == pytest.approx(random_mse.mean())
    assert rows["circle"]["random: SE"] == pytest.approx(random_mse.std(ddof=1) / np.sqrt(3))
    blocked = np.array([e["circ_rmse"] for e in comparison["blocked"]["errors"]["best"]])
    assert rows["best"]["blocked: circ RMSE"] == pytest.approx(blocked.mean())
    assert rows["vector"]["random: MSE"] is None  # class split only
    notes = "\n".join(table.notes)
    assert "mean over 3 random splits" in notes and "over 2 blocked splits (10 deg)" in notes
    assert f"'best' chose '{comparison['class']['chosen']['best'][0]}' on the class split" in notes
    assert "'best' MSE as a percentage of 'vector'" in notes
    assert "fit (s)" not in table.values()["columns"]
    assert "fit (s)" in decoder_comparison_table(comparison, show_times=True).values()["columns"]


def test_selection_and_recipe_tables(comparison):
    best = comparison["class"]["fitted"]["best"]
    rows = selection_table(best).values()["data"]
    assert [r[0] for r in rows] == ["line", "circle"]
    for name, mse, circ, chosen in rows:
        assert mse == best.cv_mse_[name] and circ == best.cv_circ_rmse_[name]
        assert chosen == ("yes" if name == best.best_name_ else "")
    resp, theta = decoding_data(n=30, p=12)
    recipe = TorchMLPDecoder(hidden=(8,), n_epochs=5, device="cpu")
    result = compare_decoders({"net": recipe}, resp, theta, n_random=0, n_blocked=0,
                                 progress=False)
    (row,) = recipe_table(result, ["net"]).values()["data"]
    fitted = result["class"]["fitted"]["net"]
    assert row == ["net", fitted.loss_history_[-1], result["class"]["errors"]["net"][0]["mse"]]


def test_block_width_table_holds_the_sweep():
    resp, theta = decoding_data()
    sweep = block_width_sweep(CircularRidge(), resp, theta, widths=(1, 10), n_splits=2)
    rows = block_width_table({"circle": sweep}).values()["data"]
    assert rows == [["circle", w, *sweep[w]["mse"], *sweep[w]["circ_rmse"]] for w in (1, 10)]
