#!/usr/bin/python3
"""SOME/IP server and client for tests/live_someip.rs, on someipy 1.0.0 (a SOME/IP and SOME/IP-SD
implementation; scripts/install-build-deps.sh installs it from PyPI).

    someip_peer.py server IP   offers service 0x1234 over TCP (port 30509: method 0x0421 answers,
                               0x0422 answers ERROR / E_NOT_OK) and service 0x1235 over UDP
                               (port 30510: method 0x0001 answers; event group 0x0321 sends
                               event 0x8001 to its subscribers every 200 ms)
    someip_peer.py client IP   finds both by service discovery (multicast 224.224.224.245:30490),
                               calls 0x0421 three times, an unknown method 0x0999 and 0x0422 over
                               TCP, 0x0001 twice over UDP, subscribes to 0x0321 until two events
                               came, and prints one JSON line per call and the events' count
"""

import asyncio
import ipaddress
import json
import logging
import sys

from someipy import MessageType, ReturnCode, TransportLayerProtocol
from someipy.client_service_instance import construct_client_service_instance
from someipy.logging import set_someipy_log_level
from someipy.server_service_instance import construct_server_service_instance
from someipy.service import EventGroup, Method, ServiceBuilder
from someipy.service_discovery import construct_service_discovery
from someipy._internal.method_result import MethodResult

SD_GROUP, SD_PORT = "224.224.224.245", 30490
TCP_SERVICE, UDP_SERVICE, INSTANCE = 0x1234, 0x1235, 0x5678
EVENT_GROUP, EVENT = 0x0321, 0x8001


async def answer(payload, _addr):
    r = MethodResult()
    r.payload = payload[::-1]
    return r


async def refuse(_payload, _addr):
    r = MethodResult()
    r.message_type = MessageType.ERROR
    r.return_code = ReturnCode.E_NOT_OK
    return r


def tcp_service():
    b = ServiceBuilder().with_service_id(TCP_SERVICE).with_major_version(1)
    return b.with_method(Method(0x0421, answer)).with_method(Method(0x0422, refuse)).build()


def udp_service():
    b = ServiceBuilder().with_service_id(UDP_SERVICE).with_major_version(1)
    b = b.with_method(Method(0x0001, answer))
    return b.with_eventgroup(EventGroup(EVENT_GROUP, [EVENT])).build()


async def server(ip):
    sd = await construct_service_discovery(SD_GROUP, SD_PORT, ip)
    tcp = await construct_server_service_instance(
        tcp_service(), INSTANCE, (ipaddress.IPv4Address(ip), 30509), 5, sd, 500,
        TransportLayerProtocol.TCP)
    udp = await construct_server_service_instance(
        udp_service(), INSTANCE, (ipaddress.IPv4Address(ip), 30510), 5, sd, 500,
        TransportLayerProtocol.UDP)
    for s in (tcp, udp):
        sd.attach(s)
        s.start_offer()
    n = 0
    while True:
        await asyncio.sleep(0.2)
        n += 1
        udp.send_event(EVENT_GROUP, EVENT, n.to_bytes(4, "big"))


async def found(instance):
    for _ in range(100):
        if instance.service_found():
            return
        await asyncio.sleep(0.1)
    raise SystemExit("service not found by SD")


async def client(ip):
    sd = await construct_service_discovery(SD_GROUP, SD_PORT, ip)
    tcp = await construct_client_service_instance(
        tcp_service(), INSTANCE, (ipaddress.IPv4Address(ip), 40509), 5, sd,
        TransportLayerProtocol.TCP, client_id=0x0011)
    udp = await construct_client_service_instance(
        udp_service(), INSTANCE, (ipaddress.IPv4Address(ip), 40510), 5, sd,
        TransportLayerProtocol.UDP, client_id=0x0012)
    events = []
    udp.register_callback(lambda m: events.append(m.header.session_id))
    for s in (tcp, udp):
        sd.attach(s)
    await found(tcp)
    await found(udp)
    for transport, inst, method in [("tcp", tcp, 0x0421)] * 3 + [
        ("tcp", tcp, 0x0999),
        ("tcp", tcp, 0x0422),
        ("udp", udp, 0x0001),
        ("udp", udp, 0x0001),
    ]:
        r = await inst.call_method(method, b"ping")
        print(json.dumps({
            "transport": transport,
            "method": method,
            "session": inst._session_id,
            "message_type": r.message_type.value,
            "return_code": r.return_code.value,
        }), flush=True)
    udp.subscribe_eventgroup(EVENT_GROUP)
    for _ in range(100):
        if len(events) >= 2:
            break
        await asyncio.sleep(0.1)
    print(json.dumps({"events": len(events)}), flush=True)
    sd.close()
    await tcp.close()
    await udp.close()


def main():
    set_someipy_log_level(logging.ERROR)
    role, ip = sys.argv[1], sys.argv[2]
    asyncio.run(server(ip) if role == "server" else client(ip))


if __name__ == "__main__":
    main()
