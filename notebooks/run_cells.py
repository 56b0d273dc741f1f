#!/usr/bin/env python3
"""Executes notebooks without Jupyter: every code cell in order, in one namespace per notebook.

    python3 notebooks/run_cells.py --all          # every notebooks/*.ipynb
    python3 notebooks/run_cells.py NOTEBOOK...    # the ones named
    python3 notebooks/run_cells.py --check        # only say which packages are missing

Standard library only (the notebooks themselves need pandas, pyarrow and matplotlib). Each notebook
runs with the notebooks folder as its working directory and on sys.path, as Jupyter runs it, with
matplotlib's non-interactive Agg backend. The value of a cell's last expression is printed. A failing
cell stops its notebook with the notebook's name, the cell's index (from 0, counting every cell) and
the traceback; the others still run. Exit status: 0 all ran, 1 a cell failed, 2 packages missing.
"""

import ast
import json
import os
import pathlib
import sys
import traceback

HERE = pathlib.Path(__file__).resolve().parent
NEEDED = {"pandas": "pandas", "pyarrow": "pyarrow", "matplotlib": "matplotlib"}


def missing_packages():
    import importlib.util

    return [pkg for mod, pkg in NEEDED.items() if importlib.util.find_spec(mod) is None]


def run_notebook(path):
    nb = json.loads(path.read_text())
    namespace = {"__name__": "__main__", "__file__": str(path)}
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        name = f"{path.name}[cell {index}]"
        try:
            tree = ast.parse(source, name)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            exec(compile(tree, name, "exec"), namespace)
            if last is not None:
                value = eval(compile(last, name, "eval"), namespace)
                if value is not None:
                    text = value.to_string() if hasattr(value, "to_string") else repr(value)
                    print(text)
        except Exception:
            print(f"{path.name}: cell {index} failed:", file=sys.stderr)
            traceback.print_exc()
            return False
        finally:
            import matplotlib.pyplot as plt

            plt.close("all")
    return True


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    missing = missing_packages()
    if missing:
        print("run_cells: missing Python packages: " + ", ".join(missing), file=sys.stderr)
        print("  install them with: python3 -m pip install -r notebooks/requirements.txt", file=sys.stderr)
        print("  (Debian: apt-get install python3-pandas python3-matplotlib; pyarrow comes from PyPI or conda)",
              file=sys.stderr)
        return 2
    if argv[0] == "--check":
        print("run_cells: pandas, pyarrow and matplotlib are installed")
        return 0
    paths = sorted(HERE.glob("*.ipynb")) if argv[0] == "--all" else [pathlib.Path(a).resolve() for a in argv]
    os.environ.setdefault("MPLBACKEND", "Agg")
    # Relative paths in the environment mean the caller's directory, not notebooks/.
    for key in ("VITLAB_WAREHOUSE", "VITLAB_REPORT", "VITLAB_BIN"):
        if os.environ.get(key):
            os.environ[key] = str(pathlib.Path(os.environ[key]).resolve())
    os.chdir(HERE)
    sys.path.insert(0, str(HERE))
    failed = []
    for path in paths:
        print(f"=== {path.name}", flush=True)
        if not run_notebook(path):
            failed.append(path.name)
    if failed:
        print("run_cells: failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    print(f"run_cells: {len(paths)} notebooks ran without error")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
