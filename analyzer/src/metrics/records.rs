//! The `flow_metrics` tables as record kinds: one document type per table (and interval), so each
//! goes to its own output (`flow_metrics.network.1m.jsonl`, ...) like the flow logs do.

use serde::Serialize;

use super::doc::{AppMeter, FlowMeter, Tags};

/// One document: the window's start (s since the epoch), the key, the meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document<M> {
    /// Start of the window (minute or second), seconds since the Unix epoch.
    pub time: u64,
    #[serde(flatten)]
    pub tags: Tags,
    #[serde(flatten)]
    pub meter: M,
}

macro_rules! tables {
    ($($(#[$doc:meta])* $name:ident($meter:ty),)+) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
            #[serde(transparent)]
            pub struct $name(pub Document<$meter>);

            impl From<Document<$meter>> for $name {
                fn from(d: Document<$meter>) -> Self {
                    $name(d)
                }
            }

            impl From<$name> for Document<$meter> {
                fn from(d: $name) -> Self {
                    d.0
                }
            }
        )+
    };
}

tables! {
    /// `flow_metrics.network.1m`: each end of the flows (direction 1 client, 2 server).
    NetworkDoc(FlowMeter),
    /// `flow_metrics.network_map.1m`: client -> server paths.
    NetworkMapDoc(FlowMeter),
    /// `flow_metrics.application.1m`: services (server end) per endpoint.
    ApplicationDoc(AppMeter),
    /// `flow_metrics.application_map.1m`: client -> service paths per endpoint.
    ApplicationMapDoc(AppMeter),
    /// `flow_metrics.network.1s`.
    NetworkDoc1s(FlowMeter),
    /// `flow_metrics.network_map.1s`.
    NetworkMapDoc1s(FlowMeter),
    /// `flow_metrics.application.1s`.
    ApplicationDoc1s(AppMeter),
    /// `flow_metrics.application_map.1s`.
    ApplicationMapDoc1s(AppMeter),
}
