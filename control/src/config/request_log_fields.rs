//! The request log keys that name fields per protocol:
//! `processors.request_log.filters.tag_filters` (DeepFlow's request log blacklist, old
//! `static_config.l7-log-blacklist`): per protocol, requests whose `endpoint`, `request_type`,
//! `request_domain` or `request_resource` is `equal` to a value or starts with it (`prefix`) are
//! neither logged nor counted ([`tapflow_analyzer::l7::blacklist`]);
//! `processors.request_log.tag_extraction.custom_fields`: HTTP and HTTP/2 headers kept as the
//! rows' attributes; `processors.request_log.tag_extraction.raw`: how many bytes of a failed
//! exchange's heads and bodies are kept as attributes.

use std::collections::BTreeMap;

use serde::Deserialize;
use tapflow_analyzer::l7::blacklist::{Blacklist, Rule, RuleField, RuleOp};
use tapflow_analyzer::l7::config::{CustomField, CustomFields};
use tapflow_analyzer::l7::raw::RawCapture;
use tapflow_analyzer::record::attributes;

use super::ConfigError;

const KEY: &str = "processors.request_log.filters.tag_filters";

/// One rule as written (DeepFlow's v7 name `field_value`; `value` as in its examples and v6).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TagFilter {
    field_name: String,
    operator: String,
    #[serde(alias = "value")]
    field_value: String,
}

/// Protocol name (DeepFlow's) -> its rules.
pub(super) type TagFilters = BTreeMap<String, Option<Vec<TagFilter>>>;

/// The blacklist `filters` give; a protocol tapflow does not parse is named in `warnings`.
pub(super) fn build(
    filters: &TagFilters,
    warnings: &mut Vec<String>,
) -> Result<Blacklist, ConfigError> {
    let invalid = |problem: String| ConfigError::Invalid { key: KEY, problem };
    let mut list = Blacklist::default();
    let mut unparsed = Vec::new();
    for (name, rules) in filters {
        let rules = rules.as_deref().unwrap_or_default();
        let Some(proto) = super::request_log::protocol(KEY, name)? else {
            if !rules.is_empty() {
                unparsed.push(name.as_str());
            }
            continue;
        };
        for r in rules {
            let field = RuleField::from_name(&r.field_name).ok_or_else(|| {
                invalid(format!(
                    "{name}: field_name '{}' is not endpoint, request_type, request_domain or \
                     request_resource",
                    r.field_name
                ))
            })?;
            let op = RuleOp::from_name(&r.operator).ok_or_else(|| {
                invalid(format!(
                    "{name}: operator '{}' is not equal or prefix",
                    r.operator
                ))
            })?;
            list.add(
                proto,
                Rule {
                    field,
                    op,
                    value: r.field_value.as_bytes().to_vec(),
                },
            );
        }
    }
    if !unparsed.is_empty() {
        warnings.push(format!(
            "{KEY}: tapflow does not parse {} yet; their rules are not applied",
            unparsed.join(", ")
        ));
    }
    Ok(list)
}

const CUSTOM_KEY: &str = "processors.request_log.tag_extraction.custom_fields";

/// One header to keep.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CustomFieldName {
    field_name: String,
}

/// Protocol name -> the headers to keep.
pub(super) type CustomFieldLists = BTreeMap<String, Option<Vec<CustomFieldName>>>;

/// The headers kept as attributes: DeepFlow reads them for `HTTP` and `HTTP2` (`gRPC` is read as
/// `HTTP2`, as DeepFlow asks); lists for other protocols are named in `warnings`.
pub(super) fn custom_fields(
    lists: &CustomFieldLists,
    warnings: &mut Vec<String>,
) -> Result<CustomFields, ConfigError> {
    let mut out = CustomFields::default();
    let mut other = Vec::new();
    for (proto, fields) in lists {
        let fields = fields.as_deref().unwrap_or_default();
        let into = match proto.to_ascii_lowercase().as_str() {
            "http" => &mut out.http,
            "http2" | "grpc" => &mut out.http2,
            _ => {
                if !fields.is_empty() {
                    other.push(proto.as_str());
                }
                continue;
            }
        };
        for f in fields {
            let name = f.field_name.trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                return Err(ConfigError::Invalid {
                    key: CUSTOM_KEY,
                    problem: format!("{proto}: '{}' is not a header name", f.field_name),
                });
            }
            into.push(CustomField::new(name));
        }
    }
    if !other.is_empty() {
        warnings.push(format!(
            "{CUSTOM_KEY}: only HTTP and HTTP2 headers are read; {} not applied",
            other.join(", ")
        ));
    }
    Ok(out)
}

/// `tag_extraction.raw` as written; an absent key keeps DeepFlow's default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawParts {
    error_request_header: Option<u32>,
    error_request_payload: Option<u32>,
    error_response_header: Option<u32>,
    error_response_payload: Option<u32>,
}

impl RawParts {
    /// The sizes to keep; sizes beyond what a row's attributes hold are named in `warnings`.
    pub(super) fn capture(&self, warnings: &mut Vec<String>) -> RawCapture {
        let d = RawCapture::default();
        let c = RawCapture {
            error_request_header: self.error_request_header.unwrap_or(d.error_request_header),
            error_request_payload: self
                .error_request_payload
                .unwrap_or(d.error_request_payload),
            error_response_header: self
                .error_response_header
                .unwrap_or(d.error_response_header),
            error_response_payload: self
                .error_response_payload
                .unwrap_or(d.error_response_payload),
        };
        let total = [
            c.error_request_header,
            c.error_request_payload,
            c.error_response_header,
            c.error_response_payload,
        ]
        .iter()
        .map(|&n| u64::from(n))
        .sum::<u64>();
        if total > attributes::CAPACITY as u64 {
            warnings.push(format!(
                "processors.request_log.tag_extraction.raw: {total} bytes asked for; a row keeps \
                 at most {} bytes of attributes in all, so the parts are cut to the room left \
                 (in the order request header, request payload, response header, response payload)",
                attributes::CAPACITY
            ));
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use tapflow_analyzer::l7::raw::RawCapture;

    #[test]
    fn raw_sizes_default_to_deepflow_and_oversized_ones_are_named() {
        let c = Config::from_yaml("").unwrap();
        assert_eq!(c.analyzer.l7.raw, RawCapture::default());
        assert!(!c.analyzer.l7.tags.copy_apm_trace_id);
        let y = r#"
processors:
  request_log:
    tag_extraction:
      tracing_tag:
        copy_apm_trace_id: true
      raw:
        error_request_header: 64
        error_response_payload: 0
"#;
        let c = Config::from_yaml(y).unwrap();
        assert_eq!(
            c.analyzer.l7.raw,
            RawCapture {
                error_request_header: 64,
                error_request_payload: 0,
                error_response_header: 0,
                error_response_payload: 0,
            }
        );
        assert!(c.analyzer.l7.tags.copy_apm_trace_id);
        assert!(
            !c.warnings
                .iter()
                .any(|w| w.contains("raw") || w.contains("copy_apm_trace_id")),
            "{:?}",
            c.warnings
        );
        let c = Config::from_yaml(
            "processors:\n  request_log:\n    tag_extraction:\n      raw:\n        error_request_payload: 1024\n",
        )
        .unwrap();
        assert_eq!(c.analyzer.l7.raw.error_request_payload, 1024);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("tag_extraction.raw: 1280 bytes asked for")),
            "{:?}",
            c.warnings
        );
        let e = Config::from_yaml(
            "processors:\n  request_log:\n    tag_extraction:\n      raw:\n        error_body: 1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("error_body"), "{e}");
    }
}
