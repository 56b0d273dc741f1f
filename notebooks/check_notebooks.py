#!/usr/bin/env python3
"""Checks the notebooks without running them; prints what they read as JSON.

    python3 notebooks/check_notebooks.py [NOTEBOOK...]     # default: every notebooks/*.ipynb

Standard library, plus nbformat (Debian: python3-nbformat) when installed. For each notebook:
its structure validates against the nbformat 4 schema (without nbformat: the JSON shape of
format 4 only, and "nbformat" in the output is null); every code cell compiles; no absolute path
in any cell or output; no error output; data is read only through vitlab_nb's readers
(nb.finding, nb.table, nb.saved_query) whose names and column lists are literals.

Output (stdout, JSON): {"nbformat": version or null, "problems": [...], "notebooks": {name:
{"findings": {finding: [columns]}, "tables": {table: [columns]}, "queries": [saved query names]}}}.
Exit status 0 when there are no problems, 1 otherwise. notebooks_test.go runs it and checks the
names against the current schema and queries.
"""

import ast
import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
# Absolute paths: a Unix root directory people write into notebooks, a home directory, a drive letter.
ABSOLUTE = re.compile(r"(?<![\w.~/:])(/(?:home|root|tmp|work|Users|usr|opt|mnt|var|etc|srv|data|scratch)/|~/|[A-Za-z]:\\\\)")
# Readers that bypass vitlab_nb (and so the name checks).
BYPASS = re.compile(r"\b(read_parquet|read_table|ParquetFile|parquet_file|read_csv)\s*\(|\bds\.dataset\s*\(|\bduckdb\.connect\s*\(")


def literal_strings(node):
    if isinstance(node, (ast.List, ast.Tuple)) and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return [e.value for e in node.elts]
    return None


def call_name(call):
    f = call.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "nb":
        return f.attr
    return None


def structure(nb, problems, where):
    for key in ("cells", "metadata", "nbformat", "nbformat_minor"):
        if key not in nb:
            problems.append(f"{where}: no {key!r}")
    if nb.get("nbformat") != 4:
        problems.append(f"{where}: nbformat {nb.get('nbformat')}, want 4")
    for i, cell in enumerate(nb.get("cells", [])):
        kind = cell.get("cell_type")
        if kind not in ("code", "markdown", "raw"):
            problems.append(f"{where}: cell {i}: cell_type {kind!r}")
        if not isinstance(cell.get("source"), (str, list)) or "metadata" not in cell:
            problems.append(f"{where}: cell {i}: needs source and metadata")
        if kind == "code" and ("outputs" not in cell or "execution_count" not in cell):
            problems.append(f"{where}: cell {i}: a code cell needs outputs and execution_count")


def check(path, problems, nbformat):
    where = path.name
    raw = path.read_text()
    nb = json.loads(raw)
    if nbformat is not None:
        try:
            nbformat.validate(nbformat.reads(raw, as_version=4))
        except Exception as e:  # nbformat.ValidationError and reader errors
            problems.append(f"{where}: nbformat: {str(e).splitlines()[0]}")
    else:
        structure(nb, problems, where)
    uses = {"findings": {}, "tables": {}, "queries": []}
    for i, cell in enumerate(nb.get("cells", [])):
        source = "".join(cell.get("source", []))
        cw = f"{where}: cell {i}"
        texts = [source] + [json.dumps(o) for o in cell.get("outputs", [])]
        for text in texts:
            m = ABSOLUTE.search(text)
            if m:
                problems.append(f"{cw}: absolute path {m.group(0)!r}")
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error" or (o.get("name") == "stderr" and "Traceback" in "".join(o.get("text", ""))):
                problems.append(f"{cw}: error output")
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = compile(source, cw, "exec", ast.PyCF_ONLY_AST)
        except SyntaxError as e:
            problems.append(f"{cw}: does not compile: {e}")
            continue
        m = BYPASS.search(source)
        if m:
            problems.append(f"{cw}: reads data with {m.group(0).strip()!r}: use nb.finding, nb.table or nb.saved_query")
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = call_name(node)
            if name in ("finding", "table"):
                args = node.args
                what = args[0].value if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str) else None
                cols = literal_strings(args[1]) if len(args) > 1 else None
                if what is None or cols is None:
                    problems.append(f"{cw}: line {node.lineno}: nb.{name} needs a literal name and a literal list of columns")
                    continue
                kind = "findings" if name == "finding" else "tables"
                uses[kind].setdefault(what, [])
                uses[kind][what] += [c for c in cols if c not in uses[kind][what]]
            elif name == "saved_query":
                args = node.args
                if len(args) < 2 or not (isinstance(args[1], ast.Constant) and isinstance(args[1].value, str)):
                    problems.append(f"{cw}: line {node.lineno}: nb.saved_query needs a literal query name")
                    continue
                if args[1].value not in uses["queries"]:
                    uses["queries"].append(args[1].value)
    return uses


def main(argv):
    try:
        import nbformat
    except ImportError:
        nbformat = None
    paths = [pathlib.Path(a) for a in argv] or sorted(HERE.glob("*.ipynb"))
    problems, notebooks = [], {}
    for path in paths:
        try:
            notebooks[path.name] = check(path, problems, nbformat)
        except (OSError, ValueError) as e:
            problems.append(f"{path.name}: {e}")
    out = {"nbformat": getattr(nbformat, "__version__", None), "problems": problems, "notebooks": notebooks}
    print(json.dumps(out, indent=1, sort_keys=True))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
