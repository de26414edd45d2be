"""``fetch_data``: the recording (downloaded, md5-verified and cached) or the offline surrogate."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
import zipfile

import numpy as np
import pooch
import requests

from v1_orientation._internal import _display_path
from v1_orientation.course.provenance import (
    _RECORDING_FNAME,
    _RECORDING_MD5,
    _RECORDING_URLS,
    _SURROGATE_KEY,
    DataFile,
    _file_md5,
    _normalise_md5,
    _real_description,
)
from v1_orientation.course.surrogate import SURROGATE_VERSION, simulate_stringer

__all__ = [
    "DataUnavailableError", "SurrogateDataWarning", "fetch_data",
]


_DATA_SOURCES = ("auto", "real", "surrogate")


class DataUnavailableError(RuntimeError):
    """The real recording could not be downloaded (every URL failed).

    Attributes:
        reasons (list of tuple of str): ``(url, what went wrong)`` for each URL
            tried, in the order tried.
        path (str): where the verified file was expected.
    """

    def __init__(self, message, reasons=(), path=None):
        super().__init__(message)
        self.reasons = list(reasons)
        self.path = path


class SurrogateDataWarning(UserWarning):
    """The analysis runs on the offline surrogate, not on the real recording."""


class _RelativePathsInLog(logging.Filter):
    """Shows the absolute paths in a logger's messages as ``_display_path`` does.

    pooch logs "Downloading data from '<url>' to file '<absolute path>'."; in a
    notebook that line lands in the saved outputs, where a path of the machine
    that ran it has no place. The notebook's folder is the working directory, so
    the path relative to it is the one its reader can use.
    """

    def filter(self, record):
        """Rewrite the record's absolute-path arguments; keep every record."""
        if isinstance(record.args, tuple):
            record.args = tuple(
                _display_path(arg) if isinstance(arg, str) and os.path.isabs(arg) else arg
                for arg in record.args
            )
        return True


@contextlib.contextmanager
def _pooch_logs_relative_paths():
    """Within the block, pooch's log messages show paths relative to the working directory."""
    log_filter = _RelativePathsInLog()
    pooch.get_logger().addFilter(log_filter)
    try:
        yield
    finally:
        pooch.get_logger().removeFilter(log_filter)


def _warn_at_caller(message, category, stacklevel=2):
    """``warnings.warn``, with the warning's location shown without a machine path.

    ``warnings`` prints the calling file's absolute path; for a notebook cell that
    is a temporary file (``/tmp/ipykernel_<pid>/<hash>.py``) that tells its
    reader nothing. The file is shown relative to the working directory when it
    lies below it, else by its bare name. Filters and registries work as for
    ``warnings.warn``.

    Args:
        message (str): the warning's text.
        category (type): a ``Warning`` subclass.
        stacklevel (int): as for ``warnings.warn``: 2 is the caller of the
            function that calls this one.
    """
    frame = sys._getframe(stacklevel)
    shown = _display_path(frame.f_code.co_filename)
    if os.path.isabs(shown):
        shown = os.path.basename(shown)
    caller_globals = frame.f_globals
    warnings.warn_explicit(
        message, category, shown, frame.f_lineno,
        module=caller_globals.get("__name__", "__main__"),
        registry=caller_globals.setdefault("__warningregistry__", {}),
    )


def _resolve_source(source):
    """Validated, lower-case data source from the argument or ``CCN_DATA_SOURCE``."""
    origin = "source"
    if source is None:
        source, origin = os.environ.get("CCN_DATA_SOURCE") or "auto", "CCN_DATA_SOURCE"
    value = str(source).strip().lower()
    if value not in _DATA_SOURCES:
        raise ValueError(
            f"{origin} must be one of {', '.join(map(repr, _DATA_SOURCES))}, got {source!r}"
        )
    return value


def _resolve_data_dir(data_dir):
    """Absolute data folder: the argument, else ``CCN_DATA_DIR``, else ``./data``."""
    if data_dir is None:
        data_dir = os.environ.get("CCN_DATA_DIR") or "data"
    return os.path.abspath(os.path.expanduser(os.fspath(data_dir)))


def _surrogate_description(seed):
    return (
        f"OFFLINE SURROGATE simulated by ccn_helpers.simulate_stringer "
        f"(version {SURROGATE_VERSION}, seed {seed}): not mouse V1 data"
    )


class _DigestRecorder:
    """A pooch downloader that remembers the md5 and first bytes of what it fetched.

    pooch deletes a download whose hash does not match and reports the hash
    only inside its error text; recording it here lets our error state
    "expected X, got Y" without parsing pooch's wording.
    """

    def __init__(self, downloader):
        self.downloader = downloader
        self.md5 = None
        self.head = b""

    def __call__(self, url, output_file, pooch_instance):
        self.md5, self.head = None, b""
        self.downloader(url, output_file, pooch_instance)
        self.md5 = _file_md5(output_file)
        with open(output_file, "rb") as f:
            self.head = f.read(256)


def _http_downloader(timeout):
    """Return pooch's HTTP downloader with a progress bar (none when tqdm is missing)."""
    try:
        return pooch.HTTPDownloader(timeout=timeout, progressbar=True)
    except ValueError:  # pooch refuses progressbar=True without tqdm
        return pooch.HTTPDownloader(timeout=timeout, progressbar=False)


def _describe_failure(err, timeout, expected_md5, recorder):
    """One-line reason why downloading one URL failed.

    Args:
        err (Exception): what ``pooch.retrieve`` raised.
        timeout (float): the timeout that was used, in seconds.
        expected_md5 (str): the md5 the file should have.
        recorder (_DigestRecorder): the downloader used, holding the md5 of
            what was fetched, if anything was.

    Returns:
        str: e.g. ``"HTTP 404 Not Found"`` or ``"hash mismatch: expected md5 ..., got md5 ..."``.
    """
    if isinstance(err, requests.exceptions.HTTPError) and err.response is not None:
        status, response = err.response.status_code, err.response
        if status == 429:
            retry = response.headers.get("Retry-After")
            return (
                "rate limited (HTTP 429): the server refuses more downloads from this address "
                "for now (OSF allows about 100 unauthenticated requests per hour); "
                + (f"it asks to retry after {retry} s" if retry else "try again later")
            )
        return f"HTTP {status} {response.reason or ''}".rstrip()
    if isinstance(err, requests.exceptions.Timeout):
        return f"timeout: no answer within {timeout} s"
    if isinstance(err, requests.exceptions.ConnectionError):
        # requests buries the OS error several wrappers deep; its text is the stable part.
        text = str(err)
        if "refused" in text.lower():
            return "connection refused (no server listening at that address)"
        if any(s in text for s in ("resolve", "getaddrinfo", "Name or service", "nodename")):
            return "could not resolve the host name (no internet connection?)"
        return f"connection failed ({text})"
    if isinstance(err, ValueError) and recorder.md5 is not None and recorder.md5 != expected_md5:
        html = b"<html" in recorder.head.lower() or recorder.head.lstrip().startswith(b"<")
        return (
            f"hash mismatch: expected md5 {expected_md5}, got md5 {recorder.md5}"
            + (" (the server sent an HTML page, not the file)" if html else "")
        )
    return f"{type(err).__name__}: {err}"


def _download_from(url, path, expected_md5, timeout):
    """Download ``url`` to ``path`` with pooch, verified against ``expected_md5``.

    pooch streams into a temporary file in the same folder, checks its md5,
    and only then moves it to ``path`` (deleting it on a mismatch or an error);
    requests follows redirects.

    Returns:
        str or None: ``None`` on success, else why it failed (one line).
    """
    recorder = _DigestRecorder(_http_downloader(timeout))
    try:
        with _pooch_logs_relative_paths():
            pooch.retrieve(
                url,
                known_hash=f"md5:{expected_md5}",
                fname=os.path.basename(path),
                path=os.path.dirname(path),
                downloader=recorder,
            )
    except (requests.exceptions.RequestException, ValueError) as err:
        return _describe_failure(err, timeout, expected_md5, recorder)
    return None


def _manual_fetch_hint(urls, path, expected_md5):
    url = urls[0] if urls else _RECORDING_URLS[0]
    return (
        f"To fetch it by hand: open {url} (or another URL above) in a browser, save the "
        f"file as {_display_path(path)}, "
        f"and check that its md5 is {expected_md5} (`md5sum FILE` on Linux, `md5 FILE` on "
        f"macOS, `certutil -hashfile FILE MD5` on Windows); then run fetch_data() again."
    )


def _set_aside_mismatching(path, expected_md5):
    """Move a cached file whose md5 is wrong to ``<path>.bad``; return that md5 (or None).

    The file is moved, not deleted, so nothing is lost before a verified
    replacement exists, and the final path never holds a file that fails
    verification (``load_data`` would otherwise read it).
    """
    if not os.path.isfile(path):
        return None
    got = _file_md5(path)
    if got != expected_md5:
        os.replace(path, path + ".bad")
    return got


def _fetch_real(data_dir, urls, expected_md5, timeout):
    """The verified recording in ``data_dir``: the cached file, else a download.

    Returns:
        DataFile: the real recording.

    Raises:
        DataUnavailableError: no cached file matches and every URL failed.
    """
    path = os.path.join(data_dir, _RECORDING_FNAME)
    description = _real_description(_RECORDING_FNAME)
    cached_md5 = _set_aside_mismatching(path, expected_md5)
    if cached_md5 == expected_md5:
        return DataFile(path, "real", description)  # verified cache: no request at all
    reasons = []
    for url in urls:
        reason = _download_from(url, path, expected_md5, timeout)
        if reason is None:
            if os.path.exists(path + ".bad"):
                os.remove(path + ".bad")  # a verified copy now replaces it
            return DataFile(path, "real", description)
        reasons.append((url, reason))
    lines = [f"could not get the recording {_RECORDING_FNAME} (md5 {expected_md5}):"]
    lines += [f"  - {url}: {reason}" for url, reason in reasons] or ["  - no URL to try"]
    if cached_md5 is not None:
        lines.append(
            f"The cached file had md5 {cached_md5}, not {expected_md5}: it was moved aside to "
            f"{_display_path(path)}.bad."
        )
    lines.append(_manual_fetch_hint(urls, path, expected_md5))
    raise DataUnavailableError("\n".join(lines), reasons, path)


def _write_npz_atomically(path, **arrays):
    """Save arrays to an uncompressed ``.npz`` via a temporary file and ``os.replace``.

    Readers never see a half-written file: the temporary file lives in the
    same folder (so the rename is atomic) and is removed on any error.
    """
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _is_current_surrogate(path, description):
    """Whether ``path`` is a readable surrogate file written with this description."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return (
                {"resp", "stimuli", _SURROGATE_KEY} <= set(npz.files)
                and npz[_SURROGATE_KEY].item() == description
            )
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile):
        return False


def _fetch_surrogate(data_dir, seed, reason=""):
    """The surrogate file for ``seed`` in ``data_dir``, simulated unless already cached.

    Returns:
        DataFile: the surrogate, named ``stringer_surrogate_v{version}_seed{seed}.npz``.

    Raises:
        ValueError: ``simulate_stringer`` returned arrays of inconsistent shapes.
    """
    path = os.path.join(data_dir, f"stringer_surrogate_v{SURROGATE_VERSION}_seed{seed}.npz")
    description = _surrogate_description(seed)
    if not _is_current_surrogate(path, description):
        resp, stimuli = (np.asarray(a) for a in simulate_stringer(seed=seed))
        if resp.ndim != 2 or stimuli.shape != (resp.shape[0],):
            raise ValueError(
                f"simulate_stringer returned resp {resp.shape} and stimuli {stimuli.shape}; "
                "expected (n_stimuli, n_neurons) and (n_stimuli,)"
            )
        os.makedirs(data_dir, exist_ok=True)
        _write_npz_atomically(path, resp=resp, stimuli=stimuli,
                              **{_SURROGATE_KEY: np.array(description)})
    return DataFile(path, "surrogate", description, reason)


def _brief_reasons(err):
    """The DataUnavailableError's per-URL reasons on one line each."""
    return "\n".join(f"{url}: {reason}" for url, reason in err.reasons) or str(err)


def fetch_data(source=None, data_dir=None, urls=None, expected_md5=None, timeout=30, seed=0):
    """Get the recording (or the offline surrogate) and return its verified path.

    The real recording is ``W3D4_stringer_oribinned1.npz`` (Stringer et al.
    2021), md5 ``436599dfd8ebe6019f066c38aed20580``, on OSF (id ``683xc``).

    * ``"real"``: a cached file is used, without any request, when its md5
      matches. Otherwise each URL is tried in order (redirects followed) with
      pooch, which downloads into a temporary file beside the target, checks
      the md5 and only then renames it into place; a partial or mismatching
      file never sits at the final path. A cached file with the wrong md5 is
      moved aside to ``<name>.bad`` first, and deleted once a verified copy
      replaces it (kept for inspection otherwise).
    * ``"surrogate"``: the offline surrogate ``simulate_stringer(seed=seed)``,
      saved in the recording's format (``resp``, ``stimuli``) plus a
      ``surrogate`` marker entry, as ``stringer_surrogate_v{version}_seed{seed}.npz``
      (written atomically, reused when present). Deterministic.
    * ``"auto"``: the real recording when it can be had, else the surrogate,
      with a ``SurrogateDataWarning`` and a printed banner that say why.

    A banner saying which data is used is printed in every case.

    Args:
        source (str or None): ``"auto"``, ``"real"`` or ``"surrogate"``; ``None``
            reads the ``CCN_DATA_SOURCE`` environment variable (default ``"auto"``).
        data_dir (str or PathLike or None): folder of the data files; ``None``
            reads ``CCN_DATA_DIR`` (default ``data/`` in the current directory,
            the notebook's folder). Created when needed.
        urls (sequence of str or None): where to download the recording from, in
            order; default the OSF addresses (new scheme, then legacy).
        expected_md5 (str or None): md5 of the recording (32 hex digits, an
            ``md5:`` prefix is accepted); default the published one.
        timeout (float): seconds to wait for a connection or for each read
            (requests' semantics, not a limit on the whole download).
        seed (int): seed of the surrogate; unused for the real recording.

    Returns:
        DataFile: absolute path of an ``.npz`` ready for ``load_data``, a ``str``
        carrying ``source``, ``is_surrogate``, ``description``, ``title_suffix``
        and ``banner()``.

    Raises:
        ValueError: an invalid ``source``, ``expected_md5`` or ``timeout``.
        DataUnavailableError: ``source="real"`` and the recording could not be
            had; the message lists every URL with what went wrong and how to
            fetch the file by hand.
    """
    source = _resolve_source(source)
    data_dir = _resolve_data_dir(data_dir)
    urls = [urls] if isinstance(urls, str) else list(_RECORDING_URLS if urls is None else urls)
    expected_md5 = _normalise_md5(_RECORDING_MD5 if expected_md5 is None else expected_md5)
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")

    if source == "surrogate":
        data = _fetch_surrogate(data_dir, seed)
    else:
        try:
            data = _fetch_real(data_dir, urls, expected_md5, timeout)
        except DataUnavailableError as err:
            if source == "real":
                raise
            reason = "the real recording could not be downloaded:\n" + _brief_reasons(err)
            data = _fetch_surrogate(data_dir, seed, reason)
            _warn_at_caller(
                f"using the offline SURROGATE, not the real recording, because {reason}",
                SurrogateDataWarning,
                stacklevel=2,
            )
    print(data.banner())
    return data
