//! `outputs.flow_log.throttles` (DeepFlow's keys): at most so many l4 and l7 rows a second reach
//! the log outputs ([`crate::sink::LogThrottles`]).

use std::num::NonZeroU32;

use serde::Deserialize;

use super::raw::RawConfig;
use super::{ConfigError, Legacy};
use crate::sink::LogThrottles;

/// DeepFlow's range of a throttle, rows per second.
const RANGE: std::ops::RangeInclusive<u64> = 100..=1_000_000;

/// Absent keys: no throttle (tapflow's default; DeepFlow's agent throttles at 10000 rows/s).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FlowLogThrottles {
    l4_throttle: Option<u64>,
    l7_throttle: Option<u64>,
}

impl FlowLogThrottles {
    pub(super) fn build(
        &self,
        old: &RawConfig,
        legacy: &mut Legacy,
    ) -> Result<LogThrottles, ConfigError> {
        let l4 = legacy.pick(
            self.l4_throttle,
            "outputs.flow_log.throttles.l4_throttle",
            old.l4_log_collect_nps_threshold,
            "l4_log_collect_nps_threshold",
        )?;
        let l7 = legacy.pick(
            self.l7_throttle,
            "outputs.flow_log.throttles.l7_throttle",
            old.l7_log_collect_nps_threshold,
            "l7_log_collect_nps_threshold",
        )?;
        let rate = |v: Option<u64>, key: &'static str| -> Result<_, ConfigError> {
            let Some(v) = v else { return Ok(None) };
            if !RANGE.contains(&v) {
                return Err(ConfigError::Invalid {
                    key,
                    problem: format!(
                        "{v} rows/s is not in {}..={} (DeepFlow's range)",
                        RANGE.start(),
                        RANGE.end()
                    ),
                });
            }
            Ok(u32::try_from(v).ok().and_then(NonZeroU32::new))
        };
        Ok(LogThrottles {
            l4: rate(l4, "outputs.flow_log.throttles.l4_throttle")?,
            l7: rate(l7, "outputs.flow_log.throttles.l7_throttle")?,
        })
    }
}
