//! Profiles agents forward (DeepFlow's message type 13, `metric.Profile`) as rows of stacks,
//! the way DeepFlow's server fills `profile.in_process`: a row per distinct stack of a profile
//! and event, its value summed, the stack root first as one `;`-joined line.
//!
//! An application's profile (event type External) comes from an agent's integration collector
//! as a Pyroscope ingest request: `name` is pyroscope's key (`app{tag=value,...}`,
//! percent-encoded), `format` says how `data` is written: `pprof` ([`pprof`], a bare profile or
//! the `profile` part of a multipart form, gzipped or not), pyroscope's collapsed text
//! (`folded`, `groups` or none, [`text`]), its `lines`, or a Java Flight Recorder recording
//! (`jfr`, [`jfr`], what Pyroscope's Java agent sends). `trie`, `tree` and `speedscope` are
//! counted, not read. An eBPF profile (DeepFlow's agent's profiler) is a stack per line worth
//! `wide_count`. `data_compressed`: `data` is zstd.
//!
//! Decoding is bounded: decompression takes from the frame's budget, a profile's distinct
//! stacks are at most [`MAX_STACKS`] (the rest counted).

pub mod jfr;
pub mod pprof;
pub mod text;

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;

use serde_json::{json, Map, Value};

use crate::ingest::forwarded_rows::Budget;
use crate::ingest::FrameError;
use crate::rpc::metric;

/// Distinct stacks one profile message gives at most.
pub const MAX_STACKS: usize = 100_000;

/// What a stack's value is summed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackKey {
    pub event: String,
    pub unit: String,
    pub stack: String,
    /// pprof sample labels (tag, value).
    pub labels: Vec<(String, String)>,
}

/// Stacks and their summed values, bounded.
#[derive(Debug)]
pub struct Stacks {
    map: HashMap<StackKey, i64>,
    max: usize,
    /// Stacks past the bound (not kept).
    pub dropped: u64,
}

impl Stacks {
    pub fn new(max: usize) -> Self {
        Stacks {
            map: HashMap::new(),
            max,
            dropped: 0,
        }
    }

    pub fn add(&mut self, k: StackKey, v: i64) {
        if let Some(x) = self.map.get_mut(&k) {
            *x = x.saturating_add(v);
        } else if self.map.len() < self.max {
            self.map.insert(k, v);
        } else {
            self.dropped += 1;
        }
    }

    pub fn into_rows(self) -> Vec<(StackKey, i64)> {
        let mut v: Vec<_> = self.map.into_iter().collect();
        v.sort();
        v
    }
}

/// One stack of one profile: a row of `profile.in_process`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileRow {
    pub agent_id: u16,
    /// The profile's start (Unix seconds).
    pub time: u32,
    pub ip: Option<IpAddr>,
    pub app_service: String,
    pub app_instance: String,
    pub location: String,
    pub value: i64,
    pub unit: String,
    pub event_type: String,
    /// The profile's start, and when the server took it (Unix microseconds).
    pub create_us: i64,
    pub in_us: i64,
    pub language: String,
    pub profile_id: String,
    pub trace_id: String,
    pub span_name: String,
    pub tag_names: Vec<String>,
    pub tag_values: Vec<String>,
    pub process_id: u32,
    pub process_start_ms: i64,
    pub spy_name: String,
    pub format: String,
    /// The profile's end (Unix seconds) and its sampling rate (Hz, 0: not said).
    pub until: u32,
    pub sample_rate: u32,
}

/// One profile message's rows, and what of it was not read.
#[derive(Debug, Default)]
pub struct Decoded {
    pub rows: Vec<ProfileRow>,
    /// Its format is not read (jfr, trie, tree, speedscope).
    pub unsupported: bool,
    /// Its data is not what its format says (bad pprof, no profile part, bad gzip or zstd).
    pub malformed: bool,
    /// Text lines that are not stacks, and stacks past [`MAX_STACKS`].
    pub skipped_lines: u64,
    pub dropped_stacks: u64,
}

/// The language of pyroscope's spy names (DeepFlow's `profile_language_type`).
pub fn language(spy: &str) -> &'static str {
    match spy {
        "gospy" => "Golang",
        "javaspy" => "Java",
        "pyspy" => "python",
        "rbspy" => "ruby",
        "phpspy" => "PHP",
        "dotnetspy" => "dotnet",
        "nodespy" => "Node",
        "eBPF" => "eBPF",
        _ => "",
    }
}

/// Profile types pyroscope names as a suffix of the application's name (`app.cpu`).
const NAME_SUFFIXES: &[&str] = &[
    "cpu",
    "itimer",
    "wall",
    "alloc_objects",
    "alloc_space",
    "inuse_objects",
    "inuse_space",
    "goroutines",
    "mutex_count",
    "mutex_duration",
    "block_count",
    "block_duration",
    "lock_count",
    "lock_duration",
    "alloc_in_new_tlab_objects",
    "alloc_in_new_tlab_bytes",
    "alloc_outside_tlab_objects",
    "alloc_outside_tlab_bytes",
];

/// A pyroscope key (`app.cpu{env=prod,region=eu}`, percent-encoded as sent): the
/// application, the profile type its name ends with (if one), and its tags. A key that does not
/// parse is the application's name whole, as DeepFlow's server takes it.
pub fn parse_key(raw: &str) -> (String, Option<&'static str>, Vec<(String, String)>) {
    let key = percent_decode(raw);
    let (name, tags) = match key.split_once('{') {
        Some((n, rest)) if rest.ends_with('}') => {
            let inner = &rest[..rest.len() - 1];
            let tags: Option<Vec<(String, String)>> = inner
                .split(',')
                .filter(|t| !t.trim().is_empty())
                .map(|t| {
                    let (k, v) = t.split_once('=')?;
                    Some((k.trim().to_string(), v.trim().to_string()))
                })
                .collect();
            match tags {
                Some(t) => (n.to_string(), t),
                None => (key.clone(), Vec::new()),
            }
        }
        _ => (key.clone(), Vec::new()),
    };
    let suffix = name.rsplit_once('.').and_then(|(app, s)| {
        NAME_SUFFIXES
            .iter()
            .find(|x| **x == s)
            .map(|x| (app.to_string(), *x))
    });
    match suffix {
        Some((app, s)) => (app, Some(s), tags),
        None => (name, None, tags),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ebpf_event(t: i32) -> &'static str {
    match metric::ProfileEventType::try_from(t) {
        Ok(metric::ProfileEventType::EbpfOnCpu) => "on-cpu",
        Ok(metric::ProfileEventType::EbpfOffCpu) => "off-cpu",
        Ok(metric::ProfileEventType::EbpfMemAlloc) => "mem-alloc",
        Ok(metric::ProfileEventType::EbpfMemInUse) => "mem-inuse",
        Ok(metric::ProfileEventType::EbpfHbmAlloc) => "hbm-alloc",
        Ok(metric::ProfileEventType::EbpfHbmInUse) => "hbm-inuse",
        _ => "third-party",
    }
}

fn gunzip(data: &[u8], budget: &mut Budget) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(budget.left() as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| FrameError::Decompress(format!("gzip: {e}")))?;
    budget.take(out.len(), "profile gzip")?;
    Ok(out)
}

fn unzstd(data: &[u8], budget: &mut Budget) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(data)
        .and_then(|d| d.take(budget.left() as u64 + 1).read_to_end(&mut out))
        .map_err(|e| FrameError::Decompress(format!("zstd: {e}")))?;
    budget.take(out.len(), "profile zstd")?;
    Ok(out)
}

/// Data that does not decompress is the message's fault (counted malformed); an expansion past
/// the frame's budget is the frame's.
fn soft<T>(r: Result<T, FrameError>) -> Result<Option<T>, FrameError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(FrameError::Decompress(e)) if !e.contains("budget") => Ok(None),
        Err(e) => Err(e),
    }
}

/// A profile's start and end (Unix seconds) and sampling rate (Hz).
type TimeSpan = (u32, u32, u32);

/// What reading a pprof profile gave.
enum PprofRead {
    /// Its stacks are added; its own times, when it has them.
    Read(Option<TimeSpan>),
    Malformed,
}

/// The part of a form named `name` (the whole data when there is no form), gunzipped when it
/// is gzip; None when it is not there or not gzip.
fn part_of<'a>(
    data: &'a [u8],
    form: Option<&str>,
    name: &str,
    budget: &mut Budget,
    gz: &'a mut Vec<u8>,
) -> Result<Option<&'a [u8]>, FrameError> {
    let part = match form {
        Some(b) => text::form_part(data, b.as_bytes(), name),
        None => Some(data),
    };
    let Some(part) = part else {
        return Ok(None);
    };
    if !part.starts_with(&[0x1f, 0x8b]) {
        return Ok(Some(part));
    }
    let Some(v) = soft(gunzip(part, budget))? else {
        return Ok(None);
    };
    *gz = v;
    Ok(Some(gz.as_slice()))
}

/// Adds the stacks of a pprof profile (bare or the `profile` part of the form cut by `form`,
/// gzipped or not) to `stacks`.
fn pprof_stacks(
    data: &[u8],
    form: Option<&str>,
    budget: &mut Budget,
    stacks: &mut Stacks,
) -> Result<PprofRead, FrameError> {
    let mut gz = Vec::new();
    let Some(bytes) = part_of(data, form, "profile", budget, &mut gz)? else {
        return Ok(PprofRead::Malformed);
    };
    if pprof::stacks(bytes, stacks).is_err() {
        return Ok(PprofRead::Malformed);
    }
    Ok(PprofRead::Read(pprof::times(bytes)))
}

/// The rows of one profile message from `agent_id`, taken at `now_us`, within the frame's
/// `budget`. An expansion past the budget is the frame's error; data that is not what its
/// format says is counted in [`Decoded::malformed`].
pub fn decode(
    agent_id: u16,
    p: &metric::Profile,
    now_us: i64,
    budget: &mut Budget,
) -> Result<Decoded, FrameError> {
    let mut d = Decoded::default();
    let unpacked;
    let data: &[u8] = if p.data_compressed {
        let Some(v) = soft(unzstd(&p.data, budget))? else {
            d.malformed = true;
            return Ok(d);
        };
        unpacked = v;
        &unpacked
    } else {
        &p.data
    };
    let external = p.event_type == metric::ProfileEventType::External as i32;
    let (app, suffix, tags) = if p.name.is_empty() && !external {
        (
            p.process_name.trim_matches('\0').to_string(),
            None,
            Vec::new(),
        )
    } else {
        parse_key(&p.name)
    };
    let mut stacks = Stacks::new(MAX_STACKS);
    let form = text::boundary(&p.content_type);
    let unit = if p.units.is_empty() {
        "samples"
    } else {
        p.units.as_str()
    };
    let event = suffix.unwrap_or("cpu");
    let mut span = (p.from, p.until, p.sample_rate);
    let pprof = p.format == "pprof" || (p.format.is_empty() && external && form.is_some());
    if pprof {
        match pprof_stacks(data, form.as_deref(), budget, &mut stacks)? {
            PprofRead::Malformed => {
                d.malformed = true;
                return Ok(d);
            }
            PprofRead::Read(Some((f, u, r))) if span.0 == 0 => {
                span = (f, u, if span.2 == 0 { r } else { span.2 })
            }
            PprofRead::Read(_) => {}
        }
    } else if p.format == "jfr" {
        // Pyroscope's Java agent: the recording (gzipped or not), bare or a form's `jfr` part.
        let mut gz = Vec::new();
        let rec = part_of(data, form.as_deref(), "jfr", budget, &mut gz)?;
        match rec.map(|r| jfr::stacks(r, &mut stacks)) {
            Some(Ok(start)) => {
                if span.0 == 0 {
                    span.0 = start.unwrap_or(0);
                }
            }
            _ => {
                d.malformed = true;
                return Ok(d);
            }
        }
    } else {
        d.skipped_lines = match (p.format.as_str(), external) {
            ("folded" | "groups" | "", true) => text::collapsed(data, event, unit, &mut stacks),
            ("lines", true) => text::lines(data, event, unit, 1, &mut stacks),
            ("", false) => {
                let each = if p.wide_count > 0 {
                    i64::try_from(p.wide_count).unwrap_or(i64::MAX)
                } else {
                    i64::from(p.count)
                };
                text::lines(
                    data,
                    ebpf_event(p.event_type),
                    "microseconds",
                    each,
                    &mut stacks,
                )
            }
            _ => {
                d.unsupported = true;
                return Ok(d);
            }
        };
    }
    d.dropped_stacks = stacks.dropped;
    let (time, create_us) = if p.timestamp > 0 {
        (
            u32::try_from(p.timestamp / 1_000_000_000).unwrap_or(u32::MAX),
            i64::try_from(p.timestamp / 1_000).unwrap_or(i64::MAX),
        )
    } else {
        (span.0, i64::from(span.0) * 1_000_000)
    };
    let spy = if external {
        p.spy_name.as_str()
    } else {
        "eBPF"
    };
    let base = ProfileRow {
        agent_id,
        time,
        ip: address(&p.ip),
        app_service: app,
        create_us,
        in_us: now_us,
        language: language(spy).to_string(),
        process_id: p.pid,
        process_start_ms: i64::try_from(p.stime).unwrap_or(0),
        spy_name: spy.to_string(),
        format: p.format.clone(),
        until: span.1,
        sample_rate: span.2,
        ..ProfileRow::default()
    };
    d.rows = stacks
        .into_rows()
        .into_iter()
        .map(|(k, v)| row(&base, &tags, k, v))
        .collect();
    Ok(d)
}

fn address(b: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        return Some(IpAddr::from(a));
    }
    <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
}

/// A stack's row: the profile's `base`, its key's tags (`tags`, then the sample's labels) and
/// the columns DeepFlow takes from tags (`profile_id`, `span_name`, `trace_id`,
/// `app_instance`).
fn row(base: &ProfileRow, tags: &[(String, String)], k: StackKey, v: i64) -> ProfileRow {
    let mut all = tags.to_vec();
    for l in k.labels {
        if !all.iter().any(|(n, _)| *n == l.0) {
            all.push(l);
        }
    }
    let tag = |name: &str| {
        all.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut r = ProfileRow {
        location: k.stack,
        value: v,
        unit: k.unit,
        event_type: k.event,
        profile_id: tag("profile_id"),
        trace_id: tag("trace_id"),
        span_name: tag("span_name"),
        app_instance: tag("app_instance"),
        ..base.clone()
    };
    let (mut names, mut values): (Vec<String>, Vec<String>) = all.into_iter().unzip();
    // As DeepFlow's server: the row's own columns are tags too.
    for (n, val) in [
        ("app_service", &r.app_service),
        ("profile_language_type", &r.language),
        ("trace_id", &r.trace_id),
        ("span_name", &r.span_name),
        ("app_instance", &r.app_instance),
    ] {
        names.push(n.to_string());
        values.push(val.clone());
    }
    (r.tag_names, r.tag_values) = (names, values);
    r
}

impl ProfileRow {
    /// The row in `profiles.jsonl`.
    pub fn to_json(&self) -> Value {
        let mut tags = Map::new();
        for (k, v) in self.tag_names.iter().zip(&self.tag_values) {
            tags.insert(k.clone(), v.as_str().into());
        }
        json!({
            "time": self.time,
            "agent_id": self.agent_id,
            "ip": self.ip.map(|i| i.to_string()),
            "app_service": self.app_service,
            "app_instance": self.app_instance,
            "profile_event_type": self.event_type,
            "profile_value": self.value,
            "profile_value_unit": self.unit,
            "profile_location_str": self.location,
            "profile_language_type": self.language,
            "profile_create_timestamp": self.create_us,
            "profile_in_timestamp": self.in_us,
            "profile_id": self.profile_id,
            "trace_id": self.trace_id,
            "span_name": self.span_name,
            "process_id": self.process_id,
            "spy_name": self.spy_name,
            "format": self.format,
            "until": self.until,
            "sample_rate": self.sample_rate,
            "tags": tags,
        })
    }
}

#[cfg(test)]
mod tests;
