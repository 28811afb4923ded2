"""Kafka through librdkafka on both sides: the confluent-kafka wheel's client, and the mock
cluster librdkafka carries for its own tests (a broker implementing Kafka's protocol: metadata,
produce, fetch, consumer groups, offsets), started through the C API with ctypes. The broker
listens on 127.0.0.1, so the test captures this namespace's loopback.

Producers send three messages each, batched, uncompressed and in every codec (gzip, snappy, lz4,
zstd), each message with a W3C traceparent header whose trace id names its codec and number; one
producer sends with acks=0; one produce is refused (the broker is told to answer the next
Produce with TOPIC_AUTHORIZATION_FAILED). A consumer in a group reads every message back and
commits. The broker's own log of the requests it received (request tracking, by API key) and what
the clients were told are printed as JSON on the last line.

With the argument `cluster`: three brokers and three topics of 24 partitions replicated on every
broker, each topic led by another broker; a producer writes to three partitions of each and a
consumer group reads every topic. A client asks one broker for metadata and fetches from each
partition's leader, so most fetch connections carry no Metadata response of their own; the
Metadata responses (about 1 KB a topic) run past the 1,024 bytes a stream holds for a parser.
"""
import ctypes
import glob
import json
import os
import sys
import time

import confluent_kafka
from confluent_kafka import Consumer, Producer

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
TOPIC = "orders"
DENIED = "ledger"
TOPIC_AUTHORIZATION_FAILED = 29


def librdkafka():
    libs = os.path.join(os.path.dirname(confluent_kafka.__file__), "..", "confluent_kafka.libs")
    lib = ctypes.CDLL(glob.glob(os.path.join(libs, "librdkafka*.so*"))[0])
    p, i, s = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    sigs = {
        "rd_kafka_conf_new": (p, []),
        "rd_kafka_new": (p, [i, p, s, ctypes.c_size_t]),
        "rd_kafka_mock_cluster_new": (p, [p, i]),
        "rd_kafka_mock_cluster_bootstraps": (s, [p]),
        "rd_kafka_mock_topic_create": (i, [p, s, i, i]),
        "rd_kafka_mock_group_initial_rebalance_delay_ms": (None, [p, ctypes.c_int32]),
        "rd_kafka_mock_start_request_tracking": (None, [p]),
        "rd_kafka_mock_push_request_errors_array": (
            None, [p, ctypes.c_int16, ctypes.c_size_t, ctypes.POINTER(i)]),
        "rd_kafka_mock_get_requests": (ctypes.POINTER(p), [p, ctypes.POINTER(ctypes.c_size_t)]),
        "rd_kafka_mock_request_api_key": (ctypes.c_int16, [p]),
        "rd_kafka_mock_partition_set_leader": (i, [p, s, ctypes.c_int32, ctypes.c_int32]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    return lib


def trace(codec_index, n):
    return "%08x%024x" % (0xC0DEC000 + codec_index, n)


def requests_by_key(lib, mc):
    """The broker's count of the requests it handled, by API key, once it stops changing: a
    request on the wire is counted when the broker's thread gets to it."""
    def sample():
        n = ctypes.c_size_t()
        reqs = lib.rd_kafka_mock_get_requests(mc, ctypes.byref(n))
        keys = {}
        for i in range(n.value):
            k = lib.rd_kafka_mock_request_api_key(reqs[i])
            keys[k] = keys.get(k, 0) + 1
        return keys
    keys = sample()
    for _ in range(20):
        time.sleep(0.3)
        now = sample()
        if now == keys:
            break
        keys = now
    return keys


def consume(boot, group, topics, want):
    c = Consumer({"bootstrap.servers": boot, "group.id": group, "client.id": "tapflow-" + group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe(topics)
    got = 0
    for _ in range(200):
        if got >= want:
            break
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        got += 1
    c.commit(asynchronous=False)
    c.close()
    return got


CLUSTER_PARTITIONS = 24
CLUSTER_TOPICS = ["orders", "payments", "audit.events"]


def mock_cluster(brokers):
    """librdkafka, a mock cluster of `brokers` brokers (its handle lives as long as the process)
    and its bootstrap servers."""
    lib = librdkafka()
    err = ctypes.create_string_buffer(512)
    rk = lib.rd_kafka_new(0, lib.rd_kafka_conf_new(), err, len(err))
    assert rk, err.value
    mc = lib.rd_kafka_mock_cluster_new(rk, brokers)
    return lib, mc, lib.rd_kafka_mock_cluster_bootstraps(mc).decode()


def cluster():
    lib, mc, boot = mock_cluster(3)
    for ti, t in enumerate(CLUSTER_TOPICS):
        lib.rd_kafka_mock_topic_create(mc, t.encode(), CLUSTER_PARTITIONS, 3)
        for part in range(CLUSTER_PARTITIONS):
            lib.rd_kafka_mock_partition_set_leader(mc, t.encode(), part, ti + 1)
    lib.rd_kafka_mock_group_initial_rebalance_delay_ms(mc, 0)
    lib.rd_kafka_mock_start_request_tracking(mc)
    p = Producer({"bootstrap.servers": boot, "client.id": "tapflow-cluster", "linger.ms": 20})
    for t in CLUSTER_TOPICS:
        for part in range(3):
            p.produce(t, value=b"event for %s" % t.encode(), partition=part)
    p.flush(10)
    del p
    got = consume(boot, "audit", CLUSTER_TOPICS, 9)
    print(json.dumps({"bootstrap": boot, "requests": requests_by_key(lib, mc),
                      "topics": CLUSTER_TOPICS, "consumed": got}))
    sys.stdout.flush()
    os._exit(0)


def main():
    lib, mc, boot = mock_cluster(1)
    lib.rd_kafka_mock_topic_create(mc, TOPIC.encode(), 2, 1)
    lib.rd_kafka_mock_topic_create(mc, DENIED.encode(), 1, 1)
    lib.rd_kafka_mock_group_initial_rebalance_delay_ms(mc, 0)
    lib.rd_kafka_mock_start_request_tracking(mc)

    delivered = []  # (codec, trace id, partition, offset)
    failures = []

    def report(codec, trace_id):
        def cb(e, msg):
            if e is not None:
                failures.append([codec, e.code(), e.name()])
            else:
                delivered.append([codec, trace_id, msg.partition(), msg.offset()])
        return cb

    for ci, codec in enumerate(CODECS):
        p = Producer({"bootstrap.servers": boot, "client.id": "tapflow-" + codec,
                      "compression.type": codec, "linger.ms": 100})
        for n in range(3):
            t = trace(ci, n)
            p.produce(TOPIC, key=b"order-%d" % n, value=(b"%s item %d;" % (codec.encode(), n)) * 40,
                      partition=0, headers=[("traceparent", "00-%s-00f067aa0ba902b7-01" % t)],
                      on_delivery=report(codec, t))
        p.flush(10)
    # acks=0: the broker answers nothing.
    p = Producer({"bootstrap.servers": boot, "client.id": "tapflow-fire", "acks": 0})
    for n in range(2):
        p.produce(TOPIC, value=b"fire and forget", partition=1)
    p.flush(10)
    # The next Produce is refused.
    p = Producer({"bootstrap.servers": boot, "client.id": "tapflow-denied", "retries": 0})
    p.list_topics(timeout=5)
    errs = (ctypes.c_int * 1)(TOPIC_AUTHORIZATION_FAILED)
    lib.rd_kafka_mock_push_request_errors_array(mc, 0, 1, errs)
    p.produce(DENIED, value=b"not allowed", on_delivery=report("denied", ""))
    p.flush(10)
    # Gone before the broker's count is taken: a producer refused on a topic keeps asking for
    # its metadata.
    del p

    got = consume(boot, "billing", [TOPIC], 3 * len(CODECS) + 2)
    keys = requests_by_key(lib, mc)
    print(json.dumps({"bootstrap": boot, "requests": keys, "delivered": delivered,
                      "failures": failures, "consumed": got}))
    sys.stdout.flush()
    # The mock cluster and its handle go with the process.
    os._exit(0)


if sys.argv[1:] == ["cluster"]:
    cluster()
else:
    main()
