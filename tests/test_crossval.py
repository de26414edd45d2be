"""``solution.crossval``: folds and splits over stimuli, against the class code and definitions."""

import numpy as np
import pytest
import torch

from v1_orientation.solution.crossval import (
    blocked_split_indices,
    class_split_indices,
    cv_folds,
    orientation_blocks,
    random_split_indices,
    selection_folds,
)


def test_class_split_indices_follow_the_class_code():
    torch.manual_seed(4)
    ishuffle = torch.randperm(181).numpy()  # the class code
    train, test = class_split_indices(181)
    np.testing.assert_array_equal(train, ishuffle[:108])
    np.testing.assert_array_equal(test, ishuffle[108:])


def test_random_and_blocked_splits_partition_the_stimuli():
    y = np.arange(-90.0, 91.0)
    for train, test in random_split_indices(181, n_splits=3, seed=1):
        assert (len(train), len(test)) == (108, 73)
        np.testing.assert_array_equal(np.sort(np.r_[train, test]), np.arange(181))
    for k, (train, test) in enumerate(blocked_split_indices(y, 10.0, n_splits=3, seed=1)):
        np.testing.assert_array_equal(np.sort(np.r_[train, test]), np.arange(181))
        blocks = orientation_blocks(y, 10.0, seed=[1, k])
        assert not set(blocks[train]) & set(blocks[test])  # whole blocks on one side
        assert len(set(blocks[test])) == round(0.4 * len(set(blocks)))


def test_orientation_blocks_are_arcs_of_the_orientation_circle():
    y = np.arange(-90.0, 91.0)
    blocks = orientation_blocks(y, 10.0, seed=5)
    assert blocks[0] == blocks[-1]  # -90 and +90 are the same orientation
    for label in np.unique(blocks):
        members = y[blocks == label]
        # the arc's members span less than the width once unwrapped around the arc
        spread = np.ptp(np.mod(members - members[0] + 90, 180))
        assert spread < 10.0
    folds = selection_folds(y[::2], n_folds=4, block_width=15.0, seed=2)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(y[::2])))
    fold_blocks = orientation_blocks(y[::2], 15.0, seed=2)
    assert all(not set(fold_blocks[a]) & set(fold_blocks[b])
               for i, a in enumerate(folds) for b in folds[i + 1:])


@pytest.mark.parametrize("scheme", ["interleaved", "blocked"])
def test_folds_partition_the_stimuli(scheme):
    stimuli = np.arange(360.0)
    folds = cv_folds(stimuli, n_folds=10, scheme=scheme, seed=3)
    assert len(folds) == 10
    np.testing.assert_array_equal(np.sort(np.concatenate(folds)), np.arange(360))
    assert all(len(f) == 36 for f in folds)


def test_blocked_folds_hold_out_arcs_of_orientation_in_both_directions():
    stimuli = np.arange(360.0)
    for seed in range(5):
        for fold in cv_folds(stimuli, n_folds=10, scheme="blocked", seed=seed):
            orientation = np.mod(stimuli[fold], 180)
            # both directions of every held-out orientation are held out
            np.testing.assert_array_equal(np.sort(orientation[stimuli[fold] < 180]),
                                          np.sort(orientation[stimuli[fold] >= 180]))
            # the 18 held-out orientations are consecutive degrees on the 180 deg circle
            held = np.unique(orientation)
            gaps = np.sort(np.append(np.diff(held), held[0] + 180 - held[-1]))
            assert held.size == 18
            np.testing.assert_array_equal(gaps[:-1], 1)


def test_interleaved_folds_spread_over_all_orientations_and_depend_on_the_seed():
    stimuli = np.arange(360.0)
    folds = cv_folds(stimuli, n_folds=10, seed=0)
    for fold in folds:
        assert np.ptp(np.mod(stimuli[fold], 180)) > 150
    assert not np.array_equal(folds[0], cv_folds(stimuli, n_folds=10, seed=1)[0])


def test_folds_reject_bad_arguments():
    with pytest.raises(ValueError, match="scheme"):
        cv_folds(np.arange(10.0), 2, scheme="random")
    with pytest.raises(ValueError, match="n_folds"):
        cv_folds(np.arange(10.0), 11)
    with pytest.raises(ValueError, match="arc"):  # three of four 45-deg arcs hold no stimulus
        cv_folds(np.array([0.0, 1, 2, 3]), 4, scheme="blocked", period=180.0)
