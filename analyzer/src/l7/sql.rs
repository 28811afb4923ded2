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
