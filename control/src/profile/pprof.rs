//! pprof profiles as stacks: every sample's locations, root first, as one `;`-joined line of
//! function names (an inlined function after its caller), summed per stack, per sample label
//! set and per sample type. Sample types get the event names and units DeepFlow shows for them
//! (pyroscope's mapping: Go's `samples` is `cpu` in `samples`, `contentions` is `mutex_count`,
//! ...); a type without one keeps its own name and unit, and a second type of a name already
//! taken is skipped (Go's CPU profile: `samples` and `cpu` nanoseconds both measure CPU).

use std::collections::HashMap;

use prost::Message;

use super::{StackKey, Stacks};
use crate::rpc::pprof;

/// pprof's sample type names DeepFlow shows under another name and unit.
const EVENT_NAMES: &[(&str, &str, &str)] = &[
    ("samples", "cpu", "samples"),
    ("inuse_objects", "inuse_objects", "objects"),
    ("alloc_objects", "alloc_objects", "objects"),
    ("inuse_space", "inuse_space", "bytes"),
    ("alloc_space", "alloc_space", "bytes"),
    ("goroutine", "goroutines", "goroutines"),
    ("goroutines", "goroutines", "goroutines"),
    ("contentions", "mutex_count", "lock_samples"),
    ("delay", "mutex_duration", "lock_nanoseconds"),
];

/// What is wrong with a pprof profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PprofError {
    Decode(String),
    /// A sample names a location, or a line a function, the profile does not have.
    Dangling,
}

/// The profile's stacks into `out`, at most `out`'s stack budget (the rest counted there).
pub fn stacks(data: &[u8], out: &mut Stacks) -> Result<(), PprofError> {
    let p = pprof::Profile::decode(data).map_err(|e| PprofError::Decode(e.to_string()))?;
    let text = |i: i64| -> &str {
        usize::try_from(i)
            .ok()
            .and_then(|i| p.string_table.get(i))
            .map_or("", String::as_str)
    };
    // Which value index goes to which event, in the profile's order.
    let mut events: Vec<(usize, String, String)> = Vec::new();
    for (i, st) in p.sample_type.iter().enumerate() {
        let (ty, unit) = (text(st.r#type), text(st.unit));
        let (name, unit) = EVENT_NAMES
            .iter()
            .find(|(t, _, _)| *t == ty)
            .map_or((ty, unit), |(_, n, u)| (*n, *u));
        if name.is_empty() || events.iter().any(|(_, n, _)| n == name) {
            continue;
        }
        events.push((i, name.to_string(), unit.to_string()));
    }
    let functions: HashMap<u64, &str> = p.function.iter().map(|f| (f.id, text(f.name))).collect();
    let locations: HashMap<u64, &pprof::Location> = p.location.iter().map(|l| (l.id, l)).collect();
    let mut line = String::new();
    for s in &p.sample {
        line.clear();
        // Root first: the sample's last location, and a location's last (outermost) line.
        for id in s.location_id.iter().rev() {
            let loc = locations.get(id).ok_or(PprofError::Dangling)?;
            for l in loc.line.iter().rev() {
                let name = functions.get(&l.function_id).ok_or(PprofError::Dangling)?;
                if !line.is_empty() {
                    line.push(';');
                }
                line.push_str(name);
            }
            if loc.line.is_empty() {
                if !line.is_empty() {
                    line.push(';');
                }
                line.push_str(&format!("0x{:x}", loc.address));
            }
        }
        let labels: Vec<(String, String)> = s
            .label
            .iter()
            .filter(|l| l.str != 0)
            .map(|l| (text(l.key).to_string(), text(l.str).to_string()))
            .collect();
        for (i, name, unit) in &events {
            let v = s.value.get(*i).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            out.add(
                StackKey {
                    event: name.clone(),
                    unit: unit.clone(),
                    stack: line.clone(),
                    labels: labels.clone(),
                },
                v,
            );
        }
    }
    Ok(())
}

/// The profile's time span in Unix seconds (`time_nanos`, `duration_nanos`) and its sampling
/// rate in Hz (from a nanosecond `period`), for a profile that arrives without them.
pub fn times(data: &[u8]) -> Option<(u32, u32, u32)> {
    let p = pprof::Profile::decode(data).ok()?;
    let from = u32::try_from(p.time_nanos / 1_000_000_000).ok()?;
    let secs = (p.duration_nanos.max(0) + 999_999_999) / 1_000_000_000;
    let until = from.saturating_add(u32::try_from(secs).unwrap_or(0).max(1));
    let period_unit = p
        .period_type
        .as_ref()
        .and_then(|t| usize::try_from(t.unit).ok())
        .and_then(|i| p.string_table.get(i));
    let rate = match period_unit.map(String::as_str) {
        Some("nanoseconds") if p.period > 0 => u32::try_from(1_000_000_000 / p.period).unwrap_or(0),
        _ => 0,
    };
    (from > 0).then_some((from, until, rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CPU profile as Go writes one: `samples`/count and `cpu`/nanoseconds, main -> work ->
    /// hash (hash inlined into work's location), a label on one sample.
    pub(crate) fn go_cpu() -> Vec<u8> {
        let strings = [
            "",
            "samples",
            "count",
            "cpu",
            "nanoseconds",
            "main",
            "work",
            "hash",
            "span_name",
            "GET /",
        ];
        let vt = |t: i64, u: i64| pprof::ValueType { r#type: t, unit: u };
        let line = |f: u64| pprof::Line {
            function_id: f,
            line: 1,
        };
        pprof::Profile {
            sample_type: vec![vt(1, 2), vt(3, 4)],
            sample: vec![
                pprof::Sample {
                    location_id: vec![2, 1],
                    value: vec![3, 30_000_000],
                    label: vec![],
                },
                pprof::Sample {
                    location_id: vec![2, 1],
                    value: vec![2, 20_000_000],
                    label: vec![],
                },
                pprof::Sample {
                    location_id: vec![1],
                    value: vec![1, 10_000_000],
                    label: vec![pprof::Label {
                        key: 8,
                        str: 9,
                        ..Default::default()
                    }],
                },
            ],
            location: vec![
                pprof::Location {
                    id: 1,
                    line: vec![line(1)],
                    ..Default::default()
                },
                pprof::Location {
                    id: 2,
                    line: vec![line(3), line(2)],
                    ..Default::default()
                },
            ],
            function: [(1, 5), (2, 6), (3, 7)]
                .into_iter()
                .map(|(id, name)| pprof::Function {
                    id,
                    name,
                    ..Default::default()
                })
                .collect(),
            string_table: strings.iter().map(|s| s.to_string()).collect(),
            time_nanos: 1_700_000_000_500_000_000,
            duration_nanos: 10_000_000_000,
            period_type: Some(vt(3, 4)),
            period: 10_000_000,
            default_sample_type: 0,
        }
        .encode_to_vec()
    }

    #[test]
    fn samples_fold_into_root_first_stacks_per_event() {
        let mut s = Stacks::new(100);
        stacks(&go_cpu(), &mut s).unwrap();
        let mut got: Vec<_> = s
            .into_rows()
            .into_iter()
            .map(|(k, v)| (k.event, k.unit, k.stack, k.labels.len(), v))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("cpu".into(), "samples".into(), "main".into(), 1, 1),
                (
                    "cpu".into(),
                    "samples".into(),
                    "main;work;hash".into(),
                    0,
                    5
                ),
            ]
        );
        assert_eq!(times(&go_cpu()), Some((1_700_000_000, 1_700_000_010, 100)));
    }

    #[test]
    fn broken_profiles_are_errors() {
        let mut s = Stacks::new(100);
        assert!(matches!(
            stacks(b"\xff\xff\xff", &mut s),
            Err(PprofError::Decode(_))
        ));
        let dangling = pprof::Profile {
            sample_type: vec![pprof::ValueType { r#type: 1, unit: 0 }],
            sample: vec![pprof::Sample {
                location_id: vec![7],
                value: vec![1],
                label: vec![],
            }],
            string_table: vec![String::new(), "x".into()],
            ..Default::default()
        };
        assert_eq!(
            stacks(&dangling.encode_to_vec(), &mut s),
            Err(PprofError::Dangling)
        );
    }
}
