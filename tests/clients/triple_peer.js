// Triple (Dubbo 3's RPC protocol) server and client for tests/live_triple.rs, on Apache Dubbo's
// JavaScript implementation (@apachedubbo/dubbo and @apachedubbo/dubbo-node from npm, installed
// by scripts/install-build-deps.sh into target/test-npm).
//
//   node triple_peer.js MODULES serve HOST PORT [HTTP]   org.demo.Greeter version 1.0.0 over
//                                                        HTTP/2 (HTTP "2", the default) or
//                                                        HTTP/1.1 ("1.1"): greet answers, fail
//                                                        throws NOT_FOUND
//   node triple_peer.js MODULES client HOST PORT [HTTP]  greet three times and fail once, with
//                                                        the Triple protocol (its own unary
//                                                        form, JSON); prints OK when every
//                                                        answer is as expected
"use strict";

const [modules, mode, host, port, httpVersion = "2"] = process.argv.slice(2);
const need = (m) => require(`${modules}/${m}`);
const { createPromiseClient, DubboError, Code } = need("@apachedubbo/dubbo");
const { createDubboTransport, dubboNodeAdapter } = need("@apachedubbo/dubbo-node");
const { MethodKind, StringValue } = need("@bufbuild/protobuf");
const http = require("http");
const http2 = require("http2");

const Greeter = {
  typeName: "org.demo.Greeter",
  methods: {
    greet: { name: "greet", I: StringValue, O: StringValue, kind: MethodKind.Unary },
    fail: { name: "fail", I: StringValue, O: StringValue, kind: MethodKind.Unary },
  },
};
const service = { serviceVersion: "1.0.0", serviceGroup: "dubbo" };

async function client() {
  const transport = createDubboTransport({
    baseUrl: `http://${host}:${port}`,
    httpVersion,
    useBinaryFormat: false,
  });
  const greeter = createPromiseClient(Greeter, transport, service);
  for (const name of ["ann", "bob", "cy"]) {
    const r = await greeter.greet(new StringValue({ value: name }));
    if (r.value !== `hello ${name}`) throw new Error(`greet: ${r.value}`);
  }
  try {
    await greeter.fail(new StringValue({ value: "x" }));
    throw new Error("fail answered");
  } catch (e) {
    if (!(e instanceof DubboError) || e.code !== Code.NotFound) throw e;
  }
  console.log("OK");
  process.exit(0);
}

function serve() {
  const routes = (router) =>
    router.service(
      Greeter,
      {
        greet: (req) => new StringValue({ value: `hello ${req.value}` }),
        fail: () => {
          throw new DubboError("no such greeting", Code.NotFound);
        },
      },
      service,
    );
  const server = httpVersion === "1.1" ? http.createServer : http2.createServer;
  server(dubboNodeAdapter({ routes })).listen(Number(port), host);
}

if (mode === "serve") {
  serve();
} else {
  client().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
