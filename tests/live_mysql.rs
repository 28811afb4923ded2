//! MySQL against a real MariaDB server (Debian's `mariadb-server`), captured live from a SPAN
//! port (`netns::SpanLab`): the server (its own data directory, made by `mariadb-install-db`) in
//! one namespace, the `mariadb` client (text queries, with errors: bad SQL, unknown table,
//! duplicate key) and a prepared-statement client (`tests/clients/mysql_prepared.py`) in another,
//! `tapflow run` on the mirror. The rows must be the workload the clients ran. A second test runs
//! a connection through the compressed protocol (`mariadb --compress`) and checks its rows against
//! tshark's. Needs root and the MariaDB packages (scripts/test.sh installs them).

use std::process::{Command, Stdio};

mod live_support;
mod netns;
use live_support::{
    client_ok, client_script, have, l7_rows, run_tapflow, stats, stop_capture, wait_capturing,
    wait_until, Killed,
};
use netns::{is_root, SpanLab};

/// A MariaDB server in `lab`'s server namespace, its data directory made in `dir` (no grant
/// tables: clients connect as root from the other namespace); ready when this returns.
fn mariadb(lab: &SpanLab, dir: &std::path::Path) -> Killed {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("dir");
    let data = dir.join("data");
    // One data directory made at a time (two at once failed once, without a reason given).
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let st = Command::new("mariadb-install-db")
        .args([
            "--no-defaults",
            "--user=root",
            "--auth-root-authentication-method=normal",
        ])
        .arg("--skip-test-db")
        .arg(format!("--datadir={}", data.display()))
        .output()
        .expect("mariadb-install-db");
    assert!(
        st.status.success(),
        "mariadb-install-db failed: {}{}",
        String::from_utf8_lossy(&st.stdout),
        String::from_utf8_lossy(&st.stderr)
    );
    let server = Killed(
        lab.in_server(&["mariadbd", "--no-defaults", "--user=root", "--skip-log-bin"])
            .arg("--skip-grant-tables")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .arg(format!("--bind-address={}", lab.server_ip))
            .arg("--port=3306")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd"),
    );
    wait_until("mariadbd", 30, || {
        lab.in_client(&["mariadb", "-h", lab.server_ip, "-P", "3306", "-u", "root"])
            .args(["-e", "select 1"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    server
}

#[test]
fn mariadb_queries_errors_and_prepared_statements_are_logged() {
    if !is_root() || !have("mariadbd") || !have("mariadb") || !have("python3") {
        eprintln!("skipped: needs root, mariadb-server, mariadb-client and python3 (scripts/test.sh installs them)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-mysql-{}", std::process::id()));
    let lab = SpanLab::new("my");
    let _server = mariadb(&lab, &dir);
    let sql = |q: &str| {
        lab.in_client(&["mariadb", "-h", lab.server_ip, "-P", "3306", "-u", "root"])
            .args(["-e", q])
            .output()
            .expect("mariadb")
    };
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, None, &out);
    wait_capturing(&mut run, &out);
    // One connection per statement: the client stops at the first error of a batch.
    let mut stderr = String::new();
    for q in [
        "create database shop",
        "create table shop.items (id int primary key, name varchar(20))",
        "use shop; insert into items values (1, 'apple'), (2, 'pear')",
        "use shop; select * from items",
        "selec 1",
        "use shop; select * from nope",
        "use shop; insert into items values (1, 'again')",
    ] {
        stderr.push_str(&String::from_utf8_lossy(&sql(q).stderr));
    }
    assert!(
        stderr.contains("1064") && stderr.contains("1146") && stderr.contains("1062"),
        "{stderr}"
    );
    let client = client_script("mysql_prepared.py");
    client_ok(lab.in_client(&["python3", &client, lab.server_ip, "3306"]));
    stop_capture(&mut run);

    let rows = l7_rows(&out);
    assert!(rows.iter().all(|r| r["l7_protocol"] == 60));
    let find = |ty: &str, res: &str| {
        rows.iter()
            .find(|r| r["request_type"] == ty && r["request_resource"] == res)
            .unwrap_or_else(|| panic!("no row {ty} {res}: {rows:#?}"))
    };
    let check = |ty: &str, res: &str, status: u64, code: Option<i64>| {
        let r = find(ty, res);
        assert_eq!(r["type"], 2, "{res}");
        assert_eq!(r["response_status"], status, "{res}");
        assert_eq!(r["response_code"].as_i64(), code, "{res}");
        r
    };
    check("COM_QUERY", "create database shop", 0, None);
    check("COM_INIT_DB", "shop", 0, None);
    let insert = check(
        "COM_QUERY",
        "insert into items values (1, 'apple'), (2, 'pear')",
        0,
        None,
    );
    assert_eq!(insert["sql_affected_rows"], 2);
    check("COM_QUERY", "select * from items", 0, None);
    check("COM_QUERY", "selec 1", 4, Some(1064));
    let nope = check("COM_QUERY", "select * from nope", 4, Some(1146));
    assert!(nope["response_exception"]
        .as_str()
        .unwrap()
        .contains("doesn't exist"));
    check(
        "COM_QUERY",
        "insert into items values (1, 'again')",
        4,
        Some(1062),
    );
    let prepare = check(
        "COM_STMT_PREPARE",
        "select id, name from items where id > ?",
        0,
        None,
    );
    let stmt = prepare["request_id"].as_u64().expect("statement id");
    let exec = rows
        .iter()
        .find(|r| r["request_type"] == "COM_STMT_EXECUTE")
        .expect("execute");
    assert_eq!(
        (exec["type"].as_u64(), exec["request_id"].as_u64()),
        (Some(2), Some(stmt))
    );
    let close = rows
        .iter()
        .find(|r| r["request_type"] == "COM_STMT_CLOSE")
        .expect("close");
    assert_eq!(
        (close["type"].as_u64(), close["response_status"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(find("COM_PING", "")["type"], 2);
    // Every command answered (COM_QUIT and COM_STMT_CLOSE are written alone: no reply by design).
    for r in &rows {
        let one_way = r["request_type"] == "COM_QUIT" || r["request_type"] == "COM_STMT_CLOSE";
        assert_eq!(r["type"], if one_way { 0 } else { 2 }, "{r}");
    }
    // A login row per connection (seven `mariadb` runs and the prepared-statement client).
    let logins: Vec<_> = rows
        .iter()
        .filter(|r| r["request_type"] == "Login")
        .collect();
    assert!(logins.len() >= 8, "{logins:#?}");
    for l in logins {
        assert!(l["request_resource"]
            .as_str()
            .unwrap()
            .starts_with("Login username: root db: "));
        assert_eq!(
            (l["type"].as_u64(), l["response_status"].as_u64()),
            (Some(2), Some(0))
        );
    }
    let stats = stats(&out);
    assert_eq!(stats["l7.parse_errors"], 0);
    assert_eq!(stats["kernel_drops"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The statements of `compressed_statements_are_logged`, one connection, `--force` past errors.
const COMPRESSED_SCRIPT: &str = "create database shop;
use shop;
create table items (id int primary key, name varchar(64));
insert into items select seq, sha2(seq, 256) from seq_1_to_3000;
select id, name from items;
select count(*) from items;
selec 1;
select * from nope;
insert into items values (1, 'again');
select 'done';
";

/// `mariadb --compress`: the connection turns on MySQL's compressed protocol after the login.
/// Every statement is a row paired with its own reply, a 260 KB result set (many compressed
/// bodies, only the first one's head read) included; the COM_QUERY rows are the statements
/// tshark's MySQL dissector (which inflates the protocol too) reads in tcpdump's recording. A
/// second compressed connection, opened (and used) before tapflow starts, as a pool's would be,
/// is read from its next command on.
#[test]
fn compressed_connections_are_read() {
    if !is_root() || !have("mariadbd") || !have("mariadb") || !have("tcpdump") || !have("tshark") {
        eprintln!("skipped: needs root, mariadb-server, mariadb-client, tcpdump and tshark (scripts/test.sh installs them)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-mysqlz-{}", std::process::id()));
    let lab = SpanLab::new("myz");
    let _server = mariadb(&lab, &dir);
    let pcap = dir.join("mysql.pcap");
    let dump = Killed(
        Command::new("tcpdump")
            .args(["-n", "-U", "--immediate-mode", "-i", &lab.capture, "-w"])
            .arg(&pcap)
            .arg("tcp port 3306")
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump"),
    );
    // tcpdump writes the file's header once it captures.
    wait_until("tcpdump", 10, || {
        std::fs::metadata(&pcap).is_ok_and(|m| m.len() >= 24)
    });
    use std::io::Write;
    let mut pooled = lab
        .in_client(&["mariadb", "--compress", "--force", "-h", lab.server_ip])
        .args(["-P", "3306", "-u", "root"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mariadb");
    let mut pooled_in = pooled.stdin.take().expect("stdin");
    pooled_in
        .write_all(b"select 'before the capture';\n")
        .expect("write");
    pooled_in.flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, None, &out);
    wait_capturing(&mut run, &out);
    let mut client = lab
        .in_client(&["mariadb", "--compress", "--force", "-h", lab.server_ip])
        .args(["-P", "3306", "-u", "root"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mariadb");
    client
        .stdin
        .take()
        .expect("stdin")
        .write_all(COMPRESSED_SCRIPT.as_bytes())
        .expect("script");
    let printed = client.wait_with_output().expect("mariadb");
    let stdout = String::from_utf8_lossy(&printed.stdout);
    let stderr = String::from_utf8_lossy(&printed.stderr);
    assert!(
        stdout.contains("3000") && stdout.contains("done"),
        "{stdout}"
    );
    assert!(
        stderr.contains("1064") && stderr.contains("1146") && stderr.contains("1062"),
        "{stderr}"
    );
    pooled_in
        .write_all(b"select 'pooled';\nselect * from pooled_nope;\n")
        .expect("write");
    drop(pooled_in);
    assert!(pooled.wait().is_ok());
    stop_capture(&mut run);
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(dump);

    let rows = l7_rows(&out);
    let queries: Vec<_> = rows
        .iter()
        .filter(|r| r["request_type"] == "COM_QUERY")
        .map(|r| {
            (
                r["request_resource"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["type"].as_u64().unwrap_or(9),
                r["response_status"].as_u64().unwrap_or(9),
                r["response_code"].as_i64(),
            )
        })
        .collect();
    let find = |q: &str| {
        queries
            .iter()
            .find(|r| r.0 == q)
            .unwrap_or_else(|| panic!("no row {q}: {queries:#?}"))
    };
    // Every statement answered, by its own reply; the pooled connection's from the capture on
    // (it has no database: 1046).
    let pooled_script = "select 'pooled';\nselect * from pooled_nope;\n";
    for q in COMPRESSED_SCRIPT
        .lines()
        .chain(pooled_script.lines())
        .filter(|l| !l.starts_with("use "))
    {
        let q = q.trim_end_matches(';');
        let (_, ty, status, code) = find(q);
        assert_eq!(*ty, 2, "{q}");
        let want = match q {
            "selec 1" => (4, Some(1064)),
            "select * from nope" => (4, Some(1146)),
            "insert into items values (1, 'again')" => (4, Some(1062)),
            "select * from pooled_nope" => (4, Some(1046)),
            _ => (0, None),
        };
        assert_eq!((*status, *code), want, "{q}");
    }
    let insert = rows
        .iter()
        .find(|r| {
            r["request_resource"]
                == "insert into items select seq, sha2(seq, 256) from seq_1_to_3000"
        })
        .expect("insert");
    assert_eq!(insert["sql_affected_rows"], 3000);
    assert_eq!(
        rows.iter()
            .filter(|r| r["request_type"] == "COM_INIT_DB")
            .map(|r| r["type"].as_u64())
            .collect::<Vec<_>>(),
        [Some(2)]
    );
    let stats = stats(&out);
    assert!(!queries.iter().any(|q| q.0.contains("before the capture")));
    // One login (the pooled connection's came before the capture); both connections compressed.
    assert_eq!(
        rows.iter().filter(|r| r["request_type"] == "Login").count(),
        1
    );
    assert_eq!(stats["l7.mysql.compressed"], 2);
    assert_eq!(stats["l7.parse_errors"], 0);
    assert_eq!(stats["kernel_drops"], 0);

    // The statements tshark reads (it inflates the compressed protocol as well).
    let tshark = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&pcap)
        .args(["-Y", "mysql.query", "-T", "fields", "-e", "mysql.query"])
        .stderr(Stdio::null())
        .output()
        .expect("tshark");
    // tcpdump recorded the pooled connection from its start: tshark reads its first statement too.
    let mut seen: Vec<String> = String::from_utf8_lossy(&tshark.stdout)
        .lines()
        .filter(|q| !q.contains("before the capture"))
        .map(str::to_string)
        .collect();
    let mut ours: Vec<String> = queries.iter().map(|q| q.0.clone()).collect();
    seen.sort();
    ours.sort();
    assert_eq!(
        ours, seen,
        "tapflow's COM_QUERY rows against tshark's queries"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
