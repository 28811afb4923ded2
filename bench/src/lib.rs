//! tapflow's generator of test and benchmark traffic, and the benchmark harness (`tapflow bench`).
//!
//! [`gen`] writes pcaps of synthetic but realistic conversations with chosen anomalies and
//! encapsulations, plus the flow records tapflow must produce for them (`*.expected.jsonl`).
//! The expectations come from what the generator did, not from the analyzer's code.
#![forbid(unsafe_code)]

pub mod gen;
pub mod harness;
pub mod instructions;
