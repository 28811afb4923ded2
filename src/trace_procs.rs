//! The process inventory of a tracing session: each process the tracer sees, described once in
//! `processes.jsonl` (kernel name, name after the process matchers, command line, parent, user,
//! container, tags from the tag command), so that rows join it by `process_id_0/1`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tapflow_control::config::ProcessConfig;
use tapflow_control::process_info::{parse_tags, Matchers, ProcInfo, Tags};
use tapflow_dataplane::trace::session::{Observer, ProcessObserver};

/// The tag command runs at most this often (again when an unknown process appears).
const TAG_REFRESH: Duration = Duration::from_secs(10);
/// The tag command's time limit.
const TAG_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct InventoryCounters {
    pub(crate) listed: u64,
    /// Seen but not listed: blacklisted, ignored, or no matcher enables proc.gprocess_info.
    pub(crate) not_listed: u64,
    /// Gone before /proc could be read.
    pub(crate) gone: u64,
    pub(crate) tag_runs: u64,
    pub(crate) tag_errors: u64,
}

pub(crate) struct Inventory {
    cfg: ProcessConfig,
    matchers: Matchers,
    proc_root: PathBuf,
    out: Option<BufWriter<File>>,
    tags: Tags,
    last_tag_run: Option<Instant>,
    pub(crate) counters: InventoryCounters,
}

impl Inventory {
    /// An inventory written to `dir/processes.jsonl`.
    pub(crate) fn create(cfg: &ProcessConfig, dir: &Path) -> std::io::Result<Inventory> {
        std::fs::create_dir_all(dir)?;
        let out = BufWriter::new(File::create(dir.join("processes.jsonl"))?);
        Ok(Inventory {
            cfg: cfg.clone(),
            matchers: Matchers::new(cfg),
            proc_root: cfg.proc_root.clone(),
            out: Some(out),
            tags: Tags::new(),
            last_tag_run: None,
            counters: InventoryCounters::default(),
        })
    }

    /// The inventory as the session's observer, and a handle to read its counters after.
    pub(crate) fn shared(self) -> (Observer, Arc<Mutex<Inventory>>) {
        let a = Arc::new(Mutex::new(self));
        let observer: Arc<Mutex<dyn ProcessObserver>> = Arc::<Mutex<Inventory>>::clone(&a);
        (Observer(observer), a)
    }

    fn refresh_tags(&mut self, pid: u32) {
        if self.cfg.tag_command.is_empty()
            || self.tags.contains_key(&pid)
            || self.last_tag_run.is_some_and(|t| t.elapsed() < TAG_REFRESH)
        {
            return;
        }
        self.last_tag_run = Some(Instant::now());
        self.counters.tag_runs += 1;
        match run_tag_command(&self.cfg) {
            Ok(text) => match parse_tags(&text) {
                Ok(t) => self.tags = t,
                Err(e) => self.tag_error(&format!("output not understood: {e}")),
            },
            Err(e) => self.tag_error(&e),
        }
    }

    fn tag_error(&mut self, e: &str) {
        if self.counters.tag_errors == 0 {
            eprintln!("tapflow: tag command {:?}: {e}", self.cfg.tag_command);
        }
        self.counters.tag_errors += 1;
    }
}

/// Runs the tag command (as `tag_exec_user` when tapflow is root and the user exists), with a
/// time limit; its standard output.
fn run_tag_command(cfg: &ProcessConfig) -> Result<String, String> {
    let as_user = is_root() && user_exists(&cfg.tag_exec_user);
    let mut c = if as_user {
        let mut c = Command::new("runuser");
        c.args(["-u", &cfg.tag_exec_user, "--"])
            .args(&cfg.tag_command);
        c
    } else {
        let mut c = Command::new(&cfg.tag_command[0]);
        c.args(&cfg.tag_command[1..]);
        c
    };
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > TAG_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {TAG_TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("exited with {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    })
}

fn user_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/passwd")
        .is_ok_and(|p| p.lines().any(|l| l.split(':').next() == Some(name)))
}

impl ProcessObserver for Inventory {
    fn on_new_process(&mut self, pid: u32, _comm: &[u8]) {
        let Some(p) = ProcInfo::read(&self.proc_root, pid) else {
            self.counters.gone += 1;
            return;
        };
        self.refresh_tags(pid);
        let tags = self.tags.get(&pid).cloned().unwrap_or_default();
        let Some(d) = self.matchers.describe(&p, &tags) else {
            self.counters.not_listed += 1;
            return;
        };
        self.counters.listed += 1;
        let tag_map: serde_json::Map<String, serde_json::Value> = tags
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        let mut line = serde_json::json!({
            "pid": p.pid,
            "ppid": p.ppid,
            "kname": p.kname,
            "name": d.name,
            "cmdline": p.cmdline.join(" "),
            "parent_kname": p.parent_kname,
            "user": p.user,
            "in_container": p.in_container,
            "matcher": d.matcher,
            "enabled_features": d.enabled_features,
            "tags": tag_map,
        });
        for (key, value) in [("container_id", &p.container_id), ("pod_uid", &p.pod_uid)] {
            if !value.is_empty() {
                line[key] = serde_json::Value::String(value.clone());
            }
        }
        if let Some(out) = &mut self.out {
            let ok = serde_json::to_writer(&mut *out, &line).is_ok()
                && out.write_all(b"\n").is_ok()
                && out.flush().is_ok();
            if !ok {
                eprintln!("tapflow: cannot write processes.jsonl; the inventory stops");
                self.out = None;
            }
        }
    }
}

/// The inventory's counters as stats.json entries.
pub(crate) fn report(inv: &Mutex<Inventory>, m: &mut serde_json::Map<String, serde_json::Value>) {
    let Ok(inv) = inv.lock() else { return };
    let c = inv.counters;
    for (k, v) in [
        ("processes.listed", c.listed),
        ("processes.not_listed", c.not_listed),
        ("processes.gone", c.gone),
        ("processes.tag_command_runs", c.tag_runs),
        ("processes.tag_command_errors", c.tag_errors),
    ] {
        m.insert(k.into(), v.into());
    }
}
