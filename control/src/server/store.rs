//! The server's state in SQLite: agent groups, their configurations, registered agents. Schema
//! changes are numbered migrations applied at open (`PRAGMA user_version`), so a newer server
//! opens an older database and nothing is lost across restarts.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

/// Database file name inside the data directory.
pub const DB_FILE: &str = "tapflow-server.db";
/// Name of the group agents join when they ask for none (or for one that does not exist).
pub const DEFAULT_GROUP: &str = "default";
/// DeepFlow's agent id range.
const MAX_AGENT_ID: u32 = 64_000;

const MIGRATIONS: [&str; 1] = ["CREATE TABLE agent_group (
         id TEXT PRIMARY KEY,
         name TEXT NOT NULL UNIQUE,
         created INTEGER NOT NULL
     );
     CREATE TABLE group_config (
         group_id TEXT PRIMARY KEY REFERENCES agent_group(id) ON DELETE CASCADE,
         yaml TEXT NOT NULL,
         version INTEGER NOT NULL
     );
     CREATE TABLE agent (
         id INTEGER PRIMARY KEY,
         name TEXT NOT NULL UNIQUE,
         ctrl_ip TEXT NOT NULL,
         ctrl_mac TEXT NOT NULL,
         group_id TEXT NOT NULL,
         state INTEGER NOT NULL DEFAULT 0,
         exception INTEGER NOT NULL DEFAULT 0,
         hostname TEXT NOT NULL DEFAULT '',
         os TEXT NOT NULL DEFAULT '',
         arch TEXT NOT NULL DEFAULT '',
         kernel_version TEXT NOT NULL DEFAULT '',
         cpu_num INTEGER NOT NULL DEFAULT 0,
         memory_size INTEGER NOT NULL DEFAULT 0,
         capture_type INTEGER NOT NULL DEFAULT 0,
         config_version INTEGER NOT NULL DEFAULT 0,
         last_sync INTEGER NOT NULL,
         lost INTEGER NOT NULL DEFAULT 0,
         UNIQUE (ctrl_ip, ctrl_mac)
     );"];

/// Why a store operation failed, for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("cannot create data directory {0}: {1}")]
    Dir(String, std::io::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
}

/// An agent group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub id: String,
    pub name: String,
    pub agents: u32,
    /// Configuration version (0 = none).
    pub config_version: u64,
}

/// What an agent says about itself in a Sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentReport {
    pub ctrl_ip: String,
    pub ctrl_mac: String,
    pub hostname: String,
    pub group_request: Option<String>,
    pub state: i32,
    pub exception: u64,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub cpu_num: u32,
    pub memory_size: u64,
    pub capture_type: i32,
}

/// A registered agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    pub id: u32,
    pub name: String,
    pub ctrl_ip: String,
    pub ctrl_mac: String,
    pub group_id: String,
    pub group_name: String,
    pub state: i32,
    pub exception: u64,
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub cpu_num: u32,
    pub memory_size: u64,
    pub capture_type: i32,
    pub config_version: u64,
    pub last_sync: i64,
    pub lost: bool,
}

/// A group's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfigRow {
    pub group_id: String,
    pub group_name: String,
    pub yaml: String,
    pub version: u64,
}

/// The server's database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

/// A new group id: `g-` and 10 characters of [0-9a-z].
pub fn new_group_id(seed: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut h = RandomState::new().hash_one(seed);
    let mut id = String::from("g-");
    for _ in 0..10 {
        id.push(ALPHABET[(h % 36) as usize] as char);
        h /= 36;
        if h == 0 {
            h = RandomState::new().hash_one(&id);
        }
    }
    id
}

/// Is `id` shaped like a group id?
pub fn is_group_id(id: &str) -> bool {
    id.len() == 12
        && id.starts_with("g-")
        && id[2..]
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
}

fn agent_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRow> {
    Ok(AgentRow {
        id: r.get(0)?,
        name: r.get(1)?,
        ctrl_ip: r.get(2)?,
        ctrl_mac: r.get(3)?,
        group_id: r.get(4)?,
        group_name: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
        state: r.get(6)?,
        exception: r.get::<_, i64>(7)? as u64,
        hostname: r.get(8)?,
        os: r.get(9)?,
        arch: r.get(10)?,
        kernel_version: r.get(11)?,
        cpu_num: r.get(12)?,
        memory_size: r.get::<_, i64>(13)? as u64,
        capture_type: r.get(14)?,
        config_version: r.get::<_, i64>(15)? as u64,
        last_sync: r.get(16)?,
        lost: r.get::<_, i64>(17)? != 0,
    })
}

const GROUP_SELECT: &str = "SELECT g.id, g.name,
     (SELECT COUNT(*) FROM agent a WHERE a.group_id = g.id),
     COALESCE((SELECT version FROM group_config c WHERE c.group_id = g.id), 0)
     FROM agent_group g";

fn group_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GroupRow> {
    Ok(GroupRow {
        id: r.get(0)?,
        name: r.get(1)?,
        agents: r.get(2)?,
        config_version: r.get::<_, i64>(3)? as u64,
    })
}

const CONFIG_SELECT: &str = "SELECT c.group_id, g.name, c.yaml, c.version FROM group_config c
     JOIN agent_group g ON g.id = c.group_id";

fn config_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GroupConfigRow> {
    Ok(GroupConfigRow {
        group_id: r.get(0)?,
        group_name: r.get(1)?,
        yaml: r.get(2)?,
        version: r.get::<_, i64>(3)? as u64,
    })
}

const AGENT_SELECT: &str =
    "SELECT a.id, a.name, a.ctrl_ip, a.ctrl_mac, a.group_id, g.name, a.state,
     a.exception, a.hostname, a.os, a.arch, a.kernel_version, a.cpu_num, a.memory_size,
     a.capture_type, a.config_version, a.last_sync, a.lost
     FROM agent a LEFT JOIN agent_group g ON g.id = a.group_id";

impl Store {
    /// Opens (creating if needed) the database in `dir` and brings its schema up to date.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Dir(dir.display().to_string(), e))?;
        let conn = Connection::open(dir.join(DB_FILE))?;
        Self::init(conn)
    }

    /// An in-memory database (tests).
    pub fn in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            conn.execute_batch(&format!(
                "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))?;
        }
        let store = Store {
            conn: Mutex::new(conn),
        };
        if store.find_group(DEFAULT_GROUP)?.is_none() {
            store.create_group(DEFAULT_GROUP, None, 0)?;
        }
        Ok(store)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Schema version (number of migrations applied).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub fn create_group(
        &self,
        name: &str,
        id: Option<&str>,
        now: i64,
    ) -> Result<GroupRow, StoreError> {
        if name.is_empty() || name.len() > 64 {
            return Err(StoreError::Invalid(
                "a group name has 1 to 64 characters".into(),
            ));
        }
        if self.find_group(name)?.is_some() {
            return Err(StoreError::Invalid(format!("group {name} exists")));
        }
        let id = match id {
            Some(id) if !is_group_id(id) => {
                return Err(StoreError::Invalid(format!(
                    "{id} is not a group id (g- and 10 characters of 0-9 a-z)"
                )))
            }
            Some(id) => id.to_string(),
            None => new_group_id(name),
        };
        self.conn().execute(
            "INSERT INTO agent_group (id, name, created) VALUES (?1, ?2, ?3)",
            params![id, name, now],
        )?;
        self.find_group(&id)?
            .ok_or_else(|| StoreError::NotFound(format!("group {id}")))
    }

    /// The group with this id or name.
    pub fn find_group(&self, name_or_id: &str) -> Result<Option<GroupRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("{GROUP_SELECT} WHERE g.id = ?1 OR g.name = ?1"),
                params![name_or_id],
                group_from_row,
            )
            .optional()?)
    }

    pub fn list_groups(&self) -> Result<Vec<GroupRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!("{GROUP_SELECT} ORDER BY g.created, g.name"))?;
        let rows = st.query_map([], group_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes a group; its agents move to the default group. The default group stays. A group
    /// with a configuration or agents is refused unless `force`.
    pub fn delete_group(&self, name_or_id: &str, force: bool) -> Result<(), StoreError> {
        let g = self
            .find_group(name_or_id)?
            .ok_or_else(|| StoreError::NotFound(format!("group {name_or_id}")))?;
        if g.name == DEFAULT_GROUP {
            return Err(StoreError::Invalid(
                "the default group cannot be deleted".into(),
            ));
        }
        if !force && (g.config_version > 0 || g.agents > 0) {
            return Err(StoreError::Invalid(format!(
                "group {} has {}{}{}: delete with --force (agents move to the default group)",
                g.name,
                if g.config_version > 0 {
                    "a configuration"
                } else {
                    ""
                },
                if g.config_version > 0 && g.agents > 0 {
                    " and "
                } else {
                    ""
                },
                if g.agents > 0 {
                    format!("{} agent(s)", g.agents)
                } else {
                    String::new()
                },
            )));
        }
        let default = self
            .find_group(DEFAULT_GROUP)?
            .ok_or_else(|| StoreError::NotFound("default group".into()))?;
        let conn = self.conn();
        conn.execute(
            "UPDATE agent SET group_id = ?1 WHERE group_id = ?2",
            params![default.id, g.id],
        )?;
        conn.execute(
            "DELETE FROM group_config WHERE group_id = ?1",
            params![g.id],
        )?;
        conn.execute("DELETE FROM agent_group WHERE id = ?1", params![g.id])?;
        Ok(())
    }

    /// Deletes a group's configuration (its agents keep what they run until a new one comes).
    pub fn delete_group_config(&self, name_or_id: &str) -> Result<(), StoreError> {
        let g = self
            .find_group(name_or_id)?
            .ok_or_else(|| StoreError::NotFound(format!("group {name_or_id}")))?;
        let n = self.conn().execute(
            "DELETE FROM group_config WHERE group_id = ?1",
            params![g.id],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "configuration of group {name_or_id}"
            )));
        }
        Ok(())
    }

    /// Stores `yaml` as the group's configuration (already validated); `create` refuses to
    /// replace an existing one, otherwise there must be one. Returns the new version.
    pub fn set_group_config(
        &self,
        group_id: &str,
        yaml: &str,
        create: bool,
    ) -> Result<u64, StoreError> {
        let g = self
            .find_group(group_id)?
            .ok_or_else(|| StoreError::NotFound(format!("group {group_id}")))?;
        match (create, g.config_version) {
            (true, v) if v > 0 => {
                return Err(StoreError::Invalid(format!(
                    "group {} already has a configuration: use update",
                    g.id
                )))
            }
            (false, 0) => {
                return Err(StoreError::Invalid(format!(
                    "group {} has no configuration yet: use create",
                    g.id
                )))
            }
            _ => {}
        }
        let version = g.config_version + 1;
        self.conn().execute(
            "INSERT INTO group_config (group_id, yaml, version) VALUES (?1, ?2, ?3)
             ON CONFLICT(group_id) DO UPDATE SET yaml = excluded.yaml, version = excluded.version",
            params![g.id, yaml, version as i64],
        )?;
        Ok(version)
    }

    pub fn group_config(&self, group_id: &str) -> Result<Option<GroupConfigRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("{CONFIG_SELECT} WHERE c.group_id = ?1"),
                params![group_id],
                config_from_row,
            )
            .optional()?)
    }

    pub fn list_group_configs(&self) -> Result<Vec<GroupConfigRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!("{CONFIG_SELECT} ORDER BY g.created, g.name"))?;
        let rows = st.query_map([], config_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Registers the agent at (ctrl_ip, ctrl_mac) or updates it; a new agent joins the group it
    /// asks for when that group exists, else the default group.
    pub fn sync_agent(&self, rep: &AgentReport, now: i64) -> Result<AgentRow, StoreError> {
        let existing = self.agent_by_identity(&rep.ctrl_ip, &rep.ctrl_mac)?;
        if existing.is_none() {
            let group = match rep.group_request.as_deref().filter(|g| !g.is_empty()) {
                Some(g) => self.find_group(g)?,
                None => None,
            };
            let group = match group {
                Some(g) => g,
                None => self
                    .find_group(DEFAULT_GROUP)?
                    .ok_or_else(|| StoreError::NotFound("default group".into()))?,
            };
            let conn = self.conn();
            let id: u32 = conn.query_row(
                "SELECT COALESCE(MIN(t.id + 1), 1) FROM (SELECT 0 AS id UNION SELECT id FROM agent) t
                 WHERE NOT EXISTS (SELECT 1 FROM agent b WHERE b.id = t.id + 1)",
                [],
                |r| r.get(0),
            )?;
            if id > MAX_AGENT_ID {
                return Err(StoreError::Invalid("all 64000 agent ids are taken".into()));
            }
            let host = if rep.hostname.is_empty() {
                "agent"
            } else {
                rep.hostname.as_str()
            };
            conn.execute(
                "INSERT INTO agent (id, name, ctrl_ip, ctrl_mac, group_id, last_sync, hostname)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    format!("{host}-{}", rep.ctrl_ip),
                    rep.ctrl_ip,
                    rep.ctrl_mac,
                    group.id,
                    now,
                    rep.hostname
                ],
            )?;
        }
        self.conn().execute(
            "UPDATE agent SET state = ?3, exception = ?4, hostname = ?5, os = ?6, arch = ?7,
                kernel_version = ?8, cpu_num = ?9, memory_size = ?10, capture_type = ?11,
                last_sync = ?12, lost = 0
             WHERE ctrl_ip = ?1 AND ctrl_mac = ?2",
            params![
                rep.ctrl_ip,
                rep.ctrl_mac,
                rep.state,
                rep.exception as i64,
                rep.hostname,
                rep.os,
                rep.arch,
                rep.kernel_version,
                rep.cpu_num,
                rep.memory_size as i64,
                rep.capture_type,
                now
            ],
        )?;
        self.agent_by_identity(&rep.ctrl_ip, &rep.ctrl_mac)?
            .ok_or_else(|| StoreError::NotFound(format!("agent {}", rep.ctrl_ip)))
    }

    /// Records which configuration version the agent runs.
    pub fn set_agent_config_version(&self, id: u32, version: u64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE agent SET config_version = ?2 WHERE id = ?1",
            params![id, version as i64],
        )?;
        Ok(())
    }

    /// The agent at (ctrl_ip, ctrl_mac).
    pub fn agent_by_identity(&self, ip: &str, mac: &str) -> Result<Option<AgentRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("{AGENT_SELECT} WHERE a.ctrl_ip = ?1 AND a.ctrl_mac = ?2"),
                params![ip, mac],
                agent_from_row,
            )
            .optional()?)
    }

    /// The agent with id `id`.
    pub fn agent_by_id(&self, id: u32) -> Result<Option<AgentRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("{AGENT_SELECT} WHERE a.id = ?1"),
                params![id],
                agent_from_row,
            )
            .optional()?)
    }

    pub fn list_agents(&self) -> Result<Vec<AgentRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!("{AGENT_SELECT} ORDER BY a.id"))?;
        let rows = st.query_map([], agent_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn delete_agent(&self, name: &str) -> Result<(), StoreError> {
        let n = self
            .conn()
            .execute("DELETE FROM agent WHERE name = ?1", params![name])?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("agent {name}")));
        }
        Ok(())
    }

    /// Marks agents whose last sync is before `before` as lost; returns how many changed.
    pub fn mark_lost(&self, before: i64) -> Result<usize, StoreError> {
        Ok(self.conn().execute(
            "UPDATE agent SET lost = 1 WHERE lost = 0 AND last_sync < ?1",
            params![before],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ip: &str, group: Option<&str>) -> AgentReport {
        AgentReport {
            ctrl_ip: ip.into(),
            ctrl_mac: "02:00:00:00:00:01".into(),
            hostname: "node".into(),
            group_request: group.map(str::to_string),
            ..AgentReport::default()
        }
    }

    #[test]
    fn groups_agents_configs_and_restart() {
        let dir = std::env::temp_dir().join(format!("tapflow-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let gid;
        {
            let s = Store::open(&dir).unwrap();
            assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
            let g = s.create_group("macvlan", None, 1).unwrap();
            assert!(is_group_id(&g.id), "{}", g.id);
            gid = g.id.clone();
            assert!(
                s.create_group("macvlan", None, 2).is_err(),
                "names are unique"
            );
            assert!(
                s.set_group_config(&gid, "a: 1", false).is_err(),
                "update needs create"
            );
            assert_eq!(s.set_group_config(&gid, "a: 1", true).unwrap(), 1);
            assert!(s.set_group_config(&gid, "a: 2", true).is_err());
            assert_eq!(s.set_group_config(&gid, "a: 2", false).unwrap(), 2);
            let a = s.sync_agent(&report("10.0.0.1", Some(&gid)), 10).unwrap();
            assert_eq!((a.id, a.group_id.as_str()), (1, gid.as_str()));
            let b = s
                .sync_agent(&report("10.0.0.2", Some("g-0000000000")), 10)
                .unwrap();
            assert_eq!((b.id, b.group_name.as_str()), (2, DEFAULT_GROUP));
            assert_eq!(
                s.sync_agent(&report("10.0.0.1", None), 20).unwrap().id,
                1,
                "same agent"
            );
            assert_eq!(s.mark_lost(15).unwrap(), 1);
        }
        // A restart reads everything back.
        let s = Store::open(&dir).unwrap();
        let agents = s.list_agents().unwrap();
        assert_eq!(agents.len(), 2);
        assert!(agents[1].lost && !agents[0].lost);
        assert_eq!(s.group_config(&gid).unwrap().unwrap().yaml, "a: 2");
        // A group with a configuration and agents needs force.
        let refused = s.delete_group("macvlan", false).unwrap_err().to_string();
        assert!(refused.contains("a configuration and"), "{refused}");
        s.delete_group_config("macvlan").unwrap();
        assert!(s.group_config(&gid).unwrap().is_none());
        assert!(s.delete_group_config("macvlan").is_err(), "none left");
        assert!(s.delete_group("macvlan", false).is_err(), "agents left");
        s.delete_group("macvlan", true).unwrap();
        assert_eq!(s.list_agents().unwrap()[0].group_name, DEFAULT_GROUP);
        assert!(s.delete_group(DEFAULT_GROUP, true).is_err());
        s.delete_agent("node-10.0.0.2").unwrap();
        assert_eq!(s.list_agents().unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
