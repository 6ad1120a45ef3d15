//! The data directory: `catalog.sqlite` (every agent, every pending alarm), `agents/<class>/`
//! holding one database per agent, and the server's bearer token.

mod file_name;

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::agent_db::AgentDb;
use crate::error::{Error, SqlContext};
use crate::{Env, Result, sqlite};

pub use file_name::SUB_AGENT_SEPARATOR;
pub(crate) use file_name::is_identifier;

/// Catalog schema versions; see [`sqlite::migrate`].
const CATALOG_MIGRATIONS: &[&str] = &["CREATE TABLE _islet_agents (
         class TEXT NOT NULL,
         name TEXT NOT NULL,
         created_at_ms INTEGER NOT NULL,
         PRIMARY KEY (class, name)
     ) WITHOUT ROWID;
     CREATE TABLE _islet_alarms (
         class TEXT NOT NULL,
         name TEXT NOT NULL,
         at_ms INTEGER NOT NULL,
         PRIMARY KEY (class, name)
     ) WITHOUT ROWID;
     CREATE INDEX _islet_alarms_by_time ON _islet_alarms (at_ms, class, name);"];

/// A data directory opened for use. Share it as `Arc<DataDir>`: agent databases are opened
/// independently from any thread; only the small catalog is serialised behind a mutex.
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
    agents_dir: PathBuf,
    env: Env,
    catalog: Mutex<Connection>,
}

/// One agent known to the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentInfo {
    /// The agent's class (its kind of agent).
    pub class: String,
    /// The instance's name within its class.
    pub name: String,
    /// When the agent was first created (ms since the Unix epoch).
    pub created_at: i64,
}

impl AgentInfo {
    /// A catalog row selected as `class, name, created_at_ms`.
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AgentInfo> {
        Ok(AgentInfo {
            class: row.get(0)?,
            name: row.get(1)?,
            created_at: row.get(2)?,
        })
    }
}

/// The earliest time an agent may have a due schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alarm {
    /// The class of the agent to wake.
    pub class: String,
    /// The name of the agent to wake.
    pub name: String,
    /// When to wake it (ms since the Unix epoch): its earliest due schedule.
    pub at_ms: i64,
}

impl DataDir {
    /// Creates the directory (and `agents/`) if missing, and opens or migrates
    /// `catalog.sqlite` (WAL).
    pub fn open(root: impl AsRef<Path>, env: Env) -> Result<DataDir> {
        let root = root.as_ref().to_path_buf();
        let agents_dir = root.join("agents");
        fs::create_dir_all(&agents_dir).map_err(|e| Error::io(&agents_dir, e))?;
        let catalog = sqlite::open(
            &root.join("catalog.sqlite"),
            true,
            CATALOG_MIGRATIONS,
            env.now_ms(),
        )?;
        Ok(DataDir {
            root,
            agents_dir,
            env,
            catalog: Mutex::new(catalog),
        })
    }

    /// The directory this was opened on.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The clock and id generator shared by every agent database.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// Opens the agent's database, creating it (and recording it in the catalog) on first
    /// use.
    ///
    /// `class` is a JavaScript identifier of at most 64 characters; `name` has 1 to 256
    /// characters, none of them control characters. Any such name maps to its own file
    /// `agents/<class>/<escaped name>.sqlite` inside the data directory.
    pub fn open_agent(&self, class: &str, name: &str) -> Result<AgentDb> {
        let path = self.agent_path(class, name)?;
        if !path.exists() {
            // Recorded before the file exists: a crash in between leaves a catalog entry
            // whose database is created by the next `open_agent`, never an unlisted agent.
            self.record(&path, class, name)?;
        }
        AgentDb::open(&path, true, self.env.clone(), class, name)
    }

    /// Creates the agent file's directory and lists the agent in the catalog (if it is not
    /// there yet).
    fn record(&self, path: &Path, class: &str, name: &str) -> Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        self.catalog()
            .prepare_cached(
                "INSERT OR IGNORE INTO _islet_agents (class, name, created_at_ms)
                 VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut insert| insert.execute((class, name, self.env.now_ms())))
            .ctx("recording the agent in the catalog")?;
        Ok(())
    }

    /// Replaces the agent's database with one rebuilt from a durable copy (cluster mode): a
    /// snapshot `image` (empty for none) and the WAL segments logged since, in order (see
    /// [`crate::WalCursor`]). Records the agent in the catalog if it is not there. The caller
    /// makes sure no connection to the agent is open.
    pub fn restore_agent(
        &self,
        class: &str,
        name: &str,
        image: &[u8],
        segments: &[Vec<u8>],
    ) -> Result<()> {
        let path = self.agent_path(class, name)?;
        self.record(&path, class, name)?;
        crate::wal::rebuild(&path, image, segments)
    }

    /// Opens an existing agent's database; `NOT_FOUND` if the agent was never created.
    pub fn open_existing_agent(&self, class: &str, name: &str) -> Result<AgentDb> {
        let path = self.agent_path(class, name)?;
        if !path.exists() {
            return Err(not_found(class, name));
        }
        AgentDb::open(&path, false, self.env.clone(), class, name).map_err(|e| match e {
            // Deleted between the check and the open.
            Error::Io { .. } if !path.exists() => not_found(class, name),
            other => other,
        })
    }

    /// Whether the agent's database exists.
    pub fn agent_exists(&self, class: &str, name: &str) -> Result<bool> {
        Ok(self.agent_path(class, name)?.exists())
    }

    /// Agents ordered by (class, name), optionally of one class, starting after the given
    /// (class, name) (keyset pagination: pass the last item of the previous page).
    /// Sub-agents (names holding [`SUB_AGENT_SEPARATOR`]) are listed by
    /// [`Self::list_agents_under`], through their parents, not here.
    pub fn list_agents(
        &self,
        class: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<AgentInfo>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (after_class, after_name) = after.unzip();
        let catalog = self.catalog();
        let mut select = catalog
            .prepare_cached(
                "SELECT class, name, created_at_ms FROM _islet_agents
                 WHERE (?1 IS NULL OR class = ?1)
                   AND (?2 IS NULL OR (class, name) > (?2, ?3))
                   AND instr(name, char(31)) = 0
                 ORDER BY class, name
                 LIMIT ?4",
            )
            .ctx("listing agents")?;
        let rows = select
            .query_map((class, after_class, after_name, limit), AgentInfo::from_row)
            .ctx("listing agents")?;
        rows.collect::<Result<_, _>>().ctx("listing agents")
    }

    /// Sub-agents of `class` at any depth (names holding [`SUB_AGENT_SEPARATOR`]), by name,
    /// starting after `after` (keyset pagination): what start-up recovery walks, since
    /// [`Self::list_agents`] lists only top-level agents.
    pub fn list_sub_agents_of(
        &self,
        class: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AgentInfo>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let catalog = self.catalog();
        let mut select = catalog
            .prepare_cached(
                "SELECT class, name, created_at_ms FROM _islet_agents
                 WHERE class = ?1 AND (?2 IS NULL OR name > ?2)
                   AND instr(name, char(31)) > 0
                 ORDER BY name
                 LIMIT ?3",
            )
            .ctx("listing sub-agents")?;
        let rows = select
            .query_map((class, after, limit), AgentInfo::from_row)
            .ctx("listing sub-agents")?;
        rows.collect::<Result<_, _>>().ctx("listing sub-agents")
    }

    /// Agents whose names start with `prefix` and continue without another
    /// [`SUB_AGENT_SEPARATOR`] (a parent's direct sub-agents, when `prefix` is the parent's
    /// part of their names, ending in the separator), optionally of one class, by (class,
    /// name).
    pub fn list_agents_under(&self, prefix: &str, class: Option<&str>) -> Result<Vec<AgentInfo>> {
        let catalog = self.catalog();
        // A range on the name (the key's second column) rather than LIKE, whose `%` and `_`
        // a name may hold.
        let mut select = catalog
            .prepare_cached(
                "SELECT class, name, created_at_ms FROM _islet_agents
                 WHERE (?1 IS NULL OR class = ?1)
                   AND name > ?2 AND substr(name, 1, length(?2)) = ?2
                   AND instr(substr(name, length(?2) + 1), char(31)) = 0
                 ORDER BY class, name",
            )
            .ctx("listing sub-agents")?;
        let rows = select
            .query_map((class, prefix), AgentInfo::from_row)
            .ctx("listing sub-agents")?;
        rows.collect::<Result<_, _>>().ctx("listing sub-agents")
    }

    /// Deletes an agent: its catalog entry, its alarm and its database files. The caller
    /// makes sure no connection to it is open (the agent host deletes from the agent's own
    /// mailbox, after its last turn). Returns whether the agent existed.
    pub fn delete_agent(&self, class: &str, name: &str) -> Result<bool> {
        let path = self.agent_path(class, name)?;
        let mut existed = false;
        // Files first: a crash before the catalog is updated leaves an entry whose database
        // is gone, which `open_agent` treats like one recorded before its file was made.
        for suffix in ["-wal", "-shm", ""] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            match fs::remove_file(&file) {
                Ok(()) => existed = true,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(Path::new(&file), e)),
            }
        }
        let catalog = self.catalog();
        let listed = catalog
            .prepare_cached("DELETE FROM _islet_agents WHERE class = ?1 AND name = ?2")
            .and_then(|mut delete| delete.execute((class, name)))
            .ctx("deleting the agent from the catalog")?;
        catalog
            .prepare_cached("DELETE FROM _islet_alarms WHERE class = ?1 AND name = ?2")
            .and_then(|mut delete| delete.execute((class, name)))
            .ctx("deleting the agent's alarm")?;
        Ok(existed || listed > 0)
    }

    /// Records the earliest time the agent may have a due schedule, or clears it (`None`).
    ///
    /// Written *before* the agent's own transaction commits: if that commit then fails, the
    /// alarm is early or spurious, which is safe because the agent re-checks its own
    /// schedules when woken; the other order could lose a schedule.
    pub fn set_alarm(&self, class: &str, name: &str, at_ms: Option<i64>) -> Result<()> {
        let catalog = self.catalog();
        match at_ms {
            Some(at_ms) => catalog
                .prepare_cached(
                    "INSERT INTO _islet_alarms (class, name, at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (class, name) DO UPDATE SET at_ms = excluded.at_ms",
                )
                .and_then(|mut upsert| upsert.execute((class, name, at_ms))),
            None => catalog
                .prepare_cached("DELETE FROM _islet_alarms WHERE class = ?1 AND name = ?2")
                .and_then(|mut delete| delete.execute((class, name))),
        }
        .ctx("recording the agent's alarm")?;
        Ok(())
    }

    /// Every pending alarm, earliest first.
    pub fn alarms(&self) -> Result<Vec<Alarm>> {
        let catalog = self.catalog();
        let mut select = catalog
            .prepare_cached(
                "SELECT class, name, at_ms FROM _islet_alarms ORDER BY at_ms, class, name",
            )
            .ctx("listing alarms")?;
        let rows = select
            .query_map([], |row| {
                Ok(Alarm {
                    class: row.get(0)?,
                    name: row.get(1)?,
                    at_ms: row.get(2)?,
                })
            })
            .ctx("listing alarms")?;
        rows.collect::<Result<_, _>>().ctx("listing alarms")
    }

    /// The bearer token for `islet serve`: read from `<root>/token`, or created there (32
    /// random bytes as hex, mode 0600). Returns the token and whether it was created now.
    pub fn auth_token(&self) -> Result<(String, bool)> {
        let path = self.root.join("token");
        if let Some(token) = read_token(&path)? {
            return Ok((token, false));
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: format!("cannot get random bytes for a new token: {e}"),
        })?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut options = fs::OpenOptions::new();
        // create_new: two servers starting at once must end up agreeing on one token.
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(format!("{token}\n").as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| Error::io(&path, e))?;
                Ok((token, true))
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => match read_token(&path)? {
                Some(token) => Ok((token, false)),
                None => Err(Error::Io {
                    path: path.display().to_string(),
                    message: "the token file is empty; delete it to have a new token created"
                        .into(),
                }),
            },
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Whether the catalog knows the agent (it may be listed before its file exists, see
    /// [`DataDir::open_agent`]).
    pub fn catalog_has_agent(&self, class: &str, name: &str) -> Result<bool> {
        self.catalog()
            .prepare_cached("SELECT 1 FROM _islet_agents WHERE class = ?1 AND name = ?2")
            .and_then(|mut select| select.query_row((class, name), |_| Ok(())).optional())
            .map(|found| found.is_some())
            .ctx("looking up an agent in the catalog")
    }

    /// The database file of an agent; validates the class and name.
    pub fn agent_path(&self, class: &str, name: &str) -> Result<PathBuf> {
        file_name::validate_class(class)?;
        file_name::validate_name(name)?;
        Ok(self
            .agents_dir
            .join(file_name::escape(class))
            .join(format!("{}.sqlite", file_name::escape(name))))
    }

    fn catalog(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection inconsistent (SQLite
        // rolls back an unfinished statement), so a poisoned lock is still usable.
        self.catalog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn not_found(class: &str, name: &str) -> Error {
    Error::NotFound(format!(
        "agent {class}/{name:?} does not exist; check the class and name (list agents to see \
         which exist), or address it through the server to create it"
    ))
}

fn read_token(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => Ok(Some(text.trim().to_string())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}
