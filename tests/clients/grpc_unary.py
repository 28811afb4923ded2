#!/usr/bin/python3
"""Unary gRPC calls over one HTTP/2 connection with Debian's grpcio (no generated code: the
request is raw protobuf bytes). Calls agent.Synchronizer/Sync with an empty SyncRequest every
INTERVAL seconds for SECONDS seconds, then a method the server does not have. Prints one line:
OK, the number of Sync calls and the gRPC status codes seen (sorted, unique)."""

import sys
import time

import grpc

host, port, seconds, interval = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
channel = grpc.insecure_channel("%s:%s" % (host, port))
sync = channel.unary_unary("/agent.Synchronizer/Sync")
codes = set()
calls = 0
end = time.time() + seconds
while time.time() < end:
    try:
        sync(b"", timeout=5)
        codes.add(0)
    except grpc.RpcError as e:
        codes.add(e.code().value[0])
    calls += 1
    time.sleep(interval)
try:
    channel.unary_unary("/agent.Synchronizer/NoSuchMethod")(b"", timeout=5)
    raise AssertionError("an unknown method succeeded")
except grpc.RpcError as e:
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e
channel.close()
print("OK", calls, ",".join(str(c) for c in sorted(codes)))
