//! `outputs.flow_log.filters` (DeepFlow's keys): which l4 and l7 rows the log outputs keep, by
//! capture network type and observation point ([`crate::sink::LogFilters`]).

use serde::Deserialize;

use super::ConfigError;
use crate::sink::log_filter::FilterError;
use crate::sink::{LogFilters, RowFilter};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FlowLogFilters {
    l4_capture_network_types: Vec<i64>,
    l7_capture_network_types: Vec<i64>,
    l4_ignored_observation_points: Vec<i64>,
    l7_ignored_observation_points: Vec<i64>,
}

impl Default for FlowLogFilters {
    /// DeepFlow v7's defaults: every type, no observation point ignored.
    fn default() -> Self {
        FlowLogFilters {
            l4_capture_network_types: vec![0],
            l7_capture_network_types: vec![0],
            l4_ignored_observation_points: Vec::new(),
            l7_ignored_observation_points: Vec::new(),
        }
    }
}

impl FlowLogFilters {
    pub(super) fn build(&self) -> Result<LogFilters, ConfigError> {
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
                &self.l4_capture_network_types,
                &self.l4_ignored_observation_points,
                "l4",
                "outputs.flow_log.filters.l4_capture_network_types",
                "outputs.flow_log.filters.l4_ignored_observation_points",
            )?,
            l7: row(
                &self.l7_capture_network_types,
                &self.l7_ignored_observation_points,
                "l7",
                "outputs.flow_log.filters.l7_capture_network_types",
                "outputs.flow_log.filters.l7_ignored_observation_points",
            )?,
        })
    }
}
