"""Reading the recording: ``load_data`` (the template's view), the whole circle, the class split.

A recording file is an ``.npz`` with ``resp`` (n_stimuli x n_neurons) and ``stimuli``
(n_stimuli,), orientations in degrees; ``fetch_data`` or ``use_data_file`` give its path.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np
import torch

from v1_orientation._internal import _as_numpy

__all__ = [
    "load_data", "load_recording", "split_train_test", "get_data", "RECORDING_TRIALS",
    "RECORDING_BINS", "describe_stimuli", "trials_per_bin",
]


_DATA_HINT = (
    "get the recording with `fname = fetch_data()` (it downloads and verifies the "
    "real file, or simulates the offline surrogate)"
)


def _read_recording(data_name: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate ``resp`` and ``stimuli`` from a recording file.

    Args:
        data_name: path of an ``.npz`` with ``resp`` (n_stimuli x n_neurons)
            and ``stimuli`` (n_stimuli,), in degrees.

    Returns:
        ``(resp, stimuli)`` as stored in the file (dtype unchanged).

    Raises:
        FileNotFoundError: no file at ``data_name``.
        ValueError: the file is not a readable npz, holds pickled objects,
            lacks a key, or its arrays have the wrong shapes or non-finite values.
    """
    path = os.fspath(data_name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no recording file at {path!r}; {_DATA_HINT}")
    try:
        dobj = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"{path!r} is not a readable .npz file ({err}); it may be a truncated or "
            f"interrupted download: delete it and {_DATA_HINT}"
        ) from err
    if not isinstance(dobj, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{path!r} holds a single array, not an .npz archive with 'resp' and 'stimuli'; "
            f"{_DATA_HINT}"
        )
    with dobj:
        missing = [k for k in ("resp", "stimuli") if k not in dobj.files]
        if missing:
            raise ValueError(
                f"{path!r} lacks the key(s) {missing}; it has {sorted(dobj.files)}. "
                f"A recording file holds 'resp' (n_stimuli x n_neurons) and 'stimuli' "
                f"(n_stimuli,); {_DATA_HINT}"
            )
        try:
            resp, stimuli = dobj["resp"], dobj["stimuli"]
        except ValueError as err:  # object arrays need pickle, which we refuse
            raise ValueError(
                f"{path!r} stores pickled Python objects, which are not loaded for safety "
                f"(allow_pickle=False); a recording holds plain numeric arrays. {_DATA_HINT}"
            ) from err
        except (OSError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(
                f"{path!r} is damaged ({err}); delete it and {_DATA_HINT}"
            ) from err
    for name, arr in (("resp", resp), ("stimuli", stimuli)):
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise ValueError(f"{path!r}: '{name}' has dtype {arr.dtype}; expected real numbers")
    stimuli = stimuli.reshape(-1) if stimuli.ndim == 2 and 1 in stimuli.shape else stimuli
    if resp.ndim != 2 or stimuli.ndim != 1:
        raise ValueError(
            f"{path!r}: expected 'resp' of shape (n_stimuli, n_neurons) and 'stimuli' of shape "
            f"(n_stimuli,), got {resp.shape} and {stimuli.shape}"
        )
    if resp.shape[0] != stimuli.shape[0]:
        raise ValueError(
            f"{path!r}: 'resp' has {resp.shape[0]} rows but 'stimuli' has {stimuli.shape[0]} "
            "values; each row of 'resp' is the response to one stimulus"
        )
    for name, arr in (("resp", resp), ("stimuli", stimuli)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise ValueError(f"{path!r}: '{name}' holds {bad} non-finite value(s) (NaN or inf)")
    return resp, stimuli


def load_data(data_name, bin_width=1):
    """Load the mouse V1 recording of Stringer et al. as the assignment does.

    Data: time-averaged responses of 23,589 neurons to 4,598 static gratings
    (Stringer et al. 2021, Cell 184; preprint bioRxiv 679324), normalised by
    spontaneous activity, z-scored over trials and averaged in 1-degree
    orientation bins, so negative values are normal.

    As in the template, bins of ``bin_width`` degrees are averaged when
    ``bin_width > 1``; only stimuli at or below 180 deg are kept and 90 is
    subtracted, so that 0 means vertical, negative tilted left and positive
    tilted right. Returns exactly the template's tensors.

    Args:
        data_name (str or PathLike): path of an ``.npz`` with ``resp``
            (n_stimuli x n_neurons) and ``stimuli`` (n_stimuli,) in degrees;
            see ``fetch_data``.
        bin_width (float): width of the orientation bins to average, in degrees.

    Returns:
        tuple: ``resp`` (torch.float32, n_kept x n_neurons) and ``stimuli``
        (torch.float32, n_kept x 1, degrees in [-90, 90]).

    Raises:
        FileNotFoundError: no file at ``data_name``.
        ValueError: the file is not a valid recording (see the message), or
            ``bin_width`` is not a positive number.
    """
    if not np.isfinite(bin_width) or bin_width <= 0:
        raise ValueError(f"bin_width must be a positive number of degrees, got {bin_width!r}")
    resp, stimuli = _read_recording(data_name)

    if bin_width > 1:
        # The template's own loop, kept so that the float rounding of each mean is identical.
        bins = np.digitize(stimuli, np.arange(0, 360 + bin_width, bin_width))
        stimuli_binned = np.array([stimuli[bins == i].mean() for i in np.unique(bins)])
        resp_binned = np.array([resp[bins == i, :].mean(0) for i in np.unique(bins)])
    else:
        resp_binned = resp
        stimuli_binned = stimuli

    keep = stimuli_binned <= 180
    resp_binned = resp_binned[keep]
    stimuli_binned = stimuli_binned[keep] - 90  # 0 vertical, <0 tilted left, >0 tilted right

    resp_tensor = torch.tensor(resp_binned, dtype=torch.float32)
    stimuli_tensor = torch.tensor(stimuli_binned, dtype=torch.float32).unsqueeze(1)
    return resp_tensor, stimuli_tensor


def load_recording(data_name):
    """Read the whole recording as stored: every orientation bin from 0 to 360 deg.

    ``load_data`` keeps only 0-180 deg (the assignment's convention); the full
    circle shows that neurons respond to a grating and to the same grating
    turned by 180 deg, often with peaks of unequal height.

    Args:
        data_name (str or PathLike): path of a recording file (see ``fetch_data``).

    Returns:
        tuple: ``resp`` (n_stimuli x n_neurons ndarray, dtype as stored) and
        ``stimuli`` (n_stimuli,) orientations in degrees.

    Raises:
        FileNotFoundError, ValueError: as ``load_data``.
    """
    return _read_recording(data_name)


def split_train_test(resp, stimuli, train_frac=0.6, seed=4):
    """Split stimuli into the class's training and test sets.

    Reproduces the class code ``torch.manual_seed(4); n_train = int(0.6 *
    n_stimuli); ishuffle = torch.randperm(n_stimuli)`` (train = the first
    ``n_train`` of the permutation, test = the rest) with a private generator,
    so that the global random state is left untouched.

    Args:
        resp: n_stimuli x n_neurons responses (torch.Tensor or ndarray).
        stimuli: n_stimuli (x 1) orientations in degrees, same type as ``resp``.
        train_frac (float): fraction of stimuli in the training set, in (0, 1).
        seed (int): seed of the permutation (4 in class).

    Returns:
        tuple: ``resp_train, stimuli_train, resp_test, stimuli_test``, rows
        of the inputs in permutation order.

    Raises:
        ValueError: ``train_frac`` outside (0, 1) or inputs of different lengths.
    """
    if not 0 < train_frac < 1:
        raise ValueError(f"train_frac must lie strictly between 0 and 1, got {train_frac!r}")
    n_stimuli = resp.shape[0]
    if stimuli.shape[0] != n_stimuli:
        raise ValueError(
            f"resp has {n_stimuli} rows but stimuli has {stimuli.shape[0]}; they must match"
        )
    n_train = int(train_frac * n_stimuli)
    generator = torch.Generator().manual_seed(seed)
    ishuffle = torch.randperm(n_stimuli, generator=generator)
    if not isinstance(resp, torch.Tensor):
        ishuffle = ishuffle.numpy()
    itrain, itest = ishuffle[:n_train], ishuffle[n_train:]
    return resp[itrain], stimuli[itrain], resp[itest], stimuli[itest]


def get_data(n_stim, train_data, train_labels):
    """Draw ``n_stim`` random stimuli, with replacement, as in class.

    Uses NumPy's global generator (``np.random.choice``), like the class code;
    seed it (``set_seed``) for a reproducible draw.

    Args:
        n_stim (int): number of stimuli to draw.
        train_data: n_stimuli x n_neurons responses.
        train_labels: n_stimuli (x 1) orientations.

    Returns:
        tuple: ``r`` (n_stim x n_neurons) and ``ori`` (n_stim x 1) rows of the inputs.
    """
    n_stimuli = train_data.shape[0]
    istim = np.random.choice(n_stimuli, n_stim)
    return train_data[istim], train_labels[istim]


# The recording's size (Stringer et al. 2021): its trials were averaged into 1-degree bins, so a
# row of ``resp`` holds RECORDING_TRIALS / RECORDING_BINS trials on average.
RECORDING_TRIALS = 4598
RECORDING_BINS = 360


def describe_stimuli(stimuli):
    """One line on a file's stimuli: how many, their range and their spacing.

    Args:
        stimuli (array-like): (n,) stimulus values, degrees.

    Returns:
        str: e.g. ``"360 stimuli from 0 to 359 deg in steps of 1 deg"``, or, when the
        spacing varies (bin means, say), its smallest, median and largest step.
    """
    values = np.sort(np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1))
    text = f"{values.size} stimuli from {values[0]:.4g} to {values[-1]:.4g} deg"
    if values.size < 2:
        return text
    steps = np.diff(values)
    low, middle, high = np.min(steps), np.median(steps), np.max(steps)
    if high - low <= 1e-6 * max(abs(middle), 1e-12):
        return f"{text} in steps of {middle:.4g} deg"
    return f"{text}, steps from {low:.3g} to {high:.3g} deg (median {middle:.3g})"


def trials_per_bin(data):
    """Mean number of trials averaged into one row of a recording-format file.

    The recording (and the surrogate, which simulates its design) averages
    ``RECORDING_TRIALS`` trials into ``RECORDING_BINS`` bins. Another file does not
    say how many trials a row holds, so the recording's value is assumed, and the
    note says so.

    Args:
        data (DataFile): the file analysed (``fetch_data`` or ``use_data_file``).

    Returns:
        tuple: ``n_b`` (float, trials per row) and a note (str) saying where it comes from.
    """
    n_b = RECORDING_TRIALS / RECORDING_BINS
    source = f"the recording's {RECORDING_TRIALS:,} trials / {RECORDING_BINS} bins"
    if getattr(data, "source", "unknown") in ("real", "surrogate"):
        return n_b, source
    return n_b, (f"ASSUMED: {source}; this file is not the recording and does not say how "
                 "many trials each row averages, so every single-trial number scales with "
                 "sqrt(n_b)")
