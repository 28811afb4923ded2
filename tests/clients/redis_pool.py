"""A connection pool to Redis for tests/live_flow_load.rs: POOL connections opened together,
each sends one PING; then connection 0 alone sends a PING every 200 ms for BUSY seconds while
the others stay idle; then all close. Prints the client ports, one per line.

usage: redis_pool.py HOST PORT POOL BUSY
"""
import socket
import sys
import time

host, port, pool, busy = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])


def ping(s):
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    reply = b""
    while not reply.endswith(b"\r\n"):
        chunk = s.recv(64)
        if not chunk:
            raise SystemExit("connection closed")
        reply += chunk
    if reply != b"+PONG\r\n":
        raise SystemExit(f"unexpected reply {reply!r}")


conns = [socket.create_connection((host, port), timeout=5) for _ in range(pool)]
for c in conns:
    ping(c)
end = time.monotonic() + busy
while time.monotonic() < end:
    time.sleep(0.2)
    ping(conns[0])
for c in conns:
    print(c.getsockname()[1])
    c.close()
