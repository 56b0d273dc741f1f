"""Paths, readers and figure saving shared by the vitlab notebooks.

No metric logic lives here: the numbers come from the saved SQL (the finding
tables that `vitlab report` writes to <report>/findings/<name>.parquet) or,
in explore_run, straight from the warehouse tables. Every reader takes the
names it reads as literals at the call site (nb.finding("rq1_architecture",
[...columns...]), nb.table("kernels", [...columns...], batch_id=...)), so
that CI (notebooks/check_notebooks.py, notebooks_test.go) can check each
name against the current schema and queries.

Where the data is: VITLAB_WAREHOUSE and VITLAB_REPORT (a relative value is
taken from the current directory), else warehouse/ and report/ at the root
of the repository (what `make run` writes). VITLAB_SAVE_FIGURES=1 saves each
figure as a small PNG to notebooks/figures/.
"""

import json
import os
import pathlib
import subprocess

NOTEBOOKS = pathlib.Path(__file__).resolve().parent
ROOT = NOTEBOOKS.parent


def _dir(env, default):
    value = os.environ.get(env)
    return pathlib.Path(value).resolve() if value else ROOT / default


WAREHOUSE = _dir("VITLAB_WAREHOUSE", "warehouse")
REPORT = _dir("VITLAB_REPORT", "report")
FIGURES = NOTEBOOKS / "figures"
SAVE_FIGURES = os.environ.get("VITLAB_SAVE_FIGURES") == "1"

# The hive partition key of the warehouse's table directories
# (<table>/batch_id=<id>/); warehouses of schema version 2 and earlier used
# batch=<id> until an ingest migrated them.
PARTITION_KEYS = ("batch_id", "batch")


def finding(name, columns):
    """Reads columns of the finding table `name` from <report>/findings/<name>.parquet."""
    import pandas as pd

    path = REPORT / "findings" / f"{name}.parquet"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: write the report first "
            f"(`make run`, or `vitlab report --warehouse WAREHOUSE --out {REPORT}`)")
    return pd.read_parquet(path, columns=list(columns))


def manifest():
    """Returns the warehouse's _manifest.json: the committed batches and their files."""
    path = WAREHOUSE / "_manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: ingest a batch first (`make run`)")
    return json.loads(path.read_text())


def committed_files(name):
    """Returns the committed Parquet files of table `name` (the manifest's list, never a glob)."""
    batches = manifest()["batches"]
    files = []
    for batch_id in sorted(batches):
        files += [str(WAREHOUSE / f) for f in batches[batch_id]["tables"].get(name, {}).get("files", [])]
    return files


def partition_key(files):
    """Returns the hive key of the partition directories the files lie in."""
    for f in files:
        part = pathlib.Path(f).parent.name
        for key in PARTITION_KEYS:
            if part.startswith(key + "="):
                return key
    return PARTITION_KEYS[0]


def dataset(name):
    """Returns a pyarrow dataset over the committed files of table `name`,
    hive-partitioned on the batch id (typed as a string, so an id that looks
    like a number stays text) and with the columns of every file, unified by
    name (schemas only grow), and the partition key."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    files = committed_files(name)
    if not files:
        raise LookupError(f"table {name}: no committed files in {WAREHOUSE}")
    key = partition_key(files)
    partitioning = ds.partitioning(pa.schema([(key, pa.string())]), flavor="hive")
    schema = pa.unify_schemas([pq.read_schema(f) for f in files] + [pa.schema([(key, pa.string())])])
    return ds.dataset(files, schema=schema, format="parquet", partitioning=partitioning,
                      partition_base_dir=str(WAREHOUSE / name)), key


def table(name, columns, batch_id, run_id=None):
    """Reads columns of warehouse table `name` for one batch (and run) with
    pyarrow: the batch filter is on the partition key, so only that batch's
    directory is opened."""
    import pyarrow.dataset as ds

    data, key = dataset(name)
    where = ds.field(key) == batch_id
    if run_id is not None:
        where = where & (ds.field("run_id") == run_id)
    return data.to_table(columns=list(columns), filter=where).to_pandas()


def inferred_schema(name):
    """Returns the schema pyarrow infers for table `name` read as one
    hive-partitioned directory tree (discovery, as any hive reader does)."""
    import pyarrow.dataset as ds

    return ds.dataset(str(WAREHOUSE / name), format="parquet", partitioning="hive").schema


def saved_query_sql(name):
    """Returns the text of the saved query `name` (queries/**/<name>.sql)."""
    matches = sorted(p for p in (ROOT / "queries").rglob(f"{name}.sql") if "views" not in p.parts)
    if len(matches) != 1:
        raise LookupError(f"saved query {name}: {len(matches)} files named {name}.sql under {ROOT / 'queries'}")
    return matches[0].read_text()


def duckdb_views():
    """Returns a DuckDB connection set up with `vitlab views` (the base views
    over the committed files, the derived views and every param's default),
    or None, saying why, when the duckdb package or bin/vitlab is missing."""
    try:
        import duckdb
    except ImportError:
        print("duckdb is not installed (pip install duckdb): the saved-query cross-check is skipped")
        return None
    vitlab = pathlib.Path(os.environ.get("VITLAB_BIN", ROOT / "bin" / "vitlab"))
    if not vitlab.exists():
        print(f"{vitlab} does not exist (make build, or VITLAB_BIN): the saved-query cross-check is skipped")
        return None
    setup = subprocess.run([str(vitlab), "views", "--warehouse", str(WAREHOUSE)],
                           check=True, capture_output=True, text=True).stdout
    con = duckdb.connect()
    con.execute(setup)
    return con


def saved_query(con, name, **params):
    """Runs the saved query `name` on a connection from duckdb_views(), with
    params set as DuckDB variables, and returns a pandas DataFrame."""
    for key, value in params.items():
        con.execute(f"set variable {key} = ?", [value])
    return con.sql(saved_query_sql(name)).df()


def lines(ax, df, x, y, series, lo=None, hi=None, **style):
    """Draws y against x, one line per value of the series column, with the
    95 % interval (columns lo, hi) as error bars where there is one."""
    for label, g in df.sort_values(x).groupby(series, sort=True):
        yerr = None
        if lo is not None and hi is not None:
            yerr = [(g[y] - g[lo]).fillna(0).clip(lower=0), (g[hi] - g[y]).fillna(0).clip(lower=0)]
        ax.errorbar(g[x], g[y], yerr=yerr, marker="o", capsize=3, label=str(label), **style)
    ax.grid(True, alpha=0.3)


def log_scale(ax, axis="y", base=10):
    """Puts axis ("x" or "y") on a log scale only where its data span more than a decade
    (base 10), labelled with plain numbers (1, 2, 5 × 10^k; 1, 2, 4, 8 for base 2) rather
    than powers; a narrower range stays linear, where a log axis hides differences."""
    from matplotlib import ticker

    lo, hi = (ax.dataLim.x0, ax.dataLim.x1) if axis == "x" else (ax.dataLim.y0, ax.dataLim.y1)
    if base == 10 and not (lo > 0 and hi > 10 * lo):
        return
    a = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=base)
    subs = (1.0,) if base == 2 else ((1.0,) if hi > 100 * lo else (1.0, 2.0, 5.0))
    a.set_major_locator(ticker.LogLocator(base=base, subs=subs))
    a.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    a.set_minor_formatter(ticker.NullFormatter())


def save(fig, name):
    """Saves fig as notebooks/figures/<name>.png when VITLAB_SAVE_FIGURES=1."""
    if not SAVE_FIGURES:
        return
    FIGURES.mkdir(exist_ok=True)
    fig.savefig(FIGURES / f"{name}.png", dpi=72, bbox_inches="tight")


def show(df, rows=40):
    """Returns df for display, wide text columns unshortened."""
    import pandas as pd

    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.width", 200)
    return df.head(rows)
