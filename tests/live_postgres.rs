//! PostgreSQL against a real server (Debian's `postgresql` 15), captured live from a SPAN port
//! (`netns::SpanLab`): the server (its own cluster, made by `initdb` as the `postgres` user, trust
//! authentication) in one namespace, `psql` (simple queries, with errors: unknown table, duplicate
//! key, bad SQL) and an extended-query client (`tests/clients/pg_extended.py`: Parse/Bind/
//! Execute/Sync, pipelined) in another, `tapflow run` on the mirror. The rows must be the workload
//! the clients ran. Needs root and the PostgreSQL packages (scripts/test.sh installs them).

use std::process::{Command, Stdio};

mod live_support;
mod netns;
use live_support::{
    client_ok, client_script, have, l7_rows, protocols_config, run_tapflow, stats, stop_capture,
    wait_capturing, wait_until, Killed,
};
use netns::{is_root, SpanLab};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

#[test]
fn postgres_simple_and_extended_queries_are_logged() {
    if !is_root() || !have(&format!("{PG_BIN}/postgres")) || !have("/usr/bin/psql") {
        eprintln!(
            "skipped: needs root and postgresql 15 with psql (scripts/test.sh installs them)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let data = dir.join("data");
    let chown = |p: &std::path::Path| {
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(p)
            .status()
            .expect("chown")
    };
    assert!(chown(&dir).success());
    let st = Command::new("runuser")
        .args([
            "-u",
            "postgres",
            "--",
            &format!("{PG_BIN}/initdb"),
            "--auth=trust",
            "-D",
        ])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("initdb");
    assert!(st.success(), "initdb failed");
    let hba = data.join("pg_hba.conf");
    let mut conf = std::fs::read_to_string(&hba).expect("pg_hba");
    conf.push_str("host all all 198.18.0.0/15 trust\n");
    std::fs::write(&hba, conf).expect("pg_hba");
    let lab = SpanLab::new("pg");
    let _server = Killed(
        lab.in_server(&[
            "runuser",
            "-u",
            "postgres",
            "--",
            &format!("{PG_BIN}/postgres"),
            "-D",
        ])
        .arg(&data)
        .args(["-h", lab.server_ip, "-p", "5432", "-k"])
        .arg(&dir)
        // Dynamic shared memory in files under the cluster's own directory (removed with it),
        // not in /dev/shm, where a killed server's segments outlive the test.
        .args(["-c", "dynamic_shared_memory_type=mmap"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres"),
    );
    let psql = |db: &str, q: &str| {
        lab.in_client(&[
            "psql",
            "-h",
            lab.server_ip,
            "-p",
            "5432",
            "-U",
            "postgres",
            "-d",
            db,
        ])
        .args(["-c", q])
        .output()
        .expect("psql")
    };
    wait_until("postgres", 30, || {
        psql("postgres", "select 1").status.success()
    });
    assert!(psql("postgres", "create database shop").status.success());
    let config = protocols_config(&dir, "PostgreSQL");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    let mut stderr = String::new();
    for q in [
        "create table items (id int primary key, name text)",
        "insert into items values (1, 'apple'), (2, 'pear'), (3, 'fig')",
        "select * from nope",
        "insert into items values (1, 'again')",
        "selec 1",
    ] {
        stderr.push_str(&String::from_utf8_lossy(&psql("shop", q).stderr));
    }
    assert!(
        stderr.contains("does not exist") && stderr.contains("duplicate key"),
        "{stderr}"
    );
    let client = client_script("pg_extended.py");
    client_ok(lab.in_client(&["python3", &client, lab.server_ip, "5432", "shop"]));
    stop_capture(&mut run);

    let rows = l7_rows(&out);
    assert!(rows.iter().all(|r| r["l7_protocol"] == 61));
    let find = |ty: &str, res: &str| {
        rows.iter()
            .find(|r| r["request_type"] == ty && r["request_resource"] == res)
            .unwrap_or_else(|| panic!("no row {ty} {res}: {rows:#?}"))
    };
    let check = |ty: &str, res: &str, status: u64| {
        let r = find(ty, res);
        assert_eq!(
            (r["type"].as_u64(), r["response_status"].as_u64()),
            (Some(2), Some(status)),
            "{res}"
        );
        assert_eq!(r["request_domain"], "shop", "{res}");
        r
    };
    check("Q", "create table items (id int primary key, name text)", 0);
    let insert = check(
        "Q",
        "insert into items values (1, 'apple'), (2, 'pear'), (3, 'fig')",
        0,
    );
    assert_eq!(insert["sql_affected_rows"], 3);
    let nope = check("Q", "select * from nope", 4);
    assert!(nope["response_exception"]
        .as_str()
        .unwrap()
        .starts_with("42P01 "));
    let dup = check("Q", "insert into items values (1, 'again')", 4);
    assert!(dup["response_exception"]
        .as_str()
        .unwrap()
        .starts_with("23505 "));
    assert!(check("Q", "selec 1", 4)["response_exception"]
        .as_str()
        .unwrap()
        .starts_with("42601 "));
    let parse = check("P", "select id, name from items where id > $1", 0);
    assert_eq!(parse["sql_affected_rows"], 2);
    let exec = rows
        .iter()
        .find(|r| r["request_type"] == "E")
        .expect("the pipelined Bind/Execute/Sync");
    assert_eq!(
        (exec["type"].as_u64(), exec["sql_affected_rows"].as_u64()),
        (Some(2), Some(1))
    );
    check("P", "select * from nope", 4);
    // Every cycle answered; Terminate is written alone.
    for r in &rows {
        assert_eq!(
            r["type"],
            if r["request_type"] == "X" { 0 } else { 2 },
            "{r}"
        );
    }
    let stats = stats(&out);
    assert_eq!(stats["l7.parse_errors"], 0);
    assert_eq!(stats["kernel_drops"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}
