"""``course.recording``: load_data, load_recording, the class split and get_data, against the
template's and the class's code; the facts the notebook prints about a file.
"""

import numpy as np
import pytest
import template_oracle as oracle
import torch
from conftest import write_recording

from v1_orientation.course.provenance import DataFile
from v1_orientation.course.recording import (
    RECORDING_BINS,
    RECORDING_TRIALS,
    describe_stimuli,
    get_data,
    load_data,
    load_recording,
    split_train_test,
    trials_per_bin,
)


def test_load_recording_returns_all_bins(recording):
    resp, stimuli = load_recording(recording)
    assert resp.shape == (360, 40) and stimuli.shape == (360,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_load_recording_returns_the_file_rows_in_their_order(tmp_path, dtype):
    stimuli = np.random.default_rng(5).permutation(360).astype(float)  # rows in no sorted order
    path = write_recording(tmp_path / "r.npz", n_neurons=7, stimuli=stimuli, dtype=dtype)
    resp, got_stimuli = load_recording(path)
    with np.load(path) as stored:
        np.testing.assert_array_equal(resp, stored["resp"])
        np.testing.assert_array_equal(got_stimuli, stored["stimuli"])
    assert resp.dtype == got_stimuli.dtype == dtype


BIN_WIDTHS = [1, 0.5, 1.5, 2, 3, 5, 7.5, 10, 45]


def class_split(resp, stimuli):
    """The class's split code, verbatim (seeds the global generators)."""
    np.random.seed(4)
    torch.manual_seed(4)
    n_stimuli = resp.shape[0]
    n_train = int(0.6 * n_stimuli)
    ishuffle = torch.randperm(n_stimuli)
    itrain = ishuffle[:n_train]
    itest = ishuffle[n_train:]
    return resp[itrain], stimuli[itrain], resp[itest], stimuli[itest]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stimuli_kind", ["integer", "float", "unsorted_float"])
def test_load_data_equals_template_for_every_bin_width(tmp_path, dtype, stimuli_kind):
    rng = np.random.default_rng(1)
    stimuli = {
        "integer": np.arange(360.0),
        "float": np.sort(rng.uniform(0, 360, 500)),
        "unsorted_float": rng.uniform(0, 360, 300),
    }[stimuli_kind]
    path = write_recording(tmp_path / "r.npz", n_neurons=17, stimuli=stimuli, dtype=dtype)
    for bin_width in BIN_WIDTHS:
        resp, ori = load_data(path, bin_width)
        resp_ref, ori_ref = oracle.load_data(str(path), bin_width)
        assert torch.equal(resp, resp_ref), bin_width
        assert torch.equal(ori, ori_ref), bin_width
        assert resp.dtype == ori.dtype == torch.float32
        assert ori.shape == (resp.shape[0], 1)


def test_load_data_keeps_0_to_180_and_centres_on_vertical(recording):
    resp, ori = load_data(recording)
    assert resp.shape == (181, 40)
    assert ori[0, 0] == -90 and ori[-1, 0] == 90
    assert torch.all(torch.diff(ori[:, 0]) == 1)


def test_load_data_accepts_pathlike(tmp_path):
    path = write_recording(tmp_path / "r.npz")
    resp, _ = load_data(path)  # a pathlib.Path
    assert resp.shape[0] == 181


def test_missing_file_names_path_and_fetch_data(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz") as err:
        load_data(missing)
    assert "fetch_data" in str(err.value)


def test_missing_keys_are_named(tmp_path):
    path = tmp_path / "r.npz"
    np.savez(path, responses=np.zeros((3, 2)), stimuli=np.arange(3.0))
    with pytest.raises(ValueError, match=r"\['resp'\].*'responses', 'stimuli'"):
        load_data(path)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "r.npz"
    np.savez(path, resp=np.array([{"a": 1}], dtype=object), stimuli=np.arange(1.0))
    with pytest.raises(ValueError, match="pickle"):
        load_data(path)


def test_truncated_download_is_reported(tmp_path):
    good = write_recording(tmp_path / "good.npz")
    data = good.read_bytes()
    path = tmp_path / "truncated.npz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        load_data(path)


def test_a_text_file_is_not_an_npz(tmp_path):
    path = tmp_path / "page.npz"
    path.write_text("<html>Too Many Requests</html>")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_data(path)


@pytest.mark.parametrize(
    "resp, stimuli, message",
    [
        (np.zeros((4, 3)), np.arange(5.0), "4 rows but 'stimuli' has 5"),
        (np.zeros(4), np.arange(4.0), "expected 'resp' of shape"),
        (np.zeros((4, 3)), np.zeros((4, 2)), "expected 'resp' of shape"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), np.arange(2.0), "'resp' holds 1 non-finite"),
        (np.zeros((2, 2)), np.array([0.0, np.inf]), "'stimuli' holds 1 non-finite"),
    ],
)
def test_inconsistent_arrays_are_reported(tmp_path, resp, stimuli, message):
    path = tmp_path / "r.npz"
    np.savez(path, resp=resp, stimuli=stimuli)
    with pytest.raises(ValueError, match=message):
        load_data(path)


@pytest.mark.parametrize("bin_width", [0, -1, float("nan")])
def test_non_positive_bin_width(recording, bin_width):
    with pytest.raises(ValueError, match="bin_width must be a positive"):
        load_data(recording, bin_width)


@pytest.mark.parametrize("n_stimuli", [181, 360, 7])
def test_split_reproduces_the_class_split(n_stimuli):
    resp = torch.randn(n_stimuli, 5)
    stimuli = torch.arange(n_stimuli, dtype=torch.float32).unsqueeze(1)
    ours = split_train_test(resp, stimuli)
    theirs = class_split(resp, stimuli)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


def test_split_sizes_on_the_assignment_data():
    resp = torch.randn(181, 3)
    stimuli = torch.arange(181.0).unsqueeze(1)
    r_train, s_train, r_test, s_test = split_train_test(resp, stimuli)
    assert (len(r_train), len(r_test)) == (108, 73)
    together = torch.cat([s_train, s_test]).flatten().sort().values
    assert torch.equal(together, stimuli.flatten())


def test_split_leaves_global_random_state_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    split_train_test(torch.zeros(10, 2), torch.zeros(10, 1))
    assert torch.equal(torch.rand(3), expected)


def test_split_works_on_numpy_and_checks_lengths():
    resp = np.arange(20.0).reshape(10, 2)
    r_train, s_train, r_test, s_test = split_train_test(resp, np.arange(10.0))
    assert r_train.shape == (6, 2) and isinstance(r_train, np.ndarray)
    assert np.array_equal(r_train[:, 0] / 2, s_train)
    with pytest.raises(ValueError, match="must match"):
        split_train_test(resp, np.arange(9.0))
    with pytest.raises(ValueError, match="train_frac"):
        split_train_test(resp, np.arange(10.0), train_frac=1.0)


def test_get_data_draws_like_the_class():
    data = torch.arange(50.0).reshape(25, 2)
    labels = torch.arange(25.0).unsqueeze(1)
    np.random.seed(3)
    r, ori = get_data(4, data, labels)
    np.random.seed(3)
    istim = np.random.choice(25, 4)
    assert torch.equal(r, data[istim]) and torch.equal(ori, labels[istim])
    assert r.shape == (4, 2) and ori.shape == (4, 1)


def test_describe_stimuli_regular_and_irregular():
    assert describe_stimuli(np.arange(360.0)) == "360 stimuli from 0 to 359 deg in steps of 1 deg"
    assert describe_stimuli(np.arange(0.0, 180.0, 2.5)) == \
        "72 stimuli from 0 to 177.5 deg in steps of 2.5 deg"
    # bin means: unequal steps (given unsorted), never "in steps of 0 deg"
    assert describe_stimuli([2.0, 0.25, 0.75]) == \
        "3 stimuli from 0.25 to 2 deg, steps from 0.5 to 1.25 deg (median 0.875)"
    assert describe_stimuli([42.0]) == "1 stimuli from 42 to 42 deg"


def test_trials_per_bin_is_the_recordings_and_says_when_assumed():
    assert (RECORDING_TRIALS, RECORDING_BINS) == (4598, 360)  # Stringer et al.'s design
    for source in ("real", "surrogate"):
        n_b, note = trials_per_bin(DataFile("x.npz", source))
        assert n_b == pytest.approx(12.7722, abs=1e-4) and "ASSUMED" not in note
        assert "4,598 trials / 360 bins" in note
    n_b, note = trials_per_bin(DataFile("x.npz", "user"))
    assert n_b == pytest.approx(4598 / 360) and note.startswith("ASSUMED")
