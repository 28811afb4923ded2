//! Generates the gRPC code for `control/proto/*.proto` into OUT_DIR (needs `protoc`: Debian's
//! `protobuf-compiler`, installed by scripts/install-build-deps.sh).

fn main() {
    println!("cargo:rerun-if-changed=proto/agent.proto");
    println!("cargo:rerun-if-changed=proto/tapflow_admin.proto");
    println!("cargo:rerun-if-changed=proto/flow_log.proto");
    println!("cargo:rerun-if-changed=proto/metric.proto");
    println!("cargo:rerun-if-changed=proto/stats.proto");
    println!("cargo:rerun-if-changed=proto/otel_trace.proto");
    println!("cargo:rerun-if-changed=proto/prometheus_remote.proto");
    println!("cargo:rerun-if-changed=proto/pprof.proto");
    println!("cargo:rerun-if-changed=proto/pyroscope_push.proto");
    println!("cargo:rerun-if-changed=proto/skywalking.proto");
    if let Err(e) = tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(
            &[
                "proto/agent.proto",
                "proto/tapflow_admin.proto",
                "proto/flow_log.proto",
                "proto/metric.proto",
                "proto/stats.proto",
                "proto/otel_trace.proto",
                "proto/prometheus_remote.proto",
                "proto/pprof.proto",
                "proto/pyroscope_push.proto",
                "proto/skywalking.proto",
            ],
            &["proto"],
        )
    {
        panic!("protobuf code generation failed (is protoc installed? apt-get install protobuf-compiler): {e}");
    }
}
