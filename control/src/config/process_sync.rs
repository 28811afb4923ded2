//! DeepFlow's process-sync settings (`static_config.os-proc-*`, `os-app-tag-exec*`): parsed and
//! validated (regular expressions, match types, actions) so that agent configs carrying them load;
//! tapflow has no process sync yet (it comes with the eBPF syscall tracer), so loading warns.

use serde::Deserialize;

use super::ConfigError;

/// How an `os-proc-regex` entry matches a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum MatchType {
    #[default]
    ProcessName,
    Cmdline,
    ParentProcessName,
    Tag,
}

/// What to do with a matching process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Action {
    #[default]
    Accept,
    Drop,
}

/// One `os-proc-regex` entry.
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

/// Validates the process-sync keys of the legacy `static_config`; a warning says they are not
/// applied.
pub(super) fn check(
    st: &super::raw::LegacyStatic,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for (i, r) in st.os_proc_regex.iter().flatten().enumerate() {
        regex::Regex::new(&r.match_regex).map_err(|e| ConfigError::Invalid {
            key: "static_config.os-proc-regex",
            problem: format!("entry {i}: match-regex {:?}: {e}", r.match_regex),
        })?;
    }
    if st.os_app_tag_exec.as_ref().is_some_and(Vec::is_empty) {
        return Err(ConfigError::Invalid {
            key: "static_config.os-app-tag-exec",
            problem: "an empty command".into(),
        });
    }
    let set = st.os_proc_sync_enabled.is_some()
        || st.os_proc_sync_tagged_only.is_some()
        || st.os_proc_root.is_some()
        || st.os_proc_socket_sync_interval.is_some()
        || st.os_proc_socket_min_lifetime.is_some()
        || st.os_proc_regex.is_some()
        || st.os_app_tag_exec_user.is_some()
        || st.os_app_tag_exec.is_some();
    if set {
        warnings.push(
            "static_config.os-proc-* / os-app-tag-exec (process sync) are validated but not \
             applied: tapflow syncs no process data yet (planned with the eBPF syscall tracer)"
                .into(),
        );
    }
    Ok(())
}
