//! Generated protobuf and gRPC code (prost + tonic, built into OUT_DIR from `control/proto/`).

/// A module of generated code, with the lints generated code does not follow allowed.
macro_rules! generated {
    ($(#[$doc:meta])* $name:ident = $package:literal) => {
        $(#[$doc])*
        #[allow(
            missing_debug_implementations,
            unreachable_pub,
            clippy::all,
            clippy::pedantic,
            clippy::clone_on_ref_ptr,
            clippy::unwrap_used,
            clippy::manual_let_else
        )]
        pub mod $name {
            tonic::include_proto!($package);
        }
    };
}

generated! {
    /// DeepFlow's `agent` package: the Synchronizer service and its messages.
    agent = "agent"
}

generated! {
    /// tapflow's management API for `tapflow ctl`.
    admin = "tapflow.admin.v1"
}

generated! {
    /// DeepFlow's `flow_log` package: l4 rows (`TaggedFlow`) and l7 rows (`AppProtoLogsData`) on
    /// the ingester connection.
    flow_log = "flow_log"
}

generated! {
    /// DeepFlow's `metric` package: flow_metrics `Document`s on the ingester connection.
    metric = "metric"
}

generated! {
    /// DeepFlow's `stats` package: an agent's self-monitoring counters on the ingester
    /// connection.
    stats = "stats"
}

generated! {
    /// OpenTelemetry's trace data (the part `tapflow server` stores from an agent's integration
    /// collector).
    otel = "otel"
}

generated! {
    /// Prometheus remote write's `WriteRequest` (stored by `tapflow server`).
    prometheus = "prometheus"
}

generated! {
    /// pprof's profile format (the stacks `tapflow server` stores from forwarded profiles).
    pprof = "perftools.profiles"
}

generated! {
    /// Pyroscope's push API (`push.v1.PusherService/Push`), taken by the integration collector.
    pyroscope_push = "push.v1"
}

generated! {
    /// Apache SkyWalking's trace segments and commands (its agents' gRPC reporting).
    skywalking = "skywalking.v3"
}
