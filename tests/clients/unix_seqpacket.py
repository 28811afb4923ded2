"""HTTP/1.1 over a unix seqpacket socket (each request and each response one message), for the
syscall tracer's unix socket test (tests/trace_settings.rs).

    unix_seqpacket.py server PATH N   # listens on PATH, answers N requests on one connection
    unix_seqpacket.py client PATH N   # GET /seqpacket/0 .. /seqpacket/N-2, then /seqpacket/missing
"""
import socket
import sys


def main():
    mode, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if mode == "server":
        s.bind(path)
        s.listen(1)
        c, _ = s.accept()
        for _ in range(n):
            req = c.recv(65536).decode()
            target = req.split(" ")[1]
            if target.endswith("/missing"):
                status, body = "404 Not Found", b"no such page\n"
            else:
                status, body = "200 OK", b"hello over seqpacket\n"
            head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            c.send(head + body)
        c.close()
    else:
        s.connect(path)
        for i in range(n):
            target = "/seqpacket/missing" if i == n - 1 else f"/seqpacket/{i}"
            s.send(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            resp = s.recv(65536).decode()
            assert resp.startswith("HTTP/1.1 "), resp
        print("done", flush=True)
    s.close()


if __name__ == "__main__":
    main()
