#!/usr/bin/env python3
"""The peer of the comparison bench: DuckDB over the same CSVs vasooli imports.

Usage: peer.py CSV_DIR OUT_DIR AS_OF START:END...
Loads offices, consumers, bills, payments and mobiles once, then runs the two queries of
peer.sql: the defaulter list as of AS_OF, written to OUT_DIR/defaulters.csv, and the
subdivision rankings of each period START:END (first and last day), written to
OUT_DIR/rankings-1.csv, rankings-2.csv, ... It prints one JSON line of seconds: load,
defaulters, and rankings summed over the periods.
"""
import json, os, sys, time
import duckdb

csv_dir, out_dir, as_of = sys.argv[1:4]
periods = [arg.split(":") for arg in sys.argv[4:]]
here = os.path.dirname(os.path.abspath(__file__))
queries = {}
for block in open(os.path.join(here, "peer.sql"), encoding="utf-8").read().split("-- name: ")[1:]:
    name, _, body = block.partition("\n")
    queries[name.strip()] = body.strip().rstrip(";")

con = duckdb.connect()
types = {
    "offices": "{'code':'VARCHAR','name':'VARCHAR','level':'VARCHAR','parent':'VARCHAR'}",
    "consumers": "{'account_no':'VARCHAR','name':'VARCHAR','category':'VARCHAR','subdivision':'VARCHAR',"
                 "'load_kw':'VARCHAR','connected_on':'DATE','mobile':'VARCHAR','language':'VARCHAR','address':'VARCHAR'}",
    "bills": "{'bill_no':'VARCHAR','account_no':'VARCHAR','period':'VARCHAR','issued_on':'DATE',"
             "'due_on':'DATE','amount':'DECIMAL(18,2)'}",
    "payments": "{'receipt_no':'VARCHAR','account_no':'VARCHAR','amount':'DECIMAL(18,2)',"
                "'paid_on':'DATE','channel':'VARCHAR'}",
    "mobiles": "{'account_no':'VARCHAR','mobile':'VARCHAR','registered_on':'DATE','source':'VARCHAR'}",
}
t0 = time.perf_counter()
for table, columns in types.items():
    path = os.path.join(csv_dir, f"{table}.csv")
    con.execute(
        f"CREATE TABLE {table} AS SELECT *, row_number() OVER () AS row_no "
        f"FROM read_csv('{path}', header=true, columns={columns})"
    )
load = time.perf_counter() - t0
con.execute(f"SET VARIABLE as_of = DATE '{as_of}'")
seconds = {"load": load, "rankings": 0.0}


def run(name, out_name):
    started = time.perf_counter()
    rows = con.execute(queries[name]).fetchall()
    columns = [d[0] for d in con.description]
    took = time.perf_counter() - started
    with open(os.path.join(out_dir, out_name), "w", encoding="utf-8") as f:
        f.write(",".join(columns) + "\n")
        for row in rows:
            f.write(",".join("" if v is None else repr(v) if isinstance(v, float) else str(v)
                             for v in row) + "\n")
    return took


seconds["defaulters"] = run("defaulters", "defaulters.csv")
for i, (p_start, p_end) in enumerate(periods, start=1):
    con.execute(f"SET VARIABLE p_start = DATE '{p_start}'")
    con.execute(f"SET VARIABLE p_end = DATE '{p_end}'")
    seconds["rankings"] += run("rankings", f"rankings-{i}.csv")
print(json.dumps(seconds))
