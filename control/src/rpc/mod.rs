//! Generated protobuf and gRPC code (prost + tonic, built into OUT_DIR from `control/proto/`).

/// DeepFlow's `agent` package: the Synchronizer service and its messages.
#[allow(
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::pedantic
)]
pub mod agent {
    tonic::include_proto!("agent");
}

/// tapflow's management API for `tapflow ctl`.
#[allow(
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::pedantic
)]
pub mod admin {
    tonic::include_proto!("tapflow.admin.v1");
}
