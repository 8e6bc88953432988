"""Loads measurements.csv with pandas and DuckDB and prints what each inferred, as JSON.

Usage: check_csv.py measurements.csv
"""
import json
import sys

import duckdb
import pandas as pd

path = sys.argv[1]
df = pd.read_csv(path)
con = duckdb.connect()
rel = con.read_csv(path)
duck_types = {name: str(t) for name, t in zip(rel.columns, rel.types)}
dup = df.duplicated(subset=["study_instance_uid", "level", "side"]).sum()
out = {
    "rows": len(df),
    "columns": list(df.columns),
    "pandas_dtypes": {c: str(t) for c, t in df.dtypes.items()},
    "duckdb_types": duck_types,
    "duplicates": int(dup),
    "duckdb_flagged": con.execute(
        f"select count(*) from read_csv('{path}') where flagged"
    ).fetchone()[0],
    "areas": [
        [r.study_instance_uid, r.level, r.side, None if pd.isna(r.min_area_mm2) else float(r.min_area_mm2)]
        for r in df.itertuples()
    ],
}
print(json.dumps(out))
