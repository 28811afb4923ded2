//! `flow_metrics` documents: DeepFlow's `network`, `network_map`, `application` and
//! `application_map` tables (`deepflow-facts.md` section 5): tags, meters, latency histograms
//! DeepFlow does not keep, and the record types they travel as. The `aggregate` module fills them
//! from the flow and request logs.

pub mod doc;
pub mod histogram;
pub mod records;

pub use records::{
    ApplicationDoc, ApplicationDoc1s, ApplicationMapDoc, ApplicationMapDoc1s, Document, NetworkDoc,
    NetworkDoc1s, NetworkMapDoc, NetworkMapDoc1s,
};
