//! DeepFlow's `agent.Synchronizer` for agents: `Sync` registers or updates the agent and answers
//! with its group's configuration (`user_config`) and `DynamicConfig`; `Push` streams a new
//! answer whenever the agent's configuration changes. The other RPCs answer UNIMPLEMENTED.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::store::{AgentReport, AgentRow, Store, StoreError};
use crate::rpc::agent::synchronizer_server::Synchronizer;
use crate::rpc::agent::{
    AgentType, DynamicConfig, KubernetesApiSyncRequest, KubernetesApiSyncResponse, NtpRequest,
    NtpResponse, SyncRequest, SyncResponse, UpgradeRequest, UpgradeResponse,
};

/// DeepFlow's INVALID_CONFIGURATION exception bit.
pub const EXCEPTION_INVALID_CONFIGURATION: u64 = 256;

pub(crate) fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn status_of(e: StoreError) -> Status {
    match e {
        StoreError::NotFound(m) => Status::not_found(format!("{m} not found")),
        StoreError::Invalid(m) => Status::invalid_argument(m),
        other => Status::internal(other.to_string()),
    }
}

/// The Synchronizer service.
#[derive(Debug, Clone)]
pub struct SyncService {
    store: Arc<Store>,
    /// Bumped on every configuration or group change; Push streams watch it.
    changes: watch::Receiver<u64>,
    /// Set when the server shuts down: Push streams end, so the server does not wait for them.
    stopping: watch::Receiver<bool>,
}

impl SyncService {
    pub fn new(
        store: Arc<Store>,
        changes: watch::Receiver<u64>,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        SyncService {
            store,
            changes,
            stopping,
        }
    }
}

fn report_of(r: &SyncRequest) -> Result<AgentReport, Status> {
    let ctrl_ip = r.ctrl_ip().trim();
    if ctrl_ip.parse::<std::net::IpAddr>().is_err() {
        return Err(Status::invalid_argument(format!(
            "ctrl_ip {ctrl_ip:?} is not an IP address"
        )));
    }
    Ok(AgentReport {
        ctrl_ip: ctrl_ip.to_string(),
        ctrl_mac: r.ctrl_mac().to_string(),
        hostname: r.host().to_string(),
        group_request: r.agent_group_id_request.clone(),
        state: r.state.unwrap_or(0),
        exception: r.exception(),
        os: r.os().to_string(),
        arch: r.arch().to_string(),
        kernel_version: r.kernel_version().to_string(),
        cpu_num: r.cpu_num(),
        memory_size: r.memory_size(),
        capture_type: r.packet_capture_type.unwrap_or(0),
    })
}

/// The answer for `agent`: its group's configuration and its identity; with the configuration
/// version, to tell whether anything changed.
fn answer(store: &Store, agent: &AgentRow) -> Result<(SyncResponse, (String, u64)), Status> {
    let cfg = store.group_config(&agent.group_id).map_err(status_of)?;
    let version = cfg.as_ref().map_or(0, |c| c.version);
    let resp = SyncResponse {
        status: Some(0),
        user_config: Some(cfg.map(|c| c.yaml).unwrap_or_default()),
        dynamic_config: Some(DynamicConfig {
            enabled: Some(true),
            agent_id: Some(agent.id),
            group_id: Some(agent.group_id.clone()),
            hostname: Some(agent.hostname.clone()),
            agent_type: Some(AgentType::TtDedicatedPhysicalMachine as i32),
            ..DynamicConfig::default()
        }),
        ..SyncResponse::default()
    };
    Ok((resp, (agent.group_id.clone(), version)))
}

fn sync_once(store: &Store, r: &SyncRequest) -> Result<(SyncResponse, (String, u64)), Status> {
    let rep = report_of(r)?;
    let agent = store.sync_agent(&rep, now_s()).map_err(status_of)?;
    let (resp, version) = answer(store, &agent)?;
    // The agent says whether it runs what it was last sent: record the version it accepted.
    if r.config_accepted() && r.exception() & EXCEPTION_INVALID_CONFIGURATION == 0 {
        store
            .set_agent_config_version(agent.id, version.1)
            .map_err(status_of)?;
    }
    Ok((resp, version))
}

type PushStream = Pin<Box<dyn Stream<Item = Result<SyncResponse, Status>> + Send>>;
type UpgradeStream = Pin<Box<dyn Stream<Item = Result<UpgradeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Synchronizer for SyncService {
    async fn sync(&self, req: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        let r = req.into_inner();
        Ok(Response::new(sync_once(&self.store, &r)?.0))
    }

    type PushStream = PushStream;

    async fn push(&self, req: Request<SyncRequest>) -> Result<Response<PushStream>, Status> {
        let r = req.into_inner();
        let rep = report_of(&r)?;
        self.store.sync_agent(&rep, now_s()).map_err(status_of)?;
        let (tx, rx) = mpsc::channel(4);
        let store = Arc::clone(&self.store);
        let mut changes = self.changes.clone();
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            let mut sent: Option<(String, u64)> = None;
            loop {
                let next = store
                    .agent_by_identity(&rep.ctrl_ip, &rep.ctrl_mac)
                    .map_err(status_of)
                    .and_then(|a| a.ok_or_else(|| Status::not_found("agent deleted")))
                    .and_then(|a| answer(&store, &a));
                match next {
                    Ok((resp, version)) if sent.as_ref() != Some(&version) => {
                        if tx.send(Ok(resp)).await.is_err() {
                            return;
                        }
                        sent = Some(version);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    () = tx.closed() => return,
                    _ = stopping.changed() => {
                        let _ = tx.send(Err(Status::unavailable("tapflow server is stopping"))).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type UpgradeStream = UpgradeStream;

    async fn upgrade(&self, _: Request<UpgradeRequest>) -> Result<Response<UpgradeStream>, Status> {
        Err(Status::unimplemented(
            "tapflow server does not distribute agent binaries",
        ))
    }

    async fn query(&self, _: Request<NtpRequest>) -> Result<Response<NtpResponse>, Status> {
        Err(Status::unimplemented("tapflow server has no NTP relay"))
    }

    async fn kubernetes_api_sync(
        &self,
        _: Request<KubernetesApiSyncRequest>,
    ) -> Result<Response<KubernetesApiSyncResponse>, Status> {
        Err(Status::unimplemented(
            "tapflow server keeps no Kubernetes resources",
        ))
    }
}
