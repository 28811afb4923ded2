#!/usr/bin/env python3
"""Pyroscope's Python SDK (pyroscope-io: py-spy sampling this process) profiling a CPU-bound
function and uploading to a tapflow integration collector, for tests/integration_collector.rs.

    pyroscope_burn.py SERVER_ADDRESS APP SECONDS

Burns CPU in `burn_cpu` for SECONDS with the tag region=eu, then shuts the SDK down (which
uploads what is left). pyroscope-io 0.8 posts to SERVER_ADDRESS/ingest (pprof, gzip), 1.x to
SERVER_ADDRESS/push.v1.PusherService/Push (every second here). Prints the SDK's version.
"""
import hashlib
import sys
import time

import pyroscope

address, app, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
options = dict(application_name=app, server_address=address, sample_rate=100, tags={"region": "eu"})
try:
    pyroscope.configure(upload_interval=1, **options)
except TypeError:  # 0.8 uploads every 10 s, and when shut down
    pyroscope.configure(**options)


def burn_cpu(until):
    x = b"tapflow"
    while time.time() < until:
        for _ in range(1000):
            x = hashlib.sha256(x).digest()


burn_cpu(time.time() + seconds)
pyroscope.shutdown()
try:
    from importlib.metadata import version

    print(version("pyroscope-io"))
except Exception:  # noqa: BLE001
    print("unknown")
