#!/usr/bin/env python3
"""A Pulsar broker's side of the binary protocol, enough for one client's producers and
consumers: CONNECT, PARTITIONED_METADATA, LOOKUP (answered as a Pulsar proxy answers: connect
through the service URL to a named broker, so the client's next CONNECT carries
proxy_to_broker_url), PRODUCER (refused on topics named
`forbidden`), SEND (stored, answered with SEND_RECEIPT), SUBSCRIBE, FLOW (the topic's stored
messages pushed as MESSAGE frames, byte for byte as sent: metadata, checksum and payload),
ACK (ACK_RESPONSE when it asks for one), CLOSE_PRODUCER, CLOSE_CONSUMER, UNSUBSCRIBE, PING.
Pulsar has no Debian package and its broker needs Java, ZooKeeper and BookKeeper; the client
that talks to this is Apache's own (the pulsar-client wheel, its C++ library).

Usage: pulsar_broker.py ADDRESS PORT [LOG]: LOG gets a line for each command received
("recv NAME") and sent ("sent NAME"), the test's count of what went over the wire.
"""

import socket
import struct
import sys
import threading

CONNECT, CONNECTED, SUBSCRIBE, PRODUCER, SEND, SEND_RECEIPT = 2, 3, 4, 5, 6, 7
MESSAGE, ACK, FLOW, UNSUBSCRIBE, SUCCESS, ERROR = 9, 10, 11, 12, 13, 14
CLOSE_PRODUCER, CLOSE_CONSUMER, PRODUCER_SUCCESS, PING, PONG = 15, 16, 17, 18, 19
PARTITIONED_METADATA, PARTITIONED_METADATA_RESPONSE, LOOKUP, LOOKUP_RESPONSE = 21, 22, 23, 24
ACK_RESPONSE = 38
AUTHORIZATION_ERROR = 4
# The broker a lookup names (reached through this "proxy").
BROKER_URL = "pulsar://broker-0.pulsar.internal:6650"
LEDGER = 9

NAMES = {CONNECT: "CONNECT", CONNECTED: "CONNECTED", SUBSCRIBE: "SUBSCRIBE",
         PRODUCER: "PRODUCER", SEND: "SEND", SEND_RECEIPT: "SEND_RECEIPT", MESSAGE: "MESSAGE",
         ACK: "ACK", FLOW: "FLOW", UNSUBSCRIBE: "UNSUBSCRIBE", SUCCESS: "SUCCESS",
         ERROR: "ERROR", CLOSE_PRODUCER: "CLOSE_PRODUCER", CLOSE_CONSUMER: "CLOSE_CONSUMER",
         PRODUCER_SUCCESS: "PRODUCER_SUCCESS", PING: "PING", PONG: "PONG",
         PARTITIONED_METADATA: "PARTITIONED_METADATA",
         PARTITIONED_METADATA_RESPONSE: "PARTITIONED_METADATA_RESPONSE", LOOKUP: "LOOKUP",
         LOOKUP_RESPONSE: "LOOKUP_RESPONSE", ACK_RESPONSE: "ACK_RESPONSE"}

lock = threading.Lock()
log_file = [None]


def log(direction, kind):
    if log_file[0] is not None:
        with lock:
            log_file[0].write("%s %s\n" % (direction, NAMES.get(kind, str(kind))))
            log_file[0].flush()
topics = {}  # topic -> [(entry, bytes after the command)]
next_entry = [0]


def varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_int(n, v):
    return varint(n << 3) + varint(v)


def field_bytes(n, b):
    if isinstance(b, str):
        b = b.encode()
    return varint((n << 3) | 2) + varint(len(b)) + b


def parse(buf):
    """Fields of a protobuf message: number -> [values] (ints or bytes)."""
    out, i = {}, 0
    while i < len(buf):
        key, shift = 0, 0
        while True:
            b = buf[i]
            i += 1
            key |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        n, wire = key >> 3, key & 7
        if wire == 0:
            v, shift = 0, 0
            while True:
                b = buf[i]
                i += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
        elif wire == 2:
            ln, shift = 0, 0
            while True:
                b = buf[i]
                i += 1
                ln |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            v = buf[i:i + ln]
            i += ln
        elif wire == 1:
            v = buf[i:i + 8]
            i += 8
        elif wire == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError("wire type %d" % wire)
        out.setdefault(n, []).append(v)
    return out


def frame(kind, body, extra=b""):
    log("sent", kind)
    cmd = field_int(1, kind) + field_bytes(kind, body)
    return struct.pack(">II", 4 + len(cmd) + len(extra), len(cmd)) + cmd + extra


def message_id(entry):
    return field_int(1, LEDGER) + field_int(2, entry)


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def serve(conn, url):
    producers, consumers = {}, {}
    producer_names = [0]
    try:
        while True:
            total, cmd_size = struct.unpack(">II", read_exact(conn, 8))
            cmd = read_exact(conn, cmd_size)
            extra = read_exact(conn, total - 4 - cmd_size)
            base = parse(cmd)
            kind = base[1][0]
            log("recv", kind)
            body = parse(base.get(kind, [b""])[0])
            one = lambda n, d=0: body.get(n, [d])[0]
            out = b""
            if kind == CONNECT:
                version = min(one(4), 19)
                out = frame(CONNECTED, field_bytes(1, "tapflow-test-broker")
                            + field_int(2, version) + field_int(3, 5 * 1024 * 1024))
            elif kind == PARTITIONED_METADATA:
                out = frame(PARTITIONED_METADATA_RESPONSE,
                            field_int(1, 0) + field_int(2, one(2)) + field_int(3, 0))
            elif kind == LOOKUP:
                # As a Pulsar proxy answers: connect through the service URL, naming the
                # broker (the client's next CONNECT carries proxy_to_broker_url).
                out = frame(LOOKUP_RESPONSE, field_bytes(1, BROKER_URL) + field_int(3, 1)
                            + field_int(4, one(2)) + field_int(5, 1) + field_int(8, 1))
            elif kind == PRODUCER:
                topic, pid, rid = one(1).decode(), one(2), one(3)
                if "forbidden" in topic:
                    out = frame(ERROR, field_int(1, rid) + field_int(2, AUTHORIZATION_ERROR)
                                + field_bytes(3, "not authorized on " + topic))
                else:
                    producers[pid] = topic
                    producer_names[0] += 1
                    name = "tapflow-test-%d" % producer_names[0]
                    out = frame(PRODUCER_SUCCESS, field_int(1, rid) + field_bytes(2, name)
                                + field_int(3, -1))
            elif kind == SEND:
                pid, seq = one(1), one(2)
                with lock:
                    entry = next_entry[0]
                    next_entry[0] += 1
                    topics.setdefault(producers.get(pid, ""), []).append((entry, extra))
                out = frame(SEND_RECEIPT, field_int(1, pid) + field_int(2, seq)
                            + field_bytes(3, message_id(entry)))
            elif kind == SUBSCRIBE:
                consumers[one(4)] = [one(1).decode(), 0]
                out = frame(SUCCESS, field_int(1, one(5)))
            elif kind == FLOW:
                cid = one(1)
                topic, sent = consumers.get(cid, ["", 0])
                with lock:
                    stored = list(topics.get(topic, []))[sent:sent + one(2)]
                for entry, msg in stored:
                    out += frame(MESSAGE, field_int(1, cid) + field_bytes(2, message_id(entry)),
                                 msg)
                if cid in consumers:
                    consumers[cid][1] += len(stored)
            elif kind == ACK:
                if 8 in body:
                    out = frame(ACK_RESPONSE, field_int(1, one(1)) + field_int(6, one(8)))
            elif kind in (CLOSE_PRODUCER, CLOSE_CONSUMER, UNSUBSCRIBE):
                out = frame(SUCCESS, field_int(1, one(2)))
            elif kind == PING:
                out = frame(PONG, b"")
            if out:
                conn.sendall(out)
    except (EOFError, ConnectionError, OSError):
        pass
    finally:
        conn.close()


def main():
    address, port = sys.argv[1], int(sys.argv[2])
    if len(sys.argv) > 3:
        log_file[0] = open(sys.argv[3], "w")
    url = "pulsar://%s:%d" % (address, port)
    srv = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, port))
    srv.listen(16)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, url), daemon=True).start()


if __name__ == "__main__":
    main()
