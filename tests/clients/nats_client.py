#!/usr/bin/python3
"""A NATS workload against a real nats-server, speaking the client protocol over sockets (Debian
has no NATS client library): a service answering requests on svc.echo, a requester (headers with
a traceparent, a request nobody answers, a fire-and-forget publish) and a verbose client whose
oversized publish the server refuses. Checks every server answer; prints OK."""

import socket
import sys

HOST, PORT = sys.argv[1], int(sys.argv[2])
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Conn:
    def __init__(self, verbose=False):
        self.s = socket.create_connection((HOST, PORT), timeout=5)
        self.buf = b""
        info = self.line()
        assert info.startswith(b"INFO {"), info
        v = "true" if verbose else "false"
        self.send(
            '{"verbose":%s,"pedantic":false,"lang":"python","version":"0.1","protocol":1,'
            '"headers":true,"no_responders":true}' % v,
            op="CONNECT ",
        )
        if verbose:
            self.expect(b"+OK")
        self.ping()

    def send(self, text, op=""):
        self.s.sendall((op + text + "\r\n").encode())

    def raw(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def expect(self, want):
        got = self.line()
        assert got == want, (got, want)

    def ping(self):
        self.send("PING")
        self.expect(b"PONG")

    def msg(self):
        head = self.line().split()
        if head[0] == b"HMSG":
            total = int(head[-1])
            return head, self.read(total)
        assert head[0] == b"MSG", head
        return head, self.read(int(head[-1]))


service = Conn()
service.send("SUB svc.echo 1")
service.ping()

req = Conn()
req.send("SUB _INBOX.b.* 2")
req.ping()
headers = "NATS/1.0\r\ntraceparent: %s\r\n\r\n" % TRACE
body = "hi"
req.raw(
    b"HPUB svc.echo _INBOX.b.1 %d %d\r\n%s%s\r\n"
    % (len(headers), len(headers) + len(body), headers.encode(), body.encode())
)
head, data = service.msg()
assert head[0] == b"HMSG" and head[1] == b"svc.echo" and head[3] == b"_INBOX.b.1", head
assert data.endswith(b"hi") and TRACE.encode() in data, data
service.raw(b"PUB _INBOX.b.1 5\r\nhello\r\n")
head, data = req.msg()
assert head[1] == b"_INBOX.b.1" and data == b"hello", (head, data)

# Nobody listens on nobody.home: the server answers 503 (no responders) on the inbox.
req.raw(b"PUB nobody.home _INBOX.b.2 2\r\nhi\r\n")
head, data = req.msg()
assert head[0] == b"HMSG" and data.startswith(b"NATS/1.0 503"), (head, data)
req.raw(b"PUB events.x 5\r\nhello\r\n")
req.ping()

verbose = Conn(verbose=True)
verbose.send("SUB a.b 1")
verbose.expect(b"+OK")
verbose.raw(b"PUB a.b 2\r\nhi\r\n")
verbose.expect(b"+OK")
head, data = verbose.msg()
assert head[1] == b"a.b" and data == b"hi", head
verbose.raw(b"PUB a.b 2000\r\n" + b"x" * 2000 + b"\r\n")
err = verbose.line()
assert err == b"-ERR 'Maximum Payload Violation'", err

for c in (service, req):
    c.s.close()
print("OK")
