//! `processors.request_log.filters.tag_filters` (DeepFlow's request log blacklist, old
//! `static_config.l7-log-blacklist`): per protocol, requests whose `endpoint`, `request_type`,
//! `request_domain` or `request_resource` is `equal` to a value or starts with it (`prefix`) are
//! neither logged nor counted ([`tapflow_analyzer::l7::blacklist`]).

use std::collections::BTreeMap;

use serde::Deserialize;
use tapflow_analyzer::l7::blacklist::{Blacklist, Rule, RuleField, RuleOp};

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
