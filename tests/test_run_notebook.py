"""tools/run_notebook.py, which `make run` calls: parameters, the executed notebook, the report."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from run_notebook import typed, without_progress_bars, write_report  # noqa: E402

BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
COLAB_LINK = "https://colab.research.google.com/github/x/y/blob/main/a.ipynb"
# tqdm's stderr as a kernel records it: one stream output per redraw, then the closing newline.
TQDM = ["\rfits:   0%|          | 0/29 [00:00<?, ?it/s]",
        "\rfits:  17%|\u2588\u258b        | 5/29 [00:06<00:27,  1.15s/it]",
        "\rfits: 100%|\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588| 29/29 "
        "[00:09<00:00,  2.96it/s]", "\n"]
WARNING = "x.py:3: UserWarning: planted warning\n  warnings.warn('planted warning')\n"


def tiny_notebook(path, body):
    """A notebook with a tagged parameters cell (X = 1, NAME = 'a') and one more cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    parameters = nbformat.v4.new_code_cell("X = 1\nNAME = 'a'")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)
    return path


def run(tmp_path, body, *parameters):
    notebook = tiny_notebook(tmp_path / "tiny.ipynb", body)
    command = [sys.executable, str(ROOT / "tools" / "run_notebook.py"), str(notebook),
               str(tmp_path / "out"), *parameters]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_parameters_are_typed_as_papermill_types_them():
    assert [typed(v) for v in ("None", "True", "False", "3", "2.5", "1e-3", "data/x.npz")] == [
        None, True, False, 3, 2.5, 0.001, "data/x.npz"]


def test_executed_notebook_and_report_with_parameters(tmp_path):
    done = run(tmp_path, "print(X * 2, NAME)", "-p", "X", "21", "-p", "NAME", "b")
    assert done.returncode == 0, done.stderr
    nb = nbformat.read(tmp_path / "out" / "tiny.ipynb", as_version=4)
    assert "42 b" in nb.cells[-1].outputs[0]["text"]
    assert [c.execution_count for c in nb.cells if c.cell_type == "code"] == [1, 2, 3]
    assert "42 b" in (tmp_path / "out" / "tiny.html").read_text()


def test_an_error_is_kept_in_the_executed_notebook_and_no_report_is_written(tmp_path):
    done = run(tmp_path, "raise ValueError('planted')")
    assert done.returncode != 0 and "planted" in done.stderr
    nb = nbformat.read(tmp_path / "out" / "tiny.ipynb", as_version=4)
    assert any(o.output_type == "error" for o in nb.cells[-1].outputs)
    assert not (tmp_path / "out" / "tiny.html").exists()


def report_of(tmp_path, markdown="", outputs=(), capsys=None):
    """The report (HTML, tally) of an in-memory notebook: one markdown cell, one code cell."""
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("pass", execution_count=1)
    code.outputs = [nbformat.from_dict(o) for o in outputs]
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), code]
    tally = write_report(nb, tmp_path / "report.html")
    return (tmp_path / "report.html").read_text(encoding="utf-8"), tally


def stderr(text):
    return {"output_type": "stream", "name": "stderr", "text": text}


def body_text(html):
    """The page's body less its scripts, styles, code and MathML: what is left shows as text."""
    body = html[html.index("<body"):]
    return re.sub(r"<script.*?</script>|<style.*?</style>|<pre.*?</pre>|<code.*?</code>"
                  r"|<math.*?</math>", "", body, flags=re.S)


def test_the_reports_math_is_mathml_and_it_loads_no_mathjax(tmp_path):
    html, tally = report_of(tmp_path, "Inline $\\theta_p^2$ and \\\\(a < b\\\\), then\n\n"
                                      "$$\\frac{1}{N}\\sum_i x_i$$\n\nand $\\arg\\min_w f$, "
                                      "$\\operatorname{atan2}(y, x)$.")
    assert (tally.converted, tally.failed) == (5, 0)
    assert '<mo>arg</mo>' in html and '<mi mathvariant="normal">a</mi>' in html
    assert html.count("<math") == 5 and len(re.findall(r'<math[^>]*display="block"', html)) == 1
    assert "$" not in body_text(html) and "\\frac" not in html and "\\arg" not in html
    assert not re.search(r"mathjax|cdn\.jsdelivr|require\.min\.js", html, re.I)
    assert not re.search(r"<script[^>]*\bsrc=", html)
    # The only CDN left in a script: mermaid's, which lab's page imports only for a diagram.
    scripts = " ".join(re.findall(r"<script.*?</script>", html, flags=re.S))
    assert all("/mermaid" in url for url in re.findall(r"https?://[^/\s]*cdn[^\s\"'`]*", scripts))


def test_math_in_a_code_cells_markdown_output_is_mathml_too(tmp_path):
    shown = {"output_type": "display_data", "metadata": {},
             "data": {"text/markdown": "accuracy $\\geq 0.9$", "text/plain": "<Markdown>"}}
    html, tally = report_of(tmp_path, outputs=[shown])
    assert tally.converted == 1 and "<math" in html and "$" not in body_text(html)


def test_code_escaped_dollars_and_unconvertible_latex_are_left_as_they_are(tmp_path, capsys):
    markdown = ("Run `echo $HOME and $PATH` here; it costs \\$5, not \\$6.\n\n"
                "```bash\nexport A=$B$C\n```\n\nBroken: $x^$.")
    html, tally = report_of(tmp_path, markdown)
    assert (tally.converted, tally.failed) == (0, 1)
    assert "<code>echo $HOME and $PATH</code>" in html and "$B$C" in html
    assert "costs $5, not $6." in html and "$x^$" in html and "<math" not in html
    assert "warning: 1 of 1 LaTeX expressions could not be converted" in capsys.readouterr().out


def test_progress_bars_are_left_out_of_the_report_and_warnings_kept(tmp_path):
    html, _ = report_of(tmp_path, outputs=[stderr(t) for t in [*TQDM, WARNING]])
    assert "it/s" not in html and "0/29" not in html and "\u2588" not in html
    assert "UserWarning: planted warning" in html
    assert html.count('data-mime-type="application/vnd.jupyter.stderr"') == 1


def test_without_progress_bars_keeps_what_a_terminal_shows_of_other_lines():
    assert without_progress_bars(WARNING) == WARNING
    assert without_progress_bars("".join(TQDM)) == ""
    cleared = "\rfits:  50%|\u2588\u2588\u2588  | 1/2 [00:01<00:01, 1.0it/s]\r      \r"
    assert without_progress_bars(cleared + WARNING) == WARNING
    assert without_progress_bars("5it [00:01,  3.20it/s]\nnote\n") == "note\n"


def test_the_colab_badge_is_a_plain_link_in_the_report(tmp_path):
    markdown = (f'<a href="{COLAB_LINK}" target="_parent"><img src="{BADGE}" '
                'alt="Open In Colab"/></a>\n\n'
                f"[![Colab too]({BADGE})]({COLAB_LINK})")
    html, _ = report_of(tmp_path, markdown)
    assert BADGE not in html and "<img" not in html
    assert re.search(f'<a href="{COLAB_LINK}"[^>]*>Open In Colab</a>', html)
    assert f'<a href="{COLAB_LINK}">Colab too</a>' in html


def test_the_report_of_a_run_and_the_executed_notebook_it_leaves_alone(tmp_path):
    body = ("import sys, warnings\nfrom tqdm import tqdm\nfrom IPython.display import Markdown\n"
            "for _ in tqdm(range(3), desc='fits', mininterval=0): pass\n"
            "warnings.warn('planted warning')\ndisplay(Markdown('$$x^2$$'))")
    done = run(tmp_path, body)
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "out" / "tiny.html").read_text()
    assert "planted warning" in html and "it/s" not in html
    assert re.search(r'<math[^>]*display="block"', html)
    outputs = nbformat.read(tmp_path / "out" / "tiny.ipynb", as_version=4).cells[-1].outputs
    assert any("it/s" in o.get("text", "") for o in outputs)
    assert any(o.get("data", {}).get("text/markdown") == "$$x^2$$" for o in outputs)
