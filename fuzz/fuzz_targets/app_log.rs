//! Application logs on both sides: what the integration collector makes of any body posted to
//! `/api/v1/log` (checked as JSON, cut between entries by a scanner of strings and nesting) and
//! what `tapflow server` makes of each message. The first two bytes choose the largest
//! message; the rest is the body. Whatever is accepted comes out as JSON arrays no larger than
//! that, holding the body's entries once each and in order; each array decodes into rows that
//! serialise and encode as `application_log.log` rows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tapflow_control::app_log::decode;
use tapflow_control::clickhouse::application_log::encode;
use tapflow_control::integration::app_logs::messages;

fuzz_target!(|data: &[u8]| {
    let Some((head, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let max = 16 + usize::from(u16::from_le_bytes(*head));
    let Ok(pieces) = messages(body, max) else {
        return;
    };
    // Bytes that are not UTF-8 are read as U+FFFD on both sides.
    let text = String::from_utf8_lossy(body);
    let whole: Value = serde_json::from_str(&text).expect("accepted bodies are JSON");
    let want = match whole {
        Value::Array(a) => a,
        o => vec![o],
    };
    let mut got = Vec::new();
    let mut rb = Vec::new();
    for p in &pieces {
        assert!(p.len() <= max, "{} > {max}", p.len());
        let entries: Vec<Value> = serde_json::from_slice(p).expect("a piece is a JSON array");
        got.extend(entries);
        if let Ok(d) = decode(3, None, p) {
            for r in &d.rows {
                drop(serde_json::to_vec(&r.to_json()));
                encode(r, 1, &mut rb);
            }
        }
    }
    assert_eq!(got, want, "the pieces hold the body's entries");
});
