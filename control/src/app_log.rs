//! Application logs agents forward (DeepFlow's `ApplicationLog` messages, type 17): each message
//! is a JSON array of log entries as Vector's HTTP sink posts them to an agent's `/api/v1/log`
//! (DeepFlow's documented pipeline), read as DeepFlow's server reads them (its
//! `app_log/decoder`): `timestamp` (RFC 3339) and `message` are required, `level` gives the
//! severity number, `_df_log_type` the log type (`user` unless `system`, `audit` or `agent`),
//! `app_service` the service, the keys of a `json` object and the Kubernetes pod's name and
//! address become attributes, and the address is the pod's or else the agent's. tapflow also
//! keeps the level as written (`severity_text`, which DeepFlow leaves empty) and takes a single
//! entry sent as an object. An entry lacking its time or text is skipped and counted; a message
//! that is not JSON fails its frame.

use std::net::IpAddr;

use serde_json::{json, Value};

use crate::ingest::frame::FrameError;

/// The log types, as DeepFlow's `_type` enum numbers them.
pub const LOG_TYPES: [&str; 4] = ["user", "system", "audit", "agent"];

/// Attributes kept per entry at most, and bytes of a body or a value (longer ones are cut).
pub const MAX_ATTRIBUTES: usize = 256;
pub const MAX_TEXT: usize = 64 << 10;

/// One stored log entry (DeepFlow's `ApplicationLogStore`, without the resource tags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppLogRow {
    /// Seconds and microseconds since the epoch.
    pub time: u32,
    pub timestamp_us: i64,
    /// Index into [`LOG_TYPES`].
    pub log_type: u8,
    pub severity_text: String,
    pub severity_number: u8,
    pub body: String,
    pub app_service: String,
    pub agent_id: u16,
    pub user_id: u32,
    pub ip: Option<IpAddr>,
    pub attribute_names: Vec<String>,
    pub attribute_values: Vec<String>,
}

/// What a message held: its rows, and entries skipped (no time, no text, not an object).
#[derive(Debug, Default)]
pub struct Decoded {
    pub rows: Vec<AppLogRow>,
    pub skipped: u64,
}

/// DeepFlow's severity number of a level (syslog's: 2 fatal .. 6 debug, 7 trace, 8 unknown).
pub fn severity(level: &str) -> u8 {
    let l = level.trim().to_ascii_uppercase();
    // The six names also come with a 2, 3 or 4 after them (`ERROR2`).
    let base = match l.strip_suffix(['2', '3', '4']) {
        Some(b) if ["FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&b) => b,
        _ => &l,
    };
    match base {
        "FATAL" | "CRITICAL" | "FATA" | "CRIT" => 2,
        "ERROR" | "ERRO" => 3,
        "WARN" | "WARNING" => 4,
        "INFO" => 5,
        "DEBUG" | "DEBU" => 6,
        "TRACE" => 7,
        _ => 8,
    }
}

/// The log type's index: `user` unless the name is another of [`LOG_TYPES`].
pub fn log_type(name: &str) -> u8 {
    LOG_TYPES
        .iter()
        .position(|t| t.eq_ignore_ascii_case(name))
        .unwrap_or(0) as u8
}

/// The entries of one message from `agent_id` connected from `peer` (bytes that are not UTF-8
/// read as U+FFFD, as DeepFlow's server reads them).
pub fn decode(agent_id: u16, peer: Option<IpAddr>, msg: &[u8]) -> Result<Decoded, FrameError> {
    let text = String::from_utf8_lossy(msg);
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| FrameError::Decode(format!("application log: {e}")))?;
    let entries = match v {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        _ => {
            return Err(FrameError::Decode(
                "application log: not a JSON array".into(),
            ))
        }
    };
    let mut d = Decoded::default();
    for e in &entries {
        match entry(agent_id, peer, e) {
            Some(r) => d.rows.push(r),
            None => d.skipped += 1,
        }
    }
    Ok(d)
}

fn text(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    cut(s)
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn entry(agent_id: u16, peer: Option<IpAddr>, e: &Value) -> Option<AppLogRow> {
    let o = e.as_object()?;
    let us = rfc3339_us(o.get("timestamp")?.as_str()?)?;
    let body = text(o.get("message")?);
    if body.is_empty() {
        return None;
    }
    let field = |k: &str| o.get(k).map(text).unwrap_or_default();
    let level = field("level");
    let mut r = AppLogRow {
        time: u32::try_from(us.div_euclid(1_000_000)).ok()?,
        timestamp_us: us,
        log_type: log_type(&field("_df_log_type")),
        severity_number: severity(&level),
        severity_text: level,
        body,
        app_service: field("app_service"),
        agent_id,
        user_id: o
            .get("user_id")
            .and_then(Value::as_u64)
            .and_then(|u| u32::try_from(u).ok())
            .unwrap_or(0),
        ip: peer,
        ..AppLogRow::default()
    };
    if let Some(Value::Object(attrs)) = o.get("json") {
        for (k, v) in attrs.iter().take(MAX_ATTRIBUTES) {
            r.attribute_names.push(cut(k.clone()));
            r.attribute_values.push(text(v));
        }
    }
    if let Some(Value::Object(k8s)) = o.get("kubernetes") {
        let pod_ip = k8s.get("pod_ip").map(text).unwrap_or_default();
        if !pod_ip.is_empty() {
            let pod_name = k8s.get("pod_name").map(text).unwrap_or_default();
            r.ip = pod_ip.parse().ok().or(r.ip);
            r.attribute_names
                .extend(["pod_ip".into(), "pod_name".into()]);
            r.attribute_values.extend([pod_ip, pod_name]);
        }
    }
    Some(r)
}

impl AppLogRow {
    /// The row as stored in `application_logs.jsonl` (DeepFlow's column names).
    pub fn to_json(&self) -> Value {
        json!({
            "time": self.time,
            "timestamp": self.timestamp_us,
            "_type": LOG_TYPES[usize::from(self.log_type).min(3)],
            "severity_text": self.severity_text,
            "severity_number": self.severity_number,
            "body": self.body,
            "app_service": self.app_service,
            "agent_id": self.agent_id,
            "user_id": self.user_id,
            "ip": self.ip.map(|i| i.to_string()),
            "attribute_names": self.attribute_names,
            "attribute_values": self.attribute_values,
        })
    }
}

/// Microseconds since the epoch of an RFC 3339 date-time (`2024-04-30T10:26:47.038297Z`,
/// `...+08:00`; a fraction of any length, read to the microsecond).
pub fn rfc3339_us(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        d.iter().all(u8::is_ascii_digit).then_some(())?;
        std::str::from_utf8(d).ok()?.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b.get(i) != Some(&c))
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let mut at = 19;
    let mut micros = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 6 {
                micros = micros * 10 + i64::from(b[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return None;
        }
        for _ in (at - start).min(6)..6 {
            micros *= 10;
        }
    }
    let offset = match b.get(at)? {
        b'Z' | b'z' if at + 1 == b.len() => 0,
        c @ (b'+' | b'-') if at + 6 == b.len() && b[at + 3] == b':' => {
            let o = num(at + 1..at + 3)? * 3600 + num(at + 4..at + 6)? * 60;
            if *c == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_to_the_microsecond_with_their_offset() {
        assert_eq!(rfc3339_us("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_us("2024-04-30T10:26:47.038297752+08:00"),
            Some(1_714_444_007_038_297)
        );
        assert_eq!(
            rfc3339_us("2024-04-30T02:26:47.5Z"),
            Some(1_714_444_007_500_000)
        );
        assert_eq!(
            rfc3339_us("2000-02-29T00:00:00-01:30"),
            Some(951_787_800_000_000)
        );
        for bad in [
            "",
            "2024-04-30",
            "2024-04-30T10:26:47",
            "2024-13-30T10:26:47Z",
            "2024-04-30T10:26:47.Z",
            "2024-04-30T10:26:47+0800",
            "2024-04-30T10:26:47Zjunk",
            "2024-04-30X10:26:47Z",
            "２０２４-04-30T10:26:47Z",
        ] {
            assert_eq!(rfc3339_us(bad), None, "{bad}");
        }
    }

    #[test]
    fn severities_and_types_are_deepflows() {
        for (l, n) in [
            ("error", 3),
            ("WARN", 4),
            ("Warning", 4),
            ("info", 5),
            ("debug2", 6),
            ("FATAL4", 2),
            ("crit", 2),
            ("trace", 7),
            ("", 8),
            ("verbose", 8),
            ("INFO5", 8),
        ] {
            assert_eq!(severity(l), n, "{l}");
        }
        assert_eq!(log_type("audit"), 2);
        assert_eq!(log_type("AGENT"), 3);
        assert_eq!(log_type("anything"), 0);
    }

    #[test]
    fn entries_as_vector_and_winston_send_them() {
        let peer = Some("10.1.2.3".parse().unwrap());
        let msg = br#"[
            {"message": "GET /cart 200", "timestamp": "2024-04-30T02:26:47.5Z", "level": "info",
             "_df_log_type": "user", "app_service": "shop",
             "json": {"status": 200, "path": "/cart"},
             "kubernetes": {"pod_name": "shop-1", "pod_ip": "10.244.0.7"}},
            {"message": "no time"},
            {"message": "", "timestamp": "2024-04-30T02:26:47Z"},
            {"message": "disk full", "timestamp": "2024-04-30T02:26:48Z", "level": "ERROR",
             "user_id": 7},
            "not an object"
        ]"#;
        let d = decode(9, peer, msg).unwrap();
        assert_eq!((d.rows.len(), d.skipped), (2, 3));
        let a = &d.rows[0];
        assert_eq!(
            (a.time, a.timestamp_us),
            (1_714_444_007, 1_714_444_007_500_000)
        );
        assert_eq!((a.severity_number, a.severity_text.as_str()), (5, "info"));
        assert_eq!(
            (a.body.as_str(), a.app_service.as_str()),
            ("GET /cart 200", "shop")
        );
        assert_eq!(a.ip, Some("10.244.0.7".parse().unwrap()));
        assert_eq!(a.attribute_names, ["path", "status", "pod_ip", "pod_name"]);
        assert_eq!(a.attribute_values, ["/cart", "200", "10.244.0.7", "shop-1"]);
        let b = &d.rows[1];
        assert_eq!((b.severity_number, b.user_id, b.ip), (3, 7, peer));
        assert_eq!(b.to_json()["_type"], "user");
        // One entry as an object; not JSON; not an array or object.
        let one = decode(
            1,
            None,
            br#"{"message":"m","timestamp":"2024-01-01T00:00:00Z"}"#,
        );
        assert_eq!(one.unwrap().rows.len(), 1);
        assert!(decode(1, None, b"{not json").is_err());
        let latin1 = decode(
            1,
            None,
            b"[{\"message\":\"caf\xe9\",\"timestamp\":\"2024-01-01T00:00:00Z\"}]",
        );
        assert_eq!(latin1.unwrap().rows[0].body, "caf\u{fffd}");
        assert!(decode(1, None, b"42").is_err());
        // Long texts are cut at a character boundary.
        let long = format!(
            r#"[{{"message":"{}","timestamp":"2024-01-01T00:00:00Z"}}]"#,
            "é".repeat(MAX_TEXT)
        );
        let r = &decode(1, None, long.as_bytes()).unwrap().rows[0];
        assert!(r.body.len() <= MAX_TEXT && r.body.len() > MAX_TEXT - 2);
    }
}
