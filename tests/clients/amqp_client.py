#!/usr/bin/python3
"""An AMQP 0-9-1 workload against a real RabbitMQ with Debian's pika: declare a queue and an
exchange, bind, publish, get (a message, then nothing), ack, a passive declare of a missing queue
(the broker closes the channel with 404), then a clean close. Checks each answer; prints OK."""

import sys

import pika

host, port = sys.argv[1], int(sys.argv[2])
params = pika.ConnectionParameters(host=host, port=port, heartbeat=0, blocked_connection_timeout=5)
conn = pika.BlockingConnection(params)
ch = conn.channel()
ch.queue_declare(queue="tapflow.q")
ch.exchange_declare(exchange="tapflow.x", exchange_type="direct")
ch.queue_bind(queue="tapflow.q", exchange="tapflow.x", routing_key="rk")
ch.basic_publish(exchange="tapflow.x", routing_key="rk", body=b"hello")
method = None
for _ in range(50):
    method, _props, body = ch.basic_get(queue="tapflow.q", auto_ack=False)
    if method is not None:
        break
assert method is not None and body == b"hello", (method, body)
ch.basic_ack(method.delivery_tag)
method, _props, body = ch.basic_get(queue="tapflow.q", auto_ack=True)
assert method is None, method
try:
    ch.queue_declare(queue="missing", passive=True)
    raise AssertionError("passive declare of a missing queue succeeded")
except pika.exceptions.ChannelClosedByBroker as e:
    assert e.reply_code == 404, e
conn.close()
print("OK")
