//! The `users` and `api_tokens` tables.

use super::StoreError;
use crate::domain::{Role, Username};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::fmt;
use time::OffsetDateTime;

/// A user as stored. `Debug` leaves the hash out, and nothing serialises it.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: Username,
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
    pub last_sign_in_at: Option<OffsetDateTime>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A token as listed: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// What it is limited to; whole for a token without limits.
    pub scope: crate::domain::operator::TokenScope,
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorStoreError {
    #[error("a user named {0} already exists")]
    UsernameTaken(Username),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn parse_role(raw: String) -> Result<Role, StoreError> {
    raw.parse().map_err(|err: crate::domain::OperatorError| StoreError::InvalidRow(err.to_string()))
}

pub fn add_user(
    conn: &Connection,
    username: &Username,
    password_hash: &str,
    role: Role,
) -> Result<i64, OperatorStoreError> {
    let inserted = conn.execute(
        "INSERT INTO users (username, password_hash, role) VALUES (?1, ?2, ?3)
         ON CONFLICT (username) DO NOTHING",
        params![username.as_str(), password_hash, role.as_str()],
    );
    match inserted.map_err(StoreError::from)? {
        0 => Err(OperatorStoreError::UsernameTaken(username.clone())),
        _ => Ok(conn.last_insert_rowid()),
    }
}

const USER_COLUMNS: &str =
    "id, username, password_hash, role, disabled, created_at, last_sign_in_at";

/// Maps a row to a user. The outer `Result` is SQLite's, the inner one says whether the
/// stored values are still valid domain values.
fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<User, StoreError>> {
    let username: String = row.get("username")?;
    let role: String = row.get("role")?;
    let (username, role) = match (Username::parse(&username), parse_role(role)) {
        (Ok(username), Ok(role)) => (username, role),
        (Err(err), _) => return Ok(Err(StoreError::InvalidRow(err.to_string()))),
        (_, Err(err)) => return Ok(Err(err)),
    };
    Ok(Ok(super::from_columns!(row => User {
        id, password_hash, disabled, created_at, last_sign_in_at,
    } and { username: username, role: role })))
}

pub fn user_by_name(conn: &Connection, username: &Username) -> Result<Option<User>, StoreError> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"))?
        .query_row([username.as_str()], user_from_row)
        .optional()?
        .transpose()
}

pub fn user_by_id(conn: &Connection, id: i64) -> Result<Option<User>, StoreError> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id], user_from_row)
        .optional()?
        .transpose()
}

/// How many users can sign in (not disabled).
pub fn active_users(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM users WHERE disabled = 0")?
        .query_row([], |row| row.get(0))?)
}

pub fn list_users(conn: &Connection) -> Result<Vec<User>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY username"))?;
    let rows = stmt.query_map([], user_from_row)?;
    rows.map(|row| row?).collect()
}

/// Returns whether a user had that name.
pub fn set_password_hash(
    conn: &Connection,
    username: &Username,
    password_hash: &str,
) -> Result<bool, StoreError> {
    set_user_column(conn, username, "password_hash", &password_hash)
}

/// Returns whether a user had that name.
pub fn set_disabled(
    conn: &Connection,
    username: &Username,
    disabled: bool,
) -> Result<bool, StoreError> {
    set_user_column(conn, username, "disabled", &disabled)
}

/// Returns whether a user had that name.
pub fn set_role(conn: &Connection, username: &Username, role: Role) -> Result<bool, StoreError> {
    set_user_column(conn, username, "role", &role.as_str())
}

/// The time zone user `user_id` chose to see times in, if any.
pub fn time_zone_of(conn: &Connection, user_id: i64) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT time_zone FROM users WHERE id = ?1")?
        .query_row([user_id], |row| row.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// Sets (or, with `None`, clears) the time zone of user `user_id`.
pub fn set_time_zone(
    conn: &Connection,
    user_id: i64,
    zone: Option<&str>,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached("UPDATE users SET time_zone = ?2 WHERE id = ?1")?
        .execute(params![user_id, zone])?;
    Ok(changed == 1)
}

/// Sets one column of the user `username` (one of the names above, never a caller's
/// text); whether a user had that name.
fn set_user_column(
    conn: &Connection,
    username: &Username,
    column: &'static str,
    value: &dyn rusqlite::ToSql,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        &format!("UPDATE users SET {column} = ?2 WHERE username = ?1"),
        params![username.as_str(), value],
    )?;
    Ok(changed == 1)
}

pub fn record_sign_in(conn: &Connection, user_id: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE users SET last_sign_in_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
    )?
    .execute([user_id])?;
    Ok(())
}

pub fn add_token(
    conn: &Connection,
    name: &str,
    role: Role,
    token_hash: &str,
    scope: &crate::domain::operator::TokenScope,
) -> Result<i64, StoreError> {
    let scope = (!scope.is_whole()).then(|| serde_json::to_string(scope).unwrap_or_default());
    conn.execute(
        "INSERT INTO api_tokens (name, role, token_hash, scope) VALUES (?1, ?2, ?3, ?4)",
        params![name, role.as_str(), token_hash, scope],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The live (not revoked) token with this hash, marking it used.
pub fn use_token(conn: &Connection, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
    let token = conn
        .prepare_cached(
            "UPDATE api_tokens SET last_used_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             WHERE token_hash = ?1 AND revoked_at IS NULL
             RETURNING id, name, role, created_at, last_used_at, revoked_at, scope",
        )?
        .query_row([token_hash], token_from_row)
        .optional()?;
    token.transpose()
}

fn token_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<ApiToken, StoreError>> {
    let role = match parse_role(row.get(2)?) {
        Ok(role) => role,
        Err(err) => return Ok(Err(err)),
    };
    Ok(Ok(ApiToken {
        id: row.get(0)?,
        name: row.get(1)?,
        role,
        created_at: row.get(3)?,
        last_used_at: row.get(4)?,
        revoked_at: row.get(5)?,
        // A scope this version cannot read limits the token to nothing, never to everything.
        scope: match row.get::<_, Option<String>>(6)? {
            None => Default::default(),
            Some(json) => serde_json::from_str(&json).unwrap_or_else(|_| {
                crate::domain::operator::TokenScope {
                    targets: vec![String::new()],
                    rights: Vec::new(),
                }
            }),
        },
    }))
}

pub fn list_tokens(conn: &Connection) -> Result<Vec<ApiToken>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, name, role, created_at, last_used_at, revoked_at, scope FROM api_tokens ORDER BY id",
    )?;
    let rows = stmt.query_map([], token_from_row)?;
    rows.map(|row| row?).collect()
}

/// Revokes a live token; returns whether one was revoked.
pub fn revoke_token(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE api_tokens SET revoked_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1 AND revoked_at IS NULL",
        [id],
    )?;
    Ok(changed == 1)
}
