#!/usr/bin/env python3
"""SkyWalking-traced services for tests/integration_sources.rs: Apache SkyWalking's Python
agent (apache-skywalking, kept in /usr/local/lib/tapflow-test/skywalking by the test command)
reporting to an integration collector over PROTOCOL (`http`: JSON segments; `grpc`: its gRPC
TraceSegmentReportService over HTTP/2). Service names end with SUFFIX.

    skywalking_app.py serve PORT COLLECTOR PROTOCOL SUFFIX
        service "cart"+SUFFIX: an http.server on PORT (traced by the agent's http.server
        plugin); /fail answers 500
    skywalking_app.py client PORT COLLECTOR PROTOCOL SUFFIX
        service "shop"+SUFFIX: GET /cart/1, /cart/2 and /fail on 127.0.0.1:PORT with requests
        (traced by the agent's requests plugin), then waits for the agent to report; prints OK
"""
import http.server
import sys
import time

from skywalking import agent, config


def start(name, collector, protocol):
    config.init(
        agent_collector_backend_services=collector,
        agent_protocol=protocol,
        agent_name=name,
        agent_instance_name=name + "-1",
        agent_log_reporter_active=False,
        agent_meter_reporter_active=False,
        agent_profile_active=False,
    )
    agent.start()


class Cart(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 500 if self.path.startswith("/fail") else 200
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def main():
    role, port, collector = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    protocol, suffix = sys.argv[4], sys.argv[5]
    if role == "serve":
        start("cart" + suffix, collector, protocol)
        http.server.HTTPServer(("127.0.0.1", port), Cart).serve_forever()
        return
    start("shop" + suffix, collector, protocol)
    import requests  # after the agent: its plugin wraps the module

    for path, want in [("/cart/1", 200), ("/cart/2", 200), ("/fail", 500)]:
        got = requests.get(f"http://127.0.0.1:{port}{path}", timeout=10).status_code
        assert got == want, (path, got)
    # The agent reports from its own thread: give it time.
    time.sleep(3)
    print("OK")


if __name__ == "__main__":
    main()
