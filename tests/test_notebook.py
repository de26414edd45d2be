"""Execute assignment_3.ipynb on the offline surrogate, twice: it must finish, be sane, repeat."""

import json
import os
import re
from pathlib import Path

import nbformat
import papermill
import pytest

# Two executions of the whole notebook happen in the first test's fixture (about 2 minutes here).
pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "assignment_3.ipynb"


def execute(out_path, data_dir):
    """Run the notebook with papermill on the surrogate; return the executed notebook."""
    env = {"CCN_DATA_DIR": str(data_dir), "CCN_DATA_SOURCE": "surrogate"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        papermill.execute_notebook(
            str(NOTEBOOK), str(out_path), parameters={"DATA_SOURCE": "surrogate"},
            cwd=str(ROOT), kernel_name="python3", progress_bar=False,
        )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nbformat.read(out_path, as_version=4)


def printed_text(nb):
    """Everything the code cells printed, in order, as one string."""
    # Joined without separators: how a cell's output is split into stream chunks depends on
    # flush timing, not on what was printed.
    return "".join(
        "".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code"
        for o in c.get("outputs", []) if o.output_type == "stream" and o.name == "stdout"
    )


def summary_of(nb):
    """The ``key = value`` lines printed by the cell tagged 'summary'."""
    cell = next(c for c in nb.cells if "summary" in c.metadata.get("tags", []))
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    return dict(re.findall(r"^(\w+) = (.+)$", text, flags=re.M))


@pytest.fixture(scope="module")
def executions(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    runs = []
    for i in range(2):
        out = tmp_path_factory.mktemp(f"run{i}") / "assignment_3.ipynb"
        runs.append(execute(out, data_dir))
    return runs


def test_notebook_runs_without_error(executions):
    for nb in executions:
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code, "no code cells"
        for c in code:
            assert not any(o.output_type == "error" for o in c.get("outputs", [])), c.source[:80]


def test_key_results_exist_and_are_sane(executions):
    summary = summary_of(executions[0])
    assert summary["data_source"] == "surrogate"
    assert int(summary["n_neurons"]) == 23589
    assert 0 < float(summary["reliably_tuned_fraction"]) <= 1
    assert float(summary["decoder_test_mse_trained"]) < float(summary["decoder_test_mse_untrained"])
    assert 0 <= float(summary["decoder_test_circ_median_abs_deg"]) < 45
    assert float(summary["cnn_heldout_accuracy"]) > 0.95
    for key in ("rsa_pearson_pool", "rsa_pearson_fc", "rsa_spearman_pool", "rsa_spearman_fc"):
        assert -1 <= float(summary[key]) <= 1
    assert summary["most_v1_like_layer"] in ("pool", "fc")


def test_surrogate_is_announced(executions):
    text = printed_text(executions[0])
    # once at load time and once in the summary
    assert text.count("OFFLINE SURROGATE DATA - NOT MOUSE V1") >= 2
    assert "training done!" in text


def test_every_data_figure_title_says_surrogate(executions):
    # A cell that draws a figure from the recording must put SUFFIX (" (surrogate)") in its titles.
    data_names = re.compile(r"\b(resp_full|resp_v1|resp_train|resp_test|rdm_dict|reps|decoder_loss|"
                            r"pred_test)\b")
    figure_cells = [c for c in executions[0].cells if c.cell_type == "code" and any(
        "image/png" in o.get("data", {}) for o in c.get("outputs", []))]
    assert len(figure_cells) >= 6
    for c in figure_cells:
        if data_names.search(c.source):
            assert "SUFFIX" in c.source, c.source[:80]


def test_re_execution_prints_the_same_numbers(executions):
    assert printed_text(executions[0]) == printed_text(executions[1])


def test_committed_notebook_is_executed_in_order():
    nb = json.loads(NOTEBOOK.read_text())
    counts = [c.get("execution_count") for c in nb["cells"]
              if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert counts == list(range(1, len(counts) + 1))
    assert not any(o.get("output_type") == "error" for c in nb["cells"]
                   if c["cell_type"] == "code" for o in c.get("outputs", []))
