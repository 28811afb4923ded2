//! `outputs.flow_log.filters` (DeepFlow's keys): which l4 and l7 rows the log outputs keep, by
//! capture network type and observation point ([`crate::sink::LogFilters`]).

use serde::Deserialize;

use super::raw::RawConfig;
use super::{ConfigError, Legacy};
use crate::sink::log_filter::FilterError;
use crate::sink::{LogFilters, RowFilter};

/// Absent lists take DeepFlow v7's defaults: every type, no observation point ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FlowLogFilters {
    l4_capture_network_types: Option<Vec<i64>>,
    l7_capture_network_types: Option<Vec<i64>>,
    l4_ignored_observation_points: Option<Vec<i64>>,
    l7_ignored_observation_points: Option<Vec<i64>>,
}

/// The lists in force: the v7 keys, else their DeepFlow v6 spellings, else the defaults.
struct Lists {
    l4_types: Vec<i64>,
    l7_types: Vec<i64>,
    l4_ignored: Vec<i64>,
    l7_ignored: Vec<i64>,
}

impl FlowLogFilters {
    fn lists(&self, old: &RawConfig, legacy: &mut Legacy) -> Result<Lists, ConfigError> {
        let mut pick = |new: &Option<Vec<i64>>, new_key, old: &Option<Vec<i64>>, old_key| {
            legacy.pick(new.clone(), new_key, old.clone(), old_key)
        };
        Ok(Lists {
            l4_types: pick(
                &self.l4_capture_network_types,
                "outputs.flow_log.filters.l4_capture_network_types",
                &old.l4_log_tap_types,
                "l4_log_tap_types",
            )?
            .unwrap_or_else(|| vec![0]),
            l7_types: pick(
                &self.l7_capture_network_types,
                "outputs.flow_log.filters.l7_capture_network_types",
                &old.l7_log_store_tap_types,
                "l7_log_store_tap_types",
            )?
            .unwrap_or_else(|| vec![0]),
            l4_ignored: pick(
                &self.l4_ignored_observation_points,
                "outputs.flow_log.filters.l4_ignored_observation_points",
                &old.l4_log_ignore_tap_sides,
                "l4_log_ignore_tap_sides",
            )?
            .unwrap_or_default(),
            l7_ignored: pick(
                &self.l7_ignored_observation_points,
                "outputs.flow_log.filters.l7_ignored_observation_points",
                &old.l7_log_ignore_tap_sides,
                "l7_log_ignore_tap_sides",
            )?
            .unwrap_or_default(),
        })
    }

    pub(super) fn build(
        &self,
        old: &RawConfig,
        legacy: &mut Legacy,
    ) -> Result<LogFilters, ConfigError> {
        let lists = self.lists(old, legacy)?;
        let row = |types: &[i64], ignored: &[i64], kind: &'static str, types_key, ignored_key| {
            RowFilter::new(types, ignored).map_err(|e| ConfigError::Invalid {
                key: match e {
                    FilterError::CaptureNetworkType(_) => types_key,
                    FilterError::ObservationPoint(_) => ignored_key,
                },
                problem: format!("{e} ({kind} rows)"),
            })
        };
        Ok(LogFilters {
            l4: row(
                &lists.l4_types,
                &lists.l4_ignored,
                "l4",
                "outputs.flow_log.filters.l4_capture_network_types",
                "outputs.flow_log.filters.l4_ignored_observation_points",
            )?,
            l7: row(
                &lists.l7_types,
                &lists.l7_ignored,
                "l7",
                "outputs.flow_log.filters.l7_capture_network_types",
                "outputs.flow_log.filters.l7_ignored_observation_points",
            )?,
        })
    }
}
