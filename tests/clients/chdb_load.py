#!/usr/bin/python3
"""Loads what tapflow sent to a ClickHouse server into chDB (the current ClickHouse engine,
in-process): runs tapflow's own DDL statements, inserts each captured RowBinary body into its
table with tapflow's column list, then runs the queries and writes their rows as JSON.

usage: chdb_load.py JOB.json RESULT.json
JOB: {"statements": [sql...], "inserts": [{"table": "db.`t`", "columns": "`a`, `b`",
      "structure": "a UInt8, b String", "file": path}...], "queries": {name: sql}}
"""

import json
import sys

import chdb
from chdb import session

job = json.load(open(sys.argv[1]))
s = session.Session()
for sql in job["statements"]:
    s.query(sql)
for ins in job["inserts"]:
    s.query(
        "INSERT INTO {} ({}) SELECT * FROM file('{}', 'RowBinary', '{}')".format(
            ins["table"], ins["columns"], ins["file"], ins["structure"].replace("'", "\\'")
        )
    )
out = {}
for name, sql in job["queries"].items():
    text = s.query(sql + " SETTINGS output_format_json_quote_64bit_integers = 0", "JSONEachRow").bytes()
    out[name] = [json.loads(line) for line in text.decode().splitlines() if line.strip()]
json.dump(out, open(sys.argv[2], "w"))
print("OK", chdb.__version__ if hasattr(chdb, "__version__") else "")
