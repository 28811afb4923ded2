//! MySQL against a real MariaDB server (Debian's `mariadb-server`), captured live from a SPAN
//! port (`netns::SpanLab`): the server (its own data directory, made by `mariadb-install-db`) in
//! one namespace, the `mariadb` client (text queries, with errors: bad SQL, unknown table,
//! duplicate key) and a prepared-statement client (`tests/clients/mysql_prepared.py`) in another,
//! `tapflow run` on the mirror. The rows must be the workload the clients ran. Needs root and
//! the MariaDB packages (scripts/test.sh installs them).

use std::process::{Command, Stdio};

mod live_support;
mod netns;
use live_support::{
    client_ok, client_script, have, l7_rows, run_tapflow, stats, wait_capturing, wait_until, Killed,
};
use netns::{is_root, SpanLab};

#[test]
fn mariadb_queries_errors_and_prepared_statements_are_logged() {
    if !is_root() || !have("mariadbd") || !have("mariadb") || !have("python3") {
        eprintln!("skipped: needs root, mariadb-server, mariadb-client and python3 (scripts/test.sh installs them)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-mysql-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let data = dir.join("data");
    let st = Command::new("mariadb-install-db")
        .args([
            "--no-defaults",
            "--user=root",
            "--auth-root-authentication-method=normal",
        ])
        .arg("--skip-test-db")
        .arg(format!("--datadir={}", data.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mariadb-install-db");
    assert!(st.success(), "mariadb-install-db failed");
    let lab = SpanLab::new("my");
    let _server = Killed(
        // No grant tables: the clients connect as root from the other namespace.
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
    let sql = |q: &str| {
        lab.in_client(&["mariadb", "-h", lab.server_ip, "-P", "3306", "-u", "root"])
            .args(["-e", q])
            .output()
            .expect("mariadb")
    };
    wait_until("mariadbd", 30, || sql("select 1").status.success());
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 7, None, &out);
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
    assert!(run.wait().expect("wait").success(), "tapflow run failed");

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
