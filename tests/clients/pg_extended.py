"""A PostgreSQL client for tests/live_postgres.rs speaking the extended query protocol
(Parse / Bind / Describe / Execute / Sync, with a second Bind/Execute pipelined before the first
reply), which psql does not use for plain queries. Trust authentication; every reply is read up
to its ReadyForQuery and checked. Prints OK."""
import socket
import struct
import sys

host, port, db = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port))
buf = b""


def msg(t, body=b""):
    return t + struct.pack(">I", len(body) + 4) + body


def read_until_ready():
    """Message types up to and including ReadyForQuery."""
    global buf
    types = []
    while True:
        while len(buf) < 5 or len(buf) < 1 + struct.unpack(">I", buf[1:5])[0]:
            chunk = s.recv(65536)
            assert chunk, "connection closed"
            buf += chunk
        n = struct.unpack(">I", buf[1:5])[0]
        t, buf = buf[:1], buf[1 + n:]
        types.append(t)
        if t == b"Z":
            return types


params = b"user\0postgres\0database\0" + db.encode() + b"\0\0"
s.sendall(struct.pack(">II", len(params) + 8, 196608) + params)
types = read_until_ready()
assert b"R" in types, types

query = b"select id, name from items where id > $1"
cycle1 = (msg(b"P", b"s1\0" + query + b"\0\0\0")
          + msg(b"B", b"\0s1\0" + b"\0\0" + b"\0\x01" + struct.pack(">I", 1) + b"1" + b"\0\0")
          + msg(b"D", b"P\0") + msg(b"E", b"\0\0\0\0\0") + msg(b"S"))
cycle2 = (msg(b"B", b"\0s1\0" + b"\0\0" + b"\0\x01" + struct.pack(">I", 1) + b"2" + b"\0\0")
          + msg(b"E", b"\0\0\0\0\0") + msg(b"S"))
s.sendall(cycle1 + cycle2)
first, second = read_until_ready(), read_until_ready()
assert first.count(b"D") == 2 and b"C" in first, first
assert second.count(b"D") == 1 and b"C" in second, second
# An error inside a cycle: the server skips to the Sync.
s.sendall(msg(b"P", b"\0select * from nope\0\0\0") + msg(b"S"))
assert b"E" in read_until_ready()
s.sendall(msg(b"X"))
s.close()
print("OK")
