#!/usr/bin/env python3
"""Executes notebooks top to bottom in a Jupyter kernel (nbclient), as CI does.

    .venv/bin/python notebooks/execute.py                 # every notebooks/*.ipynb
    .venv/bin/python notebooks/execute.py NOTEBOOK...      # the ones named

Each notebook runs in a fresh kernel with the notebooks folder as its working directory, against
the warehouse and report that VITLAB_WAREHOUSE and VITLAB_REPORT name (default: warehouse/ and
report/ at the repository root; `make run` writes both from the shipped sample). A cell that raises
fails its notebook: the notebook's name, the cell's index and the error are printed, the others
still run. The notebooks on disk are not changed (VITLAB_SAVE_FIGURES=1 makes them save their
figures into notebooks/figures/). Exit status: 0 every notebook ran, 1 one failed.
"""

import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = pathlib.Path(__file__).resolve().parent


def main(argv):
    paths = [pathlib.Path(a).resolve() for a in argv] or sorted(HERE.glob("*.ipynb"))
    failed = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        t0 = time.monotonic()
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
        except CellExecutionError as err:
            failed += 1
            print(f"FAIL {path.name}: {err}", file=sys.stderr)
            continue
        except Exception as err:  # the kernel died, or did not start
            failed += 1
            print(f"FAIL {path.name}: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        cells = sum(1 for c in nb.cells if c.cell_type == "code")
        print(f"ok   {path.name}: {cells} code cells in {time.monotonic() - t0:.1f} s")
    print(f"{len(paths) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
