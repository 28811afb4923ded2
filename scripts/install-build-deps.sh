#!/usr/bin/env bash
# Installs (as root, from Debian) what building tapflow needs when it is missing; without root it
# lists what is missing and fails. Used by scripts/demo.sh and scripts/test.sh.
set -euo pipefail
need=()
command -v python3 >/dev/null || need+=(python3)
command -v ip >/dev/null || need+=(iproute2)
# The XDP program is compiled with clang against libbpf's headers; libbpf itself is built from
# source by libbpf-sys and needs libelf and zlib.
command -v clang >/dev/null || need+=(clang)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
[ -f /usr/include/gelf.h ] || need+=(libelf-dev)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
# The control plane's gRPC code is generated from control/proto/ with protoc.
command -v protoc >/dev/null || need+=(protobuf-compiler)
# The DPDK engine (feature `dpdk`): Debian's DPDK 22.11 and libclang for bindgen.
pkg-config --exists libdpdk 2>/dev/null || need+=(dpdk-dev libdpdk-dev)
ls /usr/lib/x86_64-linux-gnu/libclang-*.so >/dev/null 2>&1 || need+=(libclang-dev)
# Tests: the L7 conformance test cross-checks with tshark where the truth files cannot.
[ "${TAPFLOW_TEST_DEPS:-0}" = 1 ] && ! command -v tshark >/dev/null && need+=(tshark)
# ... and tcpdump is libpcap's reference reading of every pcap variant.
[ "${TAPFLOW_TEST_DEPS:-0}" = 1 ] && ! command -v tcpdump >/dev/null && need+=(tcpdump)
# Tests against real servers (started by the tests themselves in their own namespace): Redis,
# driven by redis-cli and redis-benchmark, memcached, MariaDB and PostgreSQL (clients in
# tests/clients/); pymongo, the MongoDB driver (MongoDB itself has no Debian package: the
# driver talks to a wire-level responder in tests/clients/); ethtool turns off offloads on the
# test veth.
if [ "${TAPFLOW_TEST_DEPS:-0}" = 1 ]; then
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v redis-benchmark >/dev/null || need+=(redis-tools)
  command -v ethtool >/dev/null || need+=(ethtool)
  command -v curl >/dev/null || need+=(curl)
  command -v memcached >/dev/null || need+=(memcached)
  command -v mariadbd >/dev/null || need+=(mariadb-server)
  command -v mariadb >/dev/null || need+=(mariadb-client)
  [ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql)
  command -v psql >/dev/null || need+=(postgresql-client)
  /usr/bin/python3 -c 'import pymongo' 2>/dev/null || need+=(python3-pymongo)
  # pymongo's snappy and zstd compressors (the live MongoDB test's compressed runs).
  /usr/bin/python3 -c 'import snappy' 2>/dev/null || need+=(python3-snappy)
  /usr/bin/python3 -c 'import zstandard' 2>/dev/null || need+=(python3-zstandard)
  # The Prometheus endpoint is checked by a real Prometheus server and promtool.
  command -v promtool >/dev/null || need+=(prometheus)
  # IPFIX export is checked by pmacct's nfacctd collector.
  command -v nfacctd >/dev/null || need+=(pmacct)
  # Messaging brokers with their own clients: Mosquitto (MQTT), NATS, RabbitMQ with pika (AMQP).
  command -v mosquitto >/dev/null || need+=(mosquitto)
  command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
  [ -x /usr/sbin/nats-server ] || need+=(nats-server)
  [ -x /usr/sbin/rabbitmq-server ] || need+=(rabbitmq-server)
  /usr/bin/python3 -c 'import pika' 2>/dev/null || need+=(python3-pika)
  # FastCGI: fcgiwrap (an application server running a CGI script) and libfcgi's cgi-fcgi client.
  [ -x /usr/sbin/fcgiwrap ] || need+=(fcgiwrap)
  command -v cgi-fcgi >/dev/null || need+=(libfcgi-bin)
  # Ping request logs: iputils' ping (ICMP and ICMPv6 echo).
  [ -x /usr/bin/ping ] || need+=(iputils-ping)
  # ZMTP: pyzmq over Debian's libzmq (REQ/REP, PUB/SUB, PLAIN with a ZAP handler).
  /usr/bin/python3 -c 'import zmq' 2>/dev/null || need+=(python3-zmq)
  # OpenWire: Debian's ActiveMQ broker and its own producer / consumer commands (Java).
  [ -f /usr/share/activemq/bin/activemq.jar ] || need+=(activemq)
  # Java Flight Recorder profiles: the JDK's javac, java (-XX:StartFlightRecording) and jfr.
  command -v javac >/dev/null && command -v jfr >/dev/null || need+=(openjdk-17-jdk-headless)
  # Tars: Node.js runs Tencent's TarsNode RPC framework (npm, below).
  command -v node >/dev/null || need+=(nodejs)
  command -v npm >/dev/null || need+=(npm)
  # gRPC joined mid-connection: grpcio's client against tapflow's own tonic server.
  /usr/bin/python3 -c 'import grpc' 2>/dev/null || need+=(python3-grpcio)
  # The ClickHouse store: Debian's clickhouse-server 18.16, zstd to read the ingester frames
  # independently, pip for chDB (below).
  command -v clickhouse-server >/dev/null || need+=(clickhouse-server)
  command -v zstd >/dev/null || need+=(zstd)
  # The syscall tracer's tests check that no tracer program is left loaded; openssl makes their
  # TLS certificate.
  command -v bpftool >/dev/null || [ -x /usr/sbin/bpftool ] || need+=(bpftool)
  command -v openssl >/dev/null || need+=(openssl)
  # Go's crypto/tls uprobes: the test builds a Go HTTPS server and client (Debian's Go 1.19).
  command -v go >/dev/null || need+=(golang-go)
  # TLS libraries besides the system's shared OpenSSL: BoringSSL (Debian's Android build) and
  # OpenSSL's static libraries, linked into a test peer built with gcc.
  [ -f /usr/include/android/openssl/ssl.h ] || need+=(android-libboringssl-dev)
  dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
  # `tapflow bench --instructions` counts instructions under valgrind's callgrind (its smoke run).
  command -v valgrind >/dev/null || need+=(valgrind)
  /usr/bin/python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    # A server package may start its own service: the tests start their own instances.
    for svc in redis-server memcached mariadb postgresql prometheus prometheus-node-exporter nfacctd pmacctd sfacctd uacctd mosquitto nats-server rabbitmq-server clickhouse-server fcgiwrap activemq; do
      if command -v service >/dev/null; then service "$svc" stop >/dev/null 2>&1 || true; fi
    done
  else
    echo "missing: ${need[*]} (run as root to install them)" >&2
    exit 1
  fi
fi
# From PyPI: chDB, the current ClickHouse engine in-process, checks DeepFlow's exact DDL and
# types; anthunder (Ant Group's sofa-bolt-python) is the SOFARPC server and client; someipy 1.0
# (SOME/IP and SOME/IP-SD; 2.x moved to a daemon) is the SOME/IP server and client;
# pulsar-client (Apache Pulsar's C++ client in a wheel) is the Pulsar client; confluent-kafka
# (librdkafka in a wheel) is the Kafka client, and its mock cluster the broker; OpenTelemetry's
# Python SDK and its OTLP/HTTP and OTLP/gRPC exporters send spans to the integration collector;
# Pyroscope's Python SDK sends it profiles: 1.x over its push API, 0.8 (kept apart, in
# /usr/local/lib/tapflow-test/pyroscope-0.8) over its ingest API. PaddlePaddle's RPC, which runs
# on Apache bRPC (compiled into Paddle; no bRPC build is packaged elsewhere), is the bRPC server
# and client: kept apart in /usr/local/lib/tapflow-test/paddle with its own numpy and protobuf.
# Apache SkyWalking's Python agent (1.2.0: 1.3.0's wheel lacks its generated protocol) reports
# traces over its HTTP and gRPC protocols: kept apart in /usr/local/lib/tapflow-test/skywalking.
pypi=()
if [ "${TAPFLOW_TEST_DEPS:-0}" = 1 ]; then
  /usr/bin/python3 -c 'import chdb' 2>/dev/null || pypi+=(chdb-core)
  /usr/bin/python3 -c 'import anthunder' 2>/dev/null || pypi+=(anthunder)
  /usr/bin/python3 -c 'import someipy.service_discovery' 2>/dev/null || pypi+=(someipy==1.0.0)
  /usr/bin/python3 -c 'import pulsar' 2>/dev/null || pypi+=(pulsar-client==3.13.0)
  /usr/bin/python3 -c 'import confluent_kafka' 2>/dev/null || pypi+=(confluent-kafka==2.16.2)
  /usr/bin/python3 -c 'import opentelemetry.exporter.otlp.proto.http.trace_exporter' 2>/dev/null \
    || pypi+=(opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2)
  /usr/bin/python3 -c 'import opentelemetry.exporter.otlp.proto.grpc.trace_exporter' 2>/dev/null \
    || pypi+=(opentelemetry-exporter-otlp-proto-grpc==1.45.2)
  /usr/bin/python3 -c 'import importlib.metadata as m; assert m.version("pyroscope-io") == "1.4.0"' \
    2>/dev/null || pypi+=(pyroscope-io==1.4.0)
  legacy=/usr/local/lib/tapflow-test/pyroscope-0.8
  if [ ! -d "$legacy/pyroscope" ] && [ "$(id -u)" = 0 ]; then
    /usr/bin/python3 -m pip install -q --break-system-packages --no-deps --target "$legacy" \
      pyroscope-io==0.8.16 >/dev/null
  fi
  paddle=/usr/local/lib/tapflow-test/paddle
  if [ ! -d "$paddle/paddle" ] && [ "$(id -u)" = 0 ]; then
    /usr/bin/python3 -m pip install -q --break-system-packages --target "$paddle" \
      paddlepaddle==2.6.2 >/dev/null
  fi
  skywalking=/usr/local/lib/tapflow-test/skywalking
  if [ ! -d "$skywalking/skywalking" ] && [ "$(id -u)" = 0 ]; then
    /usr/bin/python3 -m pip install -q --break-system-packages --target "$skywalking" \
      apache-skywalking==1.2.0 requests >/dev/null
  fi
fi
if [ ${#pypi[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    /usr/bin/python3 -m pip install -q --break-system-packages "${pypi[@]}" >/dev/null
  else
    echo "missing: ${pypi[*]} (pip install ${pypi[*]})" >&2
    exit 1
  fi
fi
# From npm: TarsNode's RPC framework (@tars/rpc: server, client proxies, the TUP codec) is the
# Tars server and client; Apache Dubbo's JavaScript implementation (@apachedubbo/dubbo and
# dubbo-node, with protobuf-es) the Triple server and client; Alibaba's RocketMQ client (ali-ons,
# npm `rocketmq`) the RocketMQ producer and consumer; winston (its HTTP transport) ships
# application logs to the integration collector. Kept in target/test-npm (the tests look there).
if [ "${TAPFLOW_TEST_DEPS:-0}" = 1 ]; then
  npm_dir="$(cd "$(dirname "$0")/.." && pwd)/target/test-npm"
  if [ ! -f "$npm_dir/node_modules/@tars/rpc/package.json" ] \
    || [ ! -f "$npm_dir/node_modules/@apachedubbo/dubbo-node/package.json" ] \
    || [ ! -f "$npm_dir/node_modules/rocketmq/package.json" ] \
    || [ ! -f "$npm_dir/node_modules/winston/package.json" ]; then
    mkdir -p "$npm_dir"
    npm install --prefix "$npm_dir" --no-audit --no-fund --silent @tars/rpc@2.0.15 \
      @apachedubbo/dubbo@3.0.0-alpha @apachedubbo/dubbo-node@3.0.0-alpha @bufbuild/protobuf@1.10.1 \
      rocketmq@2.0.1 winston@3.19.0 >/dev/null
  fi
fi
