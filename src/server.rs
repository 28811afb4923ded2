//! `tapflow server`: the control-plane server for agents and `tapflow ctl`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use tapflow_control::config::parse_duration;
use tapflow_control::server::{serve, ServerOptions, TlsMode};

#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// Address to listen on (DeepFlow's controller port is 30035).
    #[arg(long, default_value = "0.0.0.0:30035")]
    listen: SocketAddr,
    /// Directory of the SQLite database (and of the --dev-tls certificate).
    #[arg(long, default_value = "/var/lib/tapflow-server")]
    data_dir: PathBuf,
    /// Shared token that agents and ctl must present (also TAPFLOW_TOKEN).
    #[arg(long, env = "TAPFLOW_TOKEN")]
    token: Option<String>,
    /// TLS certificate (PEM; also TAPFLOW_TLS_CERT).
    #[arg(long, env = "TAPFLOW_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM; also TAPFLOW_TLS_KEY).
    #[arg(long, env = "TAPFLOW_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Generate a self-signed certificate for localhost / 127.0.0.1 in DATA_DIR/dev-tls (clients:
    /// --tls-ca DATA_DIR/dev-tls/cert.pem).
    #[arg(long, conflicts_with_all = ["tls_cert", "plaintext"])]
    dev_tls: bool,
    /// Serve without TLS.
    #[arg(long, conflicts_with = "tls_cert")]
    plaintext: bool,
    /// Mark an agent lost after this long without a sync (default: 3 sync intervals).
    #[arg(long, default_value = "180s")]
    lost_after: String,
    /// Receive agents' records in DeepFlow's ingester framing on this address (DeepFlow's
    /// ingester port is 30033) and store them as JSON lines per table in DATA_DIR/records.
    /// With --token only agents this server knows may send, from their control address.
    #[arg(long, value_name = "HOST:PORT")]
    ingest_listen: Option<SocketAddr>,
    /// Store the received records in ClickHouse (DeepFlow's tables) instead of JSON lines.
    #[command(flatten)]
    clickhouse: crate::clickhouse_out::ClickHouseArgs,
}

pub(crate) fn run(a: ServerArgs) -> anyhow::Result<()> {
    let tls = match (a.tls_cert, a.tls_key, a.dev_tls, a.plaintext) {
        (Some(cert), Some(key), _, _) => TlsMode::Files { cert, key },
        (_, _, true, _) => TlsMode::Dev,
        (_, _, _, true) => TlsMode::Plaintext,
        _ => bail!("choose TLS (--tls-cert/--tls-key, or --dev-tls) or say --plaintext"),
    };
    let lost_after = Duration::from_nanos(
        parse_duration(&a.lost_after).map_err(|e| anyhow::anyhow!("--lost-after: {e}"))?,
    );
    if a.token.is_none() {
        eprintln!("tapflow server: no --token: any agent or ctl may connect");
    }
    let opts = ServerOptions {
        listen: a.listen,
        data_dir: a.data_dir.clone(),
        token: a.token,
        tls: tls.clone(),
        lost_after,
        ingest_listen: a.ingest_listen,
        clickhouse: a.clickhouse.config(),
    };
    let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
    rt.block_on(async move {
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {},
            }
        };
        serve(opts, shutdown, |addr| {
            let scheme = if tls == TlsMode::Plaintext { "plaintext" } else { "TLS" };
            println!("tapflow server: listening on {addr} ({scheme}), data in {}", a.data_dir.display());
            if tls == TlsMode::Dev {
                println!(
                    "tapflow server: dev certificate {}",
                    a.data_dir.join("dev-tls/cert.pem").display()
                );
            }
        })
        .await
    })?;
    println!("tapflow server: stopped");
    Ok(())
}
