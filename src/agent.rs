//! `tapflow agent`: an agent without capture: it registers with a server, keeps its
//! configuration in sync (Sync + Push) and writes each accepted configuration to
//! STATE_DIR/applied.yaml. For control-plane deployments and tests; `tapflow run` captures.

use std::net::{IpAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use tapflow_control::agent::{self, AgentExit, AgentOptions, ConfigTarget, Identity};
use tapflow_control::client::ClientTls;
use tapflow_control::config::parse_duration;
use tapflow_control::Config;

/// Where the controllers are and who this agent is (shared by `tapflow agent` and `tapflow run`).
#[derive(Debug, Clone, Args)]
pub(crate) struct ControllerArgs {
    /// Controller `host:port`; repeat for failover (tried in turn).
    #[arg(long = "controller")]
    controllers: Vec<String>,
    /// Shared token (also TAPFLOW_TOKEN).
    #[arg(long, env = "TAPFLOW_TOKEN")]
    token: Option<String>,
    /// CA or self-signed server certificate to trust.
    #[arg(long, conflicts_with = "plaintext")]
    tls_ca: Option<PathBuf>,
    /// Connect to the controller without TLS.
    #[arg(long)]
    plaintext: bool,
    /// Agent identity (default: the address and MAC of the interface that routes to the first
    /// controller).
    #[arg(long)]
    ctrl_ip: Option<IpAddr>,
    #[arg(long)]
    ctrl_mac: Option<String>,
    /// Host name reported (default: the system's).
    #[arg(long)]
    host: Option<String>,
    /// Agent group to join (`agent_group_id_request`, legacy vtap-group-id-request).
    #[arg(long)]
    group: Option<String>,
    /// `proactive_request_interval`.
    #[arg(long, default_value = "60s")]
    sync_interval: String,
    /// `max_escape_duration`: give up after this long without a valid answer (exit code 3).
    #[arg(long, default_value = "3600s")]
    max_escape: String,
}

impl ControllerArgs {
    pub(crate) fn enabled(&self) -> bool {
        !self.controllers.is_empty()
    }

    /// The agent loop's settings; `capture_type` is DeepFlow's packet_capture_type.
    pub(crate) fn options(&self, capture_type: i32) -> anyhow::Result<AgentOptions> {
        if self.controllers.is_empty() {
            bail!("give at least one --controller HOST:PORT");
        }
        let tls = match (&self.tls_ca, self.plaintext) {
            (Some(ca), _) => ClientTls::Ca(ca.clone()),
            (None, true) => ClientTls::Plaintext,
            (None, false) => bail!("give --tls-ca FILE or --plaintext for the controller"),
        };
        let (route_ip, route_mac) = route_identity(&self.controllers[0])?;
        let sync_interval = duration("--sync-interval", &self.sync_interval)?;
        Ok(AgentOptions {
            controllers: self.controllers.clone(),
            token: self.token.clone(),
            tls,
            identity: Identity {
                ctrl_ip: self.ctrl_ip.unwrap_or(route_ip).to_string(),
                ctrl_mac: self.ctrl_mac.clone().unwrap_or(route_mac),
                host: self.host.clone().unwrap_or_else(|| {
                    std::fs::read_to_string("/proc/sys/kernel/hostname")
                        .map(|h| h.trim().to_string())
                        .unwrap_or_else(|_| "agent".into())
                }),
            },
            group_request: self.group.clone(),
            sync_interval,
            push_retry: Duration::from_secs(10).min(sync_interval),
            max_escape: duration("--max-escape", &self.max_escape)?,
            capture_type,
        })
    }
}

#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    #[command(flatten)]
    controller: ControllerArgs,
    /// Where accepted configurations are written.
    #[arg(long, default_value = "tapflow-agent")]
    state_dir: PathBuf,
}

/// Writes every accepted configuration to the state directory.
struct StateDir(PathBuf);

impl ConfigTarget for StateDir {
    fn apply(&mut self, cfg: Config, yaml: &str) -> Result<(), String> {
        let tmp = self.0.join("applied.yaml.tmp");
        std::fs::write(&tmp, yaml)
            .and_then(|()| std::fs::rename(&tmp, self.0.join("applied.yaml")))
            .map_err(|e| format!("cannot write {}: {e}", self.0.display()))?;
        for w in &cfg.warnings {
            println!("agent: warning: {w}");
        }
        println!("agent: configuration applied ({} bytes)", yaml.len());
        Ok(())
    }
}

/// The local address and MAC of the route to `controller`.
fn route_identity(controller: &str) -> anyhow::Result<(IpAddr, String)> {
    let addr = std::net::ToSocketAddrs::to_socket_addrs(controller)
        .with_context(|| format!("cannot resolve {controller}"))?
        .next()
        .with_context(|| format!("no address for {controller}"))?;
    let bind = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let s = UdpSocket::bind(bind)?;
    s.connect(addr)?;
    let ip = s.local_addr()?.ip();
    // The interface holding that address, from iproute2.
    let out = std::process::Command::new("ip")
        .args(["-o", "addr"])
        .output();
    let iface = out.ok().and_then(|o| {
        String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let a = f.get(3)?.split('/').next()?;
            (a.parse::<IpAddr>().ok()? == ip).then(|| f.get(1).map(|s| s.to_string()))?
        })
    });
    let mac = iface
        .and_then(|i| std::fs::read_to_string(format!("/sys/class/net/{i}/address")).ok())
        .map_or_else(|| "00:00:00:00:00:00".to_string(), |m| m.trim().to_string());
    Ok((ip, mac))
}

fn duration(flag: &str, v: &str) -> anyhow::Result<Duration> {
    Ok(Duration::from_nanos(
        parse_duration(v).map_err(|e| anyhow::anyhow!("{flag}: {e}"))?,
    ))
}

pub(crate) fn run(a: AgentArgs) -> anyhow::Result<()> {
    let opts = a.controller.options(0)?;
    let identity = opts.identity.clone();
    std::fs::create_dir_all(&a.state_dir)
        .with_context(|| format!("cannot create {}", a.state_dir.display()))?;
    println!(
        "agent: {} ({} {}) syncing with {}",
        identity.host,
        identity.ctrl_ip,
        identity.ctrl_mac,
        opts.controllers.join(", ")
    );
    let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
    let exit = rt.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {},
            }
            let _ = stop_tx.send(true);
        });
        let mut target = StateDir(a.state_dir.clone());
        agent::run(opts, &mut target, stop_rx).await
    });
    match exit {
        AgentExit::Stopped => Ok(()),
        AgentExit::Escaped => {
            eprintln!("agent: no controller answered within --max-escape: stopping");
            std::process::exit(3)
        }
    }
}

/// Hands validated configurations to the thread running the dataplane, and the agent id the
/// controller gave (0 until then).
struct ChannelTarget(
    std::sync::mpsc::Sender<Config>,
    Arc<std::sync::atomic::AtomicU32>,
);

impl ConfigTarget for ChannelTarget {
    fn apply(&mut self, mut cfg: Config, _: &str) -> Result<(), String> {
        crate::capture_filter::compile(&mut cfg)?;
        self.0
            .send(cfg)
            .map_err(|_| "the dataplane is stopping".to_string())
    }

    fn identity(&mut self, agent_id: u32) {
        self.1.store(agent_id, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The agent's control loop on its own thread, for `tapflow run --controller`.
pub(crate) struct ControlThread {
    configs: std::sync::mpsc::Receiver<Config>,
    agent_id: Arc<std::sync::atomic::AtomicU32>,
    stop: tokio::sync::watch::Sender<bool>,
    handle: Option<std::thread::JoinHandle<AgentExit>>,
}

impl std::fmt::Debug for ControlThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlThread").finish()
    }
}

impl ControlThread {
    pub(crate) fn start(opts: AgentOptions) -> anyhow::Result<ControlThread> {
        let (tx, configs) = std::sync::mpsc::channel();
        let agent_id = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let id = Arc::clone(&agent_id);
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("tokio runtime")?;
        println!(
            "tapflow: agent {} ({} {}) syncing with {}",
            opts.identity.host,
            opts.identity.ctrl_ip,
            opts.identity.ctrl_mac,
            opts.controllers.join(", ")
        );
        let handle = std::thread::Builder::new()
            .name("tapflow-control".into())
            .spawn(move || {
                let mut target = ChannelTarget(tx, id);
                let exit = rt.block_on(agent::run(opts, &mut target, stop_rx));
                if exit == AgentExit::Escaped {
                    // No controller for max_escape: stop the dataplane too (exit code 3).
                    tapflow_dataplane::sys::signal::request_stop();
                }
                exit
            })
            .context("cannot start the control thread")?;
        Ok(ControlThread {
            configs,
            agent_id,
            stop,
            handle: Some(handle),
        })
    }

    /// The agent id the controller handed out (DeepFlow's ids fit 16 bits in frame headers).
    pub(crate) fn agent_id(&self) -> Option<u16> {
        let id = self.agent_id.load(std::sync::atomic::Ordering::Relaxed);
        u16::try_from(id).ok().filter(|i| *i != 0)
    }

    /// The newest configuration received since the last call.
    pub(crate) fn latest(&self) -> Option<Config> {
        self.configs.try_iter().last()
    }

    /// Stops the loop; true when it had given up (escape).
    pub(crate) fn finish(mut self) -> bool {
        let _ = self.stop.send(true);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .is_some_and(|e| e == AgentExit::Escaped)
    }
}
