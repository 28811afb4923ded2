//! Durations as DeepFlow writes them: `300s`, `1m`, `500ms`, `1h`, or a bare number of seconds.

/// Parses a duration into nanoseconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (examples: 300s, 1m, 500ms)"))?;
    let mult: u64 = match unit.trim() {
        "" | "s" => 1_000_000_000,
        "ms" => 1_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        u => return Err(format!("'{s}': unknown unit '{u}' (use ms, s, m or h)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))
}
