#!/usr/bin/env python3
"""OpenTelemetry's Python SDK exporting spans over OTLP/HTTP (protobuf, gzip), or over OTLP/gRPC
(gzip) when URL is grpc://HOST:PORT, to a tapflow integration collector, for
tests/integration_collector.rs and tests/integration_sources.rs.

    otel_spans.py URL SERVICE N

Makes N traces in the service SERVICE: each a server span "GET /cart/<i>" (HTTP attributes;
every third answered 500 and marked as an error) with a client child span "SELECT cart"
(db.system mysql). Exports them through the SDK's OTLPSpanExporter and prints one JSON line per
trace: {"trace_id": hex, "server_span_id": hex, "client_span_id": hex, "error": bool}. Exits 1
if an export failed.
"""
import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

url, service, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if url.startswith("grpc://"):
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    def exporter(cls):
        return cls(endpoint=url[len("grpc://"):], insecure=True, compression=grpc.Compression.Gzip, timeout=5)
else:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    def exporter(cls):
        return cls(endpoint=url, compression=Compression.Gzip, timeout=5)


class Checked(OTLPSpanExporter):
    """The SDK's exporter, remembering whether every export succeeded."""

    failed = 0

    def export(self, spans):
        r = super().export(spans)
        if r != SpanExportResult.SUCCESS:
            Checked.failed += 1
        return r


provider = TracerProvider(resource=Resource.create({"service.name": service, "service.instance.id": "i-1"}))
provider.add_span_processor(SimpleSpanProcessor(exporter(Checked)))
tracer = provider.get_tracer("tapflow-test")
for i in range(n):
    error = i % 3 == 0
    with tracer.start_as_current_span(f"GET /cart/{i}", kind=SpanKind.SERVER) as server:
        server.set_attribute("http.method", "GET")
        server.set_attribute("http.target", f"/cart/{i}")
        server.set_attribute("http.status_code", 500 if error else 200)
        with tracer.start_as_current_span("SELECT cart", kind=SpanKind.CLIENT) as client:
            client.set_attribute("db.system", "mysql")
            client.set_attribute("net.peer.ip", "10.0.0.5")
        if error:
            server.set_status(Status(StatusCode.ERROR, "cart failed"))
        ctx = server.get_span_context()
        print(json.dumps({
            "trace_id": format(ctx.trace_id, "032x"),
            "server_span_id": format(ctx.span_id, "016x"),
            "client_span_id": format(client.get_span_context().span_id, "016x"),
            "error": error,
        }), flush=True)
provider.shutdown()
sys.exit(1 if Checked.failed else 0)
