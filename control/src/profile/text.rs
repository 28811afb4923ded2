//! Profiles as text, and the multipart form a profile may come in: pyroscope's collapsed
//! format (`a;b;c 12` per line: a stack, root first, and its value; its `folded` / `groups`
//! ingest formats), its `lines` format (a stack per line, each worth 1), and the `profile` part
//! of a `multipart/form-data` body (how Go's and Node's pyroscope clients post pprof).

use super::{StackKey, Stacks};

/// Adds the collapsed lines of `data` to `out` as `event` in `unit`; returns the lines that
/// are not `stack value` (skipped).
pub fn collapsed(data: &[u8], event: &str, unit: &str, out: &mut Stacks) -> u64 {
    let mut bad = 0;
    for line in data.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = line.iter().rposition(|b| *b == b' ').and_then(|sp| {
            let v = std::str::from_utf8(&line[sp + 1..])
                .ok()?
                .parse::<i64>()
                .ok()?;
            let stack = std::str::from_utf8(&line[..sp]).ok()?.trim();
            (!stack.is_empty()).then_some((stack, v))
        });
        match parsed {
            Some((stack, v)) => out.add(key(event, unit, stack), v),
            None => bad += 1,
        }
    }
    bad
}

/// Adds every line of `data` as a stack worth `each` to `out`; returns the lines that are not
/// UTF-8 (skipped).
pub fn lines(data: &[u8], event: &str, unit: &str, each: i64, out: &mut Stacks) -> u64 {
    let mut bad = 0;
    for line in data.split(|b| *b == b'\n') {
        match std::str::from_utf8(line).map(str::trim) {
            Ok("") => {}
            Ok(stack) => out.add(key(event, unit, stack), each),
            Err(_) => bad += 1,
        }
    }
    bad
}

fn key(event: &str, unit: &str, stack: &str) -> StackKey {
    StackKey {
        event: event.to_string(),
        unit: unit.to_string(),
        stack: stack.to_string(),
        labels: Vec::new(),
    }
}

/// The boundary of a `multipart/form-data` content type, if it is one.
pub fn boundary(content_type: &[u8]) -> Option<String> {
    let ct = std::str::from_utf8(content_type).ok()?;
    let (kind, params) = ct.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        let v = v.trim().trim_matches('"');
        (k.trim().eq_ignore_ascii_case("boundary") && !v.is_empty()).then(|| v.to_string())
    })
}

/// The body of the part named `name` of a multipart `body` cut by `boundary`.
pub fn form_part<'a>(body: &'a [u8], boundary: &[u8], name: &str) -> Option<&'a [u8]> {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    let mut rest = body;
    loop {
        let at = find(rest, &delim)?;
        rest = &rest[at + delim.len()..];
        if rest.starts_with(b"--") {
            return None;
        }
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = &rest[..head_end];
        let content = &rest[head_end + 4..];
        let end = find(content, &delim)?;
        // The part's body ends before the CRLF that precedes the next delimiter.
        let part = content[..end]
            .strip_suffix(b"\r\n")
            .unwrap_or(&content[..end]);
        if disposition_name(head).as_deref() == Some(name) {
            return Some(part);
        }
        rest = &content[end..];
    }
}

fn disposition_name(head: &[u8]) -> Option<String> {
    let head = std::str::from_utf8(head).ok()?;
    let line = head
        .split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
    line.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim() == "name").then(|| v.trim().trim_matches('"').to_string())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapsed_lines_sum_per_stack_and_bad_lines_are_counted() {
        let mut s = Stacks::new(10);
        let bad = collapsed(
            b"main;work 3\nmain;work 2\r\nmain 1\nno value\n\nmain;x notanumber\n",
            "cpu",
            "samples",
            &mut s,
        );
        assert_eq!(bad, 2);
        let mut rows: Vec<_> = s
            .into_rows()
            .into_iter()
            .map(|(k, v)| (k.stack, v))
            .collect();
        rows.sort();
        assert_eq!(rows, vec![("main".into(), 1), ("main;work".into(), 5)]);
        let mut s = Stacks::new(10);
        assert_eq!(lines(b"a;b\na;b\nc\n", "on-cpu", "us", 7, &mut s), 0);
        let mut rows: Vec<_> = s
            .into_rows()
            .into_iter()
            .map(|(k, v)| (k.stack, v))
            .collect();
        rows.sort();
        assert_eq!(rows, vec![("a;b".into(), 14), ("c".into(), 7)]);
    }

    #[test]
    fn the_profile_part_of_a_form() {
        let ct = b"multipart/form-data; boundary=\"XyZ\"";
        let b = boundary(ct).unwrap();
        assert_eq!(b, "XyZ");
        let b = b.as_bytes();
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"sample_type_config\"\r\n\r\n{}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\nContent-Type: application/octet-stream\r\n\r\n\x1f\x8b\r\nbytes\r\n--XyZ--\r\n";
        assert_eq!(
            form_part(body, b, "profile"),
            Some(&b"\x1f\x8b\r\nbytes"[..])
        );
        assert_eq!(form_part(body, b, "prev_profile"), None);
        assert_eq!(form_part(b"--XyZ\r\nno end", b, "profile"), None);
        assert_eq!(boundary(b"application/octet-stream"), None);
    }
}
