#!/usr/bin/env python3
"""SOFA Bolt peers for tests/live_sofarpc.rs: anthunder (Ant Group's sofa-bolt-python, PyPI) as
both server and client, over Bolt v1 with the SOFARPC headers anthunder writes.

    sofa_peer.py serve IP PORT   an AioListener serving `com.example.Greeter:1.0` (`hello`
                                 answers "hello, " + the request)
    sofa_peer.py client IP PORT  3 `hello` calls (checks each answer; the third also carries
                                 SOFARPC 5's `new_rpc_trace_context` with span 0.1 of parent
                                 0), one call to an unknown service (the listener answers
                                 NO_PROCESSOR, 6), one call with no method name
                                 (CLIENT_SEND_ERROR, 8); prints the trace id each call sent
                                 (`TRACE id`), then OK
"""
import logging
import sys

from anthunder import SERVICE_MAP, Client
from anthunder.exceptions import ServerError
from anthunder.listener.aio_listener import AioListener
from mytracer import SpanContext

SERVICE = "com.example.Greeter:1.0"
UNKNOWN = "com.example.Missing:1.0"

logging.basicConfig(level=logging.CRITICAL)


class Greeter(object):
    def __init__(self, ctx):
        self.ctx = ctx

    def hello(self, body):
        return b"hello, " + body


def serve(ip, port):
    listener = AioListener((ip, port), "tapflow-test-server")
    listener.handler.register_interface(SERVICE, Greeter)
    listener.run_forever()


def traced():
    ctx = SpanContext()
    print("TRACE %s" % ctx.baggage["sofaTraceId"])
    return ctx


def expect_error(client, interface, method):
    try:
        client.invoke_sync(interface, method, b"x", timeout_ms=3000, spanctx=traced())
    except ServerError:
        return
    raise AssertionError("%s.%s answered" % (interface, method))


def client(ip, port):
    for s in (SERVICE, UNKNOWN):
        SERVICE_MAP[s] = (ip, port)
    c = Client("tapflow-test-client")
    for i in range(3):
        ctx = traced()
        extra = {}
        if i == 2:
            extra["new_rpc_trace_context"] = "tcid=%s&spid=0.1&pspid=0&sample=true&" % (
                ctx.baggage["sofaTraceId"])
        got = c.invoke_sync(SERVICE, "hello", b"world %d" % i, timeout_ms=3000,
                            spanctx=ctx, **extra)
        assert got == b"hello, world %d" % i, got
    expect_error(c, UNKNOWN, "hello")
    expect_error(c, SERVICE, "")
    print("OK")


if __name__ == "__main__":
    role, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    {"serve": serve, "client": client}[role](ip, port)
