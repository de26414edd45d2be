"""Where a data file came from, and a file the user names.

``DataFile`` is a path that carries its provenance; ``data_provenance`` finds it for any file;
``use_data_file`` checks a recording-format file the user names (the notebook's ``DATA_FILE``).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from functools import partial

import numpy as np

from v1_orientation._internal import _display_path
from v1_orientation.course.recording import _read_recording

__all__ = [
    "DataFile", "data_provenance", "use_data_file",
]


_RECORDING_FNAME = "W3D4_stringer_oribinned1.npz"
_RECORDING_MD5 = "436599dfd8ebe6019f066c38aed20580"
_RECORDING_URLS = (
    "https://osf.io/download/683xc/",  # OSF's download scheme since 2025
    "https://osf.io/683xc/download",  # the legacy scheme, tried second
)

_SURROGATE_KEY = "surrogate"  # marker entry of a surrogate .npz (a unicode string array)
_MD5_HEX = frozenset("0123456789abcdef")


class DataFile(str):
    """Path of a data file that also says where its data came from.

    A ``str`` subclass, so it works wherever a path does (``np.load``,
    ``load_data``, ``os.path``); the provenance rides along as attributes.

    Args:
        path (str or PathLike): the file's path.
        source (str): ``"real"``, ``"surrogate"``, ``"user"`` (a file the user
            named, e.g. the notebook's ``DATA_FILE``; see ``use_data_file``) or
            ``"unknown"``.
        description (str): one line saying what the file holds.
        reason (str): why the surrogate stands in for the recording
            (empty when it does not, or was asked for).

    Attributes:
        source (str): ``"real"``, ``"surrogate"``, ``"user"`` or ``"unknown"``.
        description (str): one line saying what the file holds.
        reason (str): why the surrogate stands in for the recording, or ``""``.
    """

    def __new__(cls, path, source="unknown", description="", reason=""):
        """Make the path string and attach its provenance (see the class's Args)."""
        self = super().__new__(cls, os.fspath(path))
        self.source = source
        self.description = description or f"{source} data file {os.path.basename(self)}"
        self.reason = reason
        return self

    @property
    def is_surrogate(self):
        """bool: the file holds simulated data, not the recording."""
        return self.source == "surrogate"

    @property
    def title_suffix(self):
        """str: text to append to figure titles (``""`` for the real recording)."""
        return {"real": "", "surrogate": " (surrogate)", "user": " (user file)"}.get(
            self.source, " (unverified data)")

    def banner(self):
        """Text that says which data the analysis runs on.

        Returns:
            str: one or two lines for the real recording; a loud, multi-line
            block for the surrogate (what it is, why it is used, what it means
            for the results).
        """
        if self.source == "user":
            return "\n".join([
                f"Data: {self.description}",
                f"File: {_display_path(self)}",
                "Every number and figure below describes this file; figure titles carry "
                "'(user file)'.",
            ])
        if not self.is_surrogate:
            return f"Data: {self.description}\n      file: {_display_path(self)}"
        rule = "#" * 78
        why = self.reason or "the offline surrogate was asked for (source='surrogate')"
        return "\n".join([
            rule,
            "#  OFFLINE SURROGATE DATA - NOT MOUSE V1",
            rule,
            f"Data: {self.description}",
            f"File: {_display_path(self)}",
            "Why:  " + why.replace("\n", "\n      "),
            "Every number and figure computed from this file describes a simulation, not the",
            "brain; figure titles carry '(surrogate)'. For the real recording, run",
            "fetch_data(source='real') with internet access (its error says how to fetch",
            "the file by hand) and re-run the notebook.",
            rule,
        ])


def _file_md5(path):
    """Hex md5 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(partial(f.read, 1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _normalise_md5(md5):
    """Lower-case hex md5 from ``"ABC..."`` or ``"md5:abc..."``; ValueError if malformed."""
    text = str(md5).strip().lower().removeprefix("md5:")
    if len(text) != 32 or not set(text) <= _MD5_HEX:
        raise ValueError(f"expected_md5 must be 32 hexadecimal digits, got {md5!r}")
    return text


def _real_description(fname):
    return f"real recording {fname} (Stringer et al. 2021, md5 verified)"


def data_provenance(path, expected_md5=None):
    """Say where the data in an existing file came from, by inspecting it.

    A file whose md5 is the recording's is the real recording; a file with
    the ``surrogate`` marker entry is a surrogate (described by its marker);
    anything else is ``"unknown"``.

    Args:
        path (str or PathLike): an existing data file.
        expected_md5 (str or None): md5 of the real recording; default the
            published one.

    Returns:
        DataFile: ``path`` with its ``source`` and ``description``.

    Raises:
        FileNotFoundError: no file at ``path``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no data file at {path!r}")
    expected_md5 = _normalise_md5(_RECORDING_MD5 if expected_md5 is None else expected_md5)
    got = _file_md5(path)
    if got == expected_md5:
        return DataFile(path, "real", _real_description(os.path.basename(path)))
    try:
        with np.load(path, allow_pickle=False) as npz:
            if _SURROGATE_KEY in npz.files:
                return DataFile(path, "surrogate", str(npz[_SURROGATE_KEY].item()))
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile):
        pass  # not a readable .npz: its provenance is unknown
    return DataFile(
        path,
        "unknown",
        f"unverified data file {os.path.basename(path)}: not the real recording "
        f"(md5 {got}, expected {expected_md5}) and not a ccn_helpers surrogate",
    )


_USER_FILE_HINT = (
    "DATA_FILE must name an .npz in the recording's format: 'resp' (n_stimuli x n_neurons) and "
    "'stimuli' (n_stimuli,) in degrees, increasing, within [0, 360); a relative path is read "
    "from the notebook's folder. Fix the file or the path, or set DATA_FILE = None to use "
    "fetch_data() (the recording, or the offline surrogate)"
)
_USER_FILE_MIN_NEURONS = 10  # Part 2's smallest population
_USER_FILE_MIN_STIMULI = 36  # in 0..180 deg: the class split, then 5 folds inside its 60%


def _check_user_recording(path, resp, stimuli):
    """ValueError naming the problem and the fix unless the arrays suit the notebook."""
    problem = None
    kept = np.count_nonzero(stimuli <= 180)
    if stimuli.size and (stimuli.min() < 0 or stimuli.max() >= 360):
        problem = (f"its stimuli run from {stimuli.min():g} to {stimuli.max():g} deg, outside "
                   "[0, 360) (the recording's convention: 0..359 deg, 0..180 is the "
                   "assignment's view)")
    elif np.any(np.diff(stimuli) <= 0):
        problem = ("its stimuli do not increase from row to row (sort the rows of 'resp' and "
                   "'stimuli' together, and average rows of the same stimulus)")
    elif resp.shape[1] < _USER_FILE_MIN_NEURONS:
        problem = (f"it has {resp.shape[1]} neuron(s); the analyses need at least "
                   f"{_USER_FILE_MIN_NEURONS}")
    elif kept < _USER_FILE_MIN_STIMULI:
        problem = (f"it has {kept} stimuli within 0..180 deg; the decoders need at least "
                   f"{_USER_FILE_MIN_STIMULI}")
    if problem:
        raise ValueError(f"DATA_FILE {path!r} cannot be analysed: {problem}. {_USER_FILE_HINT}.")


def use_data_file(path, expected_md5=None):
    """Check a recording-format file the user names (``DATA_FILE``) and say what it is.

    Nothing is downloaded. The file is read and checked as ``load_data`` reads it,
    plus what the notebook needs (stimuli increasing within [0, 360), at least
    10 neurons and 36 stimuli within 0..180 deg). Its provenance comes from
    ``data_provenance``: the real recording when its md5 is the published one, a
    surrogate when it carries the surrogate marker, else a ``"user"`` file,
    whose banner, figure titles (``title_suffix``) and summary say "user file".
    The banner is printed.

    Args:
        path (str or PathLike): the file; a relative path is read from the working
            directory (the notebook's folder); ``~`` is expanded.
        expected_md5 (str or None): md5 of the real recording; default the published one.

    Returns:
        DataFile: ``path`` with its provenance (``source`` ``"real"``, ``"surrogate"``
        or ``"user"``).

    Raises:
        FileNotFoundError: no file at ``path``; the message says where it looked.
        ValueError: the file is not a readable recording-format ``.npz``, or does not
            suit the analyses; the message names the problem and the fix.
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"DATA_FILE {path!r}: no such file (looked for {os.path.abspath(path)!r}). "
            f"{_USER_FILE_HINT}."
        )
    try:
        resp, stimuli = _read_recording(path)
    except ValueError as err:
        raise ValueError(f"DATA_FILE {path!r} cannot be read: {err}. {_USER_FILE_HINT}.") \
            from err
    _check_user_recording(path, resp, stimuli)
    found = data_provenance(path, expected_md5)
    if found.source == "surrogate":
        data = DataFile(path, "surrogate", found.description,
                        "DATA_FILE names a surrogate file written by fetch_data")
    elif found.source == "real":
        data = found
    else:
        data = DataFile(path, "user", (
            f"user file {os.path.basename(path)} (DATA_FILE): {resp.shape[1]} neurons x "
            f"{resp.shape[0]} stimuli, {resp.dtype}; not verified as the recording of "
            f"Stringer et al. (its md5 differs)"))
    print(data.banner())
    return data
