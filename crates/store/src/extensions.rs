//! An agent's extensions (issue 16): modules it installed, each kept with every version
//! installed (`_islet_extensions`) and which version is active and whether it is enabled
//! (`_islet_extension_heads`). What an extension is and may do is the agent host's
//! business; storage keeps the source and the manifest (JSON) as given.

use rusqlite::OptionalExtension;
use serde::Serialize;
use serde_json::Value;

use crate::Result;
use crate::agent_db::AgentDb;
use crate::error::{Error, SqlContext};

/// The largest source or manifest kept, in bytes.
pub const MAX_EXTENSION_BYTES: usize = 1 << 20;

/// An agent's extensions ([`AgentDb::extensions`]).
pub struct Extensions<'a> {
    db: &'a mut AgentDb,
}

/// One installed extension as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionInfo {
    /// The extension's name, unique within the agent.
    pub name: String,
    /// The active version.
    pub version: i64,
    /// Whether the active version is loaded (disabled extensions are kept but not run).
    pub enabled: bool,
    /// Every version kept, oldest first.
    pub versions: Vec<i64>,
    /// Versions waiting for a person's approval (they asked for more than the operator's
    /// policy), oldest first.
    pub pending: Vec<i64>,
    /// The active version's manifest.
    pub manifest: Value,
}

/// One version of an extension as [`Extensions::versions`] lists it: what a person
/// approving it reads (its manifest holds the permissions it asks for).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionSummary {
    /// The version number, from 1.
    pub version: i64,
    /// Whether it may run (false: it asked for more than the policy and waits).
    pub approved: bool,
    /// Its manifest (JSON), as installed.
    pub manifest: Value,
    /// When it was installed (ms since the Unix epoch).
    pub created_at: i64,
}

/// The active version of an extension, with its source.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionVersion {
    /// The extension's name.
    pub name: String,
    /// The version number, from 1.
    pub version: i64,
    /// Whether it is enabled.
    pub enabled: bool,
    /// The module's source, as installed.
    pub source: String,
    /// The manifest (JSON), as installed.
    pub manifest: Value,
}

impl AgentDb {
    /// The agent's extensions.
    pub fn extensions(&mut self) -> Extensions<'_> {
        Extensions { db: self }
    }
}

impl Extensions<'_> {
    /// Stores a new version of `name` (1 for a new extension). An `approved` one becomes
    /// the active version and the extension is enabled; one that is not waits for
    /// [`Self::approve`], and the active version stays. Returns the version.
    pub fn install(
        &mut self,
        name: &str,
        source: &str,
        manifest: &Value,
        approved: bool,
    ) -> Result<i64> {
        let manifest = manifest.to_string();
        if source.len() > MAX_EXTENSION_BYTES || manifest.len() > MAX_EXTENSION_BYTES {
            return Err(Error::InvalidArgument(format!(
                "extension {name:?} is larger than {} KiB; keep extensions small",
                MAX_EXTENSION_BYTES >> 10
            )));
        }
        self.db.atomically("installing an extension", |conn, env| {
            let version: i64 = conn
                .prepare_cached(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM _islet_extensions WHERE name = ?1",
                )
                .and_then(|mut s| s.query_row([name], |r| r.get(0)))
                .ctx("numbering an extension version")?;
            conn.prepare_cached(
                "INSERT INTO _islet_extensions
                    (name, version, source, manifest, approved, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| s.execute((name, version, source, &manifest, approved, env.now_ms())))
            .ctx("storing an extension")?;
            if !approved {
                return Ok(version);
            }
            conn.prepare_cached(
                "INSERT INTO _islet_extension_heads (name, version, enabled) VALUES (?1, ?2, 1)
                 ON CONFLICT (name) DO UPDATE SET version = excluded.version, enabled = 1",
            )
            .and_then(|mut s| s.execute((name, version)))
            .ctx("activating an extension version")?;
            Ok(version)
        })
    }

    /// Every extension, by name.
    pub fn list(&mut self) -> Result<Vec<ExtensionInfo>> {
        self.db.check_turn()?;
        let conn = self.db.conn();
        let mut select = conn
            .prepare_cached(
                "SELECT h.name, h.version, h.enabled, e.manifest,
                        (SELECT group_concat(version) FROM
                            (SELECT version FROM _islet_extensions WHERE name = h.name ORDER BY version)),
                        (SELECT group_concat(version) FROM
                            (SELECT version FROM _islet_extensions
                             WHERE name = h.name AND approved = 0 ORDER BY version))
                 FROM _islet_extension_heads h
                 JOIN _islet_extensions e ON e.name = h.name AND e.version = h.version
                 UNION ALL
                 -- Extensions whose only versions wait for approval: no active version yet.
                 SELECT name, 0, 0, 'null', group_concat(version), group_concat(version)
                 FROM (SELECT name, version FROM _islet_extensions
                       WHERE name NOT IN (SELECT name FROM _islet_extension_heads)
                       ORDER BY version)
                 GROUP BY name
                 ORDER BY 1",
            )
            .ctx("listing extensions")?;
        let rows = select
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .ctx("listing extensions")?;
        let numbers =
            |list: &str| -> Vec<i64> { list.split(',').filter_map(|v| v.parse().ok()).collect() };
        let mut out = Vec::new();
        for row in rows {
            let (name, version, enabled, manifest, versions, pending) =
                row.ctx("listing extensions")?;
            out.push(ExtensionInfo {
                name,
                version,
                enabled,
                versions: numbers(&versions),
                pending: pending.as_deref().map(numbers).unwrap_or_default(),
                manifest: parse(&manifest)?,
            });
        }
        Ok(out)
    }

    /// Every version of `name`, oldest first (none when it is not installed).
    pub fn versions(&mut self, name: &str) -> Result<Vec<VersionSummary>> {
        self.db.check_turn()?;
        let conn = self.db.conn();
        let mut select = conn
            .prepare_cached(
                "SELECT version, approved, manifest, created_at_ms FROM _islet_extensions
                 WHERE name = ?1 ORDER BY version",
            )
            .ctx("listing an extension's versions")?;
        let rows = select
            .query_map([name], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .ctx("listing an extension's versions")?;
        let mut out = Vec::new();
        for row in rows {
            let (version, approved, manifest, created_at) =
                row.ctx("listing an extension's versions")?;
            out.push(VersionSummary {
                version,
                approved,
                manifest: parse(&manifest)?,
                created_at,
            });
        }
        Ok(out)
    }

    /// The active version of `name`, if it is installed.
    pub fn active(&mut self, name: &str) -> Result<Option<ExtensionVersion>> {
        match self.head(name)? {
            Some((version, _)) => self.version(name, version).map(Some),
            None => Ok(None),
        }
    }

    /// The active version of `name` and whether it is enabled, without its source or
    /// manifest (what a call of a kept extension needs to know per call).
    pub fn head(&mut self, name: &str) -> Result<Option<(i64, bool)>> {
        self.db.check_turn()?;
        self.db
            .conn()
            .prepare_cached("SELECT version, enabled FROM _islet_extension_heads WHERE name = ?1")
            .and_then(|mut s| {
                s.query_row([name], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?)))
                    .optional()
            })
            .ctx("reading an extension")
    }

    /// One version of `name` as installed, active or not (for a person deciding whether
    /// to approve it); `enabled` says whether it is the active, enabled one.
    pub fn version(&mut self, name: &str, version: i64) -> Result<ExtensionVersion> {
        self.db.check_turn()?;
        let row = self
            .db
            .conn()
            .prepare_cached(
                "SELECT e.source, e.manifest,
                        coalesce(h.version = e.version AND h.enabled, 0)
                 FROM _islet_extensions e
                 LEFT JOIN _islet_extension_heads h ON h.name = e.name
                 WHERE e.name = ?1 AND e.version = ?2",
            )
            .and_then(|mut s| {
                s.query_row((name, version), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                    ))
                })
                .optional()
            })
            .ctx("reading an extension")?;
        let (source, manifest, enabled) = row.ok_or_else(|| {
            Error::NotFound(format!(
                "extension {name:?} has no version {version}; list the extensions to see the versions kept"
            ))
        })?;
        Ok(ExtensionVersion {
            name: name.to_owned(),
            version,
            enabled,
            source,
            manifest: parse(&manifest)?,
        })
    }

    /// Enables or disables `name`; `false` when it is not installed.
    pub fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<bool> {
        self.db.atomically("enabling an extension", |conn, _| {
            let changed = conn
                .prepare_cached("UPDATE _islet_extension_heads SET enabled = ?2 WHERE name = ?1")
                .and_then(|mut s| s.execute((name, enabled)))
                .ctx("enabling an extension")?;
            Ok(changed > 0)
        })
    }

    /// Approves a version waiting for approval (a person's decision, never the agent's):
    /// it becomes the active one and the extension is enabled.
    pub fn approve(&mut self, name: &str, version: i64) -> Result<()> {
        self.db.atomically("approving an extension", |conn, _| {
            let changed = conn
                .prepare_cached(
                    "UPDATE _islet_extensions SET approved = 1 WHERE name = ?1 AND version = ?2",
                )
                .and_then(|mut s| s.execute((name, version)))
                .ctx("approving an extension")?;
            if changed == 0 {
                return Err(Error::NotFound(format!(
                    "extension {name:?} has no version {version}; list the extensions to see the versions kept"
                )));
            }
            conn.prepare_cached(
                "INSERT INTO _islet_extension_heads (name, version, enabled) VALUES (?1, ?2, 1)
                 ON CONFLICT (name) DO UPDATE SET version = excluded.version, enabled = 1",
            )
            .and_then(|mut s| s.execute((name, version)))
            .ctx("approving an extension")?;
            Ok(())
        })
    }

    /// Makes `version` of `name` the active one again (its source and manifest as they
    /// were); `NOT_FOUND` naming the versions kept when there is no such approved version.
    pub fn rollback(&mut self, name: &str, version: i64) -> Result<()> {
        self.db.atomically("rolling an extension back", |conn, _| {
            let changed = conn
                .prepare_cached(
                    "UPDATE _islet_extension_heads SET version = ?2
                     WHERE name = ?1 AND EXISTS
                        (SELECT 1 FROM _islet_extensions
                         WHERE name = ?1 AND version = ?2 AND approved = 1)",
                )
                .and_then(|mut s| s.execute((name, version)))
                .ctx("rolling an extension back")?;
            if changed == 0 {
                return Err(Error::NotFound(format!(
                    "extension {name:?} has no approved version {version}; list the extensions \
                     to see the versions kept (a version waiting for approval is made active by \
                     the operator's approval, not a rollback)"
                )));
            }
            Ok(())
        })
    }

    /// Deletes `name` with every version; `false` when it is not installed.
    pub fn delete(&mut self, name: &str) -> Result<bool> {
        self.db.atomically("deleting an extension", |conn, _| {
            let versions = conn
                .prepare_cached("DELETE FROM _islet_extensions WHERE name = ?1")
                .and_then(|mut s| s.execute([name]))
                .ctx("deleting an extension")?;
            conn.prepare_cached("DELETE FROM _islet_extension_heads WHERE name = ?1")
                .and_then(|mut s| s.execute([name]))
                .ctx("deleting an extension")?;
            Ok(versions > 0)
        })
    }
}

fn parse(manifest: &str) -> Result<Value> {
    serde_json::from_str(manifest)
        .map_err(|e| Error::InvalidState(format!("a stored extension manifest is not JSON: {e}")))
}
