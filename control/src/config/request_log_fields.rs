//! The request log keys that name fields per protocol:
//! `processors.request_log.filters.tag_filters` (DeepFlow's request log blacklist, old
//! `static_config.l7-log-blacklist`): per protocol, requests whose `endpoint`, `request_type`,
//! `request_domain` or `request_resource` is `equal` to a value or starts with it (`prefix`) are
//! neither logged nor counted ([`tapflow_analyzer::l7::blacklist`]);
//! `processors.request_log.tag_extraction.custom_fields`: HTTP and HTTP/2 headers kept as the
//! rows' attributes.

use std::collections::BTreeMap;

use serde::Deserialize;
use tapflow_analyzer::l7::blacklist::{Blacklist, Rule, RuleField, RuleOp};
use tapflow_analyzer::l7::config::{CustomField, CustomFields};

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
