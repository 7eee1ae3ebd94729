//! The `target_hosts` table: the version each host of a target is on, and whether it
//! needs a person; and the record of where a release left its hosts.

use super::StoreError;
use rusqlite::{Connection, params};
use std::collections::BTreeMap;

/// A host of a target as the dashboard last left it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct HostState {
    pub host: String,
    /// `None`: not known (a deploy or a rollback failed on it midway, or nothing was ever
    /// deployed to it).
    pub version: Option<String>,
    /// A rollback on it failed, or it failed with nothing to roll back to.
    pub needs_person: bool,
}

/// Records where `release` left `host` of `target`.
pub fn set(
    conn: &Connection,
    target: &str,
    host: &str,
    version: Option<&str>,
    needs_person: bool,
    release: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO target_hosts (target, host, version, needs_person, release_id)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (target, host) DO UPDATE SET version = excluded.version,
             needs_person = excluded.needs_person, release_id = excluded.release_id,
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    )?
    .execute(params![target, host, version, needs_person, release])?;
    Ok(())
}

/// Marks `host` of `target` as needing a person, keeping what is known of its version.
pub fn needs_person(
    conn: &Connection,
    target: &str,
    host: &str,
    release: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO target_hosts (target, host, version, needs_person, release_id)
         VALUES (?1, ?2, NULL, 1, ?3)
         ON CONFLICT (target, host) DO UPDATE SET needs_person = 1,
             release_id = excluded.release_id,
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    )?
    .execute(params![target, host, release])?;
    Ok(())
}

/// Each of `hosts` (the target's, in its order) as last left; a host no release has
/// touched has no known version.
pub fn states(
    conn: &Connection,
    target: &str,
    hosts: &[String],
) -> Result<Vec<HostState>, StoreError> {
    let mut known: BTreeMap<String, (Option<String>, bool)> = conn
        .prepare_cached("SELECT host, version, needs_person FROM target_hosts WHERE target = ?1")?
        .query_map([target], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))))?
        .collect::<Result<_, _>>()?;
    Ok(hosts
        .iter()
        .map(|host| {
            let (version, needs_person) = known.remove(host).unwrap_or((None, false));
            HostState { host: host.clone(), version, needs_person }
        })
        .collect())
}

/// Keeps in the release's record where each host of the target stood when it ended.
pub fn record_at_end(
    conn: &Connection,
    release: i64,
    states: &[HostState],
) -> Result<(), StoreError> {
    let versions: BTreeMap<&str, Option<&str>> =
        states.iter().map(|state| (state.host.as_str(), state.version.as_deref())).collect();
    conn.execute(
        "UPDATE releases SET host_versions = ?2 WHERE id = ?1",
        params![release, serde_json::to_string(&versions).expect("versions serialise")],
    )?;
    Ok(())
}
