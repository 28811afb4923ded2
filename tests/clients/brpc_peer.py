#!/usr/bin/env python3
"""Apache bRPC peers for tests/live_brpc.rs: PaddlePaddle's RPC (`paddle.distributed.rpc`), whose
workers call each other through Apache bRPC (compiled into Paddle) in its default protocol,
baidu_std.

    brpc_peer.py serve SERVER_IP PORT MASTER_PORT
        worker "server" (rank 0): Paddle's master store on MASTER_PORT, its bRPC server on PORT;
        serves until the client shuts the workers down
    brpc_peer.py client SERVER_IP CLIENT_IP PORT MASTER_PORT
        worker "client" (rank 1): 3 rpc_sync calls of add, 4 rpc_async calls of nap at once
        (the shorter naps answered first), then
        baidu_std calls written on a socket to the server's bRPC port (each with a log_id and a
        traceparent user field): one to a service it lacks (ENOMETHOD, 1002) and one whose
        request does not parse (EREQUEST, 1003); checks the codes; prints OK
"""
import os
import socket
import struct
import sys
import time

import paddle.distributed.rpc as rpc

SERVICE = b"paddle.distributed.RpcBaseService"
TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def add(a, b):
    return a + b


def nap(seconds):
    time.sleep(seconds)
    return seconds


def varint(v):
    out = b""
    v &= (1 << 64) - 1
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def field(n, wire, value):
    if wire == 0:
        return varint(n << 3) + varint(value)
    return varint(n << 3 | 2) + varint(len(value)) + value


def fields(b):
    """(number, value) of a protobuf message's varint and length-delimited fields."""
    at = 0
    while at < len(b):
        key, at = read_varint(b, at)
        if key & 7 == 0:
            v, at = read_varint(b, at)
        else:
            n, at = read_varint(b, at)
            v, at = b[at:at + n], at + n
        yield key >> 3, v


def read_varint(b, at):
    v = shift = 0
    while True:
        c = b[at]
        at += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, at


def raw_call(sock, service, method, correlation_id, log_id, payload=b""):
    request = field(1, 2, service) + field(2, 2, method) + field(3, 0, log_id)
    user = field(1, 2, b"traceparent") + field(2, 2, TRACEPARENT)
    meta = field(1, 2, request) + field(4, 0, correlation_id) + field(9, 2, user)
    sock.sendall(b"PRPC" + struct.pack(">II", len(meta) + len(payload), len(meta)) + meta + payload)
    head = recv_exactly(sock, 12)
    assert head[:4] == b"PRPC", head
    body, meta_size = struct.unpack(">II", head[4:])
    body = recv_exactly(sock, body)
    got = dict(fields(body[:meta_size]))
    response = dict(fields(got[2]))
    assert got[4] == correlation_id, got
    code = response.get(1, 0)
    return code - (1 << 64) if code >= 1 << 63 else code, response.get(2, b"")


def recv_exactly(sock, n):
    b = b""
    while len(b) < n:
        chunk = sock.recv(n - len(b))
        if not chunk:
            raise EOFError("connection closed")
        b += chunk
    return b


def main():
    role = sys.argv[1]
    if role == "serve":
        ip, port, master = sys.argv[2], sys.argv[3], sys.argv[4]
        os.environ["PADDLE_WORKER_ENDPOINT"] = f"{ip}:{port}"
        rpc.init_rpc("server", rank=0, world_size=2, master_endpoint=f"{ip}:{master}")
        rpc.shutdown()
        return
    server_ip, client_ip, port, master = sys.argv[2:6]
    os.environ["PADDLE_WORKER_ENDPOINT"] = f"{client_ip}:{int(port) + 1}"
    rpc.init_rpc("client", rank=1, world_size=2, master_endpoint=f"{server_ip}:{master}")
    for i in range(3):
        assert rpc.rpc_sync("server", add, args=(i, 2)) == i + 2
    futures = [rpc.rpc_async("server", nap, args=(s,)) for s in (0.8, 0.6, 0.4, 0.2)]
    assert [f.wait() for f in futures] == [0.8, 0.6, 0.4, 0.2]
    with socket.create_connection((server_ip, int(port)), timeout=10) as sock:
        code, text = raw_call(sock, b"example.NoSuchService", b"Echo", 1 << 32 | 7, 4242)
        assert code == 1002 and b"Fail to find method" in text, (code, text)
        code, text = raw_call(sock, SERVICE, b"InvokeRpc", 2 << 32 | 7, 4343, b"\xff\xff")
        assert code == 1003, (code, text)
    rpc.shutdown()
    print("OK")


if __name__ == "__main__":
    main()
