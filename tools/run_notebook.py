"""Execute the notebook with papermill and write its HTML report, in one process (``make run``).

The executed notebook and ``<name>.html`` go to OUTPUT_DIR. The notebook is written once,
at the end (or at an error, with the error in it): saving the growing notebook after every
cell takes CPU from the kernel on a 2-core machine (about 10 s of a 75 s run). Once every
output is in, the kernel is stopped at once instead of being asked to wind down (about
2.5 s), and the report is written from the notebook in memory.

The report reads offline as the notebook does (see docs/report.md): its LaTeX is MathML,
written when the report is built, so it loads no MathJax (nor require.js) from a CDN; tqdm's
progress bars on stderr are left out; the Open-in-Colab badge, a remote image, becomes its
alt text inside the link. All of this is done for the report only: the executed notebook
keeps its LaTeX, its stderr and its badge.

Usage: python tools/run_notebook.py NOTEBOOK OUTPUT_DIR [-p NAME VALUE]...
"""

import argparse
import copy
import re
from pathlib import Path

import jinja2
from latex2mathml.converter import convert as latex_to_mathml
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

# A tqdm line: its bar ("decoder fits:  17%|█▋   | 5/29") or, without a total, its time and
# rate in brackets ("5it [00:01,  3.20it/s]", "0/29 [00:00<?, ?it/s]").
PROGRESS_BAR = re.compile(r"\d+%\|[^|\n]*\||\[(?:\d+:)?\d+:\d{2}[<,][^\]\n]*\]")

# The badge's image lives on colab.research.google.com, which an offline reader cannot reach.
BADGE_IMG_HTML = re.compile(r"<img\b[^>]*colab-badge\.svg[^>]*>", re.IGNORECASE)
BADGE_IMG_MARKDOWN = re.compile(r"!\[([^\]]*)\]\(\s*<?[^)\s]*colab-badge\.svg[^)]*\)")
ALT = re.compile(r"""\balt\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
BADGE_TEXT = "Open in Colab"

# latex2mathml keeps a command it does not know as text (<mi>\foo</mi>): a failure too.
UNKNOWN_COMMAND = re.compile(r">\\[A-Za-z]+")
# What latex2mathml 3.81 gets wrong in the notebook's LaTeX, rewritten before converting:
# \arg, the one operator name of LaTeX it does not know (the notebook's \arg\min), and an
# \operatorname whose name is not only letters (\operatorname{atan2}: an empty operator and
# italic letters); \operatorname and \mathrm write them upright, as LaTeX does.
UNKNOWN_OPERATOR = re.compile(r"\\(arg)(?![A-Za-z])")
OPERATOR_NAME_NOT_LETTERS = re.compile(r"\\operatorname\*?\{([^{}\\]*[^{}\\A-Za-z][^{}\\]*)\}")

# lab's template without its CDN scripts: MathJax (the math is MathML already) and require.js
# (only widgets and old JavaScript outputs use it). A script that cannot load offline can
# hold the page up.
REPORT_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
"""


def typed(value):
    """A parameter's value typed as papermill's ``-p`` types it: None, bool, int, float or str."""
    words = {"None": None, "True": True, "False": False}
    if value in words:
        return words[value]
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def shown_line(line):
    r"""What a terminal shows of a line: the text after its last carriage return that is not blank.

    tqdm redraws its bar by writing ``\r`` and the new bar, and clears it with ``\r``,
    spaces and ``\r``; only the last drawing is on the screen.
    """
    drawings = [part for part in line.split("\r") if part.strip()]
    return drawings[-1] if drawings else ""


def without_progress_bars(text):
    """The stderr text less its progress bars (and their redraws); other lines are kept as is.

    Args:
        text: a stderr stream's text.

    Returns:
        The text, unchanged if it has no carriage return and no bar; else the lines a
        terminal would show, less the progress bars and the lines tqdm blanked.
    """
    if "\r" not in text and not PROGRESS_BAR.search(text):
        return text
    kept = []
    for line in text.split("\n"):
        shown = shown_line(line)
        if PROGRESS_BAR.search(shown) or ("\r" in line and not shown):
            continue
        kept.append(shown)
    return "\n".join(kept)


def report_outputs(outputs):
    """A code cell's outputs for the report: stderr without progress bars, blank stderr dropped.

    A blank stderr output (tqdm's closing newline, a cleared bar) would show as an empty
    pink block.
    """
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            output.text = without_progress_bars(output.text)
            if not output.text.strip():
                continue
        kept.append(output)
    return kept


def degrade_badges(markdown):
    """The markdown with the Colab badge's image replaced by its alt text, the link kept."""
    def alt_text(match):
        alt = ALT.search(match.group(0))
        return alt.group(2) if alt and alt.group(2).strip() else BADGE_TEXT

    markdown = BADGE_IMG_HTML.sub(alt_text, markdown)
    return BADGE_IMG_MARKDOWN.sub(lambda m: m.group(1).strip() or BADGE_TEXT, markdown)


def report_notebook(nb):
    """A copy of the executed notebook, as the report shows it (the notebook is not changed).

    Args:
        nb: the executed notebook (a NotebookNode).

    Returns:
        A deep copy with the progress bars left out of stderr and the Colab badge as a link.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = degrade_badges(cell.source)
        elif cell.cell_type == "code":
            cell.outputs = report_outputs(cell.get("outputs", []))
            for output in cell.outputs:
                data = output.get("data", {})
                if "text/markdown" in data:
                    data["text/markdown"] = degrade_badges(data["text/markdown"])
    return nb


class MathTally:
    """How many LaTeX expressions a report converted to MathML, and how many it could not."""

    def __init__(self):
        self.converted = 0
        self.failed = 0


def for_latex2mathml(latex):
    """The LaTeX with what latex2mathml gets wrong rewritten as LaTeX it converts alike."""
    latex = UNKNOWN_OPERATOR.sub(r"\\operatorname{\1}", latex)
    return OPERATOR_NAME_NOT_LETTERS.sub(r"\\mathrm{\1}", latex)


def mathml(latex, display, tally):
    """The MathML of a LaTeX expression, or None (counted in ``tally``) if it does not convert.

    Args:
        latex: the expression, without its delimiters.
        display: "block" for display math, "inline" for inline math.
        tally: the MathTally that counts the expression.
    """
    try:
        result = latex_to_mathml(for_latex2mathml(latex), display=display)
    except Exception:  # latex2mathml raises many kinds of error on malformed LaTeX
        result = None
    if result is None or UNKNOWN_COMMAND.search(result):
        tally.failed += 1
        return None
    tally.converted += 1
    return result


class MathMLRenderer(IPythonRenderer):
    r"""nbconvert's markdown renderer that writes math as MathML instead of leaving it to MathJax.

    nbconvert's parser finds the math as the notebook's HTML export always has (``$...$``,
    ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``, ``\begin{env}...\end{env}``), never inside
    code spans or code blocks, and not at an escaped ``\$``. An expression latex2mathml cannot
    convert stays as its LaTeX.
    """

    def __init__(self, tally, **options):
        super().__init__(**options)
        self.tally = tally

    def inline_math(self, body):
        """Inline math as inline MathML."""
        return mathml(body, "inline", self.tally) or super().inline_math(body)

    def block_math(self, body):
        """Display math as block MathML."""
        return mathml(body, "block", self.tally) or super().block_math(body)

    def latex_environment(self, name, body):
        """A LaTeX environment (``align``, ``equation``...) as block MathML."""
        latex = f"\\begin{{{name}}}{body}\\end{{{name}}}"
        return mathml(latex, "block", self.tally) or super().latex_environment(name, body)


class ReportExporter(HTMLExporter):
    """HTMLExporter whose markdown math is MathML and whose page loads nothing from a CDN."""

    def __init__(self, **kw):
        kw.setdefault("extra_loaders", [jinja2.DictLoader({"report.html.j2": REPORT_TEMPLATE})])
        kw.setdefault("template_file", "report.html.j2")
        super().__init__(**kw)
        self.tally = MathTally()

    @jinja2.pass_context
    def markdown2html(self, context, source):
        """Markdown to HTML as HTMLExporter.markdown2html does, with MathMLRenderer."""
        cell = context.get("cell", {})
        renderer = MathMLRenderer(
            self.tally,
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        return MarkdownWithMath(renderer=renderer).render(source)


def write_report(nb, path):
    """Write the offline HTML report of an executed notebook; the notebook is left as it is.

    Args:
        nb: the executed notebook (a NotebookNode), e.g. papermill's result.
        path: where the HTML goes.

    Returns:
        The MathTally of the report's LaTeX expressions. A warning line is printed if some
        could not be converted (they stay as LaTeX in the report).
    """
    exporter = ReportExporter()
    html, _ = exporter.from_notebook_node(report_notebook(nb))
    Path(path).write_text(html, encoding="utf-8")
    tally = exporter.tally
    if tally.failed:
        print(f"warning: {tally.failed} of {tally.converted + tally.failed} LaTeX expressions "
              f"could not be converted to MathML; the report shows them as LaTeX")
    return tally


def main():
    """Parse the command line, execute the notebook, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="the notebook to execute")
    parser.add_argument("output_dir", help="where the executed notebook and its report go")
    parser.add_argument("-p", "--parameters", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="a parameter of the notebook")
    args = parser.parse_args()

    import papermill

    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    executed = output_dir / Path(args.notebook).name
    nb = papermill.execute_notebook(
        args.notebook, str(executed), cwd=".", progress_bar=True,
        parameters={name: typed(value) for name, value in args.parameters},
        request_save_on_cell_execute=False, autosave_cell_every=0,
        shutdown_kernel="immediate")
    write_report(nb, executed.with_suffix(".html"))


if __name__ == "__main__":
    main()
