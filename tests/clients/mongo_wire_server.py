"""A MongoDB wire-protocol responder for tests/live_mongo.rs (MongoDB has no Debian package).

It answers the real driver (Debian's pymongo, tests/clients/mongo_client.py) over TCP on
HOST:PORT with documents encoded by pymongo's own `bson`: the legacy OP_QUERY handshake with
OP_REPLY, then OP_MSG commands (body and document-sequence sections) with OP_MSG replies. A driver
that asks for compression in its handshake gets the first of its compressors offered here (zlib,
snappy when python3-snappy is installed, zstd when python3-zstandard is); its OP_COMPRESSED
messages are decompressed with Python's zlib / python-snappy / zstandard and answered compressed
the same way. It keeps
collections in memory, so finds return what was inserted, a second insert of an `_id` gets the
server's duplicate-key write error, unknown commands get CommandNotFound, and moreToCome writes get
no reply. Single-threaded per connection; stops when killed.
"""
import socketserver
import struct
import sys
import zlib
import bson

OP_REPLY, OP_QUERY, OP_COMPRESSED, OP_MSG = 1, 2004, 2012, 2013
# Compressor ids (MongoDB's wire protocol) and their codecs here.
CODECS = {2: ("zlib", zlib.compress, zlib.decompress)}
try:
    import snappy

    CODECS[1] = ("snappy", snappy.compress, snappy.uncompress)
except ImportError:
    pass
try:
    import zstandard

    CODECS[3] = (
        "zstd",
        lambda b: zstandard.ZstdCompressor().compress(b),
        lambda b: zstandard.ZstdDecompressor().decompress(b),
    )
except ImportError:
    pass
MORE_TO_COME = 2

host, port = sys.argv[1], int(sys.argv[2])
collections = {}
next_id = [1000]


def hello(asked=()):
    offered = [c for c in asked if c in {name for name, _, _ in CODECS.values()}]
    return {
        "ismaster": True,
        "maxBsonObjectSize": 16 * 1024 * 1024,
        "maxMessageSizeBytes": 48000000,
        "maxWriteBatchSize": 100000,
        "localTime": bson.datetime.datetime.now(bson.tz_util.utc),
        "logicalSessionTimeoutMinutes": 30,
        "connectionId": 1,
        "minWireVersion": 0,
        "maxWireVersion": 8,
        "readOnly": False,
        **({"compression": offered} if offered else {}),
        "ok": 1.0,
    }


def matches(doc, flt):
    return all(doc.get(k) == v for k, v in flt.items())


def command(body, docs):
    """The reply document to command `body` (`docs`: its document-sequence section)."""
    name = next(iter(body))
    db = body.get("$db", "admin")
    coll = body.get(name)
    ns = f"{db}.{coll}"
    if name.lower() in ("ismaster", "hello"):
        return hello(body.get("compression", ()))
    if name in ("ping", "endSessions"):
        return {"ok": 1.0}
    if name == "insert":
        store = collections.setdefault(ns, {})
        errors, n = [], 0
        for i, d in enumerate(body.get("documents", []) + docs.get("documents", [])):
            if d["_id"] in store:
                errors.append({
                    "index": i,
                    "code": 11000,
                    "errmsg": f"E11000 duplicate key error collection: {ns} index: _id_ dup key",
                })
            else:
                store[d["_id"]] = d
                n += 1
        reply = {"n": n, "ok": 1.0}
        if errors:
            reply["writeErrors"] = errors
        return reply
    if name == "find":
        found = [d for d in collections.get(ns, {}).values() if matches(d, body.get("filter", {}))]
        return {"cursor": {"firstBatch": found, "id": 0, "ns": ns}, "ok": 1.0}
    if name == "update":
        store = collections.get(ns, {})
        n = 0
        for u in body.get("updates", []) + docs.get("updates", []):
            for d in store.values():
                if matches(d, u["q"]):
                    d.update(u["u"].get("$set", {}))
                    n += 1
        return {"n": n, "nModified": n, "ok": 1.0}
    if name == "delete":
        store = collections.get(ns, {})
        n = 0
        for q in body.get("deletes", []) + docs.get("deletes", []):
            for k in [k for k, d in store.items() if matches(d, q["q"])]:
                del store[k]
                n += 1
        return {"n": n, "ok": 1.0}
    return {
        "ok": 0.0,
        "errmsg": f"no such command: '{name}'",
        "code": 59,
        "codeName": "CommandNotFound",
    }


def message(request_id, opcode, body):
    next_id[0] += 1
    return struct.pack("<iiii", 16 + len(body), next_id[0], request_id, opcode) + body


class Connection(socketserver.BaseRequestHandler):
    def read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.request.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def send(self, request_id, opcode, body, codec):
        """A reply, compressed with the request's compressor (`codec`: its id, or None)."""
        if codec is not None:
            packed = CODECS[codec][1](body)
            body = struct.pack("<iiB", opcode, len(body), codec) + packed
            opcode = OP_COMPRESSED
        self.request.sendall(message(request_id, opcode, body))

    def handle(self):
        try:
            while True:
                length, request_id, _, opcode = struct.unpack("<iiii", self.read(16))
                rest = self.read(length - 16)
                codec = None
                if opcode == OP_COMPRESSED:
                    opcode, size, codec = struct.unpack_from("<iiB", rest)
                    rest = CODECS[codec][2](rest[9:])
                    assert len(rest) == size, (len(rest), size)
                if opcode == OP_QUERY:
                    at = rest.index(b"\0", 4) + 1 + 8
                    query = bson.decode(rest[at:at + struct.unpack_from("<i", rest, at)[0]])
                    reply = bson.encode(command(query, {}))
                    header = struct.pack("<iqii", 0, 0, 0, 1)
                    self.send(request_id, OP_REPLY, header + reply, codec)
                elif opcode == OP_MSG:
                    flags = struct.unpack_from("<I", rest)[0]
                    at, body, docs = 4, None, {}
                    while at < len(rest):
                        kind = rest[at]
                        size = struct.unpack_from("<i", rest, at + 1)[0]
                        if kind == 0:
                            body = bson.decode(rest[at + 1:at + 1 + size])
                        else:
                            section = rest[at + 5:at + 1 + size]
                            name, _, seq = section.partition(b"\0")
                            docs[name.decode()] = bson.decode_all(seq)
                        at += 1 + size
                    reply = command(body, docs)
                    if not flags & MORE_TO_COME:
                        out = struct.pack("<IB", 0, 0) + bson.encode(reply)
                        self.send(request_id, OP_MSG, out, codec)
        except (EOFError, ConnectionError):
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


Server((host, port), Connection).serve_forever()
