//! Pulsar payloads for generated conversations, as Apache's clients and brokers write them: a
//! frame (total size, command size) around a protobuf `BaseCommand`, and for `SEND` and
//! `MESSAGE` the message after it (checksum magic, metadata with properties, payload).

use super::pb::Pb;
use super::Rng;

/// One step of a connection: a command that is a row of its own (sent by the client?), or a
/// request and its answer (whether the answer is an error: `Some(false)` the broker's).
pub(crate) enum Step {
    Lone(bool, Vec<u8>),
    Call(Vec<u8>, Vec<u8>, Option<bool>),
}

fn frame(kind: u64, body: Pb, message: &[u8]) -> Vec<u8> {
    let cmd = Pb::default().int(1, kind).bytes(kind, &body.0).0;
    let mut f = Vec::with_capacity(8 + cmd.len() + message.len());
    f.extend(((4 + cmd.len() + message.len()) as u32).to_be_bytes());
    f.extend((cmd.len() as u32).to_be_bytes());
    f.extend(cmd);
    f.extend(message);
    f
}

fn message(producer: &str, sequence: u64, conn: u64, payload: usize) -> Vec<u8> {
    let parent = format!("00-{conn:032x}-{:016x}-01", sequence + 1);
    let property = Pb::default()
        .bytes(1, b"traceparent")
        .bytes(2, parent.as_bytes());
    let meta = Pb::default()
        .bytes(1, producer.as_bytes())
        .int(2, sequence)
        .int(3, 1_764_979_200_000 + sequence)
        .bytes(4, &property.0);
    let mut m = vec![0x0e, 0x01, 0x12, 0x34, 0x56, 0x78];
    m.extend((meta.0.len() as u32).to_be_bytes());
    m.extend(meta.0);
    m.extend(std::iter::repeat_n(b'x', payload));
    m
}

fn message_id(entry: u64) -> Vec<u8> {
    Pb::default().int(1, 7).int(2, entry).0
}

/// A client's connection: CONNECT, LOOKUP, then either a producer (one in eight refused, which
/// ends the connection; 1-4 sends, one in six failing with a SEND_ERROR; CLOSE_PRODUCER) or a
/// consumer (SUBSCRIBE, FLOW, 1-4 pushed messages, their ACK, CLOSE_CONSUMER).
pub(crate) fn client_session(rng: &mut Rng, conn: u64) -> Vec<Step> {
    let topic = ["orders", "payments", "audit-log"][rng.range(0, 2) as usize];
    let topic = format!("persistent://public/default/{topic}");
    let mut steps = vec![
        Step::Call(
            frame(
                2,
                Pb::default()
                    .bytes(1, b"Pulsar-Java-v3.3.0")
                    .int(4, 19)
                    .bytes(5, b"none"),
                &[],
            ),
            frame(
                3,
                Pb::default().bytes(1, b"Pulsar Server3.3.0").int(2, 19),
                &[],
            ),
            None,
        ),
        Step::Call(
            frame(23, Pb::default().bytes(1, topic.as_bytes()).int(2, 1), &[]),
            frame(
                24,
                Pb::default()
                    .bytes(1, b"pulsar://broker-1:6650")
                    .int(3, 1)
                    .int(4, 1),
                &[],
            ),
            None,
        ),
    ];
    let id = 0;
    if rng.range(0, 1) == 0 {
        let producer = format!("gen-{conn}");
        let create = frame(
            5,
            Pb::default()
                .bytes(1, topic.as_bytes())
                .int(2, id)
                .int(3, 2),
            &[],
        );
        if rng.range(0, 7) == 0 {
            let refused = Pb::default()
                .int(1, 2)
                .int(2, 4)
                .bytes(3, b"Client is not authorized to Publish");
            steps.push(Step::Call(create, frame(14, refused, &[]), Some(false)));
            return steps;
        }
        let ok = Pb::default().int(1, 2).bytes(2, producer.as_bytes());
        steps.push(Step::Call(create, frame(17, ok, &[]), None));
        for seq in 0..rng.range(1, 4) {
            let payload = rng.range(8, 3000) as usize;
            let send = frame(
                6,
                Pb::default().int(1, id).int(2, seq),
                &message(&producer, seq, conn, payload),
            );
            if rng.range(0, 5) == 0 {
                let error = Pb::default()
                    .int(1, id)
                    .int(2, seq)
                    .int(3, 2)
                    .bytes(4, b"Could not persist the entry");
                steps.push(Step::Call(send, frame(8, error, &[]), Some(false)));
            } else {
                let receipt = Pb::default()
                    .int(1, id)
                    .int(2, seq)
                    .bytes(3, &message_id(conn * 8 + seq));
                steps.push(Step::Call(send, frame(7, receipt, &[]), None));
            }
        }
        let close = frame(15, Pb::default().int(1, id).int(2, 3), &[]);
        steps.push(Step::Call(
            close,
            frame(13, Pb::default().int(1, 3), &[]),
            None,
        ));
        return steps;
    }
    let subscribe = Pb::default()
        .bytes(1, topic.as_bytes())
        .bytes(2, b"billing")
        .int(3, 0)
        .int(4, id)
        .int(5, 2);
    steps.push(Step::Call(
        frame(4, subscribe, &[]),
        frame(13, Pb::default().int(1, 2), &[]),
        None,
    ));
    steps.push(Step::Lone(
        true,
        frame(11, Pb::default().int(1, id).int(2, 1000), &[]),
    ));
    let n = rng.range(1, 4);
    for seq in 0..n {
        let pushed = Pb::default()
            .int(1, id)
            .bytes(2, &message_id(conn * 8 + seq));
        let payload = rng.range(8, 3000) as usize;
        let m = message("gen-producer", seq, conn, payload);
        steps.push(Step::Lone(false, frame(9, pushed, &m)));
    }
    let mut ack = Pb::default().int(1, id).int(2, 0);
    for seq in 0..n {
        ack = ack.bytes(3, &message_id(conn * 8 + seq));
    }
    steps.push(Step::Lone(true, frame(10, ack, &[])));
    let close = frame(16, Pb::default().int(1, id).int(2, 3), &[]);
    steps.push(Step::Call(
        close,
        frame(13, Pb::default().int(1, 3), &[]),
        None,
    ));
    steps
}
