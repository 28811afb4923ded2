"""A MySQL/MariaDB client for tests/live_mysql.rs speaking the binary protocol's prepared
statements (COM_STMT_PREPARE / EXECUTE / CLOSE), which the `mariadb` command-line client does not
use. Logs in as root without a password, reads every reply whole and checks it. Prints OK."""
import socket
import struct
import sys

host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port))
buf = b""


def read_packet():
    global buf
    while True:
        if len(buf) >= 4:
            n = int.from_bytes(buf[:3], "little")
            if len(buf) >= 4 + n:
                seq, payload, buf = buf[3], buf[4:4 + n], buf[4 + n:]
                return seq, payload
        chunk = s.recv(65536)
        assert chunk, "connection closed"
        buf += chunk


def send(seq, payload):
    s.sendall(len(payload).to_bytes(3, "little") + bytes([seq]) + payload)


def is_eof(p):
    return p[0] == 0xFE and len(p) < 9


_, greeting = read_packet()
assert greeting[0] == 10
caps = 0x200 | 0x8000 | 0x80000 | 0x1  # PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH, LONG_PASSWORD
send(1, struct.pack("<IIB", caps, 1 << 24, 33) + b"\0" * 23 + b"root\0" + b"\0"
     + b"mysql_native_password\0")
_, reply = read_packet()
assert reply[0] == 0x00, reply

send(0, b"\x02shop")  # COM_INIT_DB
assert read_packet()[1][0] == 0x00

send(0, b"\x16select id, name from items where id > ?")  # COM_STMT_PREPARE
_, ok = read_packet()
assert ok[0] == 0x00, ok
stmt, cols, params = struct.unpack("<IHH", ok[1:9])
for count in (params, cols):
    if count:
        for _ in range(count):
            read_packet()
        assert is_eof(read_packet()[1])

# COM_STMT_EXECUTE: flags 0, one iteration, null bitmap, types bound, LONGLONG 0.
send(0, struct.pack("<BIBI", 0x17, stmt, 0, 1) + b"\x00\x01\x08\x00" + struct.pack("<q", 0))
_, head = read_packet()
ncols = head[0]
for _ in range(ncols):
    read_packet()
assert is_eof(read_packet()[1])
rows = 0
while True:
    _, p = read_packet()
    if is_eof(p):
        break
    rows += 1
assert rows == 2, rows

send(0, struct.pack("<BI", 0x19, stmt))  # COM_STMT_CLOSE: no reply
send(0, b"\x0e")  # COM_PING
assert read_packet()[1][0] == 0x00
send(0, b"\x01")  # COM_QUIT
s.close()
print("OK")
