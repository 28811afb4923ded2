#!/usr/bin/env python3
"""Apache Pulsar's own client (the pulsar-client wheel: its C++ library) against a broker:
a producer sends 8 messages one by one with W3C trace properties, then 4 in one batch; a
producer on a forbidden topic is refused; a consumer subscribes, receives and acknowledges
every message; everything is closed. Prints what it did as JSON: the message ids the broker
gave each send, and the ids of the messages received, so the test can compare tapflow's rows.

Usage: pulsar_client.py ADDRESS PORT
"""

import json
import sys

import pulsar

TOPIC = "persistent://public/default/orders"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def msg_id(m):
    return "%d:%d:%d:%d" % (m.ledger_id(), m.entry_id(), m.partition(), m.batch_index())


def main():
    address, port = sys.argv[1], int(sys.argv[2])
    url = "pulsar://%s:%d" % (address if ":" not in address else "[%s]" % address, port)
    client = pulsar.Client(url, operation_timeout_seconds=10,
                           logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn))
    done = {"sent": [], "refused": None, "received": []}

    producer = client.create_producer(TOPIC, batching_enabled=False)
    for i in range(8):
        parent = "00-%s-%016x-01" % (TRACE, i + 1)
        mid = producer.send(("order %d" % i).encode(), properties={"traceparent": parent})
        done["sent"].append({"id": msg_id(mid), "span": "%016x" % (i + 1)})

    batched = client.create_producer(TOPIC, batching_enabled=True,
                                     batching_max_messages=4,
                                     batching_max_publish_delay_ms=1000)
    for i in range(4):
        batched.send_async(("batched %d" % i).encode(), None)
    batched.flush()

    try:
        client.create_producer("persistent://public/default/forbidden")
    except Exception as e:  # pulsar.AuthorizationError
        done["refused"] = type(e).__name__

    consumer = client.subscribe(TOPIC, "billing",
                                consumer_type=pulsar.ConsumerType.Exclusive,
                                initial_position=pulsar.InitialPosition.Earliest)
    for _ in range(12):
        m = consumer.receive(timeout_millis=10000)
        done["received"].append(msg_id(m.message_id()))
        consumer.acknowledge(m)
    consumer.close()
    batched.close()
    producer.close()
    client.close()
    print(json.dumps(done))


if __name__ == "__main__":
    main()
