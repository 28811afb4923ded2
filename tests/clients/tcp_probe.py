"""TCP health-check probes, as a load balancer's tcp-check sends them: connect, then reset
(SO_LINGER 0) without sending data. Usage: tcp_probe.py HOST PORT COUNT. Prints OK."""
import socket
import struct
import sys
import time

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(count):
    s = socket.create_connection((host, port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.05)
    s.close()
    time.sleep(0.1)
print("OK")
