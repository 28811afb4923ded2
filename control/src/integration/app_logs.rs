//! Application logs as the collector forwards them: a JSON body (Vector's `http` sink posts an
//! array of entries; one entry may come as an object) checked and cut into DeepFlow's
//! ApplicationLog messages, each a JSON array that fits a frame. The body is checked and cut
//! without building its entries: a scanner of strings and nesting finds the elements.

use std::ops::Range;

/// Why a body is not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogsError {
    /// Not JSON, or JSON that is not an array or an object.
    NotJson,
    /// One entry does not fit a message of the largest size.
    EntryTooLarge,
}

/// The messages of `body`, none larger than `max` bytes: the array as it came when it fits,
/// else its elements in order, cut between them into arrays; an object made a one-entry
/// array. Bytes that are not UTF-8 become U+FFFD (as DeepFlow's server reads them), and every
/// entry must read as a JSON value (numbers in range): what the server will parse.
pub fn messages(body: &[u8], max: usize) -> Result<Vec<Vec<u8>>, LogsError> {
    let body = String::from_utf8_lossy(body);
    // The whole body, before any trimming: a form feed around it is not JSON's space.
    if serde_json::from_str::<serde::de::IgnoredAny>(&body).is_err() {
        return Err(LogsError::NotJson);
    }
    let text = body.as_bytes().trim_ascii();
    let elements = match text.first() {
        Some(b'{') => std::iter::once(0..text.len()).collect(),
        Some(b'[') => array_elements(text),
        _ => return Err(LogsError::NotJson),
    };
    // Entry by entry, so that a large body is never held as values all at once.
    for r in &elements {
        if serde_json::from_slice::<serde_json::Value>(&text[r.clone()]).is_err() {
            return Err(LogsError::NotJson);
        }
    }
    if text.first() == Some(&b'{') {
        return if text.len() + 2 <= max {
            Ok(vec![[b"[", text, b"]"].concat()])
        } else {
            Err(LogsError::EntryTooLarge)
        };
    }
    if text.len() <= max {
        return Ok(vec![text.to_vec()]);
    }
    let (mut pieces, mut cur) = (Vec::new(), vec![b'[']);
    for r in elements {
        let e = &text[r];
        if e.len() + 2 > max {
            return Err(LogsError::EntryTooLarge);
        }
        if cur.len() > 1 && cur.len() + e.len() + 2 > max {
            cur.push(b']');
            pieces.push(std::mem::replace(&mut cur, vec![b'[']));
        }
        if cur.len() > 1 {
            cur.push(b',');
        }
        cur.extend_from_slice(e);
    }
    cur.push(b']');
    pieces.push(cur);
    Ok(pieces)
}

/// The byte ranges of the elements of `array`, a valid JSON array (its brackets included).
pub fn array_elements(array: &[u8]) -> Vec<Range<usize>> {
    let (mut out, mut depth, mut in_string, mut escaped) = (Vec::new(), 0usize, false, false);
    let mut start = None;
    for (i, &b) in array.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        // A comma between elements, or the array's closing bracket, ends an element.
        if (b == b',' && depth == 1) || (b == b']' && depth == 0) {
            if let Some(s) = start.take() {
                out.push(s..array[..i].trim_ascii_end().len());
            }
        } else if i > 0 && depth >= 1 && start.is_none() && !b.is_ascii_whitespace() {
            start = Some(i);
        }
    }
    out
}

/// Entries of an application log message (a JSON array; 0 when it is not one).
pub fn entries(m: &[u8]) -> u64 {
    serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(m).map_or(0, |v| v.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = crate::ingest::forward_queue::MAX_MESSAGE;

    #[test]
    fn bodies_are_json_arrays_cut_between_entries_to_fit_frames() {
        let one = br#"{"message":"m","timestamp":"2024-01-01T00:00:00Z"}"#;
        let got = messages(one, MAX).unwrap();
        assert_eq!(got, [[&b"["[..], one, b"]"].concat()]);
        let small = br#"[{"message": "a"}, {"message": "b"}]"#;
        assert_eq!(messages(small, MAX).unwrap(), [small.to_vec()]);
        assert_eq!(entries(small), 2);
        let entry = format!(
            r#"{{"message":"{}","timestamp":"2024-01-01T00:00:00Z"}}"#,
            "x".repeat(1000)
        );
        let body = format!("[{}]", vec![entry.as_str(); 1500].join(","));
        let pieces = messages(body.as_bytes(), MAX).unwrap();
        assert!(pieces.len() >= 3);
        assert!(pieces.iter().all(|p| p.len() <= MAX));
        assert_eq!(pieces.iter().map(|p| entries(p)).sum::<u64>(), 1500);
        for bad in [&b"not json"[..], b"42", b"\"text\"", b""] {
            assert_eq!(messages(bad, MAX), Err(LogsError::NotJson), "{bad:?}");
        }
        let huge = format!(r#"[{{"message":"{}"}}, {{}}]"#, "y".repeat(MAX));
        assert_eq!(
            messages(huge.as_bytes(), MAX),
            Err(LogsError::EntryTooLarge)
        );
    }

    #[test]
    fn elements_are_found_whatever_their_nesting_strings_and_spaces() {
        let tricky = br#"[ {"a": "x]\",{"}, [1, [2]] , "s,t", 3 ,{} ]"#;
        let got: Vec<&[u8]> = array_elements(tricky)
            .into_iter()
            .map(|r| &tricky[r])
            .collect();
        let want: [&[u8]; 5] = [br#"{"a": "x]\",{"}"#, b"[1, [2]]", br#""s,t""#, b"3", b"{}"];
        assert_eq!(got, want);
        assert!(array_elements(b"[]").is_empty());
        assert!(array_elements(b"[ ]").is_empty());
        // Cut small: every element once, in order.
        let pieces = messages(tricky, 24).unwrap();
        assert!(pieces.iter().all(|p| p.len() <= 24), "{pieces:?}");
        let back: Vec<serde_json::Value> = pieces
            .iter()
            .flat_map(|p| serde_json::from_slice::<Vec<serde_json::Value>>(p).unwrap())
            .collect();
        let whole: Vec<serde_json::Value> = serde_json::from_slice(tricky).unwrap();
        assert_eq!(back, whole);
    }
}
