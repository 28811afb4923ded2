"""An HTTPS file server on 127.0.0.1: Python's http.server behind the ssl module (the system's
OpenSSL, libssl.so.3), for the syscall tracer's TLS test. Usage: tls_http_server.py PORT CERT KEY
(serves the current directory)."""
import http.server
import ssl
import sys


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


port = int(sys.argv[1])
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Quiet)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
