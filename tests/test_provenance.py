"""``course.provenance``: a recording-format file the user names (the notebook's DATA_FILE)."""

import hashlib

import numpy as np
import pytest
from conftest import (
    write_recording,
)

from v1_orientation.course.provenance import DataFile, use_data_file
from v1_orientation.course.recording import (
    load_data,
)


def test_user_file_gets_user_provenance_and_banner(tmp_path, capsys):
    path = write_recording(tmp_path / "lab.npz", n_neurons=12)
    data = use_data_file(path)
    assert isinstance(data, DataFile) and data == str(path)
    assert data.source == "user" and not data.is_surrogate
    assert data.title_suffix == " (user file)"
    assert data.description.startswith("user file lab.npz (DATA_FILE): 12 neurons x 360 stimuli")
    assert "not verified as the recording" in data.description
    printed = capsys.readouterr().out
    assert printed.strip() == data.banner().strip()
    assert "user file lab.npz" in printed and "'(user file)'" in printed
    resp, ori = load_data(data)  # a DataFile is a path
    assert resp.shape == (181, 12) and ori.shape == (181, 1)


def test_user_file_with_the_recording_md5_is_the_real_recording(tmp_path):
    path = write_recording(tmp_path / "copy.npz")
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    data = use_data_file(path, expected_md5=md5)
    assert data.source == "real" and data.title_suffix == ""


def test_user_file_with_the_surrogate_marker_is_a_surrogate(tmp_path, capsys):
    path = write_recording(tmp_path / "sim.npz", surrogate=np.array("OFFLINE SURROGATE test"))
    data = use_data_file(path)
    assert data.is_surrogate and data.title_suffix == " (surrogate)"
    assert "DATA_FILE names a surrogate file" in capsys.readouterr().out


def test_relative_and_home_paths(tmp_path, monkeypatch):
    write_recording(tmp_path / "lab.npz")
    monkeypatch.chdir(tmp_path)
    assert use_data_file("lab.npz").source == "user"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert use_data_file("~/lab.npz").source == "user"


def test_missing_file_says_where_it_looked_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        use_data_file(tmp_path / "absent.npz")
    message = str(err.value)
    assert "absent.npz" in message and "no such file" in message
    assert "DATA_FILE = None" in message and "'resp'" in message


@pytest.mark.parametrize("write, problem", [
    (lambda p: p.write_text("<html>not found</html>"), "not a readable .npz"),
    (lambda p: np.savez(p, resp=np.zeros((40, 12))), "lacks the key(s) ['stimuli']"),
    (lambda p: np.savez(p, resp=np.zeros((40, 12)), stimuli=np.arange(39.0)),
     "'resp' has 40 rows but 'stimuli' has 39"),
])
def test_malformed_file_names_the_problem_and_the_fix(tmp_path, write, problem):
    path = tmp_path / "bad.npz"
    write(path)
    with pytest.raises(ValueError) as err:
        use_data_file(path)
    assert problem in str(err.value)
    assert "DATA_FILE" in str(err.value) and "DATA_FILE = None" in str(err.value)


@pytest.mark.parametrize("kwargs, problem", [
    ({"stimuli": np.arange(-90.0, 90.0)}, "outside [0, 360)"),
    ({"stimuli": np.arange(1.0, 361.0)}, "outside [0, 360)"),
    ({"stimuli": np.arange(360.0)[::-1]}, "do not increase"),
    ({"stimuli": np.r_[0.0, 0.0, np.arange(2.0, 360.0)]}, "do not increase"),
    ({"n_neurons": 9}, "it has 9 neuron(s); the analyses need at least 10"),
    ({"stimuli": np.r_[np.linspace(0, 180, 35), np.linspace(181, 359, 40)]},
     "it has 35 stimuli within 0..180 deg; the decoders need at least 36"),
])
def test_file_that_does_not_suit_the_analyses_is_refused(tmp_path, kwargs, problem):
    path = write_recording(tmp_path / "odd.npz", **kwargs)
    with pytest.raises(ValueError) as err:
        use_data_file(path)
    assert problem in str(err.value) and "DATA_FILE = None" in str(err.value)


def test_smallest_file_that_suits_the_analyses_is_accepted(tmp_path):
    stimuli = np.r_[np.linspace(0, 180, 36), np.linspace(181, 359, 40)]
    assert use_data_file(write_recording(tmp_path / "small.npz", 10, stimuli)).source == "user"
