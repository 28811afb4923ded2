//! chDB (the current ClickHouse engine in-process, `chdb-core` from PyPI) for the tests:
//! statements, RowBinary inserts and queries replayed by `tests/clients/chdb_load.py`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Runs `tests/clients/chdb_load.py` on `job` (statements, RowBinary inserts, queries) in `dir`:
/// each query's rows.
pub(crate) fn run_chdb(dir: &Path, job: &Value) -> Value {
    let job_path = dir.join("job.json");
    std::fs::write(&job_path, job.to_string()).expect("job");
    let result = dir.join("result.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/chdb_load.py");
    let o = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(&job_path)
        .arg(&result)
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "chdb: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&result).expect("result")).expect("json")
}

/// Is chDB installed?
pub(crate) fn have_chdb() -> bool {
    Command::new("/usr/bin/python3")
        .args(["-c", "import chdb"])
        .status()
        .is_ok_and(|s| s.success())
}
