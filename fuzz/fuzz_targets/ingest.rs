//! What the ingester reads from an agent's connection: any bytes as a stream of DeepFlow frames
//! (header checks, zstd bodies, length-prefixed l4 / l7 / metrics messages into records, agents'
//! self-monitoring messages into `deepflow_system` rows, forwarded integration data into span,
//! sample, line, profile-stack and application-log rows).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapflow_control::ingest::frame::{Header, MessageType, HEADER_LEN};
use tapflow_control::ingest::receiver::{
    decode_app_logs, decode_forwarded, decode_frame, decode_profiles, decode_stats,
};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Some(head) = rest.get(..HEADER_LEN) {
        let Ok(h) = Header::parse(head.try_into().expect("19 bytes")) else {
            return;
        };
        let body_len = h.body_len().min(rest.len() - HEADER_LEN);
        let body = &rest[HEADER_LEN..HEADER_LEN + body_len];
        if let Ok(MessageType::DeepflowStats) = h.message_type() {
            if let Ok(reports) = decode_stats(&h, body) {
                for s in &reports {
                    let row = tapflow_control::ingest::self_stats::row(h.origin.agent_id, s);
                    drop(serde_json::to_vec(&row));
                    let mut rb = Vec::new();
                    tapflow_control::clickhouse::system::encode(h.origin.agent_id, s, &mut rb);
                }
            }
        } else if let Ok(MessageType::Profile) = h.message_type() {
            if let Ok((rows, _)) = decode_profiles(&h, body, 0) {
                let mut rb = Vec::new();
                for r in &rows {
                    drop(serde_json::to_vec(&r.to_json()));
                    tapflow_control::clickhouse::profile_in_process::encode(r, 1, &mut rb);
                }
            }
        } else if let Ok(MessageType::ApplicationLog) = h.message_type() {
            if let Ok(d) = decode_app_logs(&h, body, None) {
                let mut rb = Vec::new();
                for r in &d.rows {
                    drop(serde_json::to_vec(&r.to_json()));
                    tapflow_control::clickhouse::application_log::encode(r, 1, &mut rb);
                }
            }
        } else if let Some(t) = h
            .message_type()
            .ok()
            .filter(|t| MessageType::INTEGRATION.contains(t))
        {
            if let Ok(rows) = decode_forwarded(&h, t, body) {
                rows.iter().for_each(|r| drop(serde_json::to_vec(r)));
            }
        } else if let Ok(t) = h.message_type() {
            if let Ok(batch) = decode_frame(&h, t, body) {
                // Every decoded record serialises (the store writes each one).
                batch.for_each(|r| drop(serde_json::to_vec(&r)));
            }
        }
        rest = &rest[HEADER_LEN + body_len..];
    }
});
