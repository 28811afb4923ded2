//! Debian's clickhouse-server (18.16) for the tests: started on loopback in a temporary directory
//! with free ports, stopped and resumed on the same data, killed on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `N` distinct free ports: every listener is held until all are bound (ports taken one after
/// another, each listener dropped first, can be the same port twice: the server then failed to
/// bind its second one).
pub(crate) fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().expect("port").port())
}

/// Debian's clickhouse-server in `dir`, killed on drop.
pub(crate) struct ClickHouse {
    child: Option<Child>,
    dir: PathBuf,
    http: u16,
}

impl ClickHouse {
    /// None (the test says it is skipped) when the server is not installed.
    pub(crate) fn start(dir: &Path) -> Option<ClickHouse> {
        if !Path::new("/usr/bin/clickhouse").exists()
            && !Path::new("/usr/sbin/clickhouse-server").exists()
        {
            eprintln!("skipped: clickhouse-server is not installed (the test command installs it)");
            return None;
        }
        let [http, tcp] = free_ports();
        let d = dir.display();
        std::fs::write(
            dir.join("config.xml"),
            format!(
                "<yandex>\n<logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog></logger>\n\
                 <http_port>{http}</http_port><tcp_port>{tcp}</tcp_port><listen_host>127.0.0.1</listen_host>\n\
                 <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><users_config>{d}/users.xml</users_config>\n\
                 <default_profile>default</default_profile><default_database>default</default_database>\n\
                 <mark_cache_size>104857600</mark_cache_size>\n</yandex>\n"
            ),
        )
        .expect("config");
        std::fs::write(
            dir.join("users.xml"),
            "<yandex><profiles><default></default></profiles><users><default><password></password>\
             <networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota>\
             </default></users><quotas><default></default></quotas></yandex>\n",
        )
        .expect("users");
        let mut ch = ClickHouse {
            child: None,
            dir: dir.to_path_buf(),
            http,
        };
        ch.resume();
        Some(ch)
    }

    /// (Re)starts the server on the same data and ports; waits until it answers.
    pub(crate) fn resume(&mut self) {
        let child = Command::new("clickhouse-server")
            .arg(format!(
                "--config-file={}",
                self.dir.join("config.xml").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clickhouse-server");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if self.try_query("SELECT 1").is_some_and(|s| s.trim() == "1") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("clickhouse-server did not answer within 30 s");
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    pub(crate) fn try_query(&self, sql: &str) -> Option<String> {
        let o = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--data-binary", sql])
            .arg(format!(
                "http://127.0.0.1:{}/?output_format_json_quote_64bit_integers=0",
                self.http
            ))
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    pub(crate) fn query(&self, sql: &str) -> String {
        self.try_query(sql)
            .unwrap_or_else(|| panic!("ClickHouse refused: {sql}"))
    }

    pub(crate) fn rows(&self, sql: &str) -> Vec<Value> {
        self.query(&format!("{sql} FORMAT JSONEachRow"))
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("row"))
            .collect()
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.stop();
    }
}
