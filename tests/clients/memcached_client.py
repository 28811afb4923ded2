"""A memcached client for tests/live_memcached.rs: one text-protocol and one binary-protocol
connection to HOST:PORT running a fixed workload; every reply is read and checked, so the
capture holds complete exchanges. Prints OK at the end."""
import socket
import struct
import sys

host, port = sys.argv[1], int(sys.argv[2])


def text_session():
    s = socket.create_connection((host, port))
    buf = b""

    def until(end):
        nonlocal buf
        while end not in buf:
            chunk = s.recv(65536)
            assert chunk, "connection closed"
            buf += chunk
        i = buf.index(end) + len(end)
        out, buf = buf[:i], buf[i:]
        return out

    def ask(req, end=b"\r\n"):
        s.sendall(req)
        return until(end)

    assert ask(b"set greeting 0 0 11\r\nhello world\r\n") == b"STORED\r\n"
    assert ask(b"get greeting missing\r\n", b"END\r\n").startswith(b"VALUE greeting 0 11\r\n")
    assert ask(b"get missing\r\n") == b"END\r\n"
    assert ask(b"incr greeting 1\r\n").startswith(b"CLIENT_ERROR")
    s.sendall(b"set n 0 0 1 noreply\r\n5\r\n")
    assert ask(b"incr n 10\r\n") == b"15\r\n"
    assert ask(b"delete n\r\n") == b"DELETED\r\n"
    big = b"v" * 300000
    assert ask(b"set big 0 0 300000\r\n" + big + b"\r\n") == b"STORED\r\n"
    assert len(ask(b"get big\r\n", b"END\r\n")) == 300000 + len(b"VALUE big 0 300000\r\n\r\nEND\r\n")
    assert ask(b"bogus\r\n") == b"ERROR\r\n"
    assert ask(b"version\r\n").startswith(b"VERSION ")
    s.sendall(b"quit\r\n")
    s.close()


def binary_session():
    s = socket.create_connection((host, port))

    def msg(op, key=b"", extras=b"", value=b"", opaque=0):
        body = extras + key + value
        return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0, len(body),
                           opaque, 0) + body

    def read_one():
        head = b""
        while len(head) < 24:
            chunk = s.recv(24 - len(head))
            assert chunk, "connection closed"
            head += chunk
        _, op, _, _, _, status, body_len, opaque, _ = struct.unpack(">BBHBBHIIQ", head)
        body = b""
        while len(body) < body_len:
            body += s.recv(body_len - len(body))
        return op, status, opaque

    s.sendall(msg(0x01, b"k1", struct.pack(">II", 0, 0), b"value", opaque=1))
    assert read_one() == (0x01, 0, 1)
    s.sendall(msg(0x00, b"k1", opaque=2))
    assert read_one() == (0x00, 0, 2)
    s.sendall(msg(0x00, b"missing", opaque=3))
    assert read_one() == (0x00, 1, 3)
    s.sendall(msg(0x05, b"k1", struct.pack(">QQI", 1, 0, 0), opaque=4))
    assert read_one() == (0x05, 6, 4)
    # Quiet gets: only the hit is answered, then the Noop.
    s.sendall(msg(0x09, b"missing", opaque=5) + msg(0x09, b"k1", opaque=6) + msg(0x0a, opaque=7))
    assert read_one() == (0x09, 0, 6)
    assert read_one() == (0x0a, 0, 7)
    s.close()


text_session()
binary_session()
print("OK")
