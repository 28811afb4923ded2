//! `tapflow ctl`: manage agents, agent groups and group configurations on a `tapflow server`,
//! over its gRPC admin API (the verbs of DeepFlow's `deepflow-ctl`).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use tapflow_control::client::{connect, ClientOptions, ClientTls};
use tapflow_control::rpc::admin::admin_client::AdminClient;
use tapflow_control::rpc::admin::{
    CreateGroupRequest, DeleteAgentRequest, DeleteGroupConfigRequest, DeleteGroupRequest,
    ListAgentsRequest, ListGroupConfigsRequest, ListGroupsRequest, SetGroupConfigRequest,
};

#[derive(Debug, Args)]
pub(crate) struct CtlArgs {
    /// Server address `host:port` (also TAPFLOW_SERVER).
    #[arg(long, env = "TAPFLOW_SERVER", default_value = "127.0.0.1:30035")]
    server: String,
    /// Shared token (also TAPFLOW_TOKEN).
    #[arg(long, env = "TAPFLOW_TOKEN")]
    token: Option<String>,
    /// CA or self-signed server certificate to trust (also TAPFLOW_TLS_CA).
    #[arg(long, env = "TAPFLOW_TLS_CA", conflicts_with = "plaintext")]
    tls_ca: Option<PathBuf>,
    /// Connect without TLS.
    #[arg(long)]
    plaintext: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table", global = true)]
    output: Output,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Output {
    Table,
    Yaml,
    Json,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// Agents.
    #[command(subcommand)]
    Agent(AgentCmd),
    /// Agent groups.
    #[command(subcommand, name = "agent-group")]
    AgentGroup(GroupCmd),
    /// Agent group configurations.
    #[command(subcommand, name = "agent-group-config")]
    AgentGroupConfig(GroupConfigCmd),
}

#[derive(Debug, Subcommand)]
enum AgentCmd {
    /// List registered agents.
    List,
    /// Forget an agent (it registers again at its next sync).
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
enum GroupCmd {
    /// List groups, or the one named.
    List { name: Option<String> },
    /// Create a group (its id, `g-` and 10 characters, is printed).
    Create {
        name: String,
        /// Use this id instead of a generated one.
        #[arg(long)]
        id: Option<String>,
    },
    /// Delete a group; refused while it has a configuration or agents, unless --force (its
    /// agents then move to the default group).
    Delete {
        name: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum GroupConfigCmd {
    /// Store a group's first configuration (the group is the file's vtap_group_id, or --group).
    Create {
        #[arg(short = 'f', long)]
        file: PathBuf,
        #[arg(long)]
        group: Option<String>,
    },
    /// Replace a group's configuration; its agents get it at once (Push).
    Update {
        #[arg(short = 'f', long)]
        file: PathBuf,
        #[arg(long)]
        group: Option<String>,
        /// Store without checking it against this tapflow's configuration model (agents of
        /// other versions, DeepFlow agents); agents still refuse what they cannot load.
        #[arg(long, requires = "group")]
        no_validate: bool,
    },
    /// Delete a group's configuration (its agents keep running what they have).
    Delete { group: String },
    /// Show configurations (all, or one group's).
    List { group: Option<String> },
    /// Print every configuration key with its default and a comment (a file to start from).
    Example,
}

fn print(out: Output, rows: &[Value], columns: &[&str]) -> anyhow::Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        Output::Yaml => print!("{}", serde_yaml::to_string(rows)?),
        Output::Table => {
            let cell = |r: &Value, c: &str| match &r[c] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                v => v.to_string(),
            };
            let widths: Vec<usize> = columns
                .iter()
                .map(|c| {
                    rows.iter()
                        .map(|r| cell(r, c).len())
                        .chain([c.len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: Vec<String>| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            println!(
                "{}",
                line(columns.iter().map(|c| c.to_uppercase()).collect())
            );
            for r in rows {
                println!("{}", line(columns.iter().map(|c| cell(r, c)).collect()));
            }
        }
    }
    Ok(())
}

pub(crate) fn run(a: CtlArgs) -> anyhow::Result<()> {
    if matches!(
        a.command,
        CtlCommand::AgentGroupConfig(GroupConfigCmd::Example)
    ) {
        // Generated from the config model: no server needed.
        print!("{}", tapflow_control::config::example::render());
        return Ok(());
    }
    let tls = match (&a.tls_ca, a.plaintext) {
        (Some(ca), _) => ClientTls::Ca(ca.clone()),
        (None, true) => ClientTls::Plaintext,
        (None, false) => {
            bail!("give --tls-ca FILE (the server's CA or dev certificate) or --plaintext")
        }
    };
    let opts = ClientOptions::new(&a.server, a.token.clone(), tls);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async move {
        let mut c = AdminClient::new(connect(&opts)?);
        let status = |e: tonic::Status| {
            anyhow::anyhow!("{}: {}", a.server, tapflow_control::error_text::status(&e))
        };
        let skip_validation = matches!(
            a.command,
            CtlCommand::AgentGroupConfig(GroupConfigCmd::Update {
                no_validate: true,
                ..
            })
        );
        let is_create = matches!(
            a.command,
            CtlCommand::AgentGroupConfig(GroupConfigCmd::Create { .. })
        );
        match a.command {
            CtlCommand::Agent(AgentCmd::List) => {
                let r = c.list_agents(ListAgentsRequest {}).await.map_err(status)?.into_inner();
                let rows: Vec<Value> = r
                    .agents
                    .iter()
                    .map(|g| {
                        json!({
                            "id": g.id, "name": g.name, "ctrl_ip": g.ctrl_ip, "ctrl_mac": g.ctrl_mac,
                            "group": g.group_name, "group_id": g.group_id, "state": if g.lost { "LOST" } else { g.state.as_str() },
                            "exceptions": g.exception_names, "config_version": g.config_version,
                            "capture": g.packet_capture_type, "host": g.hostname, "os": g.os,
                            "arch": g.arch, "kernel": g.kernel_version, "cpus": g.cpu_num,
                            "memory": g.memory_size, "last_sync": g.last_sync_unix,
                        })
                    })
                    .collect();
                print(a.output, &rows, &["id", "name", "ctrl_ip", "ctrl_mac", "group", "state", "exceptions", "config_version", "capture"])
            }
            CtlCommand::Agent(AgentCmd::Delete { name }) => {
                c.delete_agent(DeleteAgentRequest { name: name.clone() }).await.map_err(status)?;
                println!("agent {name} deleted");
                Ok(())
            }
            CtlCommand::AgentGroup(GroupCmd::List { name }) => {
                let r = c
                    .list_groups(ListGroupsRequest { name: name.unwrap_or_default() })
                    .await
                    .map_err(status)?
                    .into_inner();
                let rows: Vec<Value> = r
                    .groups
                    .iter()
                    .map(|g| json!({"name": g.name, "id": g.id, "agents": g.agents, "config": g.has_config}))
                    .collect();
                print(a.output, &rows, &["name", "id", "agents", "config"])
            }
            CtlCommand::AgentGroup(GroupCmd::Create { name, id }) => {
                let g = c
                    .create_group(CreateGroupRequest { name, id: id.unwrap_or_default() })
                    .await
                    .map_err(status)?
                    .into_inner();
                print(a.output, &[json!({"name": g.name, "id": g.id})], &["name", "id"])
            }
            CtlCommand::AgentGroup(GroupCmd::Delete { name, force }) => {
                c.delete_group(DeleteGroupRequest { name_or_id: name.clone(), force })
                    .await
                    .map_err(status)?;
                println!("agent group {name} deleted");
                Ok(())
            }
            CtlCommand::AgentGroupConfig(GroupConfigCmd::Create { file, group })
            | CtlCommand::AgentGroupConfig(GroupConfigCmd::Update { file, group, .. }) => {
                let create = is_create;
                let yaml = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let g = c
                    .set_group_config(SetGroupConfigRequest {
                        group_id: group.unwrap_or_default(),
                        yaml,
                        create,
                        skip_validation,
                    })
                    .await
                    .map_err(status)?
                    .into_inner();
                println!(
                    "agent group {} ({}): configuration version {} {}",
                    g.group_name,
                    g.group_id,
                    g.version,
                    if create { "created" } else { "updated" }
                );
                Ok(())
            }
            CtlCommand::AgentGroupConfig(GroupConfigCmd::Example) => Ok(()),
            CtlCommand::AgentGroupConfig(GroupConfigCmd::Delete { group }) => {
                c.delete_group_config(DeleteGroupConfigRequest { group_id: group.clone() })
                    .await
                    .map_err(status)?;
                println!("agent group {group}: configuration deleted");
                Ok(())
            }
            CtlCommand::AgentGroupConfig(GroupConfigCmd::List { group }) => {
                let r = c
                    .list_group_configs(ListGroupConfigsRequest { group_id: group.unwrap_or_default() })
                    .await
                    .map_err(status)?
                    .into_inner();
                if a.output == Output::Yaml && r.configs.len() == 1 {
                    // The file as stored, ready to edit and `update -f` again.
                    print!("{}", r.configs[0].yaml);
                    return Ok(());
                }
                let rows: Vec<Value> = r
                    .configs
                    .iter()
                    .map(|g| json!({"group": g.group_name, "group_id": g.group_id, "version": g.version, "yaml": g.yaml}))
                    .collect();
                let cols: &[&str] = if a.output == Output::Table { &["group", "group_id", "version"] } else { &[] };
                print(a.output, &rows, cols)
            }
        }
    })
}
