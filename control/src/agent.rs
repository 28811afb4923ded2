//! The agent side of DeepFlow's Synchronizer: `Sync` every interval (earlier when the exception
//! bitmap changes), a `Push` stream for triggered updates, the received `user_config` validated
//! exactly like a local file and handed to the caller only when valid (an invalid one raises
//! INVALID_CONFIGURATION and the running configuration stays), controller failover with backoff,
//! and DeepFlow's escape rule (no valid answer for `max_escape` -> the agent stops).

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::client::{connect, ClientOptions, ClientTls};
use crate::config::Config;
use crate::rpc::agent::synchronizer_client::SynchronizerClient;
use crate::rpc::agent::{State, SyncRequest, SyncResponse};

/// DeepFlow exception bits the agent raises.
pub const INVALID_CONFIGURATION: u64 = 256;
pub const CONTROLLER_SOCKET_ERROR: u64 = 32768;

/// Who the agent is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub ctrl_ip: String,
    pub ctrl_mac: String,
    pub host: String,
}

/// Agent settings.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Controllers (`host:port`), tried in turn.
    pub controllers: Vec<String>,
    pub token: Option<String>,
    pub tls: ClientTls,
    pub identity: Identity,
    /// `agent_group_id_request` (legacy `vtap-group-id-request`).
    pub group_request: Option<String>,
    /// `proactive_request_interval`.
    pub sync_interval: Duration,
    /// Reconnect delay of the Push stream.
    pub push_retry: Duration,
    /// `max_escape_duration`: stop after this long without a valid answer.
    pub max_escape: Duration,
    /// DeepFlow's packet_capture_type (0 local, 1 mirror, 2 analyzer).
    pub capture_type: i32,
}

/// What the caller does with a configuration.
pub trait ConfigTarget {
    /// Applies a validated configuration (hot, or by restarting the dataplane); an error keeps
    /// the running one and is reported as INVALID_CONFIGURATION.
    fn apply(&mut self, cfg: Config, yaml: &str) -> Result<(), String>;

    /// The controller's `dynamic_config.agent_id` (frames to the ingester carry it).
    fn identity(&mut self, _agent_id: u32) {}
}

/// Why the agent loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentExit {
    /// Asked to stop.
    Stopped,
    /// No valid answer from any controller for `max_escape` (DeepFlow exits with code 3).
    Escaped,
}

fn system_facts() -> (String, String, u32, u64) {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024);
    (std::env::consts::ARCH.to_string(), kernel, cpus, mem)
}

struct Agent<'t, T: ConfigTarget> {
    opts: AgentOptions,
    target: &'t mut T,
    boot_time: u32,
    exception: u64,
    accepted: bool,
    /// The last user_config seen (applied or refused), to act on changes only.
    last_yaml: Option<String>,
    current: usize,
}

impl<T: ConfigTarget> Agent<'_, T> {
    fn request(&self) -> SyncRequest {
        let (arch, kernel, cpus, mem) = system_facts();
        let id = &self.opts.identity;
        SyncRequest {
            boot_time: Some(self.boot_time),
            config_accepted: Some(self.accepted),
            state: Some(State::Running as i32),
            revision: Some(concat!("tapflow ", env!("CARGO_PKG_VERSION")).into()),
            exception: Some(self.exception),
            process_name: Some("tapflow".into()),
            packet_capture_type: Some(self.opts.capture_type),
            ctrl_ip: Some(id.ctrl_ip.clone()),
            ctrl_mac: Some(id.ctrl_mac.clone()),
            host: Some(id.host.clone()),
            host_ips: vec![id.ctrl_ip.clone()],
            agent_group_id_request: self.opts.group_request.clone(),
            cpu_num: Some(cpus),
            memory_size: Some(mem),
            arch: Some(arch),
            os: Some(std::env::consts::OS.into()),
            kernel_version: Some(kernel),
            ..SyncRequest::default()
        }
    }

    fn client(&self, i: usize) -> Option<SynchronizerClient<crate::client::AuthChannel>> {
        let addr = self.opts.controllers.get(i)?;
        let o = ClientOptions::new(addr, self.opts.token.clone(), self.opts.tls.clone());
        connect(&o).ok().map(SynchronizerClient::new)
    }

    /// Acts on a received configuration; returns whether the exception bits changed.
    fn on_response(&mut self, resp: &SyncResponse) -> bool {
        let before = self.exception;
        if let Some(id) = resp.dynamic_config.as_ref().and_then(|d| d.agent_id) {
            self.target.identity(id);
        }
        let yaml = resp.user_config().to_string();
        if self.last_yaml.as_deref() != Some(yaml.as_str()) {
            let outcome = Config::from_yaml(&yaml)
                .map_err(|e| e.to_string())
                .and_then(|cfg| {
                    let mode = cfg.analyzer.mirror.mode;
                    self.target.apply(cfg, &yaml)?;
                    // Report the capture mode now in force.
                    self.opts.capture_type = match mode {
                        tapflow_analyzer::mirror::CaptureMode::Local => 0,
                        tapflow_analyzer::mirror::CaptureMode::VirtualMirror => 1,
                        tapflow_analyzer::mirror::CaptureMode::Analyzer => 2,
                    };
                    Ok(())
                });
            match outcome {
                Ok(()) => {
                    self.exception &= !INVALID_CONFIGURATION;
                    self.accepted = true;
                }
                Err(e) => {
                    eprintln!("agent: configuration refused, the running one stays: {e}");
                    self.exception |= INVALID_CONFIGURATION;
                    self.accepted = false;
                }
            }
            self.last_yaml = Some(yaml);
        }
        self.exception != before
    }
}

/// Opens Push on controller `addr` and forwards every answer; reconnects after `retry`.
async fn push_loop(
    opts: ClientOptions,
    req: SyncRequest,
    retry: Duration,
    tx: mpsc::Sender<SyncResponse>,
) {
    loop {
        if let Ok(ch) = connect(&opts) {
            let mut c = SynchronizerClient::new(ch);
            if let Ok(resp) = c.push(req.clone()).await {
                let mut stream = resp.into_inner();
                while let Ok(Some(msg)) = stream.message().await {
                    if tx.send(msg).await.is_err() {
                        return;
                    }
                }
            }
        }
        tokio::time::sleep(retry).await;
    }
}

/// Runs the agent's control loop until `stop` turns true or the escape time passes.
pub async fn run<T: ConfigTarget>(
    opts: AgentOptions,
    target: &mut T,
    mut stop: watch::Receiver<bool>,
) -> AgentExit {
    let boot_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);
    let mut a = Agent {
        opts,
        target,
        boot_time,
        exception: 0,
        accepted: true,
        last_yaml: None,
        current: 0,
    };
    let (push_tx, mut push_rx) = mpsc::channel::<SyncResponse>(4);
    let mut push_task: Option<(usize, tokio::task::JoinHandle<()>)> = None;
    let mut last_ok = Instant::now();
    let mut backoff = Duration::from_secs(1);
    loop {
        let n = a.opts.controllers.len().max(1);
        let mut wait = a.opts.sync_interval;
        let result = match a.client(a.current % n) {
            Some(mut c) => c.sync(a.request()).await.map(tonic::Response::into_inner),
            None => Err(tonic::Status::invalid_argument("bad controller address")),
        };
        match result {
            Ok(resp) => {
                last_ok = Instant::now();
                backoff = Duration::from_secs(1);
                a.exception &= !CONTROLLER_SOCKET_ERROR;
                if a.on_response(&resp) {
                    wait = Duration::ZERO; // tell the server at once
                }
                // The Push stream follows the controller that answers.
                let cur = a.current % n;
                if push_task.as_ref().is_none_or(|(i, _)| *i != cur) {
                    if let Some((_, t)) = push_task.take() {
                        t.abort();
                    }
                    let o = ClientOptions::new(
                        &a.opts.controllers[cur],
                        a.opts.token.clone(),
                        a.opts.tls.clone(),
                    );
                    let t = tokio::spawn(push_loop(
                        o,
                        a.request(),
                        a.opts.push_retry,
                        push_tx.clone(),
                    ));
                    push_task = Some((cur, t));
                }
            }
            Err(e) => {
                eprintln!(
                    "agent: sync with {} failed: {}",
                    a.opts
                        .controllers
                        .get(a.current % n)
                        .map_or("-", |s| s.as_str()),
                    crate::error_text::status(&e)
                );
                a.exception |= CONTROLLER_SOCKET_ERROR;
                a.current += 1;
                wait = backoff.min(a.opts.sync_interval);
                backoff = (backoff * 2).min(a.opts.sync_interval);
                if last_ok.elapsed() >= a.opts.max_escape {
                    if let Some((_, t)) = push_task.take() {
                        t.abort();
                    }
                    return AgentExit::Escaped;
                }
            }
        }
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                Some(resp) = push_rx.recv() => {
                    last_ok = Instant::now();
                    if a.on_response(&resp) {
                        break; // report the new exception state now
                    }
                }
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        if let Some((_, t)) = push_task.take() {
                            t.abort();
                        }
                        return AgentExit::Stopped;
                    }
                }
            }
        }
    }
}
