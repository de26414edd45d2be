"""Execute the notebook with papermill and write its HTML report, in one process (``make run``).

The executed notebook and ``<name>.html`` go to OUTPUT_DIR. The notebook is written once,
at the end (or at an error, with the error in it): saving the growing notebook after every
cell takes CPU from the kernel on a 2-core machine (about 10 s of a 75 s run). Once every
output is in, the kernel is stopped at once instead of being asked to wind down (about
2.5 s), and the report is written from the notebook in memory.

Usage: python tools/run_notebook.py NOTEBOOK OUTPUT_DIR [-p NAME VALUE]...
"""

import argparse
from pathlib import Path


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


def main():
    """Parse the command line, execute the notebook, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="the notebook to execute")
    parser.add_argument("output_dir", help="where the executed notebook and its report go")
    parser.add_argument("-p", "--parameters", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="a parameter of the notebook")
    args = parser.parse_args()

    import papermill
    from nbconvert import HTMLExporter

    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    executed = output_dir / Path(args.notebook).name
    nb = papermill.execute_notebook(
        args.notebook, str(executed), cwd=".", progress_bar=True,
        parameters={name: typed(value) for name, value in args.parameters},
        request_save_on_cell_execute=False, autosave_cell_every=0,
        shutdown_kernel="immediate")
    report = executed.with_suffix(".html")
    report.write_text(HTMLExporter().from_notebook_node(nb)[0], encoding="utf-8")


if __name__ == "__main__":
    main()
