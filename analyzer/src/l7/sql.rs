//! What the SQL protocols (MySQL, PostgreSQL) share: recognising SQL text, and SQLSTATE classes
//! (ISO SQL, in MySQL ERR packets and PostgreSQL ErrorResponse) the request itself caused.

/// Classes caused by the request (data 22, constraint violations 23 such as a duplicate key,
/// cursor and transaction state 24 25, statement name 26, authorisation 28, routine 2F, cursor
/// name 34, unknown database / schema 3D 3F, syntax or access rule 42 such as an unknown table,
/// check option 44): client errors. Every other class is a server error.
pub fn is_client_error(state: &[u8]) -> bool {
    matches!(
        state.get(..2),
        Some(
            b"22"
                | b"23"
                | b"24"
                | b"25"
                | b"26"
                | b"28"
                | b"2F"
                | b"34"
                | b"3D"
                | b"3F"
                | b"42"
                | b"44"
        )
    )
}

/// Does `text` start like SQL (or a comment before it), printable up to a NUL or 64 bytes?
pub fn looks_like_sql(text: &[u8]) -> bool {
    text.first()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, b'/' | b'(' | b' ' | b'\n'))
        && text
            .iter()
            .take(64)
            .take_while(|c| **c != 0)
            .all(|c| c.is_ascii_graphic() || c.is_ascii_whitespace() || *c >= 0x80)
}

/// Settings of the SQL protocols.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SqlConfig {
    /// `tag_extraction.obfuscate_protocols` names the protocol: literals are written as `?`.
    pub obfuscate: bool,
    /// `protocol_special_config.mysql.endpoint_disabled`: no table as `endpoint`.
    pub endpoint_disabled: bool,
    /// `protocol_special_config.mysql.decompress_payload: false`: a MySQL connection that turns
    /// on the compressed protocol is counted and no longer parsed (DeepFlow's default, `true`,
    /// reads it).
    pub keep_compressed: bool,
}

/// The table a statement works on, as written (quotes removed, `db.table` kept): the first table
/// after `FROM` of a SELECT or DELETE, after `INTO` of an INSERT or REPLACE, after `UPDATE`, and
/// after `TABLE` of CREATE / ALTER / DROP / TRUNCATE. None for other statements and subqueries.
pub fn table_of(sql: &[u8]) -> Option<&[u8]> {
    let mut words = Words { sql, at: 0 };
    let first = words.next()?;
    let is = |w: &[u8], k: &[u8]| w.eq_ignore_ascii_case(k);
    let after: &[u8] = if is(first, b"select") || is(first, b"delete") {
        b"from"
    } else if is(first, b"insert") || is(first, b"replace") {
        b"into"
    } else if is(first, b"update") {
        let w = words.next()?;
        let w = if is(w, b"low_priority") || is(w, b"ignore") {
            words.next()?
        } else {
            w
        };
        return Some(unquote(w));
    } else if ["create", "alter", "drop", "truncate"]
        .iter()
        .any(|k| is(first, k.as_bytes()))
    {
        b"table"
    } else {
        return None;
    };
    loop {
        let w = words.next()?;
        if is(w, after) {
            break;
        }
        // TRUNCATE without TABLE names the table at once.
        if first.eq_ignore_ascii_case(b"truncate") {
            return Some(unquote(w));
        }
    }
    let mut w = words.next()?;
    // CREATE TABLE IF NOT EXISTS t, DROP TABLE IF EXISTS t.
    while [&b"if"[..], b"not", b"exists"]
        .iter()
        .any(|k| w.eq_ignore_ascii_case(k))
    {
        w = words.next()?;
    }
    (!w.starts_with(b"(")).then(|| unquote(w))
}

/// A name in one pair of quotes without them (a qualified name of quoted parts stays whole).
fn unquote(w: &[u8]) -> &[u8] {
    match (w.first(), w.last()) {
        (Some(&q @ (b'`' | b'"')), Some(l)) if w.len() >= 2 && *l == q => {
            let inner = &w[1..w.len() - 1];
            if inner.contains(&q) {
                w
            } else {
                inner
            }
        }
        _ => w,
    }
}

/// The words of a statement: identifiers (with `.` and quotes), or one other character;
/// comments, strings and blanks skipped.
struct Words<'a> {
    sql: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let s = self.sql;
        loop {
            let c = *s.get(self.at)?;
            let next = s.get(self.at + 1).copied();
            if c.is_ascii_whitespace() {
                self.at += 1;
            } else if c == b'/' && next == Some(b'*') {
                self.at = find(&s[self.at + 2..], b"*/").map_or(s.len(), |p| self.at + 4 + p);
            } else if (c == b'-' && next == Some(b'-')) || c == b'#' {
                self.at = s[self.at..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(s.len(), |p| self.at + p);
            } else if c == b'\'' {
                self.at = skip_quoted(s, self.at, b'\'', true);
            } else {
                break;
            }
        }
        let start = self.at;
        let word =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.') || b >= 0x80;
        match s[start] {
            q @ (b'`' | b'"') => {
                let end = skip_quoted(s, start, q, false);
                // `db`.`table`
                let mut end = end;
                while s.get(end) == Some(&b'.') {
                    end = match s.get(end + 1) {
                        Some(&q2 @ (b'`' | b'"')) => skip_quoted(s, end + 1, q2, false),
                        _ => end + 1 + s[end + 1..].iter().take_while(|b| word(**b)).count(),
                    };
                }
                self.at = end;
            }
            c if word(c) => {
                self.at += s[start..].iter().take_while(|b| word(**b)).count();
            }
            _ => self.at += 1,
        }
        Some(&s[start..self.at])
    }
}

/// Writes the statement `sql` into `out`: as sent, or with its literals hidden.
pub fn write_sql<const N: usize>(
    sql: &[u8],
    dialect: Dialect,
    obfuscate: bool,
    out: &mut crate::inline::InlineBytes<N>,
) {
    if obfuscate {
        write_obfuscated(sql, dialect, out);
    } else {
        out.push_lossy(sql);
    }
}

/// Which SQL a statement is written in: where strings, identifiers and comments differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `"..."` is a string, `#` starts a comment, backslash escapes in strings.
    Mysql,
    /// `"..."` is an identifier, `$tag$...$tag$` a string, `$1` a parameter.
    Postgres,
}

/// Writes `sql` into `out` with its literals hidden (`obfuscate_protocols: [MySQL, PostgreSQL]`):
/// strings, numbers and hex or bit literals become `?`, and a comma-separated run of them
/// collapses to one, so statements differing only in list lengths read the same (`IN (1, 2, 3)`
/// -> `IN (?)`, `VALUES (1, 'a'), (2, 'b')` -> `VALUES (?), (?)`). Keywords,
/// identifiers, parameters and comments (where trace ids are read from) stay. A literal the
/// capture cut is still `?`. No allocation; stops when `out` is full.
pub fn write_obfuscated<const N: usize>(
    sql: &[u8],
    dialect: Dialect,
    out: &mut crate::inline::InlineBytes<N>,
) {
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    // Where the output stood right after the last `?`.
    let mut after_literal: Option<usize> = None;
    let mut literal = |out: &mut crate::inline::InlineBytes<N>| {
        if let Some(end) = after_literal {
            let between = out.as_bytes().get(end..).unwrap_or_default();
            let commas = between.iter().filter(|c| **c == b',').count();
            if commas == 1
                && between
                    .iter()
                    .all(|c| *c == b',' || c.is_ascii_whitespace())
            {
                out.truncate(end);
                return;
            }
        }
        out.push_lossy(b"?");
        after_literal = Some(out.len());
    };
    let mut i = 0;
    while i < sql.len() && !out.is_truncated() {
        let c = sql[i];
        let prev_ident = i > 0 && ident(sql[i - 1]);
        let next = sql.get(i + 1).copied();
        match c {
            b'\'' => {
                i = skip_quoted(sql, i, b'\'', dialect == Dialect::Mysql);
                literal(out);
            }
            b'"' if dialect == Dialect::Mysql => {
                i = skip_quoted(sql, i, b'"', true);
                literal(out);
            }
            // String prefixes: X'0f', B'01', N'text', E'a\'b' (PostgreSQL escapes).
            b'x' | b'X' | b'b' | b'B' | b'n' | b'N' | b'e' | b'E'
                if !prev_ident && next == Some(b'\'') =>
            {
                let escapes = dialect == Dialect::Mysql || matches!(c, b'e' | b'E');
                i = skip_quoted(sql, i + 1, b'\'', escapes);
                literal(out);
            }
            b'0'..=b'9' if !prev_ident => {
                i = skip_number(sql, i);
                literal(out);
            }
            b'.' if !prev_ident && next.is_some_and(|n| n.is_ascii_digit()) => {
                i = skip_number(sql, i);
                literal(out);
            }
            b'$' if dialect == Dialect::Postgres && !prev_ident => match dollar_tag(&sql[i..]) {
                Some(tag) => {
                    let body = i + tag.len();
                    i = find(&sql[body..], tag).map_or(sql.len(), |at| body + at + tag.len());
                    literal(out);
                }
                None => {
                    out.push_lossy(&[c]);
                    i += 1;
                }
            },
            // Comments and quoted identifiers are copied whole.
            b'-' if next == Some(b'-') => i = copy_line(sql, i, out),
            b'#' if dialect == Dialect::Mysql => i = copy_line(sql, i, out),
            b'/' if next == Some(b'*') => {
                let end = find(&sql[i + 2..], b"*/").map_or(sql.len(), |at| i + 2 + at + 2);
                out.push_lossy(&sql[i..end]);
                i = end;
            }
            b'`' | b'"' => {
                let end = skip_quoted(sql, i, c, false);
                out.push_lossy(&sql[i..end]);
                i = end;
            }
            _ if ident(c) => {
                let end = i + sql[i..].iter().take_while(|b| ident(**b)).count();
                out.push_lossy(&sql[i..end]);
                i = end;
            }
            _ => {
                out.push_lossy(&[c]);
                i += 1;
            }
        }
    }
}

/// The end of the quoted text opening at `at` (past its closing quote; a doubled quote is one
/// character; backslash escapes when `escapes`), or the end of `sql` when the capture cut it.
fn skip_quoted(sql: &[u8], at: usize, quote: u8, escapes: bool) -> usize {
    let mut i = at + 1;
    while i < sql.len() {
        match sql[i] {
            b'\\' if escapes => i += 2,
            c if c == quote => {
                if sql.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            }
            _ => i += 1,
        }
    }
    sql.len()
}

/// The end of a number at `at`: digits, a fraction, an exponent, or a hex literal (`0x1f`).
fn skip_number(sql: &[u8], at: usize) -> usize {
    let mut i = at;
    if sql.get(i) == Some(&b'0') && matches!(sql.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        while sql.get(i).is_some_and(u8::is_ascii_hexdigit) {
            i += 1;
        }
        return i;
    }
    while let Some(&c) = sql.get(i) {
        let sign = matches!(c, b'+' | b'-') && matches!(sql.get(i - 1), Some(b'e' | b'E'));
        if c.is_ascii_digit() || c == b'.' || c == b'e' || c == b'E' || sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// A PostgreSQL dollar-quote opening at the start of `b` (`$$`, `$body$`), not a parameter.
fn dollar_tag(b: &[u8]) -> Option<&[u8]> {
    let close = 1 + b[1..].iter().position(|c| *c == b'$')?;
    let name = &b[1..close];
    let ok = name.first().is_none_or(|c| !c.is_ascii_digit())
        && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    ok.then_some(&b[..=close])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn copy_line<const N: usize>(
    sql: &[u8],
    at: usize,
    out: &mut crate::inline::InlineBytes<N>,
) -> usize {
    let end = sql[at..]
        .iter()
        .position(|c| *c == b'\n')
        .map_or(sql.len(), |p| at + p);
    out.push_lossy(&sql[at..end]);
    end
}

#[cfg(test)]
mod tests {
    use super::{write_obfuscated, Dialect};
    use crate::inline::InlineBytes;

    fn ob(sql: &str, d: Dialect) -> String {
        let mut out = InlineBytes::<256>::EMPTY;
        write_obfuscated(sql.as_bytes(), d, &mut out);
        String::from_utf8_lossy(out.as_bytes()).into_owned()
    }

    #[test]
    fn literals_become_placeholders() {
        use Dialect::*;
        let cases = [
            ("select * from t where id = 42 and name = 'bob'", Mysql, "select * from t where id = ? and name = ?"),
            ("select * from t where id in (1, 2, 3)", Mysql, "select * from t where id in (?)"),
            ("insert into t values (1, 'a'), (2, 'it''s')", Mysql, "insert into t values (?), (?)"),
            ("select \"x\", `col1`, t2.c3 from t2 where v > -1.5e+3", Mysql, "select ?, `col1`, t2.c3 from t2 where v > -?"),
            ("update t set b = X'0f', h = 0x1F, s = 'a\\'b' # note 7", Mysql, "update t set b = ?, h = ?, s = ? # note 7"),
            ("select \"Col\" from t where a = $1 and b = 'x' -- 5", Postgres, "select \"Col\" from t where a = $1 and b = ? -- 5"),
            ("select $$a 'b'$$, $fn$x$fn$, E'a\\'b', .5", Postgres, "select ?"),
            ("/* traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 */ select 1", Mysql,
             "/* traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 */ select ?"),
            ("select * from t where name = 'cut by the capt", Mysql, "select * from t where name = ?"),
            ("select a1, f(2,3) from t limit 10 offset 20", Mysql, "select a1, f(?) from t limit ? offset ?"),
        ];
        for (sql, d, want) in cases {
            assert_eq!(ob(sql, d), want, "{sql}");
        }
    }

    #[test]
    fn the_table_a_statement_works_on() {
        let cases: [(&str, Option<&str>); 14] = [
            ("SELECT id, name FROM items WHERE id = 1", Some("items")),
            (
                "select count(*) from shop.orders o join users u on o.u = u.id",
                Some("shop.orders"),
            ),
            (
                "/* traceparent: x */ select * from `order items`",
                Some("order items"),
            ),
            ("SELECT 'from x' FROM \"T1\"", Some("T1")),
            ("insert ignore into logs values (1)", Some("logs")),
            ("REPLACE INTO kv (k, v) VALUES ('a', 1)", Some("kv")),
            ("UPDATE LOW_PRIORITY carts SET qty = 1", Some("carts")),
            ("delete from sessions where ts < 5", Some("sessions")),
            (
                "CREATE TABLE IF NOT EXISTS `db`.`t` (id int)",
                Some("`db`.`t`"),
            ),
            ("drop table if exists tmp", Some("tmp")),
            ("TRUNCATE audit", Some("audit")),
            ("select 1", None),
            ("select * from (select 1) x", None),
            ("SET NAMES utf8", None),
        ];
        for (sql, want) in cases {
            let got =
                super::table_of(sql.as_bytes()).map(|t| String::from_utf8_lossy(t).into_owned());
            assert_eq!(got.as_deref(), want, "{sql}");
        }
    }
}
