#!/usr/bin/env python3
"""ZeroMQ peers for tests/live_zmtp.rs (pyzmq over Debian's libzmq, ZMTP 3.1).

    zmq_peer.py serve IP   REP on 5555, PUB on 5556 (publishes "weather ..." and "traffic ..."
                           every 100 ms), a PLAIN-authenticated REP on 5557 (ZAP: admin/secret)
    zmq_peer.py client IP  3 requests to the REP (checks each reply), 2 "weather" messages from
                           the PUB through a SUBSCRIBE, then a PLAIN login with a wrong password
                           (refused: no reply); prints OK
"""
import sys
import time

import zmq
from zmq.auth.thread import ThreadAuthenticator


def serve(ip):
    ctx = zmq.Context()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_plain(domain="*", passwords={"admin": "secret"})
    rep = ctx.socket(zmq.REP)
    rep.bind(f"tcp://{ip}:5555")
    pub = ctx.socket(zmq.PUB)
    pub.bind(f"tcp://{ip}:5556")
    guarded = ctx.socket(zmq.REP)
    guarded.plain_server = True
    guarded.bind(f"tcp://{ip}:5557")
    poller = zmq.Poller()
    poller.register(rep, zmq.POLLIN)
    poller.register(guarded, zmq.POLLIN)
    n = 0
    while True:
        for sock, _ in poller.poll(100):
            msg = sock.recv()
            sock.send(msg.replace(b"ping", b"pong"))
        pub.send(b"weather sunny %d" % n)
        pub.send(b"traffic jam %d" % n)
        n += 1


def client(ip):
    ctx = zmq.Context()
    req = ctx.socket(zmq.REQ)
    req.connect(f"tcp://{ip}:5555")
    for i in range(3):
        req.send(b"ping %d" % i)
        assert req.recv() == b"pong %d" % i
    req.close()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"weather")
    sub.connect(f"tcp://{ip}:5556")
    sub.rcvtimeo = 5000
    for _ in range(2):
        assert sub.recv().startswith(b"weather")
    sub.close()
    bad = ctx.socket(zmq.REQ)
    bad.plain_username = b"admin"
    bad.plain_password = b"wrong"
    bad.linger = 0
    bad.connect(f"tcp://{ip}:5557")
    bad.send(b"ping refused")
    assert bad.poll(1000) == 0, "a refused login must get no reply"
    bad.close()
    time.sleep(0.3)
    ctx.term()
    print("OK")


if __name__ == "__main__":
    {"serve": serve, "client": client}[sys.argv[1]](sys.argv[2])
