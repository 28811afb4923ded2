//! tapflow's admin API (`tapflow ctl`): agents, agent groups and their configurations. A
//! configuration is validated exactly as an agent would load it before it is stored; storing one
//! wakes every Push stream so agents get it at once.

use std::sync::Arc;

use tokio::sync::watch;
use tonic::{Request, Response, Status};

use super::store::{AgentRow, GroupConfigRow, GroupRow, Store};
use super::sync::{now_s, status_of};
use crate::config::Config;
use crate::rpc::admin::admin_server::Admin;
use crate::rpc::admin::{
    Agent, CreateGroupRequest, DeleteAgentRequest, DeleteGroupConfigRequest, DeleteGroupRequest,
    Empty, Group, GroupConfig, ListAgentsRequest, ListAgentsResponse, ListGroupConfigsRequest,
    ListGroupConfigsResponse, ListGroupsRequest, ListGroupsResponse, SetGroupConfigRequest,
};

/// DeepFlow's exception bits, by name.
const EXCEPTIONS: [(u64, &str); 6] = [
    (2, "MEM_NOT_ENOUGH"),
    (64, "RX_PPS_THRESHOLD_EXCEEDED"),
    (256, "INVALID_CONFIGURATION"),
    (32768, "CONTROLLER_SOCKET_ERROR"),
    (65536, "ANALYZER_SOCKET_ERROR"),
    (16_777_216, "MEM_EXCEEDED"),
];

fn exception_names(bits: u64) -> String {
    let mut names: Vec<String> = EXCEPTIONS
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| (*n).to_string())
        .collect();
    let known: u64 = EXCEPTIONS.iter().map(|(b, _)| b).sum();
    if bits & !known != 0 {
        names.push(format!("0x{:x}", bits & !known));
    }
    names.join(",")
}

fn state_name(s: i32) -> &'static str {
    match s {
        0 => "ENVIRONMENT_CHECK",
        1 => "DISABLED",
        2 => "RUNNING",
        3 => "REBOOTING",
        4 => "STRESSED",
        5 => "RESTRICTED",
        _ => "UNKNOWN",
    }
}

fn capture_name(t: i32) -> &'static str {
    match t {
        0 => "LOCAL",
        1 => "MIRROR",
        2 => "ANALYZER",
        3 => "DECAP",
        _ => "UNKNOWN",
    }
}

fn agent_msg(a: AgentRow) -> Agent {
    Agent {
        id: a.id,
        name: a.name,
        ctrl_ip: a.ctrl_ip,
        ctrl_mac: a.ctrl_mac,
        group_id: a.group_id,
        group_name: a.group_name,
        state: state_name(a.state).into(),
        exception: a.exception,
        exception_names: exception_names(a.exception),
        last_sync_unix: a.last_sync,
        lost: a.lost,
        hostname: a.hostname,
        os: a.os,
        arch: a.arch,
        kernel_version: a.kernel_version,
        cpu_num: a.cpu_num,
        memory_size: a.memory_size,
        config_version: a.config_version,
        packet_capture_type: capture_name(a.capture_type).into(),
    }
}

fn group_msg(g: GroupRow) -> Group {
    Group {
        id: g.id,
        name: g.name,
        agents: g.agents,
        has_config: g.config_version > 0,
    }
}

fn config_msg(c: GroupConfigRow) -> GroupConfig {
    GroupConfig {
        group_id: c.group_id,
        group_name: c.group_name,
        yaml: c.yaml,
        version: c.version,
    }
}

/// The admin service.
#[derive(Debug, Clone)]
pub struct AdminService {
    store: Arc<Store>,
    changes: Arc<watch::Sender<u64>>,
}

impl AdminService {
    pub fn new(store: Arc<Store>, changes: Arc<watch::Sender<u64>>) -> Self {
        AdminService { store, changes }
    }

    fn changed(&self) {
        self.changes.send_modify(|v| *v += 1);
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn list_agents(
        &self,
        _: Request<ListAgentsRequest>,
    ) -> Result<Response<ListAgentsResponse>, Status> {
        let agents = self.store.list_agents().map_err(status_of)?;
        Ok(Response::new(ListAgentsResponse {
            agents: agents.into_iter().map(agent_msg).collect(),
        }))
    }

    async fn delete_agent(
        &self,
        req: Request<DeleteAgentRequest>,
    ) -> Result<Response<Empty>, Status> {
        self.store
            .delete_agent(&req.into_inner().name)
            .map_err(status_of)?;
        self.changed();
        Ok(Response::new(Empty {}))
    }

    async fn list_groups(
        &self,
        req: Request<ListGroupsRequest>,
    ) -> Result<Response<ListGroupsResponse>, Status> {
        let name = req.into_inner().name;
        let groups = self.store.list_groups().map_err(status_of)?;
        let groups: Vec<Group> = groups
            .into_iter()
            .filter(|g| name.is_empty() || g.name == name || g.id == name)
            .map(group_msg)
            .collect();
        if !name.is_empty() && groups.is_empty() {
            return Err(Status::not_found(format!("group {name} not found")));
        }
        Ok(Response::new(ListGroupsResponse { groups }))
    }

    async fn create_group(
        &self,
        req: Request<CreateGroupRequest>,
    ) -> Result<Response<Group>, Status> {
        let r = req.into_inner();
        let id = (!r.id.is_empty()).then_some(r.id.as_str());
        let g = self
            .store
            .create_group(&r.name, id, now_s())
            .map_err(status_of)?;
        Ok(Response::new(group_msg(g)))
    }

    async fn delete_group(
        &self,
        req: Request<DeleteGroupRequest>,
    ) -> Result<Response<Empty>, Status> {
        let r = req.into_inner();
        self.store
            .delete_group(&r.name_or_id, r.force)
            .map_err(status_of)?;
        self.changed();
        Ok(Response::new(Empty {}))
    }

    async fn delete_group_config(
        &self,
        req: Request<DeleteGroupConfigRequest>,
    ) -> Result<Response<Empty>, Status> {
        self.store
            .delete_group_config(&req.into_inner().group_id)
            .map_err(status_of)?;
        self.changed();
        Ok(Response::new(Empty {}))
    }

    async fn set_group_config(
        &self,
        req: Request<SetGroupConfigRequest>,
    ) -> Result<Response<GroupConfig>, Status> {
        let r = req.into_inner();
        // Validated as an agent will load it: an invalid file never reaches an agent (unless the
        // operator asks to skip this; agents then refuse it themselves).
        let named = if r.skip_validation {
            None
        } else {
            let cfg = Config::from_yaml(&r.yaml).map_err(|e| {
                Status::invalid_argument(format!("invalid agent configuration: {e}"))
            })?;
            cfg.agent_group_id
        };
        let group = if r.group_id.is_empty() {
            named.ok_or_else(|| {
                Status::invalid_argument("name the group: vtap_group_id in the file, or --group")
            })?
        } else {
            r.group_id
        };
        let g = self
            .store
            .find_group(&group)
            .map_err(status_of)?
            .ok_or_else(|| Status::not_found(format!("group {group} not found")))?;
        let version = self
            .store
            .set_group_config(&g.id, &r.yaml, r.create)
            .map_err(status_of)?;
        self.changed();
        Ok(Response::new(GroupConfig {
            group_id: g.id,
            group_name: g.name,
            yaml: r.yaml,
            version,
        }))
    }

    async fn list_group_configs(
        &self,
        req: Request<ListGroupConfigsRequest>,
    ) -> Result<Response<ListGroupConfigsResponse>, Status> {
        let id = req.into_inner().group_id;
        let configs = self.store.list_group_configs().map_err(status_of)?;
        let configs: Vec<GroupConfig> = configs
            .into_iter()
            .filter(|c| id.is_empty() || c.group_id == id || c.group_name == id)
            .map(config_msg)
            .collect();
        Ok(Response::new(ListGroupConfigsResponse { configs }))
    }
}
