"""An HTTP/1.1 service that fails, and its client.

`http_errors.py serve HOST PORT`: Python's http.server with a buffered writer, so each response
leaves in one write as nginx or Go's net/http send a small one: GET /ok answers 200, GET of
anything else 404 (http.server's own error page), POST /pay reads its body and answers 503 with
a JSON error. `serve-apart`: the same with http.server's default unbuffered writer, which sends
a response's head and body in two writes. `http_errors.py ask HOST PORT`: one request of each on
its own connection (http.client sends a POST's head and body apart); prints OK."""
import http.server
import sys
import urllib.error
import urllib.request

PAY_BODY = b'{"amount": 42}'
PAY_ERROR = b'{"error":"db is down"}'


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # head and body in one write

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/ok":
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"fine")
        else:
            self.send_error(404, "no route to " + self.path)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(PAY_ERROR)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(PAY_ERROR)


def ask(host, port):
    base = f"http://{host}:{port}"
    for path, body in (("/ok", None), ("/missing", None), ("/pay", PAY_BODY)):
        req = urllib.request.Request(base + path, data=body)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            urllib.request.urlopen(req, timeout=5).read()
        except urllib.error.HTTPError as e:
            e.read()
    print("OK")


if __name__ == "__main__":
    what, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if what == "serve":
        http.server.HTTPServer((host, port), Handler).serve_forever()
    elif what == "serve-apart":
        Apart = type("Apart", (Handler,), {"wbufsize": 0})
        http.server.HTTPServer((host, port), Apart).serve_forever()
    else:
        ask(host, port)
