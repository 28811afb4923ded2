//! Instruction counts (`tapflow bench --instructions`): each tool run once more, under valgrind's
//! callgrind, which counts the instructions it executes in user space. Unlike time, the count
//! does not move with a shared virtual machine's noise, and this project's build VMs have no
//! hardware counters for `perf stat`: a change worth a few per cent shows in the count where
//! rounds of timings spread by more. The kernel's work (reading the file, page faults, writing
//! rows) is not counted, so a tool the kernel's copy dominates (the floor, `tcpdump -r F -w
//! /dev/null`) counts little: the ratio to the floor in instructions is higher than in time.

use std::path::Path;
use std::process::{Command, Stdio};

/// Whether valgrind is installed.
pub fn available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Instructions `args` executes (every thread), counted by callgrind; its log is kept in `dir`.
pub fn count(args: &[String], dir: &Path, env: &[(&str, &str)]) -> std::io::Result<u64> {
    let log = dir.join("callgrind.log");
    let status = Command::new("valgrind")
        .envs(env.iter().copied())
        // The profile itself is not needed, only the total (and a tool that drops its
        // privileges, as tcpdump does, can still write to /dev/null).
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(format!("--log-file={}", log.display()))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "{} under callgrind exited with {status}",
            args.first().map_or("", String::as_str)
        )));
    }
    let text = std::fs::read_to_string(&log)?;
    collected(&text)
        .ok_or_else(|| std::io::Error::other(format!("no instruction count in {}", log.display())))
}

/// The total of a callgrind log: its `Collected : N` line, else `I refs: N,NNN`.
fn collected(log: &str) -> Option<u64> {
    let number = |s: &str| s.trim().replace(',', "").parse::<u64>().ok();
    log.lines()
        .find_map(|l| l.split_once("Collected :").and_then(|(_, n)| number(n)))
        .or_else(|| {
            log.lines()
                .find_map(|l| l.split_once("I   refs:").and_then(|(_, n)| number(n)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_is_read_from_either_line() {
        let log = "==7900== Callgrind, a call-graph generating cache profiler\n\
                   ==7900== Events    : Ir\n\
                   ==7900== Collected : 5867513889\n\
                   ==7900== \n\
                   ==7900== I   refs:      5,867,513,889\n";
        assert_eq!(collected(log), Some(5_867_513_889));
        assert_eq!(
            collected("==1== I   refs:      1,522,001\n"),
            Some(1_522_001)
        );
        assert_eq!(collected("==1== Collected : lots\n"), None);
        assert_eq!(collected(""), None);
    }

    #[test]
    fn a_real_program_is_counted() {
        if !available() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("tapflow-instr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let n = count(&["true".to_string()], &dir, &[]).expect("count");
        // The dynamic loader and libc's start alone run tens of thousands of instructions.
        assert!((10_000..100_000_000).contains(&n), "{n}");
        assert!(count(&["false".to_string()], &dir, &[]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
