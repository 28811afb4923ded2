#!/usr/bin/env bash
# Seed corpora for the fuzz targets (fuzz/corpus/TARGET), from the generator's captures in every
# encapsulation and, when present, the shared real captures (../../shared/pcaps): frames one per
# file, small capture files whole, TCP/UDP conversations of the L7 captures in the l7 target's
# format, RFC 7541's header blocks, and config snippets. Needs python3 and a built tapflow.
set -euo pipefail
cd "$(dirname "$0")"
TAPFLOW="${TAPFLOW:-$PWD/../target/debug/tapflow}"
PCAPS="${PCAPS:-../../shared/pcaps}"
mkdir -p corpus/{frame,pcap,l7,hpack,config,grpc,ingest,trace,otel_wire,profile,app_log} work
# OTLP trace bodies (OpenTelemetry's own protobuf classes, when its Python package is there),
# each behind the two bytes that choose the largest piece.
/usr/bin/python3 - <<'PY' || echo "otel_wire: no opentelemetry-proto; seeds skipped" >&2
import hashlib, struct
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.proto.common.v1 import common_pb2
def kv(k, v):
    return common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v))
for i, host in enumerate([None, "10.0.0.1"]):
    d = trace_pb2.TracesData()
    for n in range(3):
        rs = d.resource_spans.add()
        rs.resource.attributes.append(kv("service.name", f"svc{n}"))
        if host:
            rs.resource.attributes.append(kv("app.host.ip", host))
        ss = rs.scope_spans.add()
        ss.scope.name = "seed"
        for j in range(2):
            sp = ss.spans.add(trace_id=bytes(16), span_id=bytes([j + 1] * 8), name=f"GET /{j}", kind=2)
            sp.attributes.append(kv("http.method", "GET"))
            sp.events.add(name="ev", time_unix_nano=5)
            sp.status.code = 2
    for max_ in (0, 200, 65535):
        data = struct.pack("<H", max_) + d.SerializeToString()
        open("corpus/otel_wire/" + hashlib.sha1(data).hexdigest()[:16], "wb").write(data)
PY
# The tracer's ring-buffer events (xdp-prog/include/tapflow_trace.h): an HTTP and a Redis
# exchange seen in the client and the server process, with connect/accept/close; a DNS exchange
# over UDP (protocol byte 17), the server's socket not connected.
python3 - <<'PY'
import hashlib, struct
def ev(kind, direction, tgid, sock, payload=b"", source=0, lport=40000, rport=8080, proto=0):
    hdr = struct.pack("<QQQIIiII4BHHI16s16s16sII", 1000, sock, 7, tgid, tgid + 1, 5,
                      len(payload), len(payload), kind, direction, source, 2, lport, rport, proto,
                      bytes([127, 0, 0, 1]) + bytes(12), bytes([127, 0, 0, 1]) + bytes(12),
                      b"proc", 4026531840, 0)
    assert len(hdr) == 112
    e = hdr + payload
    return struct.pack("<H", len(e)) + e
for name, req, resp in [
    ("http", b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
    ("redis", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"$1\r\nv\r\n"),
]:
    data = ev(2, 0, 100, 0xA0) + ev(3, 0, 200, 0xB0, lport=8080, rport=40000)
    data += ev(1, 0, 100, 0xA0, req) + ev(1, 1, 200, 0xB0, req, lport=8080, rport=40000)
    data += ev(1, 0, 200, 0xB0, resp, lport=8080, rport=40000) + ev(1, 1, 100, 0xA0, resp)
    data += ev(1, 0, 100, 0xA0, req, source=1) + ev(4, 0, 100, 0xA0)
    open("corpus/trace/" + hashlib.sha1(data).hexdigest()[:16], "wb").write(data)
q = bytes.fromhex("123401000001000000000000") + b"\x01a\x07example\x00" + bytes.fromhex("00010001")
a = bytes.fromhex("123481800001000100000000") + q[12:] + bytes.fromhex("c00c000100010000003c0004c0000201")
data = ev(2, 0, 100, 0xA0, lport=41000, rport=53, proto=17)
data += ev(1, 0, 100, 0xA0, q, lport=41000, rport=53, proto=17)
data += ev(1, 1, 200, 0xB0, q, lport=53, rport=41000, proto=17)
data += ev(1, 0, 200, 0xB0, a, lport=53, rport=41000, proto=17)
data += ev(1, 1, 100, 0xA0, a, lport=41000, rport=53, proto=17)
data += ev(4, 0, 200, 0xB0, lport=53, rport=0, proto=17)
open("corpus/trace/" + hashlib.sha1(data).hexdigest()[:16], "wb").write(data)
PY
"$TAPFLOW" gen -o work --name gen --flows 60 --encap all --scenarios all >/dev/null
# The ingester's input: what the sender writes for a small capture, read by a plain listener.
python3 - "$TAPFLOW" <<'PY'
import os, socket, subprocess, sys, threading, hashlib
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
port = l.getsockname()[1]; got = []
def take():
    c, _ = l.accept(); data = b""
    while True:
        b = c.recv(65536)
        if not b: break
        data += b
    got.append(data)
t = threading.Thread(target=take); t.start()
subprocess.run([sys.argv[1], "analyze", "-q", "--out", "work/ingest-out", "--ingester", f"127.0.0.1:{port}",
                "--agent-id", "3", "work/gen_none.pcap"], check=True)
t.join(30)
data = got[0] if got else b""
at = 0
while at + 19 <= len(data):
    size = int.from_bytes(data[at:at+4], "big")
    frame = data[at:at+size]
    open("corpus/ingest/" + hashlib.sha1(frame).hexdigest()[:16], "wb").write(frame)
    at += size
# An application-log frame (type 17): a JSON array of entries as Vector posts them.
logs = (b'[{"message":"GET / 200","timestamp":"2026-12-08T01:00:00.5Z","level":"info",'
        b'"app_service":"web","json":{"status":200},"kubernetes":{"pod_name":"w","pod_ip":"10.0.0.1"}},'
        b'{"message":"x","timestamp":"2026-12-08T09:00:00+08:00","_df_log_type":"audit"}]')
body = len(logs).to_bytes(4, "little") + logs
frame = (19 + len(body)).to_bytes(4, "big") + bytes([17]) + (0x8000).to_bytes(2, "little") + bytes(12) + body
open("corpus/ingest/" + hashlib.sha1(frame).hexdigest()[:16], "wb").write(frame)
# The same entries as a body posted to the collector (two bytes: the largest message).
for cut in (b"\x00\x02", b"\x40\x00"):
    open("corpus/app_log/" + hashlib.sha1(cut + logs).hexdigest()[:16], "wb").write(cut + logs)
one = b'\x00\x01{"message":"m","timestamp":"2026-12-08T01:00:00Z","json":{"a":[1,{"b":"]"}]}}'
# A SkyWalking segment (the Python agent's JSON) for the otel_wire target's SkyWalking reading.
sw = (b'\x00\x10{"traceId":"ead8a282f2a911f1b1ce02fc00000001","traceSegmentId":"s1","service":"shop",'
      b'"serviceInstance":"shop-1","spans":[{"spanId":0,"parentSpanId":-1,"startTime":1796694702865,'
      b'"endTime":1796694702883,"operationName":"/cart/1","peer":"127.0.0.1:18099","spanType":"Exit",'
      b'"spanLayer":"Http","componentId":7002,"isError":false,"tags":[{"key":"http.status_code","value":"200"}],'
      b'"refs":[{"refType":0,"parentTraceSegmentId":"s0","parentSpanId":0}]}]}')
import os
os.makedirs("corpus/otel_wire", exist_ok=True)
open("corpus/otel_wire/" + hashlib.sha1(sw).hexdigest()[:16], "wb").write(sw)
# The same segment as SkyWalking's gRPC agents send it: a length-prefixed SegmentObject.
def vi(n):
    n &= (1 << 64) - 1
    o = b""
    while n > 127:
        o += bytes([n & 127 | 128]); n >>= 7
    return o + bytes([n])
def fld(n, v):
    return vi(n << 3 | 2) + vi(len(v)) + v if isinstance(v, bytes) else vi(n << 3) + vi(v)
span = (fld(1, 0) + fld(2, -1) + fld(3, 1796694702865) + fld(4, 1796694702883) + fld(6, b"/cart/1")
        + fld(7, b"127.0.0.1:18099") + fld(8, 1) + fld(9, 3) + fld(10, 7002)
        + fld(12, fld(1, b"http.status_code") + fld(2, b"200")))
seg = fld(1, b"ead8a282f2a911f1b1ce02fc00000001") + fld(2, b"s1") + fld(3, span) + fld(4, b"shop") + fld(5, b"shop-1")
g = b"\x00\x10" + b"\x00" + len(seg).to_bytes(4, "big") + seg
open("corpus/otel_wire/" + hashlib.sha1(g).hexdigest()[:16], "wb").write(g)
open("corpus/app_log/" + hashlib.sha1(one).hexdigest()[:16], "wb").write(one)
PY
python3 - "$PCAPS" <<'PY'
import glob, hashlib, os, struct, sys
pcaps = sys.argv[1]
def save(target, data):
    h = hashlib.sha1(data).hexdigest()[:16]
    open(f"corpus/{target}/{h}", "wb").write(data)
def frames(path):
    b = open(path, "rb").read()
    if len(b) < 24: return
    magic = b[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"): e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"): e = ">"
    elif magic == b"\x34\xcd\xb2\xa1": e = "<"
    else: return
    extra = 8 if magic == b"\x34\xcd\xb2\xa1" else 0
    at = 24
    while at + 16 + extra <= len(b):
        _, _, cap, _ = struct.unpack(e + "IIII", b[at:at+16])
        at += 16 + extra
        yield b[at:at+cap]
        at += cap
files = glob.glob("work/*.pcap") + glob.glob(os.path.join(pcaps, "*", "*.pcap"))
for f in files:
    if os.path.getsize(f) <= 65536: save("pcap", open(f, "rb").read())
    for i, fr in enumerate(frames(f)):
        if i < 200: save("frame", fr)
# L7 conversations: payloads of each TCP or UDP flow (at most 64 per capture) of each L7 capture
# and of the generated capture (one flow per scenario: every parser gets a seed), in the l7
# target's format (byte 0: port hint, byte 1: UDP flag, then u16 [bit 15: from server | length]
# + bytes).
for f in sorted(glob.glob(os.path.join(pcaps, "l7", "*.pcap"))) + sorted(glob.glob("work/gen_none.pcap")):
    flows = {}
    for fr in frames(f):
        if len(fr) < 34 or fr[12:14] != b"\x08\x00": continue
        ihl = (fr[14] & 15) * 4; proto = fr[23]; l4 = 14 + ihl
        if proto == 6:
            off = (fr[l4 + 12] >> 4) * 4; payload = fr[l4 + off:]
        elif proto == 17:
            payload = fr[l4 + 8:]
        else: continue
        if not payload: continue
        src, dst = fr[26:30] + fr[l4:l4+2], fr[30:34] + fr[l4+2:l4+4]
        key = (proto,) + tuple(sorted([src, dst]))
        if key not in flows:
            if len(flows) >= 64: continue
            flows[key] = (src, [])
        client, conv = flows[key]
        if len(conv) < 24:
            conv.append(struct.pack(">H", (0 if src == client else 0x8000) | min(len(payload), 0x7fff)) + payload[:0x7fff])
    for (proto, _, _), (_, conv) in flows.items():
        save("l7", bytes([0, int(proto == 17)]) + b"".join(conv))
# HPACK: RFC 7541 C.3 (requests without Huffman) and C.4 (with Huffman), two blocks each.
for hexs in ["00828684410f7777772e6578616d706c652e636f6d", "00828684418cf1e3c2e5f23a6ba0ab90f4ff",
             "0e828684be58086e6f2d6361636865", "11828684be5886a8eb10649cbf"]:
    save("hpack", bytes.fromhex(hexs))
for y in ["global:\n  limits:\n    max_memory: 768\n",
          "processors:\n  request_log:\n    application_protocol_inference:\n      enabled_protocols: [HTTP, Kafka, MQTT]\n",
          "inputs:\n  cbpf:\n    af_packet:\n      interface_regex: eth.*\n",
          "outputs:\n  flow_metrics:\n    tunning:\n      max_keys_per_window: 100\n"]:
    save("config", y.encode())
save("grpc", b"\x00")
PY
# Profiles: the byte choosing the format (pprof, folded, lines, eBPF lines; multipart), then the
# data: a pprof CPU profile (main -> work, a label), collapsed text, a push request holding the
# pprof, an ingest query.
/usr/bin/python3 - <<'PY'
import gzip, hashlib
def v(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def f(num, payload):
    return v(num << 3 | 2) + v(len(payload)) + payload
def i(num, n):
    return v(num << 3) + v(n)
strings = [b"", b"samples", b"count", b"main", b"work", b"region", b"eu"]
pprof = f(1, i(1, 1) + i(2, 2))
pprof += f(2, f(1, v(2) + v(1)) + f(2, v(9)) + f(3, i(1, 5) + i(2, 6)))
for loc, fn in ((1, 1), (2, 2)):
    pprof += f(4, i(1, loc) + f(4, i(1, fn) + i(2, 3)))
for fn, name in ((1, 3), (2, 4)):
    pprof += f(5, i(1, fn) + i(2, name))
for s in strings:
    pprof += f(6, s)
pprof += i(9, 1_700_000_000_000_000_000) + i(10, 10_000_000_000)
push = f(1, f(1, f(1, b"service_name") + f(2, b"shop")) + f(2, f(1, gzip.compress(pprof))))
form = b'--b\r\nContent-Disposition: form-data; name="profile"\r\n\r\n' + pprof + b"\r\n--b--\r\n"
seeds = [b"\x00" + pprof, b"\x00" + gzip.compress(pprof), b"\x01main;work 7\nmain 3\n",
         b"\x02a;b\na\n", b"\x23main;ngx\n", b"\x80" + form, b"\x04" + push,
         b"\x01name=app.cpu%7Ba%3Db%7D&from=1700000000&format=folded&sampleRate=100"]
for s in seeds:
    open("corpus/profile/" + hashlib.sha1(s).hexdigest()[:16], "wb").write(s)
PY
# A Java Flight Recorder recording (the JDK's, of tests/clients/java/Burner.java), when a JDK is
# there: the profile target's format byte 4 (jfr). It is larger than 64 KiB: give the profile
# target a larger -max_len to keep it whole.
if command -v javac >/dev/null && command -v java >/dev/null; then
  javac -d work ../tests/clients/java/Burner.java
  java -XX:StartFlightRecording=filename=work/burner.jfr,settings=../tests/clients/java/profile.jfc \
    -cp work Burner 300 >/dev/null 2>&1
  { printf '\004'; cat work/burner.jfr; } > corpus/profile/jfr-burner
fi
for t in frame pcap l7 hpack config grpc ingest otel_wire profile app_log; do echo "$t: $(ls corpus/$t | wc -l) seeds"; done
