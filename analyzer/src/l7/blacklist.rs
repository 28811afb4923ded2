//! DeepFlow's request log blacklist (`processors.request_log.filters.tag_filters`): per protocol,
//! rules on a request's `endpoint`, `request_type`, `request_domain` or `request_resource`
//! (equal to a value, or starting with it). A request that matches is neither written as an
//! `l7_flow_log` row nor counted in the flow's L7 performance (requests, responses, errors,
//! timeouts, RRT): "non-business" requests such as health checks and heartbeats, as DeepFlow's
//! documentation puts it.
//!
//! The rules are checked when the request is seen (the fields its first message carries) and,
//! for a response without a request, on the response's row.

use super::protocol::L7Protocol;
use crate::record::L7FlowLog;

/// The row field a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleField {
    Endpoint,
    RequestType,
    RequestDomain,
    RequestResource,
}

impl RuleField {
    /// DeepFlow's `field_name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            ("endpoint", RuleField::Endpoint),
            ("request_type", RuleField::RequestType),
            ("request_domain", RuleField::RequestDomain),
            ("request_resource", RuleField::RequestResource),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, f)| f)
    }

    fn of(self, row: &L7FlowLog) -> &[u8] {
        match self {
            RuleField::Endpoint => row.endpoint.as_bytes(),
            RuleField::RequestType => row.request_type.as_bytes(),
            RuleField::RequestDomain => row.request_domain.as_bytes(),
            RuleField::RequestResource => row.request_resource.as_bytes(),
        }
    }
}

/// How a rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleOp {
    Equal,
    Prefix,
}

impl RuleOp {
    /// DeepFlow's `operator` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("equal") {
            Some(RuleOp::Equal)
        } else if name.eq_ignore_ascii_case("prefix") {
            Some(RuleOp::Prefix)
        } else {
            None
        }
    }
}

/// One rule of a protocol's blacklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub field: RuleField,
    pub op: RuleOp,
    pub value: Vec<u8>,
}

impl Rule {
    fn matches(&self, row: &L7FlowLog) -> bool {
        let v = self.field.of(row);
        // An empty field matches nothing (DeepFlow: an empty input is never on the list).
        !v.is_empty()
            && match self.op {
                RuleOp::Equal => v == self.value.as_slice(),
                RuleOp::Prefix => v.starts_with(&self.value),
            }
    }
}

/// The rules of every protocol that has some.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blacklist {
    rules: Vec<(u8, Rule)>,
}

impl Blacklist {
    /// Adds a rule for `protocol`'s rows.
    pub fn add(&mut self, protocol: L7Protocol, rule: Rule) {
        self.rules.push((protocol.id(), rule));
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Rules, all protocols together.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether `row` (of its `l7_protocol`) is on the list.
    #[inline]
    pub fn hides(&self, row: &L7FlowLog) -> bool {
        !self.rules.is_empty()
            && self
                .rules
                .iter()
                .any(|(p, r)| *p == row.l7_protocol && r.matches(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inline::InlineBytes;

    fn row(proto: L7Protocol, endpoint: &str, resource: &str) -> L7FlowLog {
        L7FlowLog {
            l7_protocol: proto.id(),
            endpoint: InlineBytes::from_slice(endpoint.as_bytes()),
            request_resource: InlineBytes::from_slice(resource.as_bytes()),
            request_type: InlineBytes::from_slice(b"GET"),
            ..L7FlowLog::default()
        }
    }

    fn rule(field: &str, op: &str, value: &str) -> Rule {
        Rule {
            field: RuleField::from_name(field).unwrap(),
            op: RuleOp::from_name(op).unwrap(),
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn rules_apply_to_their_protocol_and_field() {
        let mut b = Blacklist::default();
        assert!(!b.hides(&row(L7Protocol::Http1, "/healthz", "/healthz")));
        b.add(L7Protocol::Http1, rule("endpoint", "equal", "/healthz"));
        b.add(
            L7Protocol::Http1,
            rule("REQUEST_RESOURCE", "Prefix", "/internal/"),
        );
        assert!(b.hides(&row(L7Protocol::Http1, "/healthz", "/healthz")));
        assert!(!b.hides(&row(L7Protocol::Http1, "/healthz/deep", "/healthz/deep")));
        assert!(b.hides(&row(L7Protocol::Http1, "/internal", "/internal/metrics")));
        assert!(!b.hides(&row(L7Protocol::Http1, "/api", "/api/internal/")));
        // Another protocol's rows are not looked at.
        assert!(!b.hides(&row(L7Protocol::Http2, "/healthz", "/healthz")));
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn an_empty_field_is_never_on_the_list() {
        let mut b = Blacklist::default();
        b.add(L7Protocol::Http1, rule("request_domain", "prefix", ""));
        assert!(!b.hides(&row(L7Protocol::Http1, "/", "/")));
    }

    #[test]
    fn names_are_deepflows() {
        assert_eq!(
            RuleField::from_name("Request_Type"),
            Some(RuleField::RequestType)
        );
        assert_eq!(RuleField::from_name("response_code"), None);
        assert_eq!(RuleOp::from_name("EQUAL"), Some(RuleOp::Equal));
        assert_eq!(RuleOp::from_name("suffix"), None);
    }
}
