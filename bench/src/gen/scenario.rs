//! The conversations the generator knows: one normal exchange and one per anomaly.

use tapflow_analyzer::flow::CloseType;
use tapflow_analyzer::wire::TcpFlags;

use super::conv::{Conv, Traffic, MS};
use super::{l7, l7_db, l7_msg, l7_openwire, l7_pulsar, l7_rocketmq, l7_rpc, ExpectedFlow, Rng};

const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const PSH_ACK: u8 = TcpFlags::PSH | TcpFlags::ACK;
const RST_ACK: u8 = TcpFlags::RST | TcpFlags::ACK;
const FIN_ACK: u8 = TcpFlags::FIN | TcpFlags::ACK;
const MSS: usize = 1448;

/// A kind of conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Request/response with a clean FIN close.
    Http,
    /// Client SYN sent three times, never answered.
    SynRetry,
    /// SYN answered by RST.
    ServerReset,
    /// One client and one server data segment retransmitted.
    Retransmission,
    /// The server's first two response segments arrive swapped.
    OutOfOrder,
    /// The client advertises a zero window twice.
    ZeroWindow,
    /// The client closes its half; the server sends more and never closes.
    HalfClose,
    /// A closed connection's 5-tuple is reused by a new connection.
    PortReuse,
    /// The client resets after the response.
    ClientReset,
    /// Handshake then client RST with no data (load-balancer health check).
    HealthCheck,
    /// A DNS-like UDP request/response.
    Udp,
    /// A longer transfer with random sizes and an occasional retransmission (benchmark mix).
    Bulk,
    /// HTTP/1.1 with real requests and responses (keep-alive, 1-3 exchanges).
    Web,
    /// DNS query and response over UDP (A records or NXDOMAIN).
    Dns,
    /// TLS 1.3 handshake and encrypted application data.
    Tls,
    /// gRPC over h2c: preface, SETTINGS, HEADERS, DATA, trailers, 1-3 streams.
    Grpc,
    /// MySQL: greeting, login, queries and result sets.
    Mysql,
    /// MySQL through its compressed protocol (`mysql --compress`).
    MysqlCompressed,
    /// Redis: pipelined-looking RESP commands and replies.
    Redis,
    /// PostgreSQL: startup, simple queries with result sets, updates and errors.
    Postgres,
    /// memcached text protocol: set, get, delete, incr (with a client error).
    Memcached,
    /// MongoDB OP_MSG: find, insert and a failing aggregate, replies by responseTo.
    Mongo,
    /// MongoDB with a driver's zlib compression: every message OP_COMPRESSED.
    MongoCompressed,
    /// Kafka: Produce v3 and v9 (record batches with a traceparent header) and Fetch v12, some
    /// produces refused.
    Kafka,
    /// Dubbo 2 calls in Hessian2 with attachments, some failing with SERVICE_ERROR.
    Dubbo,
    /// MQTT 3.1.1: CONNECT (some refused), SUBSCRIBE, QoS 1 and QoS 0 PUBLISH, PINGREQ.
    Mqtt,
    /// NATS in verbose mode: INFO, CONNECT, PUB answered by +OK (some -ERR), PING.
    Nats,
    /// AMQP 0-9-1: connection and channel opening, Queue.Declare, Basic.Get with content,
    /// Basic.Publish.
    Amqp,
    /// ZeroMQ REQ/REP over ZMTP 3.1: greetings, READY commands, 1-5 round trips.
    Zmtp,
    /// OpenWire (ActiveMQ, tight encoding): a producer's connection, some logins refused.
    OpenWire,
    /// Pulsar: a client's connection, a producer's (some refused, some sends failing) or a
    /// consumer's (messages pushed, acked).
    Pulsar,
    /// RocketMQ: a client's connection to a broker, a producer's sends (some refused, some to a
    /// missing topic) or a consumer's pulls and one-way offset update.
    RocketMq,
    /// SOFARPC: 1-5 Bolt calls on a connection, some failing (NO_PROCESSOR, CLIENT_SEND_ERROR).
    SofaRpc,
    /// Tars: 1-5 calls on a connection, some refused (TARSSERVERNOFUNCERR, TARSADAPTERNULL).
    Tars,
    /// bRPC (`baidu_std`): 1-5 calls on a connection, some failing (ENOSERVICE, a user's code).
    Brpc,
    /// SOME/IP over TCP: 1-5 calls on a connection, some refused (E_UNKNOWN_METHOD, an ERROR
    /// with E_NOT_OK).
    SomeIp,
    /// FastCGI (nginx to PHP-FPM): 1-5 requests on a connection, some answered 404 or 500.
    FastCgi,
    /// ping: 2-5 ICMP (ICMPv6 in IPv6) echoes 10 ms apart, the last one sometimes unanswered.
    Ping,
    /// Small-packet flood: 8 UDP datagrams in minimum-size (64-byte) frames, no reply.
    SmallFlood,
    /// One SYN that is never answered (SYN flood / scan).
    SynFlood,
}

impl Scenario {
    pub const ALL: [Scenario; 40] = [
        Scenario::Http,
        Scenario::SynRetry,
        Scenario::ServerReset,
        Scenario::Retransmission,
        Scenario::OutOfOrder,
        Scenario::ZeroWindow,
        Scenario::HalfClose,
        Scenario::PortReuse,
        Scenario::ClientReset,
        Scenario::HealthCheck,
        Scenario::Udp,
        Scenario::Bulk,
        Scenario::Web,
        Scenario::Dns,
        Scenario::Tls,
        Scenario::Grpc,
        Scenario::Mysql,
        Scenario::MysqlCompressed,
        Scenario::Redis,
        Scenario::Postgres,
        Scenario::Memcached,
        Scenario::Mongo,
        Scenario::MongoCompressed,
        Scenario::Kafka,
        Scenario::Dubbo,
        Scenario::Mqtt,
        Scenario::Nats,
        Scenario::Amqp,
        Scenario::Zmtp,
        Scenario::OpenWire,
        Scenario::Pulsar,
        Scenario::RocketMq,
        Scenario::SofaRpc,
        Scenario::Tars,
        Scenario::Brpc,
        Scenario::SomeIp,
        Scenario::FastCgi,
        Scenario::Ping,
        Scenario::SmallFlood,
        Scenario::SynFlood,
    ];

    /// The realistic mix of the benchmark (input a).
    pub const MIX: [Scenario; 9] = [
        Scenario::Web,
        Scenario::Dns,
        Scenario::Tls,
        Scenario::Grpc,
        Scenario::Mysql,
        Scenario::Redis,
        Scenario::Bulk,
        Scenario::Web,
        Scenario::Retransmission,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Http => "http",
            Scenario::SynRetry => "syn_retry",
            Scenario::ServerReset => "server_reset",
            Scenario::Retransmission => "retransmission",
            Scenario::OutOfOrder => "out_of_order",
            Scenario::ZeroWindow => "zero_window",
            Scenario::HalfClose => "half_close",
            Scenario::PortReuse => "port_reuse",
            Scenario::ClientReset => "client_reset",
            Scenario::HealthCheck => "health_check",
            Scenario::Udp => "udp",
            Scenario::Bulk => "bulk",
            Scenario::Web => "web",
            Scenario::Dns => "dns",
            Scenario::Tls => "tls",
            Scenario::Grpc => "grpc",
            Scenario::Mysql => "mysql",
            Scenario::MysqlCompressed => "mysql_compressed",
            Scenario::Redis => "redis",
            Scenario::Postgres => "postgres",
            Scenario::Memcached => "memcached",
            Scenario::Mongo => "mongo",
            Scenario::MongoCompressed => "mongo_compressed",
            Scenario::Kafka => "kafka",
            Scenario::Dubbo => "dubbo",
            Scenario::Mqtt => "mqtt",
            Scenario::Nats => "nats",
            Scenario::Amqp => "amqp",
            Scenario::Zmtp => "zmtp",
            Scenario::OpenWire => "openwire",
            Scenario::Pulsar => "pulsar",
            Scenario::RocketMq => "rocketmq",
            Scenario::SofaRpc => "sofarpc",
            Scenario::Tars => "tars",
            Scenario::Brpc => "brpc",
            Scenario::SomeIp => "someip",
            Scenario::FastCgi => "fastcgi",
            Scenario::Ping => "ping",
            Scenario::SmallFlood => "small_flood",
            Scenario::SynFlood => "syn_flood",
        }
    }

    pub fn from_name(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s)
    }
}

fn request_response(
    c: &mut Conv<'_>,
    t: u64,
    req: usize,
    resp_segments: usize,
    last: usize,
) -> u64 {
    c.tcp(t, true, PSH_ACK, req);
    c.tcp(t + MS, false, ACK, 0);
    let mut t = t + 5 * MS;
    for k in 0..resp_segments {
        let last_seg = k + 1 == resp_segments;
        c.tcp(
            t,
            false,
            if last_seg { PSH_ACK } else { ACK },
            if last_seg { last } else { MSS },
        );
        t += MS / 10;
    }
    c.tcp(t + MS, true, ACK, 0);
    t + MS
}

/// A request/reply message pair and whether the reply is an error (`Some(true)` client's).
type Exchange = (Vec<u8>, Vec<u8>, Option<bool>);

/// A cache connection (Redis, memcached): 2-8 commands answered in under a millisecond.
fn cache_session(
    mut c: Conv<'_>,
    t0: u64,
    rng: &mut Rng,
    proto: &str,
    mut exchange: impl FnMut(&mut Rng) -> Exchange,
) -> Vec<ExpectedFlow> {
    let mut t = c.handshake(t0, MS, MS / 4) + MS;
    for _ in 0..rng.range(2, 8) {
        let (q, r, error) = exchange(rng);
        let t_req = t;
        t = c.message(t, true, &q);
        let t_resp = t + rng.range(100, 900) * MS / 1000;
        t = c.message(t_resp, false, &r);
        c.l7_exchange(proto, t_req, t_resp, error);
        t += rng.range(1, 10) * MS;
    }
    c.close(t);
    vec![c.finish(CloseType::Finish as u8)]
}

/// A connection of `proto` carrying 1 to `most - 1` calls numbered from 1, each `exchange(rng,
/// number)` sent as a query.
fn numbered_calls(
    mut c: Conv<'_>,
    t0: u64,
    rng: &mut Rng,
    proto: &str,
    most: u64,
    mut exchange: impl FnMut(&mut Rng, u64) -> Exchange,
) -> Vec<ExpectedFlow> {
    let mut t = c.handshake(t0, rng.range(1, 5) * MS, MS / 2) + MS;
    for id in 1..=rng.range(1, most) {
        let e = exchange(rng, id);
        t = query(&mut c, t, rng, proto, e);
    }
    c.close(t + 5 * MS);
    vec![c.finish(CloseType::Finish as u8)]
}

/// A database query 1-20 ms after `t`, its reply 1-15 ms later, the client's ACK; returns the
/// time after the reply.
fn query(c: &mut Conv<'_>, t: u64, rng: &mut Rng, proto: &str, (q, r, error): Exchange) -> u64 {
    let t_req = t + rng.range(1, 20) * MS;
    let t = c.message(t_req, true, &q);
    let t_resp = t + rng.range(1, 15) * MS;
    let t = c.message(t_resp, false, &r);
    c.l7_exchange(proto, t_req, t_resp, error);
    c.tcp(t + MS / 2, true, ACK, 0);
    t
}

/// Generates conversation `i` of kind `s` starting at `t0`; returns the expected flows.
pub(crate) fn run(
    s: Scenario,
    i: u64,
    t0: u64,
    traffic: Traffic,
    rng: &mut Rng,
    frames: &mut Vec<(u64, Vec<u8>)>,
) -> Vec<ExpectedFlow> {
    let isn = (rng.next_u64() as u32, rng.next_u64() as u32);
    let port = match s {
        Scenario::Udp | Scenario::Dns => 53,
        Scenario::Bulk | Scenario::Tls => 443,
        Scenario::Grpc => 50051,
        Scenario::Mysql | Scenario::MysqlCompressed => 3306,
        Scenario::Redis => 6379,
        Scenario::Postgres => 5432,
        Scenario::Memcached => 11211,
        Scenario::Mongo | Scenario::MongoCompressed => 27017,
        Scenario::Kafka => 9092,
        Scenario::Dubbo => 20880,
        Scenario::Mqtt => 1883,
        Scenario::Nats => 4222,
        Scenario::Amqp => 5672,
        Scenario::Zmtp => 5555,
        Scenario::OpenWire => 61616,
        Scenario::Pulsar => 6650,
        Scenario::RocketMq => 10911,
        Scenario::SofaRpc => 12200,
        Scenario::Tars => 10015,
        Scenario::Brpc => 8000,
        Scenario::SomeIp => 30509,
        Scenario::FastCgi => 9000,
        Scenario::SmallFlood => 9999,
        _ => 80,
    };
    let mut c = Conv::new(frames, traffic, i, port, s.name(), isn);
    let ct = |x: CloseType| x as u8;
    match s {
        Scenario::Http => {
            let t = c.handshake(t0, 10 * MS, MS);
            let t = request_response(
                &mut c,
                t + 2 * MS,
                rng.range(80, 600) as usize,
                1 + rng.range(0, 3) as usize,
                rng.range(2, MSS as u64) as usize,
            );
            c.close(t + 5 * MS);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::SynRetry => {
            let seq = c.cseq;
            for k in [0, 1000, 3000] {
                c.tcp_at(t0 + k * MS, true, SYN, seq, 0, 65535);
            }
            c.exp.retrans_tx = 2;
            vec![c.finish(ct(CloseType::ClientSynRepeat))]
        }
        Scenario::ServerReset => {
            c.tcp(t0, true, SYN, 0);
            c.tcp(t0 + MS, false, RST_ACK, 0);
            vec![c.finish(ct(CloseType::ServerReset))]
        }
        Scenario::Retransmission => {
            let t = c.handshake(t0, 5 * MS, MS);
            let seq = c.cseq;
            c.tcp(t + MS, true, PSH_ACK, 300);
            c.tcp_at(t + 201 * MS, true, PSH_ACK, seq, 300, 65535);
            c.tcp(t + 202 * MS, false, ACK, 0);
            let sseq = c.sseq;
            c.tcp(t + 210 * MS, false, PSH_ACK, 1000);
            c.tcp_at(t + 410 * MS, false, PSH_ACK, sseq, 1000, 65535);
            c.tcp(t + 411 * MS, true, ACK, 0);
            c.close(t + 420 * MS);
            c.exp.retrans_tx = 1;
            c.exp.retrans_rx = 1;
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::OutOfOrder => {
            let t = c.handshake(t0, 5 * MS, MS);
            c.tcp(t + MS, true, PSH_ACK, 200);
            let sseq = c.sseq;
            c.tcp_at(
                t + 5 * MS,
                false,
                PSH_ACK,
                sseq.wrapping_add(MSS as u32),
                500,
                65535,
            );
            c.tcp_at(t + 6 * MS, false, ACK, sseq, MSS, 65535);
            c.sseq = sseq.wrapping_add(MSS as u32 + 500);
            c.tcp(t + 7 * MS, true, ACK, 0);
            c.close(t + 10 * MS);
            c.exp.ooo_rx = 1;
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::ZeroWindow => {
            let t = c.handshake(t0, 5 * MS, MS);
            c.tcp(t + MS, true, PSH_ACK, 100);
            c.tcp(t + 3 * MS, false, ACK, MSS);
            c.tcp_win(t + 4 * MS, true, ACK, 0, 0);
            c.tcp_win(t + 104 * MS, true, ACK, 0, 0);
            c.tcp(t + 204 * MS, true, ACK, 0);
            c.tcp(t + 205 * MS, false, PSH_ACK, 700);
            c.tcp(t + 206 * MS, true, ACK, 0);
            c.close(t + 210 * MS);
            c.exp.zero_win_tx = 2;
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::HalfClose => {
            let t = c.handshake(t0, 5 * MS, MS);
            c.tcp(t + MS, true, PSH_ACK, 100);
            c.tcp(t + 2 * MS, true, FIN_ACK, 0);
            c.tcp(t + 3 * MS, false, ACK, 0);
            c.tcp(t + 8 * MS, false, PSH_ACK, 900);
            c.tcp(t + 9 * MS, true, ACK, 0);
            vec![c.finish(ct(CloseType::ServerHalfClose))]
        }
        Scenario::PortReuse => {
            let t = c.handshake(t0, 5 * MS, MS);
            let t = request_response(&mut c, t + MS, 100, 1, 200);
            let t = c.close(t + MS);
            let first = c.finish(ct(CloseType::Finish));
            let mut c = Conv::new(
                frames,
                traffic,
                i,
                port,
                s.name(),
                (isn.0.wrapping_add(100_000), isn.1.wrapping_add(7)),
            );
            let t = c.handshake(t + 300 * MS, 5 * MS, MS);
            let t = request_response(&mut c, t + MS, 120, 1, 300);
            c.close(t + MS);
            vec![first, c.finish(ct(CloseType::Finish))]
        }
        Scenario::ClientReset => {
            let t = c.handshake(t0, 5 * MS, MS);
            let t = request_response(&mut c, t + MS, 150, 2, 100);
            c.tcp(t + MS, true, RST_ACK, 0);
            vec![c.finish(ct(CloseType::TcpClientRst))]
        }
        Scenario::HealthCheck => {
            let t = c.handshake(t0, 2 * MS, MS);
            c.tcp(t + MS, true, RST_ACK, 0);
            vec![c.finish(ct(CloseType::TcpFinClientRst))]
        }
        Scenario::Udp => {
            c.udp(t0, true, rng.range(30, 80) as usize);
            c.udp(
                t0 + rng.range(1, 20) * MS,
                false,
                rng.range(60, 400) as usize,
            );
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Bulk => {
            let t = c.handshake(t0, rng.range(1, 30) * MS, rng.range(1, 5) * MS / 2);
            let mut t = t + MS;
            let exchanges = rng.range(1, 4);
            for _ in 0..exchanges {
                t = request_response(
                    &mut c,
                    t,
                    rng.range(100, 900) as usize,
                    rng.range(1, 12) as usize,
                    rng.range(2, MSS as u64) as usize,
                );
                t += rng.range(1, 50) * MS;
            }
            if rng.range(0, 3) == 0 {
                let seq = c.sseq;
                c.tcp(t, false, PSH_ACK, 800);
                c.tcp_at(t + 200 * MS, false, PSH_ACK, seq, 800, 65535);
                c.tcp(t + 201 * MS, true, ACK, 0);
                c.exp.retrans_rx += 1;
                t += 201 * MS;
            }
            c.close(t + MS);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Web => {
            let mut t = c.handshake(t0, rng.range(1, 20) * MS, MS / 2) + MS;
            for _ in 0..rng.range(1, 3) {
                let req = l7::http1_request(rng);
                let t_req = t;
                t = c.message(t, true, &req);
                c.tcp(t + MS / 2, false, ACK, 0);
                let body = rng.range(200, 12_000) as usize;
                let resp = l7::http1_response(rng, body);
                let t_resp = t + rng.range(1, 30) * MS;
                let error = match &resp[9..10] {
                    b"4" => Some(true),
                    b"5" => Some(false),
                    _ => None,
                };
                c.l7_exchange("HTTP", t_req, t_resp, error);
                t = c.message(t_resp, false, &resp);
                c.tcp(t + MS / 2, true, ACK, 0);
                t += rng.range(5, 100) * MS;
            }
            c.close(t);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Dns => {
            let (q, r) = l7::dns_exchange(rng);
            c.udp_data(t0, true, &q);
            let t_resp = t0 + rng.range(1, 40) * MS;
            // NXDOMAIN is a client error.
            let error = (r[3] & 0x0f == 3).then_some(true);
            c.l7_exchange("DNS", t0, t_resp, error);
            c.udp_data(t_resp, false, &r);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Tls => {
            let mut t = c.handshake(t0, rng.range(1, 40) * MS, MS) + MS;
            let t_hello = t;
            t = c.message(t, true, &l7::tls_client_hello(rng));
            let t_server = t + rng.range(1, 20) * MS;
            c.l7_exchange("TLS", t_hello, t_server, None);
            t = c.message(t_server, false, &l7::tls_server_flight(rng));
            t = c.message(t + MS, true, &l7::tls_app_data(rng, 80));
            for _ in 0..rng.range(1, 4) {
                let (req, resp) = (rng.range(100, 600) as usize, rng.range(300, 9000) as usize);
                t = c.message(t + MS, true, &l7::tls_app_data(rng, req));
                let gap = rng.range(2, 40) * MS;
                t = c.message(t + gap, false, &l7::tls_app_data(rng, resp));
                c.tcp(t + MS / 2, true, ACK, 0);
                t += rng.range(5, 60) * MS;
            }
            c.close(t);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Grpc => {
            let mut t = c.handshake(t0, rng.range(1, 10) * MS, MS / 2) + MS;
            for (i, stream) in [1u32, 3, 5]
                .into_iter()
                .take(rng.range(1, 3) as usize)
                .enumerate()
            {
                let t_req = t;
                t = c.message(t, true, &l7::http2_request(rng, stream, i == 0));
                let t_resp = t + rng.range(1, 15) * MS;
                let resp = l7::http2_response(rng, stream, i == 0);
                // The trailers' grpc-status is the last byte: 5 (NOT_FOUND) is a client error.
                let error = (resp.last() == Some(&b'5')).then_some(true);
                c.l7_exchange("gRPC", t_req, t_resp, error);
                t = c.message(t_resp, false, &resp);
                c.tcp(t + MS / 2, true, ACK, 0);
                t += rng.range(2, 40) * MS;
            }
            c.close(t);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Mysql | Scenario::MysqlCompressed => {
            let compressed = s == Scenario::MysqlCompressed;
            let mut t = c.handshake(t0, rng.range(1, 5) * MS, MS / 2) + MS;
            t = c.message(t, false, &l7::mysql_greeting(rng));
            // The login is a request of its own, answered by the OK that ends authentication.
            let t_login = t + MS;
            t = c.message(t_login, true, &l7::mysql_login(compressed));
            let t_ok = t + MS;
            t = c.message(t_ok, false, &l7::mysql_ok(2));
            c.l7_exchange("MySQL", t_login, t_ok, None);
            // Compressed after the login: each command and each reply one compressed packet.
            let wrap = |seq: u8, p: Vec<u8>| {
                if compressed {
                    l7::mysql_compressed(seq, &p)
                } else {
                    p
                }
            };
            for _ in 0..rng.range(1, 4) {
                let t_req = t + rng.range(1, 20) * MS;
                t = c.message(t_req, true, &wrap(0, l7::mysql_query(rng)));
                let rows = rng.range(1, 40) as usize;
                let t_resp = t + rng.range(1, 15) * MS;
                t = c.message(t_resp, false, &wrap(1, l7::mysql_result(rng, rows)));
                c.l7_exchange("MySQL", t_req, t_resp, None);
                c.tcp(t + MS / 2, true, ACK, 0);
            }
            c.close(t + 5 * MS);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Redis => cache_session(c, t0, rng, "Redis", |rng| {
            let (q, r) = l7::redis_exchange(rng);
            (q, r, None)
        }),
        Scenario::Postgres => {
            let mut t = c.handshake(t0, rng.range(1, 5) * MS, MS / 2) + MS;
            t = c.message(t, true, &l7_db::pg_startup());
            t = c.message(t + MS, false, &l7_db::pg_ready());
            for _ in 0..rng.range(1, 4) {
                let exchange = l7_db::pg_exchange(rng);
                t = query(&mut c, t, rng, "PostgreSQL", exchange);
            }
            c.close(t + 5 * MS);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Memcached => cache_session(c, t0, rng, "Memcached", l7_db::memcached_exchange),
        Scenario::Mongo => numbered_calls(c, t0, rng, "MongoDB", 5, |rng, id| {
            l7_db::mongo_exchange(rng, id as u32)
        }),
        Scenario::MongoCompressed => numbered_calls(c, t0, rng, "MongoDB", 5, |rng, id| {
            let (q, r, error) = l7_db::mongo_exchange(rng, id as u32);
            (l7_db::op_compressed(&q), l7_db::op_compressed(&r), error)
        }),
        Scenario::Kafka => numbered_calls(c, t0, rng, "Kafka", 6, |rng, id| {
            l7_msg::kafka_exchange(rng, id as u32)
        }),
        Scenario::Dubbo => numbered_calls(c, t0, rng, "Dubbo", 6, |rng, id| {
            l7_msg::dubbo_exchange(rng, id)
        }),
        Scenario::SofaRpc => numbered_calls(c, t0, rng, "SofaRPC", 6, |rng, id| {
            l7_rpc::sofa_exchange(rng, id as u32)
        }),
        Scenario::OpenWire => {
            let mut t = c.handshake(t0, rng.range(1, 5) * MS, MS / 2) + MS;
            for step in l7_openwire::producer_session(rng, i) {
                match step {
                    l7_openwire::Step::Lone(from_client, msg) => {
                        t = c.message(t + MS / 2, from_client, &msg);
                        c.l7_lone("OpenWire", from_client);
                    }
                    l7_openwire::Step::Call(q, r, error) => {
                        t = query(&mut c, t, rng, "OpenWire", (q, r, error));
                    }
                }
            }
            c.close(t + 5 * MS);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Pulsar => {
            let mut t = c.handshake(t0, rng.range(1, 5) * MS, MS / 2) + MS;
            for step in l7_pulsar::client_session(rng, i) {
                match step {
                    l7_pulsar::Step::Lone(from_client, msg) => {
                        t = c.message(t + MS / 2, from_client, &msg);
                        c.l7_lone("Pulsar", from_client);
                    }
                    l7_pulsar::Step::Call(q, r, error) => {
                        t = query(&mut c, t, rng, "Pulsar", (q, r, error));
                    }
                }
            }
            c.close(t + 5 * MS);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::RocketMq => {
            let mut t = c.handshake(t0, rng.range(1, 5) * MS, MS / 2) + MS;
            for step in l7_rocketmq::client_session(rng, i) {
                match step {
                    l7_rocketmq::Step::OneWay(msg) => {
                        t = c.message(t + MS / 2, true, &msg);
                        c.l7_lone("RocketMQ", true);
                    }
                    l7_rocketmq::Step::Call(q, r, error) => {
                        t = query(&mut c, t, rng, "RocketMQ", (q, r, error));
                    }
                }
            }
            c.close(t + 5 * MS);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Tars => numbered_calls(c, t0, rng, "Tars", 6, |rng, id| {
            l7_rpc::tars_exchange(rng, id as i32)
        }),
        Scenario::Brpc => numbered_calls(c, t0, rng, "bRPC", 6, |rng, id| {
            l7_rpc::brpc_exchange(rng, id as u32 + 2)
        }),
        Scenario::SomeIp => numbered_calls(c, t0, rng, "SomeIP", 6, |rng, id| {
            l7_rpc::someip_exchange(rng, id as u16)
        }),
        Scenario::FastCgi => numbered_calls(c, t0, rng, "FastCGI", 6, |rng, id| {
            l7_rpc::fastcgi_exchange(rng, id as u16)
        }),
        Scenario::Mqtt => {
            let mut t = c.handshake(t0, rng.range(1, 5) * MS, MS / 2) + MS;
            let connect = l7_msg::mqtt_connect(rng, &format!("dev-{i}"));
            let refused = connect.2.is_some();
            t = query(&mut c, t, rng, "MQTT", connect);
            if !refused {
                for id in 1..=rng.range(1, 5) as u16 {
                    let exchange = l7_msg::mqtt_exchange(rng, id);
                    t = query(&mut c, t, rng, "MQTT", exchange);
                }
                t = c.message(t + MS, true, &l7_msg::mqtt_publish_q0(rng));
                c.l7_one_way("MQTT");
                t = c.message(t + MS, true, &[0xe0, 0]);
                c.l7_one_way("MQTT");
            }
            c.close(t + 5 * MS);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Nats => {
            let mut t = c.handshake(t0, rng.range(1, 5) * MS, MS / 2);
            t = c.message(t + MS / 2, false, &l7_msg::nats_info());
            c.l7_one_way("NATS");
            t = query(&mut c, t, rng, "NATS", l7_msg::nats_connect());
            for _ in 0..rng.range(1, 5) {
                let exchange = l7_msg::nats_exchange(rng);
                t = query(&mut c, t, rng, "NATS", exchange);
            }
            c.close(t + 5 * MS);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Amqp => {
            let mut t = c.handshake(t0, rng.range(1, 5) * MS, MS / 2) + MS;
            let (header, opening) = l7_msg::amqp_open();
            t = c.message(t, true, &header);
            for (from_client, req, rep) in opening {
                let t_req = t + MS;
                t = c.message(t_req, from_client, &req);
                let t_rep = t + MS / 2;
                t = c.message(t_rep, !from_client, &rep);
                c.l7_exchange("AMQP", t_req, t_rep, None);
            }
            for _ in 0..rng.range(1, 4) {
                let exchange = l7_msg::amqp_exchange(rng);
                t = query(&mut c, t, rng, "AMQP", exchange);
            }
            t = c.message(t + MS, true, &l7_msg::amqp_publish(rng));
            c.l7_one_way("AMQP");
            c.close(t + 5 * MS);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Zmtp => {
            let mut t = c.handshake(t0, rng.range(1, 5) * MS, MS / 2) + MS;
            // Greetings and READY commands: rows of their own, by who sent them.
            for (from_client, msg) in [
                (true, l7_msg::zmtp_greeting()),
                (false, l7_msg::zmtp_greeting()),
                (true, l7_msg::zmtp_ready(b"REQ")),
                (false, l7_msg::zmtp_ready(b"REP")),
            ] {
                t = c.message(t + MS / 2, from_client, &msg);
                c.l7_lone("ZMTP", from_client);
            }
            for _ in 0..rng.range(1, 5) {
                let exchange = l7_msg::zmtp_exchange(rng);
                t = query(&mut c, t, rng, "ZMTP", exchange);
            }
            c.close(t + 5 * MS);
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::Ping => {
            let id = (i % 65_536) as u16;
            let data = 56; // ping's default
            let echoes = rng.range(2, 5) as u16;
            let mut t = t0;
            for seq in 1..=echoes {
                c.icmp_echo(t, true, (id, seq), data);
                if seq < echoes || rng.range(0, 2) == 0 {
                    let t_resp = t + rng.range(1, 20) * MS / 10;
                    c.l7_exchange("Ping", t, t_resp, None);
                    c.icmp_echo(t_resp, false, (id, seq), data);
                } else {
                    // Unanswered: a timeout row when the flow ends.
                    c.l7_one_way("Ping");
                }
                t += 10 * MS;
            }
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::SmallFlood => {
            // 18 bytes of UDP payload: a 60-byte frame (64 on the wire with the FCS).
            for k in 0..8 {
                c.udp_data(t0 + k * MS / 20, true, &[0x55; 18]);
            }
            vec![c.finish(ct(CloseType::Finish))]
        }
        Scenario::SynFlood => {
            c.tcp(t0, true, SYN, 0);
            vec![c.finish(ct(CloseType::ClientSynRepeat))]
        }
    }
}
