//! Generated protobuf and gRPC code (prost + tonic, built into OUT_DIR from `control/proto/`).

/// DeepFlow's `agent` package: the Synchronizer service and its messages.
#[allow(
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::clone_on_ref_ptr,
    clippy::unwrap_used,
    clippy::manual_let_else
)]
pub mod agent {
    tonic::include_proto!("agent");
}

/// tapflow's management API for `tapflow ctl`.
#[allow(
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::clone_on_ref_ptr,
    clippy::unwrap_used,
    clippy::manual_let_else
)]
pub mod admin {
    tonic::include_proto!("tapflow.admin.v1");
}

/// DeepFlow's `flow_log` package: l4 rows (`TaggedFlow`) and l7 rows (`AppProtoLogsData`) on the
/// ingester connection.
#[allow(
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::clone_on_ref_ptr,
    clippy::unwrap_used,
    clippy::manual_let_else
)]
pub mod flow_log {
    tonic::include_proto!("flow_log");
}

/// DeepFlow's `metric` package: flow_metrics `Document`s on the ingester connection.
#[allow(
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::clone_on_ref_ptr,
    clippy::unwrap_used,
    clippy::manual_let_else
)]
pub mod metric {
    tonic::include_proto!("metric");
}
