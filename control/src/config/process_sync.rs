//! Which processes the syscall tracer describes and how they are named and tagged: DeepFlow's
//! `inputs.proc.process_matcher`, `process_blacklist`, `tag_extraction.script_command` /
//! `exec_username`, and their legacy `static_config` forms (`os-proc-regex`, `os-app-tag-exec`,
//! `os-app-tag-exec-user`, mapped with a warning). `os-proc-sync-*` and the other `inputs.proc`
//! keys are accepted, not applied.

use serde::Deserialize;

use super::ConfigError;

/// What a matcher's regular expression is matched against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchType {
    /// The kernel's process name (`comm`).
    #[default]
    ProcessName,
    /// The command line, arguments joined by spaces (DeepFlow: without arguments when the
    /// type is `cmdline`; tapflow matches the executable path for it).
    Cmdline,
    CmdlineWithArgs,
    ParentProcessName,
    /// A tag from the tag command, as `key:value`.
    Tag,
}

/// What to do with a matching process (legacy `action`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Action {
    #[default]
    Accept,
    Drop,
}

/// One legacy `os-proc-regex` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub(super) struct ProcRegex {
    pub(super) match_regex: String,
    pub(super) match_type: MatchType,
    pub(super) match_languages: Vec<String>,
    pub(super) match_usernames: Vec<String>,
    pub(super) only_in_container: bool,
    pub(super) only_with_tag: bool,
    pub(super) ignore: bool,
    pub(super) action: Action,
    pub(super) rewrite_name: String,
}

/// One v7 `inputs.proc.process_matcher` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMatcher {
    match_regex: String,
    match_type: MatchType,
    match_languages: Vec<String>,
    match_usernames: Vec<String>,
    only_in_container: bool,
    only_with_tag: bool,
    ignore: bool,
    rewrite_name: String,
    enabled_features: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTagExtraction {
    script_command: Option<Vec<String>>,
    exec_username: Option<String>,
}

/// `inputs.proc` (the keys tapflow applies).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawProc {
    enabled: Option<bool>,
    proc_dir_path: Option<String>,
    process_matcher: Option<Vec<RawMatcher>>,
    process_blacklist: Option<Vec<String>>,
    tag_extraction: RawTagExtraction,
}

/// One process matcher, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessMatcher {
    pub regex: String,
    pub match_type: MatchType,
    /// A matching process is left out of the process inventory.
    pub ignore: bool,
    /// The process's name, with `$1` / `${NAME}` from the expression's groups (empty: the
    /// kernel name).
    pub rewrite_name: String,
    /// Only processes in a container (a cgroup other than the root or a systemd service).
    pub only_in_container: bool,
    /// Only processes the tag command gave tags.
    pub only_with_tag: bool,
    /// Only processes of these users (empty: any).
    pub usernames: Vec<String>,
    /// DeepFlow's features for matching processes; tapflow lists a process in its inventory
    /// when `proc.gprocess_info` is among them.
    pub enabled_features: Vec<String>,
}

/// The process settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessConfig {
    /// `inputs.proc.enabled`: the process inventory (processes.jsonl) is kept; false: rows carry
    /// only the kernel's names and pids.
    pub enabled: bool,
    /// First match decides.
    pub matchers: Vec<ProcessMatcher>,
    /// Kernel names never listed.
    pub blacklist: Vec<String>,
    /// A command printing tags for pids (YAML: `- pid: N` / `tags: [{key, value}]`).
    pub tag_command: Vec<String>,
    /// The user the tag command runs as (when it exists and tapflow runs as root).
    pub tag_exec_user: String,
    /// `inputs.proc.proc_dir_path`: where the host's processes are read (`/proc`; a container
    /// with the host's mounted elsewhere names that).
    pub proc_root: std::path::PathBuf,
}

/// The feature that puts a process in the inventory.
pub const GPROCESS_INFO: &str = "proc.gprocess_info";

impl Default for ProcessConfig {
    fn default() -> Self {
        let raw: Vec<RawMatcher> = serde_yaml::from_str(super::deepflow_v7::default_of(
            "inputs.proc.process_matcher",
        ))
        .expect("DeepFlow's default process_matcher parses");
        let blacklist: Vec<String> = serde_yaml::from_str(super::deepflow_v7::default_of(
            "inputs.proc.process_blacklist",
        ))
        .expect("DeepFlow's default process_blacklist parses");
        ProcessConfig {
            enabled: true,
            matchers: raw.iter().map(RawMatcher::to_matcher).collect(),
            blacklist,
            tag_command: Vec::new(),
            tag_exec_user: "deepflow".into(),
            proc_root: "/proc".into(),
        }
    }
}

impl RawMatcher {
    fn to_matcher(&self) -> ProcessMatcher {
        ProcessMatcher {
            regex: self.match_regex.clone(),
            match_type: self.match_type,
            ignore: self.ignore,
            rewrite_name: self.rewrite_name.clone(),
            only_in_container: self.only_in_container,
            only_with_tag: self.only_with_tag,
            usernames: self.match_usernames.clone(),
            enabled_features: self.enabled_features.clone(),
        }
    }
}

fn check_regex(key: &'static str, i: usize, re: &str) -> Result<(), ConfigError> {
    regex::Regex::new(re)
        .map(drop)
        .map_err(|e| ConfigError::Invalid {
            key,
            problem: format!("entry {i}: match_regex {re:?}: {e}"),
        })
}

/// The process settings from `inputs.proc` and the legacy `static_config` keys (which win when
/// both are given, with a warning that names the v7 keys).
pub(super) fn build(
    v7: &RawProc,
    st: &super::raw::LegacyStatic,
    warnings: &mut Vec<String>,
) -> Result<ProcessConfig, ConfigError> {
    let mut c = ProcessConfig::default();
    if let Some(e) = v7.enabled {
        c.enabled = e;
    }
    if let Some(p) = &v7.proc_dir_path {
        if !p.starts_with('/') {
            return Err(ConfigError::Invalid {
                key: "inputs.proc.proc_dir_path",
                problem: format!("{p:?} is not an absolute path"),
            });
        }
        c.proc_root = p.into();
    }
    if let Some(ms) = &v7.process_matcher {
        for (i, m) in ms.iter().enumerate() {
            check_regex("inputs.proc.process_matcher", i, &m.match_regex)?;
        }
        if ms.iter().any(|m| !m.match_languages.is_empty()) {
            warnings.push(
                "inputs.proc.process_matcher: match_languages is not applied (no language detection)"
                    .into(),
            );
        }
        c.matchers = ms.iter().map(RawMatcher::to_matcher).collect();
    }
    if let Some(b) = &v7.process_blacklist {
        c.blacklist = b.clone();
    }
    if let Some(cmd) = &v7.tag_extraction.script_command {
        c.tag_command = cmd.clone();
    }
    if let Some(u) = &v7.tag_extraction.exec_username {
        c.tag_exec_user = u.clone();
    }
    // Legacy forms.
    if let Some(rs) = &st.os_proc_regex {
        for (i, r) in rs.iter().enumerate() {
            check_regex("static_config.os-proc-regex", i, &r.match_regex)?;
        }
        c.matchers = rs
            .iter()
            .map(|r| ProcessMatcher {
                regex: r.match_regex.clone(),
                match_type: r.match_type,
                ignore: r.ignore || r.action == Action::Drop,
                rewrite_name: r.rewrite_name.clone(),
                only_in_container: r.only_in_container,
                only_with_tag: r.only_with_tag,
                usernames: r.match_usernames.clone(),
                enabled_features: vec![GPROCESS_INFO.into()],
            })
            .collect();
        warnings.push(
            "static_config.os-proc-regex is DeepFlow's legacy form of inputs.proc.process_matcher (applied)"
                .into(),
        );
    }
    if let Some(cmd) = &st.os_app_tag_exec {
        if cmd.is_empty() {
            return Err(ConfigError::Invalid {
                key: "static_config.os-app-tag-exec",
                problem: "an empty command".into(),
            });
        }
        c.tag_command = cmd.clone();
        warnings.push(
            "static_config.os-app-tag-exec is DeepFlow's legacy form of inputs.proc.tag_extraction.script_command (applied)"
                .into(),
        );
    }
    if let Some(u) = &st.os_app_tag_exec_user {
        c.tag_exec_user = u.clone();
    }
    if st.os_proc_sync_enabled.is_some()
        || st.os_proc_sync_tagged_only.is_some()
        || st.os_proc_root.is_some()
        || st.os_proc_socket_sync_interval.is_some()
        || st.os_proc_socket_min_lifetime.is_some()
    {
        warnings.push(
            "static_config.os-proc-sync-* / os-proc-root / os-proc-socket-* are accepted, not \
             applied: tapflow lists the processes its syscall tracer sees (processes.jsonl)"
                .into(),
        );
    }
    if v7
        .tag_extraction
        .script_command
        .as_ref()
        .is_some_and(Vec::is_empty)
    {
        c.tag_command.clear();
    }
    Ok(c)
}
