"""Checks vitlab's warehouse and saved queries from outside Go, as CI runs them (`make test`).

    VITLAB_WAREHOUSE=warehouse VITLAB_BIN=bin/vitlab .venv/bin/python -m unittest discover -s notebooks -p 'test_*.py'

- Every saved query, run by the Python `duckdb` package (an independent DuckDB, the same release as
  vitlab's) over the SQL `vitlab views` prints, equals `vitlab query NAME --format csv` cell by cell.
- pyarrow and polars read every table of the warehouse (every committed file, hive-partitioned on
  batch_id) with the row counts the manifest lists.
"""

import csv
import datetime
import decimal
import io
import json
import math
import os
import pathlib
import re
import subprocess
import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent
WAREHOUSE = pathlib.Path(os.environ.get("VITLAB_WAREHOUSE") or ROOT / "warehouse").resolve()
BIN = pathlib.Path(os.environ.get("VITLAB_BIN") or ROOT / "bin" / "vitlab").resolve()


def vitlab(*args):
    return subprocess.run([str(BIN), *args], check=True, capture_output=True, text=True, cwd=ROOT).stdout


def saved_queries():
    """(name, file) of every saved query, from `vitlab query --list`."""
    out = vitlab("query", "--list")
    return re.findall(r"^(\S+)\n\s+.*\(\w+ layer: queries/(\S+)\)$", out, re.M)


def manifest():
    return json.loads((WAREHOUSE / "_manifest.json").read_text())


def same_cell(csv_text, value):
    """Whether the CSV cell vitlab printed is the value DuckDB returned."""
    if value is None:
        return csv_text == ""
    if isinstance(value, bool):
        return csv_text == ("true" if value else "false")
    if isinstance(value, int):
        return csv_text == str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return csv_text in ("NaN", "nan")
        if math.isinf(value):
            return csv_text in ("+Inf", "-Inf", "Inf", "inf", "-inf")
        # Equal, or equal but for the last bits: DuckDB sums doubles in
        # parallel, in an order that differs between processes, so two
        # processes can differ by a few ulps on the same data (seen on
        # throughput_variance's geometric mean: 5104.23192736485 against
        # 5104.231927364859). Cancellation to ~0 (a variance component of
        # 1e-28) is the same zero.
        try:
            got = float(csv_text)
        except ValueError:
            return False
        return got == value or math.isclose(got, value, rel_tol=1e-12, abs_tol=1e-24)
    if isinstance(value, decimal.Decimal):
        try:
            return decimal.Decimal(csv_text) == value
        except decimal.InvalidOperation:
            return False
    if isinstance(value, datetime.datetime):
        got = datetime.datetime.fromisoformat(csv_text.replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return got == value
    if isinstance(value, (list, dict)):
        return True  # nested values: compared by the Go tests
    return csv_text == str(value)


@unittest.skipUnless((WAREHOUSE / "_manifest.json").exists() and BIN.exists(),
                     f"needs a warehouse at {WAREHOUSE} and {BIN} (make run)")
class IndependentDuckDB(unittest.TestCase):
    def test_saved_queries_equal_vitlab_query(self):
        import duckdb

        con = duckdb.connect()
        con.execute(vitlab("views", "--warehouse", str(WAREHOUSE)))
        queries = saved_queries()
        self.assertGreater(len(queries), 10, "vitlab query --list lists the saved queries")
        for name, file in queries:
            with self.subTest(query=name):
                sql = (ROOT / "queries" / file).read_text()
                cur = con.execute(sql)
                cols = [d[0] for d in cur.description]
                rows = cur.fetchall()
                got = list(csv.reader(io.StringIO(vitlab("query", "--warehouse", str(WAREHOUSE), name, "--format", "csv"))))
                self.assertEqual(got[0], cols, f"{name}: columns")
                self.assertEqual(len(got) - 1, len(rows), f"{name}: rows")
                for i, (g, r) in enumerate(zip(got[1:], rows)):
                    for col, text, value in zip(cols, g, r):
                        self.assertTrue(same_cell(text, value),
                                        f"{name} row {i + 1} column {col}: vitlab query says {text!r}, duckdb {value!r}")


@unittest.skipUnless((WAREHOUSE / "_manifest.json").exists(), f"needs a warehouse at {WAREHOUSE} (make run)")
class Readers(unittest.TestCase):
    def tables(self):
        counts, files = {}, {}
        for batch in manifest()["batches"].values():
            for table, t in batch["tables"].items():
                counts[table] = counts.get(table, 0) + t["rows"]
                files.setdefault(table, []).extend(str(WAREHOUSE / f) for f in t["files"])
        return counts, files

    def test_pyarrow_reads_every_table(self):
        import pyarrow as pa
        import pyarrow.dataset as ds
        import pyarrow.parquet as pq

        counts, files = self.tables()
        self.assertGreater(len(counts), 5)
        for table, n in counts.items():
            with self.subTest(table=table):
                schema = pa.unify_schemas([pq.read_schema(f) for f in files[table]] + [pa.schema([("batch_id", pa.string())])])
                data = ds.dataset(files[table], schema=schema, format="parquet",
                                  partitioning=ds.partitioning(pa.schema([("batch_id", pa.string())]), flavor="hive"),
                                  partition_base_dir=str(WAREHOUSE / table)).to_table()
                self.assertEqual(data.num_rows, n)
                if n:
                    self.assertEqual(set(data.column("batch_id").to_pylist()) - set(manifest()["batches"]), set())

    def test_polars_reads_every_table(self):
        import polars as pl

        counts, files = self.tables()
        for table, n in counts.items():
            with self.subTest(table=table):
                # One frame per file (schemas only grow: older files lack newer columns), joined by name.
                data = pl.concat([pl.read_parquet(f, hive_partitioning=True) for f in files[table]], how="diagonal_relaxed")
                self.assertEqual(data.height, n)
                if n:
                    self.assertIn("batch_id", data.columns)


if __name__ == "__main__":
    unittest.main()
