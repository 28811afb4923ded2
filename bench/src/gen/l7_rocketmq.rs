//! RocketMQ payloads for generated conversations, as Java's client and broker write them: a
//! frame (length, serialization and header length) around a JSON header, then the body; pulled
//! messages in the broker's store format.

use super::Rng;

/// One step of a connection: a one-way request (a row of its own), or a request and its answer
/// (whether the answer is an error and whose: `Some(true)` the client's).
pub(crate) enum Step {
    OneWay(Vec<u8>),
    Call(Vec<u8>, Vec<u8>, Option<bool>),
}

/// `MQVersion` of RocketMQ 4.9.4.
const VERSION: u32 = 401;

fn frame(header: &str, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + header.len() + body.len());
    f.extend(((4 + header.len() + body.len()) as u32).to_be_bytes());
    f.extend((header.len() as u32).to_be_bytes());
    f.extend(header.as_bytes());
    f.extend(body);
    f
}

fn request(code: u32, opaque: u32, flag: u32, ext: &str, body: &[u8]) -> Vec<u8> {
    frame(
        &format!(
            r#"{{"code":{code},"extFields":{{{ext}}},"flag":{flag},"language":"JAVA","opaque":{opaque},"serializeTypeCurrentRPC":"JSON","version":{VERSION}}}"#
        ),
        body,
    )
}

fn response(code: u32, opaque: u32, remark: &str, ext: &str, body: &[u8]) -> Vec<u8> {
    let remark = if remark.is_empty() {
        String::new()
    } else {
        format!(r#","remark":"{remark}""#)
    };
    frame(
        &format!(
            r#"{{"code":{code},"extFields":{{{ext}}},"flag":1,"language":"JAVA","opaque":{opaque}{remark},"serializeTypeCurrentRPC":"JSON","version":{VERSION}}}"#
        ),
        body,
    )
}

fn properties(conn: u64, n: u64) -> String {
    format!(
        r#"UNIQ_KEY\u0001C0A8000100002A9F{conn:08X}{n:08X}\u0002traceparent\u000100-{conn:032x}-{:016x}-01\u0002WAIT\u0001true"#,
        n + 1
    )
}

/// One message in the store format, its properties unescaped.
fn stored(conn: u64, n: u64, topic: &str, payload: usize) -> Vec<u8> {
    let props = properties(conn, n)
        .replace("\\u0001", "\u{1}")
        .replace("\\u0002", "\u{2}");
    let mut m = vec![0; 4];
    m.extend(0xdaa3_20a7u32.to_be_bytes());
    m.extend([0; 12]); // body CRC, queue id, flag
    m.extend(n.to_be_bytes());
    m.extend((4096 + n).to_be_bytes());
    m.extend([0; 4]); // sys flag
    m.extend(1_764_979_200_000u64.to_be_bytes());
    m.extend([10, 0, 0, 1, 0, 0, 0x9c, 0x40]);
    m.extend(1_764_979_200_001u64.to_be_bytes());
    m.extend([10, 0, 0, 2, 0, 0, 0x2a, 0x9f]);
    m.extend([0; 12]); // reconsume times, prepared transaction offset
    m.extend((payload as u32).to_be_bytes());
    m.extend(std::iter::repeat_n(b'x', payload));
    m.push(topic.len() as u8);
    m.extend(topic.as_bytes());
    m.extend((props.len() as u16).to_be_bytes());
    m.extend(props.as_bytes());
    let total = m.len() as u32;
    m[..4].copy_from_slice(&total.to_be_bytes());
    m
}

/// A client's connection to a broker: a heartbeat, then a producer's 1-4 sends (one in six
/// refused with SYSTEM_BUSY, one in eight to a topic the broker does not know) or a consumer's
/// pull that finds 1-3 messages, a pull that finds none and a one-way offset update; then the
/// client unregisters.
pub(crate) fn client_session(rng: &mut Rng, conn: u64) -> Vec<Step> {
    let topic = ["TopicTest", "OrderEvents", "AuditLog"][rng.range(0, 2) as usize];
    let queue = rng.range(0, 3);
    let mut opaque = (conn as u32).wrapping_mul(16);
    let mut next = || {
        opaque = opaque.wrapping_add(1);
        opaque
    };
    let id = next();
    let mut steps = vec![Step::Call(
        request(
            34,
            id,
            0,
            "",
            br#"{"clientID":"10.0.0.1@1","producerDataSet":[]}"#,
        ),
        response(0, id, "", "", b""),
        None,
    )];
    if rng.range(0, 1) == 0 {
        for n in 0..rng.range(1, 4) {
            let id = next();
            let missing = rng.range(0, 7) == 0;
            let t = if missing { "NoSuchTopic" } else { topic };
            let ext = format!(
                r#""a":"pg","b":"{t}","c":"TBW102","d":"4","e":"{queue}","f":"0","g":"1764979200000","h":"0","i":"{}","j":"0","k":"false","m":"false""#,
                properties(conn, n)
            );
            let payload = vec![b'x'; rng.range(8, 2000) as usize];
            let send = request(310, id, 0, &ext, &payload);
            let answer = if missing {
                let remark = format!("topic[{t}] not exist, apply first please!");
                (response(17, id, &remark, "", b""), Some(true))
            } else if rng.range(0, 5) == 0 {
                let remark = "[REJECTREQUEST]system busy, start flow control for a while";
                (response(2, id, remark, "", b""), Some(false))
            } else {
                let ext = format!(r#""msgId":"0A000002000029FF{n:016X}","queueId":"{queue}""#);
                (response(0, id, "", &ext, b""), None)
            };
            steps.push(Step::Call(send, answer.0, answer.1));
        }
    } else {
        let pull = |id: u32, offset: u64| {
            let ext = format!(
                r#""consumerGroup":"cg","topic":"{topic}","queueId":"{queue}","queueOffset":"{offset}","maxMsgNums":"32""#
            );
            request(11, id, 0, &ext, b"")
        };
        let n = rng.range(1, 3);
        let messages: Vec<u8> = (0..n)
            .flat_map(|i| stored(conn, i, topic, rng.range(8, 600) as usize))
            .collect();
        let id = next();
        let ext = format!(r#""nextBeginOffset":"{n}","minOffset":"0","maxOffset":"{n}""#);
        steps.push(Step::Call(
            pull(id, 0),
            response(0, id, "FOUND", &ext, &messages),
            None,
        ));
        let id = next();
        steps.push(Step::Call(
            pull(id, n),
            response(19, id, "No new message", "", b""),
            None,
        ));
        let ext = format!(
            r#""consumerGroup":"cg","topic":"{topic}","queueId":"{queue}","commitOffset":"{n}""#
        );
        steps.push(Step::OneWay(request(15, next(), 2, &ext, b"")));
    }
    let id = next();
    steps.push(Step::Call(
        request(
            35,
            id,
            0,
            r#""clientID":"10.0.0.1@1","producerGroup":"pg""#,
            b"",
        ),
        response(0, id, "", "", b""),
        None,
    ));
    steps
}
