//! Running the server: listener, TLS, the shared token, and the lost-agent sweep.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Status};

use super::admin::AdminService;
use super::store::{Store, StoreError};
use super::sync::{now_s, SyncService};
use crate::clickhouse::system::SystemStore;
use crate::ingest::receiver::{
    receive, store_loop, AgentCheck, AnyAgent, ReceiverCounters, SystemOut,
};
use crate::rpc::admin::admin_server::AdminServer;
use crate::rpc::agent::synchronizer_server::SynchronizerServer;
use crate::sink::JsonRowFile;
use crate::sink::{FanOut, JsonLinesSink};

/// Metadata key carrying the shared token (`Bearer <token>`).
pub const TOKEN_HEADER: &str = "authorization";

/// How the gRPC port is secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Certificate and key files (PEM).
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed pair for `localhost` / 127.0.0.1, generated into the data directory.
    Dev,
    /// No TLS (explicit opt-in).
    Plaintext,
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Required from agents and ctl when set.
    pub token: Option<String>,
    pub tls: TlsMode,
    /// An agent silent for this long is marked lost.
    pub lost_after: Duration,
    /// Receive agents' records (DeepFlow's ingester framing) on this address; they are stored
    /// as JSON lines per table under `data_dir/records`.
    pub ingest_listen: Option<SocketAddr>,
    /// Store received records in ClickHouse instead of JSON lines.
    pub clickhouse: Option<crate::clickhouse::ClickHouseConfig>,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Writes (once) and returns the dev certificate and key paths in `dir`.
pub fn dev_tls_files(dir: &Path) -> Result<(PathBuf, PathBuf), ServeError> {
    let d = dir.join("dev-tls");
    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(&d).map_err(|e| ServeError::Tls(format!("{}: {e}", d.display())))?;
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    let write = |p: &Path, s: String| {
        std::fs::write(p, s).map_err(|e| ServeError::Tls(format!("{}: {e}", p.display())))
    };
    write(&cert, ck.cert.pem())?;
    write(&key, ck.signing_key.serialize_pem())?;
    Ok((cert, key))
}

fn tls_config(opts: &ServerOptions) -> Result<Option<ServerTlsConfig>, ServeError> {
    let (cert, key) = match &opts.tls {
        TlsMode::Plaintext => return Ok(None),
        TlsMode::Dev => dev_tls_files(&opts.data_dir)?,
        TlsMode::Files { cert, key } => (cert.clone(), key.clone()),
    };
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| ServeError::Tls(format!("{}: {e}", p.display())));
    Ok(Some(
        ServerTlsConfig::new().identity(Identity::from_pem(read(&cert)?, read(&key)?)),
    ))
}

/// Checks the shared token of every call.
#[derive(Debug, Clone)]
pub struct TokenCheck {
    expected: Option<Arc<str>>,
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let Some(want) = &self.expected else {
            return Ok(req);
        };
        let got = req
            .metadata()
            .get(TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match got {
            Some(t) if t == &**want => Ok(req),
            Some(_) => Err(Status::unauthenticated("wrong token")),
            None => Err(Status::unauthenticated(
                "this server requires a token (authorization: Bearer ...)",
            )),
        }
    }
}

/// How long a stopping server waits for its connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Runs the server until `shutdown` resolves (then within [`SHUTDOWN_GRACE`]); `bound` gets the
/// listening address first.
pub async fn serve(
    opts: ServerOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    bound: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let store = Arc::new(Store::open(&opts.data_dir)?);
    let (tx, rx) = watch::channel(0u64);
    // Shutdown ends the Push streams (agents hold them open forever otherwise, and a graceful
    // stop waits for every stream), and the server gives connections 5 s at most.
    let (stop_tx, stop_rx) = watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let mut stopped = stop_rx.clone();
    let tx = Arc::new(tx);
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| ServeError::Listen(opts.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Listen(opts.listen, e))?;
    let auth = TokenCheck {
        expected: opts.token.as_deref().map(Arc::from),
    };
    let mut builder = Server::builder();
    if let Some(tls) = tls_config(&opts)? {
        builder = builder.tls_config(tls)?;
    }
    // Agents that stop syncing are marked lost; a new sync clears the mark.
    let sweep_store = Arc::clone(&store);
    let lost_after = opts.lost_after.as_secs().max(1) as i64;
    let sweep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let _ = sweep_store.mark_lost(now_s() - lost_after);
        }
    });
    let ingest = match opts.ingest_listen {
        Some(at) => Some(start_ingest(at, &opts, &store, stop_rx.clone()).await?),
        None => None,
    };
    bound(addr);
    if let Some(i) = &ingest {
        let store = match &opts.clickhouse {
            Some(c) => format!("ClickHouse at {}", c.url),
            None => opts.data_dir.join("records").display().to_string(),
        };
        println!(
            "tapflow server: receiving records on {} (DeepFlow ingester framing), stored in {store}",
            i.addr
        );
    }
    let result = builder
        .add_service(SynchronizerServer::with_interceptor(
            SyncService::new(Arc::clone(&store), rx, stop_rx),
            auth.clone(),
        ))
        .add_service(AdminServer::with_interceptor(
            AdminService::new(store, tx),
            auth,
        ))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown);
    let result = tokio::select! {
        r = result => r,
        _ = async {
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => Ok(()),
    };
    sweep.abort();
    if let Some(i) = ingest {
        // The receiver stops with the stop signal; the store writes what it holds and ends.
        let _ = i.receiver.await;
        let _ = tokio::task::spawn_blocking(move || i.store.join()).await;
    }
    Ok(result?)
}

/// The running ingester: its address, receiver task and store thread.
struct Ingest {
    addr: SocketAddr,
    receiver: tokio::task::JoinHandle<()>,
    store: std::thread::JoinHandle<crate::sink::SinkStats>,
}

/// Agents the control plane knows, connected from their own control address.
struct KnownAgents(Arc<Store>);

impl AgentCheck for KnownAgents {
    fn allowed(&self, agent_id: u16, peer: std::net::IpAddr) -> bool {
        match self.0.agent_by_id(u32::from(agent_id)) {
            Ok(Some(a)) => a
                .ctrl_ip
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip == peer || ip.to_canonical() == peer.to_canonical()),
            _ => false,
        }
    }
}

async fn start_ingest(
    at: SocketAddr,
    opts: &ServerOptions,
    store: &Arc<Store>,
    stop: watch::Receiver<bool>,
) -> Result<Ingest, ServeError> {
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .map_err(|e| ServeError::Listen(at, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Listen(at, e))?;
    let dir = opts.data_dir.join("records");
    std::fs::create_dir_all(&dir).map_err(|e| ServeError::Listen(at, e))?;
    let store_sink: Box<dyn crate::sink::Sink> = match &opts.clickhouse {
        Some(c) => Box::new(
            crate::clickhouse::ClickHouseSink::start(c.clone())
                .map_err(|e| ServeError::Listen(at, std::io::Error::other(e)))?,
        ),
        None => Box::new(
            JsonLinesSink::to_dir(&dir, crate::Config::default().file_output)
                .map_err(|e| ServeError::Listen(at, e))?,
        ),
    };
    // With a token, only agents the control plane knows may send (from their own address), as
    // only they may sync; without one, anyone, as on the gRPC port.
    let check: Arc<dyn AgentCheck> = if opts.token.is_some() {
        Arc::new(KnownAgents(Arc::clone(store)))
    } else {
        Arc::new(AnyAgent)
    };
    let counters = Arc::new(ReceiverCounters::default());
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let c = Arc::clone(&counters);
    let stats = dir.join("ingest-stats.json");
    let system = SystemOut {
        file: Some(
            JsonRowFile::create(
                &dir,
                "deepflow_system",
                crate::Config::default().file_output,
            )
            .map_err(|e| ServeError::Listen(at, e))?,
        ),
        clickhouse: match &opts.clickhouse {
            Some(c) => Some(
                SystemStore::start(&c.url, c.flow_metrics_ttl_hours, c.timeout)
                    .map_err(|e| ServeError::Listen(at, std::io::Error::other(e)))?,
            ),
            None => None,
        },
        forwarded_dir: Some(dir.clone()),
        forwarded: Default::default(),
        otel_clickhouse: match &opts.clickhouse {
            Some(c) => Some(
                crate::clickhouse::otel_l7::OtelL7Store::start(
                    &c.url,
                    c.flow_log_ttl_hours,
                    c.timeout,
                )
                .map_err(|e| ServeError::Listen(at, std::io::Error::other(e)))?,
            ),
            None => None,
        },
        profile_clickhouse: match &opts.clickhouse {
            Some(c) => Some(
                crate::clickhouse::profile_in_process::ProfileStore::start(
                    &c.url,
                    c.flow_log_ttl_hours,
                    c.timeout,
                )
                .map_err(|e| ServeError::Listen(at, std::io::Error::other(e)))?,
            ),
            None => None,
        },
        app_log_clickhouse: match &opts.clickhouse {
            Some(c) => Some(
                crate::clickhouse::application_log::AppLogStore::start(
                    &c.url,
                    c.flow_log_ttl_hours,
                    c.timeout,
                )
                .map_err(|e| ServeError::Listen(at, std::io::Error::other(e)))?,
            ),
            None => None,
        },
    };
    let store_thread = std::thread::Builder::new()
        .name("tapflow-store".into())
        .spawn(move || store_loop(rx, FanOut::new(vec![store_sink]), system, c, stats))
        .map_err(|e| ServeError::Listen(at, e))?;
    let receiver = tokio::spawn(receive(listener, check, tx, counters, stop));
    Ok(Ingest {
        addr,
        receiver,
        store: store_thread,
    })
}
