#!/usr/bin/env python3
"""A RocketMQ name server and broker in one process, enough for a client's producer and push
consumer: the name server answers GET_ROUTEINFO_BY_TOPIC (one broker, 2 queues; an unknown
topic for names starting with `missing`); the broker answers HEART_BEAT, SEND_MESSAGE(_V2)
(stored; a body `reject` is refused with SYSTEM_BUSY), GET_CONSUMER_LIST_BY_GROUP,
QUERY_CONSUMER_OFFSET, PULL_MESSAGE (the queue's stored messages in the store format, else
PULL_NOT_FOUND after a short hold), UPDATE_CONSUMER_OFFSET, UNREGISTER_CLIENT. Headers are
JSON, as RocketMQ's own brokers write them by default. RocketMQ has no Debian package and its
broker needs Java; the client that talks to this is Alibaba's ali-ons (npm `rocketmq`).

Usage: rocketmq_broker.py ADDRESS NAMESRV_PORT BROKER_PORT [LOG]: LOG gets a line for each
request received ("recv CODE OPAQUE") and each response sent ("sent CODE OPAQUE").
"""

import json
import socket
import struct
import sys
import threading
import time

SUCCESS, SYSTEM_BUSY, TOPIC_NOT_EXIST, PULL_NOT_FOUND = 0, 2, 17, 19
V4_9_4 = 401

lock = threading.Lock()
queues = {}  # (topic, queue id) -> [(properties, body)]
clients = []  # client ids from heartbeats: a consumer group's members
log_file = [None]


def log(line):
    if log_file[0] is not None:
        with lock:
            log_file[0].write(line + "\n")
            log_file[0].flush()


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def respond(conn, opaque, code, ext=None, remark=None, body=b""):
    header = {"code": code, "extFields": ext or {}, "flag": 1, "language": "JAVA",
              "opaque": opaque, "serializeTypeCurrentRPC": "JSON", "version": V4_9_4}
    if remark is not None:
        header["remark"] = remark
    h = json.dumps(header, separators=(",", ":")).encode()
    conn.sendall(struct.pack(">II", 4 + len(h) + len(body), len(h)) + h + body)
    log("sent %d %d" % (code, opaque))


def stored(topic, queue_id, offset, properties, body):
    """One message in the broker's store format (version 1 magic, IPv4 hosts)."""
    topic_b = topic.encode()
    props = properties.encode()
    rest = struct.pack(">iiiqqiq", 0, queue_id, 0, offset, 4096 + offset, 0,
                       int(time.time() * 1000))
    rest += bytes([127, 0, 0, 1]) + struct.pack(">i", 40000)
    rest += struct.pack(">q", int(time.time() * 1000))
    rest += bytes([127, 0, 0, 1]) + struct.pack(">i", 10911)
    rest += struct.pack(">iq", 0, 0)
    rest += struct.pack(">i", len(body)) + body
    rest += bytes([len(topic_b)]) + topic_b + struct.pack(">h", len(props)) + props
    total = 8 + len(rest)
    return struct.pack(">iI", total, 0xDAA320A7) + rest


def serve(conn, broker_addr, is_namesrv):
    try:
        while True:
            length, word = struct.unpack(">II", read_exact(conn, 8))
            hlen = word & 0xFFFFFF
            header = json.loads(read_exact(conn, hlen))
            body = read_exact(conn, length - 4 - hlen)
            code, opaque = header["code"], header["opaque"]
            ext = header.get("extFields") or {}
            log("recv %d %d" % (code, opaque))
            oneway = header.get("flag", 0) & 2
            if is_namesrv and code == 105:
                topic = ext.get("topic", "")
                if topic.startswith("missing"):
                    respond(conn, opaque, TOPIC_NOT_EXIST,
                            remark="No topic route info in name server for the topic: " + topic)
                    continue
                route = {"brokerDatas": [{"brokerAddrs": {"0": broker_addr},
                                          "brokerName": "broker-a", "cluster": "DefaultCluster"}],
                         "queueDatas": [{"brokerName": "broker-a", "perm": 6, "readQueueNums": 2,
                                         "topicSynFlag": 0, "writeQueueNums": 2}]}
                respond(conn, opaque, SUCCESS, body=json.dumps(route).encode())
            elif code in (10, 310):
                topic = ext.get("b", ext.get("topic"))
                queue_id = int(ext.get("e", ext.get("queueId", 0)))
                properties = ext.get("i", ext.get("properties", ""))
                if body == b"reject":
                    respond(conn, opaque, SYSTEM_BUSY,
                            remark="[REJECTREQUEST]system busy, start flow control for a while")
                    continue
                with lock:
                    q = queues.setdefault((topic, queue_id), [])
                    q.append((properties, body))
                    offset = len(q) - 1
                respond(conn, opaque, SUCCESS,
                        {"msgId": "7F00000100002A9F%016X" % (4096 + offset),
                         "queueId": str(queue_id), "queueOffset": str(offset)})
            elif code == 34:
                client = json.loads(body or b"{}").get("clientID")
                with lock:
                    if client and client not in clients:
                        clients.append(client)
                respond(conn, opaque, SUCCESS)
            elif code == 38:
                with lock:
                    members = list(clients)
                respond(conn, opaque, SUCCESS,
                        body=json.dumps({"consumerIdList": members}).encode())
            elif code == 14:
                respond(conn, opaque, SUCCESS, {"offset": "0"})
            elif code == 11:
                topic, queue_id = ext.get("topic"), int(ext.get("queueId", 0))
                offset = int(ext.get("queueOffset", 0))
                with lock:
                    q = list(queues.get((topic, queue_id), []))
                if offset < len(q):
                    msgs = b"".join(stored(topic, queue_id, i, p, b)
                                    for i, (p, b) in enumerate(q) if i >= offset)
                    respond(conn, opaque, SUCCESS,
                            {"nextBeginOffset": str(len(q)), "minOffset": "0",
                             "maxOffset": str(len(q)), "suggestWhichBrokerId": "0"},
                            remark="FOUND", body=msgs)
                else:
                    time.sleep(0.2)
                    respond(conn, opaque, PULL_NOT_FOUND,
                            {"nextBeginOffset": str(offset), "minOffset": "0",
                             "maxOffset": str(len(q)), "suggestWhichBrokerId": "0"},
                            remark="No new message")
            elif oneway:
                continue
            else:
                # HEART_BEAT, UPDATE_CONSUMER_OFFSET, UNREGISTER_CLIENT, ...
                respond(conn, opaque, SUCCESS)
    except (EOFError, ConnectionError, OSError, ValueError):
        pass
    finally:
        conn.close()


def listen(address, port, broker_addr, is_namesrv):
    srv = socket.socket(socket.AF_INET)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, port))
    srv.listen(16)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, broker_addr, is_namesrv), daemon=True).start()


def main():
    address, namesrv, broker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if len(sys.argv) > 4:
        log_file[0] = open(sys.argv[4], "w")
    broker_addr = "%s:%d" % (address, broker)
    threading.Thread(target=listen, args=(address, broker, broker_addr, False),
                     daemon=True).start()
    listen(address, namesrv, broker_addr, True)


if __name__ == "__main__":
    main()
