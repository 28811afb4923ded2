"""DNS over UDP between two Python processes on loopback, for the syscall tracer's UDP test.

  dns_udp.py server PORT N [dual|any|batch|pktinfo|pktinfo6]
                             answers N queries on 127.0.0.1:PORT (dual: on a dual-stack IPv6
                             socket bound to ::, its IPv4 peers IPv4-mapped; any: on an IPv4
                             socket bound to 0.0.0.0) from one socket that
                             is not connected (recvfrom / sendto, and recvmsg / sendmsg for every
                             other query; batch: the queries read with recvmmsg, as many as
                             have arrived a call, each answered with sendto; pktinfo: an IPv4
                             socket on 0.0.0.0, pktinfo6 a dual-stack one on ::, reading each
                             query with recvmsg and its IP_PKTINFO / IPV6_PKTINFO, answering
                             with sendmsg from the address it was asked on, as multi-homed DNS
                             servers do), then exits; named dns-server
  dns_udp.py burst PORT N     sends N queries in one sendmmsg on a connected socket, reads the
                             N answers; prints the names
  dns_udp.py client PORT [HOST]
                             sends 8 queries (to 127.0.0.1, or HOST: IPv4 or IPv6): on a connected socket 2 with send / recv and 2 in
                             one sendmmsg (as glibc's resolver sends A and AAAA), on a socket
                             that is not connected 2 with sendto / recvfrom and 2 with sendmsg /
                             recvmsg; named dns-client; prints the names it asked for

Each answer is the query with the response bit set and one A record (192.0.2.N).
"""
import ctypes
import select
import socket
import struct
import sys


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(Iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", Msghdr), ("len", ctypes.c_uint32)]


def sendmmsg(sock, datagrams):
    """Every datagram in one sendmmsg call (Python has no sendmmsg of its own)."""
    bufs = [ctypes.create_string_buffer(d, len(d)) for d in datagrams]
    iovs = [Iovec(ctypes.cast(b, ctypes.c_void_p), len(d)) for b, d in zip(bufs, datagrams)]
    msgs = (Mmsghdr * len(datagrams))()
    for m, iov in zip(msgs, iovs):
        m.hdr.iov = ctypes.pointer(iov)
        m.hdr.iovlen = 1
    libc = ctypes.CDLL(None, use_errno=True)
    sent = libc.sendmmsg(sock.fileno(), msgs, len(datagrams), 0)
    assert sent == len(datagrams), ctypes.get_errno()


def recvmmsg(sock, n):
    """Up to n datagrams in one recvmmsg call (waiting for the first): [(bytes, peer)]."""
    bufs = [ctypes.create_string_buffer(512) for _ in range(n)]
    iovs = [Iovec(ctypes.cast(b, ctypes.c_void_p), 512) for b in bufs]
    names = [ctypes.create_string_buffer(16) for _ in range(n)]
    msgs = (Mmsghdr * n)()
    for m, iov, name in zip(msgs, iovs, names):
        m.hdr.name = ctypes.cast(name, ctypes.c_void_p)
        m.hdr.namelen = 16
        m.hdr.iov = ctypes.pointer(iov)
        m.hdr.iovlen = 1
    libc = ctypes.CDLL(None, use_errno=True)
    got = libc.recvmmsg(sock.fileno(), msgs, n, 0x10000, None)  # MSG_WAITFORONE
    assert got > 0, ctypes.get_errno()
    out = []
    for i in range(got):
        sa = names[i].raw
        peer = (socket.inet_ntoa(sa[4:8]), struct.unpack(">H", sa[2:4])[0])
        out.append((bufs[i].raw[:msgs[i].len], peer))
    return out


def name_process(name):
    ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME


def query(qid, name):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def answer(q, n):
    head = q[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
    rr = struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([192, 0, 2, n])
    return head + q[12:] + rr


IP_PKTINFO = 8  # Linux; not in Python 3.11's socket module


def pktinfo_answer(s, i, v6):
    """Reads one query with its destination address and answers it from that address."""
    q, anc, _, peer = s.recvmsg(512, socket.CMSG_SPACE(20))
    for level, kind, data in anc:
        if not v6 and (level, kind) == (socket.IPPROTO_IP, IP_PKTINFO):
            _, _, dst = struct.unpack("=i4s4s", data[:12])
            cmsg = (socket.IPPROTO_IP, IP_PKTINFO, struct.pack("=i4s4s", 0, dst, bytes(4)))
            break
        if v6 and (level, kind) == (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO):
            cmsg = (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, data[:16] + bytes(4))
            break
    else:
        raise RuntimeError("no packet info")
    s.sendmsg([answer(q, i)], [cmsg], 0, peer)


def server(port, n, mode):
    name_process("dns-server")
    if mode in ("dual", "pktinfo6"):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if mode == "pktinfo6":
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        s.bind(("::", port))
    elif mode == "pktinfo":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        s.bind(("0.0.0.0", port))
    elif mode == "any":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))
    if mode == "batch":
        # Each recvmmsg is entered once queries wait (as a poll loop's server does): a call
        # entered before the tracer attached would not be seen.
        print("ready", flush=True)
        i = 0
        while i < n:
            if not select.select([s], [], [], 30)[0]:
                raise TimeoutError("no query in 30 s")
            for q, peer in recvmmsg(s, n - i):
                s.sendto(answer(q, i % 250), peer)
                i += 1
        return
    if mode in ("pktinfo", "pktinfo6"):
        s.settimeout(30)
        print("ready", flush=True)
        for i in range(n):
            pktinfo_answer(s, i, mode == "pktinfo6")
        return
    s.settimeout(30)
    print("ready", flush=True)
    for i in range(n):
        if i % 2 == 0:
            q, peer = s.recvfrom(512)
            s.sendto(answer(q, i), peer)
        else:
            q, _, _, peer = s.recvmsg(512)
            s.sendmsg([answer(q, i)], [], 0, peer)


def client(port, host):
    name_process("dns-client")
    addr = (host, port)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    names = []

    def ask(i):
        name = "q%d.example" % i
        names.append(name)
        return query(0x100 + i, name)

    c = socket.socket(family, socket.SOCK_DGRAM)
    c.settimeout(10)
    c.connect(addr)
    for i in range(2):
        c.send(ask(i))
        c.recv(512)
    sendmmsg(c, [ask(6), ask(7)])
    c.recv(512)
    c.recv(512)
    c.close()
    u = socket.socket(family, socket.SOCK_DGRAM)
    u.settimeout(10)
    for i in range(2, 4):
        u.sendto(ask(i), addr)
        u.recvfrom(512)
    for i in range(4, 6):
        u.sendmsg([ask(i)], [], 0, addr)
        u.recvmsg(512)
    u.close()
    print(" ".join(names), flush=True)


def burst(port, n):
    name_process("dns-client")
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(10)
    c.connect(("127.0.0.1", port))
    names = ["b%d.example" % i for i in range(n)]
    sendmmsg(c, [query(0x200 + i, name) for i, name in enumerate(names)])
    for _ in range(n):
        c.recv(512)
    c.close()
    print(" ".join(names), flush=True)


if sys.argv[1] == "server":
    server(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "")
elif sys.argv[1] == "burst":
    burst(int(sys.argv[2]), int(sys.argv[3]))
else:
    client(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1")
