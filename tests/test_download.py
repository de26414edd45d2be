"""``course.download``: fetch_data, and the provenance of what it writes.

Every download goes to a real HTTP server that the tests start on 127.0.0.1;
an autouse fixture makes any other host name fail to resolve, so no test can
reach the internet (and the default OSF URLs are exercised as "offline").
"""

import hashlib
import io
import logging
import os
import pickle
import socket
import sys
import threading
import warnings

import loopback
import numpy as np
import pooch
import pytest

from v1_orientation.course import download
from v1_orientation.course.download import DataUnavailableError, SurrogateDataWarning, fetch_data
from v1_orientation.course.provenance import DataFile, data_provenance
from v1_orientation.course.recording import load_data
from v1_orientation.course.surrogate import SURROGATE_VERSION

REAL_NAME = "W3D4_stringer_oribinned1.npz"


def _npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


# A small valid recording (the real file's format) and something else of the same kind.
GOOD = _npz_bytes(resp=np.arange(360 * 4, dtype=np.float32).reshape(360, 4),
                  stimuli=np.arange(360))


GOOD_MD5 = hashlib.md5(GOOD).hexdigest()


WRONG = _npz_bytes(resp=np.zeros((360, 4), np.float32), stimuli=np.arange(360))


WRONG_MD5 = hashlib.md5(WRONG).hexdigest()


HTML = b"<!DOCTYPE html><html><body>Sign in to OSF</body></html>"


class _Handler(loopback.QuietHandler):
    """Routes: /good /wrong /html /missing /ratelimited /redirect /slow."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)
        route = self.path.strip("/")
        if route == "redirect":
            self._reply(302, b"", location="/good")
        elif route == "missing":
            self._reply(404, b"not found")
        elif route == "ratelimited":
            self._reply(429, b"too many requests", retry_after="3600")
        elif route == "slow":
            self.server.release.wait(2.0)  # longer than the client's timeout
            self._reply(200, GOOD)
        else:
            body = {"good": GOOD, "wrong": WRONG, "html": HTML}.get(route)
            self._reply(200, body) if body is not None else self._reply(404, b"")

    def _reply(self, status, body, location=None, retry_after=None):
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if location:
                self.send_header("Location", location)
            if retry_after:
                self.send_header("Retry-After", retry_after)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)


@pytest.fixture(scope="module")
def server():
    """A local HTTP server; ``server.url(route)``, ``server.requests`` (paths asked for)."""
    with loopback.serve(_Handler) as httpd:
        httpd.release = threading.Event()
        yield httpd
        httpd.release.set()  # a handler still waiting in /slow returns before the shutdown


@pytest.fixture(autouse=True)
def _offline(monkeypatch, server):
    """No internet: any host but 127.0.0.1 fails to resolve; no stray env settings."""
    real_getaddrinfo = socket.getaddrinfo

    def local_only(host, *args, **kwargs):
        if host not in ("127.0.0.1", b"127.0.0.1"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (tests offline)")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    monkeypatch.delenv("CCN_DATA_DIR", raising=False)
    monkeypatch.delenv("CCN_DATA_SOURCE", raising=False)
    server.requests.clear()


@pytest.fixture
def fake_simulator(monkeypatch):
    """Replace simulate_stringer with a tiny deterministic fake (360 x 50); count its calls."""
    calls = []

    def simulate(seed=0, **kwargs):
        calls.append(seed)
        rng = np.random.default_rng(seed)
        return rng.standard_normal((360, 50)).astype(np.float32), np.arange(360)

    monkeypatch.setattr(download, "simulate_stringer", simulate)  # the name fetch_data calls
    return calls


@pytest.fixture
def refused_url():
    """A URL on a port where nothing listens (bound, then closed)."""
    return loopback.refused_url("file.npz")


def _fetch_real(tmp_path, *urls, **kwargs):
    return fetch_data("real", tmp_path, urls=list(urls), expected_md5=GOOD_MD5, **kwargs)


def _md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


@pytest.fixture
def pooch_log():
    """What pooch logs during the test, as its own handler would show it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    pooch.get_logger().addHandler(handler)
    yield stream
    pooch.get_logger().removeHandler(handler)


def test_good_file_is_downloaded_verified_and_loadable(tmp_path, server, capsys):
    tmp_path = tmp_path / "new" / "data"  # created when needed
    path = _fetch_real(tmp_path, server.url("good"))
    assert isinstance(path, DataFile) and isinstance(path, str)
    assert path == str(tmp_path / REAL_NAME)
    assert _md5(path) == GOOD_MD5
    assert path.source == "real" and not path.is_surrogate and path.title_suffix == ""
    assert "real recording" in path.description and "md5 verified" in path.description
    assert sorted(os.listdir(tmp_path)) == [REAL_NAME]  # no temporary file left
    assert "real recording" in capsys.readouterr().out
    resp, stimuli = load_data(path)  # a DataFile works where a path does
    assert resp.shape == (181, 4) and stimuli.shape == (181, 1)


def test_wrong_hash_reports_both_md5s_and_leaves_nothing(tmp_path, server):
    with pytest.raises(DataUnavailableError) as info:
        _fetch_real(tmp_path, server.url("wrong"))
    message = str(info.value)
    assert "hash mismatch" in message and GOOD_MD5 in message and WRONG_MD5 in message
    assert server.url("wrong") in message
    assert os.listdir(tmp_path) == []  # neither the .npz nor pooch's temporary file


def test_html_page_instead_of_file_is_named(tmp_path, server):
    with pytest.raises(DataUnavailableError, match="HTML page"):
        _fetch_real(tmp_path, server.url("html"))


def test_404_then_good_mirror_uses_the_mirror(tmp_path, server):
    path = _fetch_real(tmp_path, server.url("missing"), server.url("good"))
    assert _md5(path) == GOOD_MD5 and path.source == "real"
    assert server.requests == ["/missing", "/good"]


def test_every_url_and_its_failure_is_reported_with_manual_instructions(tmp_path, server):
    with pytest.raises(DataUnavailableError) as info:
        _fetch_real(tmp_path, server.url("missing"), server.url("ratelimited"))
    err = info.value
    assert isinstance(err, RuntimeError)
    assert [url for url, _ in err.reasons] == [server.url("missing"), server.url("ratelimited")]
    message = str(err)
    assert "HTTP 404" in message
    assert "rate limited (HTTP 429)" in message and "3600" in message
    assert "browser" in message and str(tmp_path / REAL_NAME) in message and GOOD_MD5 in message


def test_refused_connection_names_the_url(tmp_path, refused_url):
    with pytest.raises(DataUnavailableError) as info:
        _fetch_real(tmp_path, refused_url)
    assert refused_url in str(info.value) and "refused" in str(info.value)


def test_redirect_is_followed(tmp_path, server):
    path = _fetch_real(tmp_path, server.url("redirect"))
    assert _md5(path) == GOOD_MD5
    assert server.requests == ["/redirect", "/good"]


def test_slow_server_times_out(tmp_path, server):
    with pytest.raises(DataUnavailableError) as info:
        _fetch_real(tmp_path, server.url("slow"), timeout=0.5)
    assert "timeout" in str(info.value) and server.url("slow") in str(info.value)
    assert os.listdir(tmp_path) == []


def test_good_cached_file_is_used_without_any_request(tmp_path, server):
    (tmp_path / REAL_NAME).write_bytes(GOOD)
    path = _fetch_real(tmp_path, server.url("good"))
    assert path.source == "real" and _md5(path) == GOOD_MD5
    assert server.requests == []


def test_corrupted_cached_file_is_replaced_by_a_good_download(tmp_path, server):
    (tmp_path / REAL_NAME).write_bytes(GOOD[: len(GOOD) // 2])  # an interrupted download
    path = _fetch_real(tmp_path, server.url("good"))
    assert _md5(path) == GOOD_MD5
    assert sorted(os.listdir(tmp_path)) == [REAL_NAME]  # the set-aside copy is gone too


def test_corrupted_cached_file_is_moved_aside_when_no_download_works(tmp_path, refused_url):
    truncated = GOOD[: len(GOOD) // 2]
    (tmp_path / REAL_NAME).write_bytes(truncated)
    with pytest.raises(DataUnavailableError, match=r"moved aside"):
        _fetch_real(tmp_path, refused_url)
    assert os.listdir(tmp_path) == [REAL_NAME + ".bad"]  # nothing unverified at the final path
    assert (tmp_path / (REAL_NAME + ".bad")).read_bytes() == truncated


def test_auto_without_network_falls_back_to_the_surrogate_loudly(
    tmp_path, refused_url, fake_simulator, capsys
):
    with pytest.warns(SurrogateDataWarning, match="refused"):
        path = fetch_data("auto", tmp_path, urls=[refused_url], expected_md5=GOOD_MD5)
    assert path.is_surrogate and path.source == "surrogate"
    assert path.title_suffix == " (surrogate)"
    version = SURROGATE_VERSION
    assert os.path.basename(path) == f"stringer_surrogate_v{version}_seed0.npz"
    assert refused_url in path.reason
    out = capsys.readouterr().out
    assert "OFFLINE SURROGATE" in out and "NOT MOUSE V1" in out and refused_url in out
    assert not (tmp_path / REAL_NAME).exists()  # a surrogate never takes the real file's name
    resp, stimuli = load_data(path)
    assert resp.shape == (181, 50) and stimuli.shape == (181, 1)


def test_auto_uses_the_real_file_when_it_can(tmp_path, server, fake_simulator):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SurrogateDataWarning)
        path = fetch_data("auto", tmp_path, urls=[server.url("good")], expected_md5=GOOD_MD5)
    assert path.source == "real" and fake_simulator == []


def test_default_urls_are_the_osf_ones_tried_in_order(tmp_path, fake_simulator):
    with pytest.warns(SurrogateDataWarning):
        path = fetch_data("auto", tmp_path)  # offline: both OSF addresses fail to resolve
    assert path.reason.count("could not resolve") == 2
    assert path.reason.index("https://osf.io/download/683xc/") < path.reason.index(
        "https://osf.io/683xc/download"
    )


def test_surrogate_is_deterministic_and_cached(tmp_path, fake_simulator):
    first = fetch_data("surrogate", tmp_path / "a")
    again = fetch_data("surrogate", tmp_path / "a")
    assert again == first and fake_simulator == [0]  # the second call reused the file
    other = fetch_data("surrogate", tmp_path / "b")
    with np.load(first) as a, np.load(other) as b:
        assert set(a.files) == {"resp", "stimuli", "surrogate"}
        assert a["surrogate"].dtype.kind == "U"  # readable without pickle
        np.testing.assert_array_equal(a["resp"], b["resp"])
        np.testing.assert_array_equal(a["stimuli"], b["stimuli"])
    assert sorted(os.listdir(tmp_path / "a")) == [os.path.basename(first)]
    seeded = fetch_data("surrogate", tmp_path / "a", seed=3)
    assert seeded.endswith("_seed3.npz") and "seed 3" in seeded.description


def test_surrogate_banner_is_loud_and_real_banner_short(tmp_path, fake_simulator):
    surrogate = fetch_data("surrogate", tmp_path)
    assert "OFFLINE SURROGATE" in surrogate.banner() and len(surrogate.banner().splitlines()) > 5
    assert "not mouse V1 data" in surrogate.description
    real = DataFile(tmp_path / REAL_NAME, "real", "real recording")
    assert len(real.banner().splitlines()) <= 2


def test_data_file_survives_pickling(tmp_path, fake_simulator):
    path = fetch_data("surrogate", tmp_path)
    copy = pickle.loads(pickle.dumps(path))
    assert copy == path and copy.is_surrogate and copy.description == path.description


def test_download_log_shows_the_path_relative_to_the_notebook(
        tmp_path, server, monkeypatch, pooch_log):
    monkeypatch.chdir(tmp_path)  # the notebook's folder
    _fetch_real(tmp_path / "data", server.url("good"))
    log = pooch_log.getvalue()
    assert f"to file '{os.path.join('data', REAL_NAME)}'" in log
    assert str(tmp_path) not in log
    assert pooch.get_logger().filters == []  # pooch's logger is left as it was


def test_fallback_warning_banner_and_error_show_no_machine_path(
        tmp_path, server, refused_url, monkeypatch, fake_simulator, pooch_log, capsys):
    monkeypatch.chdir(tmp_path)  # the notebook's folder
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / REAL_NAME).write_bytes(GOOD[:100])  # a corrupted cache: moved aside
    urls = [server.url("missing"), refused_url]
    with pytest.raises(DataUnavailableError) as info:
        fetch_data("real", data_dir, urls=urls, expected_md5=GOOD_MD5)
    relative = os.path.join("data", REAL_NAME)
    assert f"save the file as {relative}," in str(info.value)
    assert f"moved aside to {relative}.bad" in str(info.value)
    with pytest.warns(SurrogateDataWarning) as warned:
        fetch_data("auto", data_dir, urls=urls, expected_md5=GOOD_MD5)
    line = sys._getframe().f_lineno - 1  # the line of the call above
    (warning,) = [w for w in warned if w.category is SurrogateDataWarning]
    # Shown at the caller, by its bare name since it lies outside the working directory.
    assert (warning.filename, warning.lineno) == (os.path.basename(__file__), line)
    shown = "\n".join([str(info.value), str(warning.message), capsys.readouterr().out,
                       pooch_log.getvalue()])
    assert str(tmp_path) not in shown and os.path.dirname(__file__) not in shown


def test_environment_variables_are_honoured(tmp_path, monkeypatch, fake_simulator):
    monkeypatch.setenv("CCN_DATA_DIR", str(tmp_path / "from_env"))
    monkeypatch.setenv("CCN_DATA_SOURCE", "surrogate")
    path = fetch_data()
    assert path.is_surrogate and os.path.dirname(path) == str(tmp_path / "from_env")


def test_default_data_dir_is_data_in_the_working_directory(tmp_path, monkeypatch, fake_simulator):
    monkeypatch.chdir(tmp_path)
    path = fetch_data("surrogate")
    assert os.path.dirname(path) == str(tmp_path / "data")


@pytest.mark.parametrize("source", ["online", "", "REAL-ish"])
def test_invalid_source_is_refused(tmp_path, source):
    with pytest.raises(ValueError, match="'auto', 'real', 'surrogate'"):
        fetch_data(source, tmp_path)


def test_invalid_source_from_the_environment_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("CCN_DATA_SOURCE", "offline")
    with pytest.raises(ValueError, match="CCN_DATA_SOURCE"):
        fetch_data(data_dir=tmp_path)


def test_malformed_md5_is_refused(tmp_path):
    with pytest.raises(ValueError, match="32 hexadecimal"):
        fetch_data("real", tmp_path, expected_md5="abc")


def test_provenance_of_real_surrogate_and_other_files(tmp_path, fake_simulator):
    real = tmp_path / REAL_NAME
    real.write_bytes(GOOD)
    found = data_provenance(real, expected_md5=GOOD_MD5)
    assert isinstance(found, DataFile) and found.source == "real" and found == str(real)

    surrogate = fetch_data("surrogate", tmp_path)
    found = data_provenance(surrogate)
    assert found.is_surrogate and found.description == surrogate.description

    other = tmp_path / "other.npz"
    other.write_bytes(WRONG)
    found = data_provenance(other, expected_md5=GOOD_MD5)
    assert found.source == "unknown" and "unverified" in found.description
    assert found.title_suffix == " (unverified data)"

    text = tmp_path / "notes.txt"
    text.write_text("not an npz")
    assert data_provenance(text).source == "unknown"
    assert data_provenance(real).source == "unknown"  # default md5: the published recording's

    with pytest.raises(FileNotFoundError):
        data_provenance(tmp_path / "absent.npz")
