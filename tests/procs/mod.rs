//! A tapflow child process for the end-to-end tests: its output lines on a channel, waited for
//! by content, stopped with SIGTERM (a clean exit checked) and killed on drop (also when the test
//! fails).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");

pub(crate) struct Proc {
    pub(crate) child: Child,
    lines: mpsc::Receiver<String>,
}

#[allow(dead_code)] // not every test crate uses every method
impl Proc {
    /// `tapflow ARGS` with `env` added.
    pub(crate) fn spawn_env(args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tapflow");
        let (tx, lines) = mpsc::channel();
        for out in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        return;
                    }
                }
            });
        }
        Proc { child, lines }
    }

    /// Waits for a line containing `needle`; returns it.
    pub(crate) fn expect(&self, needle: &str, within: Duration) -> String {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => panic!("no line with {needle:?} within {within:?}"),
            }
        }
    }

    /// SIGTERM; true when the process exited by itself, successfully, within 6 s (killed
    /// otherwise).
    pub(crate) fn stop(self) -> bool {
        self.stop_within(Duration::from_secs(6))
    }

    /// SIGTERM; true when the process exited successfully within `limit`.
    pub(crate) fn stop_within(mut self, limit: Duration) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test's scratch directory under the temporary directory, emptied at creation and removed
/// when the test passes (kept, and its path printed, when it fails).
pub(crate) struct Scratch(std::path::PathBuf);

#[allow(dead_code)] // not every test crate uses every method
impl Scratch {
    /// `$TMPDIR/tapflow-PREFIX-NAME-PID`.
    pub(crate) fn new(prefix: &str, name: &str) -> Scratch {
        let d =
            std::env::temp_dir().join(format!("tapflow-{prefix}-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        Scratch(d)
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for Scratch {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept for inspection: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
