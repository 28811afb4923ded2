"""A MongoDB workload for tests/live_mongo.rs with Debian's pymongo (the real driver and its BSON
encoder) against HOST:PORT: the driver's handshake, inserts (one a duplicate key), finds (one of a
1 MB document, a reply over many segments), an update, a delete, an unknown command and an
unacknowledged (w=0, moreToCome) insert. Every answer is checked; prints OK at the end. A third
argument names the compressors to ask for (`zlib`, `snappy`): every message after the handshake
is then OP_COMPRESSED."""
import sys
import time

import pymongo
from pymongo.errors import DuplicateKeyError, OperationFailure
from pymongo.write_concern import WriteConcern

host, port = sys.argv[1], int(sys.argv[2])
compression = {"compressors": sys.argv[3]} if len(sys.argv) > 3 else {}
# One connection for the workload; the monitor's heartbeat stays out of the capture window.
client = pymongo.MongoClient(
    host, port, directConnection=True, heartbeatFrequencyMS=600000, maxPoolSize=1, **compression
)
db = client["shop"]
orders = db["orders"]

client.admin.command("ping")
orders.insert_one({"_id": 1, "item": "apple", "qty": 5})
try:
    orders.insert_one({"_id": 1, "item": "pear"})
    raise SystemExit("duplicate key accepted")
except DuplicateKeyError:
    pass
assert orders.find_one({"item": "apple"})["qty"] == 5
orders.insert_one({"_id": 2, "item": "big", "blob": "x" * 1_000_000})
assert len(orders.find_one({"_id": 2})["blob"]) == 1_000_000
assert orders.update_one({"_id": 1}, {"$set": {"qty": 6}}).modified_count == 1
assert orders.delete_one({"_id": 2}).deleted_count == 1
try:
    db.command("frobnicate")
    raise SystemExit("unknown command accepted")
except OperationFailure as e:
    assert e.code == 59, e.code
orders.with_options(write_concern=WriteConcern(w=0)).insert_one({"_id": 3, "item": "fire"})
# The unacknowledged insert reaches the server before the connection closes.
time.sleep(0.2)
client.close()
print("OK")
