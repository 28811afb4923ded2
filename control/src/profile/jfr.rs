//! Java Flight Recorder recordings (JDK 11+ and async-profiler, what Pyroscope's Java agent
//! posts with `format=jfr`) as stacks. A recording is chunks; each chunk declares its types in
//! a metadata event (classes, their fields, which fields are constant-pool references or
//! arrays), keeps shared values (threads, stack traces, methods, classes, symbols) in
//! constant-pool events, and then has events. The reader parses every value by the chunk's own
//! metadata, so it needs no knowledge of the JDK version beyond the wire rules, and turns
//! samples into stacks (root first, frames as `java/lang/Thread.run`, as DeepFlow stores them):
//!
//! | event | profile event (unit): value |
//! |---|---|
//! | `jdk.ExecutionSample` | `cpu` (samples): 1 |
//! | `jdk.ObjectAllocationInNewTLAB` | `alloc_in_new_tlab_objects` (objects): 1, `alloc_in_new_tlab_bytes` (bytes): `tlabSize` |
//! | `jdk.ObjectAllocationOutsideTLAB` | `alloc_outside_tlab_objects` (objects): 1, `alloc_outside_tlab_bytes` (bytes): `allocationSize` |
//! | `jdk.JavaMonitorEnter` | `lock_count` (lock_samples): 1, `lock_duration` (lock_nanoseconds): `duration` |
//!
//! Everything read is bounds-checked; nesting, values and chunks are bounded: a broken or
//! hostile recording is an error, not a panic or a runaway.

use std::collections::HashMap;

use super::{StackKey, Stacks};

/// Values one recording may hold at most (constant pools and events together): a few MiB of
/// parsed values however the recording is made.
const MAX_VALUES: usize = 262_144;
/// Nesting of values at most (a stack trace holds frames holding methods: 3).
const MAX_DEPTH: u32 = 16;

/// What is wrong with a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JfrError(pub &'static str);

type R<T> = Result<T, JfrError>;

/// A parsed value.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Int(i64),
    Float(f64),
    Str(Option<String>),
    /// A key into the constant pool of the field's type.
    Ref(i64),
    Obj(Vec<Val>),
    Arr(Vec<Val>),
}

#[derive(Debug, Clone, Default)]
struct Field {
    name: String,
    class: i64,
    pooled: bool,
    array: bool,
}

#[derive(Debug, Clone, Default)]
struct Class {
    name: String,
    fields: Vec<Field>,
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    compressed: bool,
}

impl Reader<'_> {
    fn byte(&mut self) -> R<u8> {
        let v = *self.b.get(self.at).ok_or(JfrError("truncated"))?;
        self.at += 1;
        Ok(v)
    }

    fn fixed<const N: usize>(&mut self) -> R<[u8; N]> {
        let s = self
            .b
            .get(self.at..self.at + N)
            .ok_or(JfrError("truncated"))?;
        self.at += N;
        Ok(s.try_into().unwrap_or([0; N]))
    }

    /// JFR's compressed integer: 7 bits a byte, low first, the ninth byte whole.
    fn long(&mut self) -> R<i64> {
        if !self.compressed {
            return Ok(i64::from_be_bytes(self.fixed::<8>()?));
        }
        let mut v: u64 = 0;
        for i in 0..8 {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v as i64);
            }
        }
        v |= u64::from(self.byte()?) << 56;
        Ok(v as i64)
    }

    fn int(&mut self) -> R<i64> {
        if !self.compressed {
            return Ok(i64::from(i32::from_be_bytes(self.fixed::<4>()?)));
        }
        self.long()
    }

    /// A count of things each at least a byte long: never more than the bytes left.
    fn count(&mut self) -> R<usize> {
        let n = self.int()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.b.len().saturating_sub(self.at))
            .ok_or(JfrError("bad count"))
    }

    fn string(&mut self, pool: Option<&HashMap<i64, Val>>) -> R<Option<String>> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(String::new())),
            2 => {
                let k = self.long()?;
                Ok(pool.and_then(|p| match p.get(&k) {
                    Some(Val::Str(s)) => s.clone(),
                    _ => None,
                }))
            }
            3 | 5 => {
                let n = self.count()?;
                let s = &self.b[self.at..self.at + n];
                self.at += n;
                Ok(Some(String::from_utf8_lossy(s).into_owned()))
            }
            4 => {
                let n = self.count()?;
                let mut s = String::with_capacity(n);
                for _ in 0..n {
                    let c = u32::try_from(self.int()?).unwrap_or(0xfffd);
                    s.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                }
                Ok(Some(s))
            }
            _ => Err(JfrError("bad string encoding")),
        }
    }
}

/// A metadata element: its name, attributes and children.
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
}

impl Element {
    fn attr(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

fn element(r: &mut Reader<'_>, strings: &[String], depth: u32) -> R<Element> {
    if depth > MAX_DEPTH {
        return Err(JfrError("metadata too deep"));
    }
    let s = |i: i64| -> R<String> {
        usize::try_from(i)
            .ok()
            .and_then(|i| strings.get(i))
            .cloned()
            .ok_or(JfrError("bad string index"))
    };
    let name = s(r.int()?)?;
    let n = r.count()?;
    let mut attrs = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        attrs.push((s(r.int()?)?, s(r.int()?)?));
    }
    let n = r.count()?;
    let mut children = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        children.push(element(r, strings, depth + 1)?);
    }
    Ok(Element {
        name,
        attrs,
        children,
    })
}

/// The chunk's classes by id, from its metadata event at `at`.
fn metadata(r: &mut Reader<'_>) -> R<HashMap<i64, Class>> {
    let _size = r.int()?;
    if r.long()? != 0 {
        return Err(JfrError("not a metadata event"));
    }
    let (_start, _duration, _id) = (r.long()?, r.long()?, r.long()?);
    let n = r.count()?;
    let mut strings = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        strings.push(r.string(None)?.unwrap_or_default());
    }
    let root = element(r, &strings, 0)?;
    let mut classes = HashMap::new();
    let meta = root.children.iter().filter(|e| e.name == "metadata");
    for c in meta.flat_map(|m| &m.children).filter(|e| e.name == "class") {
        let id = c
            .attr("id")
            .and_then(|v| v.parse().ok())
            .ok_or(JfrError("class id"))?;
        let fields = c
            .children
            .iter()
            .filter(|f| f.name == "field")
            .map(|f| Field {
                name: f.attr("name").unwrap_or("").to_string(),
                class: f.attr("class").and_then(|v| v.parse().ok()).unwrap_or(-1),
                pooled: f.attr("constantPool") == Some("true"),
                array: f.attr("dimension") == Some("1"),
            })
            .collect();
        let name = c.attr("name").unwrap_or("").to_string();
        classes.insert(id, Class { name, fields });
    }
    Ok(classes)
}

/// A chunk's types, pools and what has been parsed of it.
struct Chunk {
    classes: HashMap<i64, Class>,
    pools: HashMap<i64, HashMap<i64, Val>>,
    string_class: i64,
    values: usize,
}

impl Chunk {
    fn value(&mut self, r: &mut Reader<'_>, class: i64, depth: u32) -> R<Val> {
        self.values += 1;
        if depth > MAX_DEPTH || self.values > MAX_VALUES {
            return Err(JfrError("too many values"));
        }
        let name = self.classes.get(&class).map(|c| c.name.as_str());
        Ok(match name.ok_or(JfrError("unknown class"))? {
            "boolean" | "byte" => Val::Int(i64::from(r.byte()?)),
            "char" | "short" | "int" => Val::Int(r.int()?),
            "long" => Val::Int(r.long()?),
            "float" => Val::Float(f64::from(f32::from_be_bytes(r.fixed::<4>()?))),
            "double" => Val::Float(f64::from_be_bytes(r.fixed::<8>()?)),
            "java.lang.String" => Val::Str(r.string(self.pools.get(&self.string_class))?),
            _ => {
                let fields = self.classes[&class].fields.clone();
                let mut out = Vec::with_capacity(fields.len());
                for f in &fields {
                    out.push(self.field(r, f, depth + 1)?);
                }
                Val::Obj(out)
            }
        })
    }

    fn field(&mut self, r: &mut Reader<'_>, f: &Field, depth: u32) -> R<Val> {
        let one = |c: &mut Chunk, r: &mut Reader<'_>| {
            if f.pooled {
                Ok(Val::Ref(r.long()?))
            } else {
                c.value(r, f.class, depth)
            }
        };
        if f.array {
            let n = r.count()?;
            let mut v = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                v.push(one(self, r)?);
            }
            Ok(Val::Arr(v))
        } else {
            one(self, r)
        }
    }

    /// One constant-pool event's entries into the pools.
    fn constant_pool(&mut self, r: &mut Reader<'_>) -> R<()> {
        let (_start, _duration, _delta) = (r.long()?, r.long()?, r.long()?);
        let _kind = r.byte()?;
        let pools = r.count()?;
        for _ in 0..pools {
            let class = r.long()?;
            let n = r.count()?;
            for _ in 0..n {
                let key = r.long()?;
                let v = self.value(r, class, 0)?;
                self.pools.entry(class).or_default().insert(key, v);
            }
        }
        Ok(())
    }

    fn pooled<'a>(&'a self, f: &Field, v: &'a Val) -> Option<&'a Val> {
        match v {
            Val::Ref(k) => self.pools.get(&f.class)?.get(k),
            v => Some(v),
        }
    }

    /// `v`'s field named `name` (through the pool when it is a reference), with its field.
    fn get<'a>(&'a self, class: i64, v: &'a Val, name: &str) -> Option<(&'a Field, &'a Val)> {
        let c = self.classes.get(&class)?;
        let i = c.fields.iter().position(|f| f.name == name)?;
        let Val::Obj(vals) = v else { return None };
        let f = &c.fields[i];
        Some((f, self.pooled(f, vals.get(i)?)?))
    }

    fn text(&self, class: i64, v: &Val, name: &str) -> Option<String> {
        let (f, v) = self.get(class, v, name)?;
        match v {
            Val::Str(s) => s.clone(),
            // A symbol: its `string`.
            o @ Val::Obj(_) => self.text(f.class, o, "string"),
            _ => None,
        }
    }

    /// A frame's `class.method` (the class in its internal form, as DeepFlow stores it).
    fn frame(&self, class: i64, frame: &Val) -> String {
        let method = self.get(class, frame, "method");
        let Some((mf, m)) = method else {
            return "[unknown]".into();
        };
        let name = self.text(mf.class, m, "name").unwrap_or_default();
        let owner = self
            .get(mf.class, m, "type")
            .and_then(|(cf, c)| self.text(cf.class, c, "name"))
            .unwrap_or_default();
        match (owner.is_empty(), name.is_empty()) {
            (false, _) => format!("{owner}.{name}"),
            (true, false) => name,
            (true, true) => "[unknown]".into(),
        }
    }

    /// The root-first stack of an event's `stackTrace` field.
    fn stack(&self, event_class: i64, event: &Val) -> Option<String> {
        let (f, trace) = self.get(event_class, event, "stackTrace")?;
        let (ff, frames) = self.get(f.class, trace, "frames")?;
        let Val::Arr(frames) = frames else {
            return None;
        };
        let names: Vec<String> = frames
            .iter()
            .rev()
            .filter_map(|fr| self.pooled(ff, fr))
            .map(|fr| self.frame(ff.class, fr))
            .collect();
        (!names.is_empty()).then(|| names.join(";"))
    }

    fn number(&self, class: i64, v: &Val, name: &str) -> i64 {
        match self.get(class, v, name) {
            Some((_, Val::Int(n))) => *n,
            Some((_, Val::Float(x))) => *x as i64,
            _ => 0,
        }
    }
}

/// Samples as (event, unit, value field or None for 1).
fn measures(event: &str) -> &'static [(&'static str, &'static str, Option<&'static str>)] {
    match event {
        "jdk.ExecutionSample" => &[("cpu", "samples", None)],
        "jdk.ObjectAllocationInNewTLAB" => &[
            ("alloc_in_new_tlab_objects", "objects", None),
            ("alloc_in_new_tlab_bytes", "bytes", Some("tlabSize")),
        ],
        "jdk.ObjectAllocationOutsideTLAB" => &[
            ("alloc_outside_tlab_objects", "objects", None),
            ("alloc_outside_tlab_bytes", "bytes", Some("allocationSize")),
        ],
        "jdk.JavaMonitorEnter" => &[
            ("lock_count", "lock_samples", None),
            ("lock_duration", "lock_nanoseconds", Some("duration")),
        ],
        _ => &[],
    }
}

/// Every chunk of `data`'s samples into `out`; the recording's start (Unix seconds) if any.
pub fn stacks(data: &[u8], out: &mut Stacks) -> Result<Option<u32>, JfrError> {
    let mut at = 0;
    let mut start = None;
    let mut values = 0;
    while at < data.len() {
        let chunk = &data[at..];
        let head = Reader {
            b: chunk,
            at: 0,
            compressed: false,
        };
        if chunk.get(..4) != Some(b"FLR\0") {
            return Err(JfrError("not a JFR chunk"));
        }
        let mut h = head;
        h.at = 8;
        let size = usize::try_from(h.long()?).map_err(|_| JfrError("chunk size"))?;
        let (_cp, meta) = (h.long()?, h.long()?);
        let start_ns = h.long()?;
        let (_duration, _ticks, ticks_per_s) = (h.long()?, h.long()?, h.long()?);
        let features = h.int()?;
        if size < 68 || size > chunk.len() {
            return Err(JfrError("chunk size"));
        }
        let body = &chunk[..size];
        let compressed = features & 1 != 0;
        let mut r = Reader {
            b: body,
            at: usize::try_from(meta).map_err(|_| JfrError("metadata offset"))?,
            compressed,
        };
        let classes = metadata(&mut r)?;
        let string_class = classes
            .iter()
            .find(|(_, c)| c.name == "java.lang.String")
            .map_or(-1, |(id, _)| *id);
        let mut c = Chunk {
            classes,
            pools: HashMap::new(),
            string_class,
            values,
        };
        // Pools first (events refer to entries written after them), then the samples.
        let mut samples = Vec::new();
        let mut pos = 68;
        while pos < size {
            let mut e = Reader {
                b: body,
                at: pos,
                compressed,
            };
            let len = usize::try_from(e.int()?)
                .ok()
                .filter(|n| *n > 0 && pos + n <= size)
                .ok_or(JfrError("event size"))?;
            let ty = e.long()?;
            if ty == 1 {
                c.constant_pool(&mut e)?;
            } else if c
                .classes
                .get(&ty)
                .is_some_and(|k| !measures(&k.name).is_empty())
            {
                samples.push((ty, e.at, pos + len));
            }
            pos += len;
        }
        for (ty, from, end) in samples {
            let mut e = Reader {
                b: &body[..end],
                at: from,
                compressed,
            };
            let v = c.value(&mut e, ty, 0)?;
            let Some(stack) = c.stack(ty, &v) else {
                continue;
            };
            for (event, unit, field) in measures(&c.classes[&ty].name) {
                let mut n = field.map_or(1, |f| c.number(ty, &v, f));
                if *field == Some("duration") && ticks_per_s > 0 && ticks_per_s != 1_000_000_000 {
                    n = (i128::from(n) * 1_000_000_000 / i128::from(ticks_per_s)) as i64;
                }
                out.add(
                    StackKey {
                        event: (*event).to_string(),
                        unit: (*unit).to_string(),
                        stack: stack.clone(),
                        labels: Vec::new(),
                    },
                    n,
                );
            }
        }
        values = c.values;
        start.get_or_insert(u32::try_from(start_ns / 1_000_000_000).unwrap_or(0));
        at += size;
    }
    Ok(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_recordings_are_errors() {
        let mut s = Stacks::new(10);
        assert_eq!(stacks(b"not jfr", &mut s), Err(JfrError("not a JFR chunk")));
        // A header whose chunk is larger than the data, and one whose metadata is past it.
        let mut h = b"FLR\0\0\x02\0\x01".to_vec();
        h.extend_from_slice(&1_000_000i64.to_be_bytes());
        h.resize(68, 0);
        assert_eq!(stacks(&h, &mut s), Err(JfrError("chunk size")));
        h[8..16].copy_from_slice(&68i64.to_be_bytes());
        h[24..32].copy_from_slice(&500i64.to_be_bytes());
        assert_eq!(stacks(&h, &mut s), Err(JfrError("truncated")));
        // Metadata whose element names a string the table does not have.
        let mut m = h.clone();
        m[24..32].copy_from_slice(&68i64.to_be_bytes());
        // Compressed integers (the features' bit 0).
        m[67] = 1;
        m.extend_from_slice(&[20, 0, 0, 0, 0, 1, 3, 1, b'x', 9]);
        let size = m.len() as i64;
        m[8..16].copy_from_slice(&size.to_be_bytes());
        assert_eq!(stacks(&m, &mut s), Err(JfrError("bad string index")));
    }

    #[test]
    fn compressed_integers_take_nine_bytes_at_most() {
        let b = [0xff; 9];
        let mut r = Reader {
            b: &b,
            at: 0,
            compressed: true,
        };
        assert_eq!(r.long(), Ok(-1));
        let mut r = Reader {
            b: &[0x80, 0x01],
            at: 0,
            compressed: true,
        };
        assert_eq!(r.long(), Ok(128));
        assert_eq!(r.byte(), Err(JfrError("truncated")));
    }
}
