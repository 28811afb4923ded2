//! Request log rows into the application tables. DeepFlow's
//! `consistent_timestamp_in_l7_metrics` off (its default): a request counts in the window of
//! its request, and its response (response, RRT, errors, timeouts) in the window of its
//! response, so that a second's responses are those that came in it; on: both in the
//! request's window (a window's responses then answer its own requests).

use super::{Aggregator, Minute};
use crate::aggregate::rows::RowPart;
use crate::metrics::doc::{collapse_internet, Tags, DIRECTION_CLIENT, DIRECTION_SERVER};
use crate::metrics::histogram::BucketPool;
use crate::record::L7FlowLog;

impl Aggregator {
    pub(super) fn add_request(&mut self, r: &L7FlowLog) {
        let base = Tags {
            ip: r.peers.ip_1,
            ip_1: None,
            is_ipv4: r.peers.is_ipv4,
            protocol: r.peers.protocol,
            server_port: r.peers.server_port,
            l7_protocol: r.l7_protocol,
            l7_protocol_str: r.l7_protocol_str,
            direction: DIRECTION_SERVER,
            tap_side: r.tap_side,
            observation_point: r.observation_point,
            capture_network_type: r.capture_network_type,
            tap_port: r.tap_port,
            endpoint: r.endpoint,
            agent_id: 0,
        };
        let map = Tags {
            ip: collapse_internet(r.peers.ip_0),
            ip_1: Some(r.peers.ip_1),
            direction: DIRECTION_CLIENT,
            ..base.clone()
        };
        let keys = (&base, &map, self.cfg.max_keys);
        let (request_us, response_us) = (r.start_time, r.end_time.max(r.start_time));
        let consistent = self.cfg.consistent_l7_time;
        let Aggregator {
            minutes,
            seconds,
            counters,
            buckets: pool,
            ..
        } = self;
        let mut overflow = 0;
        for w in std::iter::once(minutes).chain(seconds.as_mut()) {
            let late = &mut counters.late_rows;
            if consistent || request_us / w.len_us == response_us / w.len_us {
                let window = w.at(request_us, late);
                overflow += add_to(window, keys, r, RowPart::Whole, pool);
            } else {
                let window = w.at(request_us, late);
                overflow += add_to(window, keys, r, RowPart::Request, pool);
                let window = w.at(response_us, late);
                overflow += add_to(window, keys, r, RowPart::Response, pool);
            }
        }
        counters.key_overflow += overflow;
    }
}

/// Adds `part` of request log row `r` to one window's application tables (keys `base` and
/// `map`, at most `max` each); returns the keys refused.
fn add_to(
    window: &mut Minute,
    (base, map, max): (&Tags, &Tags, usize),
    r: &L7FlowLog,
    part: RowPart,
    pool: &mut BucketPool,
) -> u64 {
    let mut overflow = 0;
    if let Some(m) = window.application.meter(base, max, pool, &mut overflow) {
        m.add_part(r, part, pool);
    }
    if let Some(m) = window.application_map.meter(map, max, pool, &mut overflow) {
        m.add_part(r, part, pool);
    }
    overflow
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::MetricsConfig;
    use crate::record::l7::TYPE_SESSION;
    use crate::record::{Collected, RecordRef};

    /// A request at second 10.9 answered at second 11.2 (seconds after a minute's start).
    fn session() -> L7FlowLog {
        // A minute's start (1,700,000,040 s is a multiple of 60).
        let t0 = 1_700_000_040_000_000u64;
        let mut r = L7FlowLog {
            row_type: TYPE_SESSION,
            start_time: t0 + 10_900_000,
            end_time: t0 + 11_200_000,
            response_duration: 300_000,
            response_status: 3,
            l7_protocol: 20,
            l7_protocol_str: "HTTP",
            ..L7FlowLog::default()
        };
        r.peers.ip_0 = [10, 0, 0, 1].into();
        r.peers.ip_1 = [10, 0, 0, 2].into();
        r.peers.is_ipv4 = true;
        (r.peers.protocol, r.peers.server_port) = (6, 80);
        r
    }

    /// (second, request, response, rrt_count, server_error) of an `application` document.
    type Second = (u64, u64, u64, u64, u64);

    /// The `application` documents' seconds, and (request, response) of their minutes.
    fn seconds(consistent: bool) -> (Vec<Second>, Vec<(u64, u64)>) {
        let mut agg = Aggregator::new(MetricsConfig {
            second: true,
            consistent_l7_time: consistent,
            ..MetricsConfig::default()
        });
        let r = session();
        agg.add(RecordRef::L7FlowLog(&r));
        let mut docs = Collected::default();
        agg.finish(&mut docs);
        let t0 = r.start_time / 60_000_000 * 60;
        let s = docs
            .application_1s
            .iter()
            .map(|d| {
                let m = &d.0.meter;
                (
                    d.0.time - t0,
                    m.request,
                    m.response,
                    m.rrt_count,
                    m.server_error,
                )
            })
            .collect();
        let m = docs
            .application_1m
            .iter()
            .map(|d| (d.0.meter.request, d.0.meter.response))
            .collect();
        (s, m)
    }

    #[test]
    fn a_response_counts_in_its_own_second_unless_consistent() {
        let (apart, minute) = seconds(false);
        assert_eq!(apart, [(10, 1, 0, 0, 0), (11, 0, 1, 1, 1)]);
        assert_eq!(minute, [(1, 1)], "one minute: the whole row");
        let (together, minute) = seconds(true);
        assert_eq!(together, [(10, 1, 1, 1, 1)]);
        assert_eq!(minute, [(1, 1)]);
    }
}
