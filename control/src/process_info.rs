//! What the syscall tracer says about each process it sees: read from /proc, named and tagged
//! by the configured process matchers (DeepFlow's `inputs.proc.process_matcher`, first match
//! decides) and the tag command's output (`tag_extraction.script_command`, DeepFlow's
//! `os-app-tag-exec` format).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{MatchType, ProcessConfig, GPROCESS_INFO};

/// A process as /proc shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    /// The kernel's name (`comm`).
    pub kname: String,
    /// Arguments (argv).
    pub cmdline: Vec<String>,
    pub parent_kname: String,
    pub user: String,
    /// In a container (a container id in its cgroups, or a cgroup naming docker, containerd,
    /// kubepods, libpod or lxc).
    pub in_container: bool,
    /// Its container's id (64 hex digits, from its cgroups), or empty.
    pub container_id: String,
    /// Its Kubernetes pod's UID (from its cgroups), or empty.
    pub pod_uid: String,
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The user name of `uid` from /etc/passwd (the number when not listed).
fn user_name(uid: &str) -> String {
    read(Path::new("/etc/passwd"))
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.get(2) == Some(&uid)).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

impl ProcInfo {
    /// Process `pid` under `proc_root`; None when it is gone.
    pub fn read(proc_root: &Path, pid: u32) -> Option<ProcInfo> {
        let dir = proc_root.join(pid.to_string());
        let status = read(&dir.join("status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        let ppid: u32 = field("PPid:").and_then(|v| v.parse().ok()).unwrap_or(0);
        let uid = field("Uid:")
            .and_then(|v| v.split_whitespace().next().map(str::to_string))
            .unwrap_or_default();
        let cmdline = std::fs::read(dir.join("cmdline"))
            .map(|b| {
                b.split(|&c| c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let placed =
            crate::process_placement::from_cgroup(&read(&dir.join("cgroup")).unwrap_or_default());
        Some(ProcInfo {
            pid,
            ppid,
            kname: read(&dir.join("comm"))
                .map(|s| s.trim_end().to_string())
                .unwrap_or_default(),
            cmdline,
            parent_kname: read(&proc_root.join(format!("{ppid}/comm")))
                .map(|s| s.trim_end().to_string())
                .unwrap_or_default(),
            user: user_name(&uid),
            in_container: placed.in_container,
            container_id: placed.container_id,
            pod_uid: placed.pod_uid,
        })
    }
}

/// Tags by pid, from the tag command's YAML (`- pid: 1` / `tags: [{key: k, value: v}]`).
pub type Tags = HashMap<u32, Vec<(String, String)>>;

#[derive(Deserialize)]
struct TagEntry {
    pid: u32,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    value: String,
}

/// Parses the tag command's output.
pub fn parse_tags(yaml: &str) -> Result<Tags, String> {
    if yaml.trim().is_empty() {
        return Ok(Tags::new());
    }
    let entries: Vec<TagEntry> = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    Ok(entries
        .into_iter()
        .map(|e| {
            (
                e.pid,
                e.tags.into_iter().map(|t| (t.key, t.value)).collect(),
            )
        })
        .collect())
}

/// How a process is described in the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Described {
    pub name: String,
    /// The matcher that decided (its index in the configured list).
    pub matcher: usize,
    pub enabled_features: Vec<String>,
}

/// The configured matchers, compiled.
#[derive(Debug)]
pub struct Matchers {
    cfg: ProcessConfig,
    compiled: Vec<regex::Regex>,
}

impl Matchers {
    /// Compiles `cfg`'s expressions (checked when the config loaded; one that fails here never
    /// matches).
    pub fn new(cfg: &ProcessConfig) -> Self {
        let never = regex::Regex::new("$^").expect("regex");
        Matchers {
            compiled: cfg
                .matchers
                .iter()
                .map(|m| regex::Regex::new(&m.regex).unwrap_or_else(|_| never.clone()))
                .collect(),
            cfg: cfg.clone(),
        }
    }

    /// The inventory entry of `p` (tags `tags`), or None when it is blacklisted, matches no
    /// matcher, matches an ignoring one, or its matcher does not enable `proc.gprocess_info`.
    pub fn describe(&self, p: &ProcInfo, tags: &[(String, String)]) -> Option<Described> {
        if self.cfg.blacklist.contains(&p.kname) {
            return None;
        }
        let args = p.cmdline.join(" ");
        let exe = p.cmdline.first().cloned().unwrap_or_default();
        let tag_texts: Vec<String> = tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        for (i, (m, re)) in self.cfg.matchers.iter().zip(&self.compiled).enumerate() {
            if (m.only_in_container && !p.in_container)
                || (m.only_with_tag && tags.is_empty())
                || (!m.usernames.is_empty() && !m.usernames.contains(&p.user))
            {
                continue;
            }
            let subjects: Vec<&str> = match m.match_type {
                MatchType::ProcessName => vec![&p.kname],
                MatchType::Cmdline => vec![&exe],
                MatchType::CmdlineWithArgs => vec![&args],
                MatchType::ParentProcessName => vec![&p.parent_kname],
                MatchType::Tag => tag_texts.iter().map(String::as_str).collect(),
            };
            let Some(caps) = subjects.iter().find_map(|s| re.captures(s)) else {
                continue;
            };
            if m.ignore || !m.enabled_features.iter().any(|f| f == GPROCESS_INFO) {
                return None;
            }
            let mut name = String::new();
            caps.expand(&m.rewrite_name, &mut name);
            if name.is_empty() {
                name = p.kname.clone();
            }
            return Some(Described {
                name,
                matcher: i,
                enabled_features: m.enabled_features.clone(),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn proc(kname: &str, args: &[&str]) -> ProcInfo {
        ProcInfo {
            pid: 42,
            ppid: 1,
            kname: kname.into(),
            cmdline: args.iter().map(|s| s.to_string()).collect(),
            parent_kname: "systemd".into(),
            user: "www".into(),
            ..ProcInfo::default()
        }
    }

    #[test]
    fn deepflows_default_matchers_name_java_python_and_node_services() {
        let m = Matchers::new(&Config::default().process);
        let d = |k: &str, a: &[&str]| m.describe(&proc(k, a), &[]).map(|d| d.name);
        assert_eq!(
            d(
                "java",
                &["/usr/bin/java", "-Xmx1g", "-jar", "/opt/app/orders.jar"]
            ),
            Some("orders.jar".into())
        );
        assert_eq!(
            d("python3", &["/usr/bin/python3", "-u", "/srv/api/server.py"]),
            Some("server.py".into())
        );
        assert_eq!(
            d("node", &["node", "/srv/web/index.js"]),
            Some("index.js".into())
        );
        // The catch-all keeps the kernel name; DeepFlow's blacklist leaves shells out.
        assert_eq!(d("nginx", &["nginx: worker process"]), Some("nginx".into()));
        assert_eq!(d("bash", &["bash"]), None);
        assert_eq!(d("curl", &["curl", "http://x"]), None);
    }

    #[test]
    fn legacy_os_proc_regex_and_tags_decide() {
        let y = r#"
static_config:
  os-proc-regex:
    - match-regex: python3 (.*)\.py
      match-type: cmdline_with_args
      rewrite-name: $1-service
    - match-regex: team:payments
      match-type: tag
      rewrite-name: payments
    - match-regex: .*sleep.*
      action: drop
    - match-regex: .+
  os-app-tag-exec: ["cat", "/tmp/tags.yaml"]
"#;
        let c = Config::from_yaml(y).expect("config");
        assert_eq!(c.process.tag_command, ["cat", "/tmp/tags.yaml"]);
        let m = Matchers::new(&c.process);
        let d = m
            .describe(&proc("python3", &["python3", "orders.py"]), &[])
            .expect("described");
        assert_eq!((d.name.as_str(), d.matcher), ("orders-service", 0));
        let tags = vec![("team".to_string(), "payments".to_string())];
        assert_eq!(
            m.describe(&proc("java", &["java"]), &tags).map(|d| d.name),
            Some("payments".into())
        );
        assert_eq!(m.describe(&proc("sleep", &["sleep", "9"]), &[]), None);
        assert_eq!(
            m.describe(&proc("redis-server", &["redis-server"]), &[])
                .map(|d| d.matcher),
            Some(3)
        );
    }

    #[test]
    fn tag_output_parses_and_bad_output_is_an_error() {
        let t = parse_tags(
            "- pid: 10\n  tags:\n  - key: team\n    value: payments\n  - key: tier\n    value: web\n- pid: 11\n",
        )
        .expect("tags");
        assert_eq!(t[&10].len(), 2);
        assert!(t[&11].is_empty());
        assert!(parse_tags("").expect("empty").is_empty());
        assert!(parse_tags("pid: [").is_err());
    }

    #[test]
    fn this_process_is_read_from_proc() {
        let p = ProcInfo::read(Path::new("/proc"), std::process::id()).expect("self");
        assert!(!p.kname.is_empty() && !p.cmdline.is_empty() && p.ppid > 0);
        assert_eq!(ProcInfo::read(Path::new("/proc"), u32::MAX), None);
    }
}
