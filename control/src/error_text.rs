//! An error and its causes as one line for an operator: "what failed: why: why", each cause
//! written once. Many errors (tapflow's own, std's, tonic's) quote their source in their own
//! message, so printing every link of the chain (anyhow's `{:#}`) repeats it.

use std::error::Error;

/// `e` followed by its causes, each written once.
pub fn joined(e: &(dyn Error + 'static)) -> String {
    after(String::new(), Some(e))
}

/// A gRPC status's message followed by what caused it (a refused connection, a TLS failure: a
/// status made by the client's transport carries the cause as its source, not in its message).
pub fn status(s: &tonic::Status) -> String {
    after(s.message().to_string(), s.source())
}

/// `text` followed by `first` and its causes, each written once.
fn after(mut text: String, first: Option<&(dyn Error + 'static)>) -> String {
    let mut next = first;
    while let Some(cause) = next {
        next = cause.source();
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_written_once() {
        // The config error quotes its I/O error and also gives it as its source.
        let e = crate::config::Config::load(Path::new("/nonexistent/x.yaml")).unwrap_err();
        // ENOENT's text, as the load reports it.
        let io = std::io::Error::from_raw_os_error(2).to_string();
        let text = joined(&e);
        assert_eq!(text.matches(&io).count(), 1, "{text}");
        assert!(text.starts_with("cannot read config file /nonexistent/x.yaml: "));
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("cannot read /a.pcap")
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn causes_not_in_the_message_are_chained() {
        let e = Outer(std::io::Error::other("no such file"));
        assert_eq!(joined(&e), "cannot read /a.pcap: no such file");
        let s = tonic::Status::from_error(Box::new(e));
        assert_eq!(status(&s), "cannot read /a.pcap: no such file");
    }
}
