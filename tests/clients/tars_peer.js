#!/usr/bin/env node
// Tars peers for tests/live_tars.rs: Tencent's TarsNode RPC framework (@tars/rpc from npm) as
// both server and client, over the TARS packet protocol (RequestPacket / ResponsePacket, version
// 1). The interface is the NodeTars demo the package ships (its generated server and proxy
// code, NodeTars.tars).
//
//   tars_peer.js MODULES serve IP PORT   the NodeTars servant TARS.NodeTarsServer.NodeTarsObj
//                                        (getUsrName answers "OUT_<name>_1/2"; test() never
//                                        answers)
//   tars_peer.js MODULES client IP PORT  3 getUsrName calls (checks each answer), a call to a
//                                        function the servant lacks (refused), a TUP getUsrName
//                                        and a TUP call to a missing function (refused), one
//                                        test() call left unanswered; prints OK
//
// MODULES is the node_modules directory holding @tars/rpc.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");

const [modules, role, ip, port] = process.argv.slice(2);
const demo = path.join(modules, "@tars/rpc/examples/rpc-tars/demo.1");
const Tars = require(path.join(modules, "@tars/rpc"));
const OBJ = "TARS.NodeTarsServer.NodeTarsObj";

function serve() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tars-peer-"));
  const conf = path.join(dir, "server.conf");
  fs.writeFileSync(conf, `<tars>
  <application>
    <server>
      app=TARS
      server=NodeTarsServer
      localip=${ip}
      logpath=${dir}
      <TARS.NodeTarsServer.NodeTarsObjAdapter>
        endpoint=tcp -h ${ip} -p ${port} -t 60000
        protocol=tars
        servant=${OBJ}
        maxconns=1000
        queuecap=1000
        queuetimeout=60000
        threads=1
      </TARS.NodeTarsServer.NodeTarsObjAdapter>
    </server>
    <client>
      modulename=TARS.NodeTarsServer
      async-invoke-timeout=60000
    </client>
  </application>
</tars>
`);
  const imp = require(path.join(demo, "server.node.1/NodeTars.js")).tars;
  imp.NodeTarsImp.prototype.initialize = function () {};
  imp.NodeTarsImp.prototype.test = function () {}; // never answers
  imp.NodeTarsImp.prototype.getall = function (current, user, result) {
    current.sendResponse(0, result);
  };
  imp.NodeTarsImp.prototype.getUsrName = function (current, name) {
    current.sendResponse(0, "OUT_" + name + "_1", "OUT_" + name + "_2");
  };
  const svr = new Tars.server();
  svr.initialize(conf, function (server) {
    server.addServant(imp.NodeTarsImp, OBJ);
  });
  svr.start();
}

const tupSocket = {};

// One TUP request on a connection kept for the next; resolves with the decoded answer.
function tupCall(ip, port, func, id) {
  const TarsStream = require(path.join(modules, "@tars/stream"));
  const net = require("net");
  if (!tupSocket.s) {
    tupSocket.s = net.connect(Number(port), ip);
  }
  const tup = new TarsStream.Tup();
  tup.tupVersion = TarsStream.Tup.TUP_SIMPLE;
  tup.servantName = OBJ;
  tup.funcName = func;
  tup._iRequestId = id;
  tup.writeString("sUsrName", "tup");
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (data) => {
      got = Buffer.concat([got, data]);
      if (got.length >= 4 && got.length >= got.readUInt32BE(0)) {
        tupSocket.s.off("data", onData);
        const answer = new TarsStream.Tup();
        answer.decode(new TarsStream.BinBuffer(got));
        resolve(answer);
      }
    };
    tupSocket.s.on("data", onData);
    tupSocket.s.once("error", reject);
    tupSocket.s.write(tup.encode().toNodeBuffer());
  });
}

async function refused(call) {
  try {
    await call();
  } catch (e) {
    return;
  }
  throw new Error("a missing function answered");
}

async function client() {
  const Proxy = require(path.join(demo, "client.node.proxy/NodeTarsProxy.js")).tars.NodeTarsProxy;
  const at = `@tcp -h ${ip} -p ${port} -t 60000`;
  const prx = Tars.client.stringToProxy(Proxy, OBJ + at);
  for (let i = 0; i < 3; i++) {
    const r = await prx.getUsrName("user" + i);
    if (r.response.arguments.sValue1 !== "OUT_user" + i + "_1") {
      throw new Error("getUsrName answered " + JSON.stringify(r.response));
    }
  }
  // Clients built from other interfaces: a function the servant lacks (TARSSERVERNOFUNCERR,
  // -3), over TARS (version 1) and over TUP (version 3).
  const Second = require(path.join(demo, "../demo.2/client.node.proxy/NodeSecondProxy.js")).tars;
  const other = Tars.client.stringToProxy(Second.NodeSecondProxy, OBJ + at);
  await refused(() => other.yourName("nobody"));
  // TUP (version 3, TarsStream's Tup, as web gateways send it): getUsrName, then a function the
  // servant lacks, on one connection.
  const tupOk = await tupCall(ip, port, "getUsrName", 1001);
  if (tupOk.getTarsResultCode() !== 0 || tupOk.readString("sValue1") !== "OUT_tup_1") {
    throw new Error("TUP getUsrName: " + tupOk.getTarsResultCode());
  }
  const tupRefused = await tupCall(ip, port, "add", 1002);
  if (tupRefused.getTarsResultCode() !== -3) {
    throw new Error("TUP add: " + tupRefused.getTarsResultCode());
  }
  prx.setTimeout(1000);
  let timedOut = false;
  try {
    await prx.test();
  } catch (e) {
    timedOut = true;
  }
  if (!timedOut) throw new Error("test() answered");
  tupSocket.s.end();
  console.log("OK");
  process.exit(0);
}

if (role === "serve") {
  serve();
} else {
  client().catch((e) => {
    console.error(e && e.response ? JSON.stringify(e.response) : e);
    process.exit(1);
  });
}
