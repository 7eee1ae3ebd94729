//! The `approval_requests` and `approval_decisions` tables: deploys that wait for people's
//! approval, and each person's decision.

use super::StoreError;
use crate::domain::release::approval::{ApprovalRequest, Closed, Decision, Verdict};
use crate::domain::{Credential, Operator};
use rusqlite::{Connection, OptionalExtension, params};

const COLUMNS: &str = "SELECT id, target, version, commit_sha, requested_by, requested_at,
    expires_at, closed, closed_why, release_id FROM approval_requests";

/// A request's row; its decisions are read by [`with_decisions`].
fn request_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApprovalRequest> {
    let closed = match row.get::<_, Option<String>>("closed")?.as_deref() {
        None => None,
        Some("started") => Some(Closed::Started { release_id: row.get("release_id")? }),
        Some("rejected") => Some(Closed::Rejected),
        Some("expired") => Some(Closed::Expired),
        Some(_) => Some(Closed::Void {
            why: row.get::<_, Option<String>>("closed_why")?.unwrap_or_default(),
        }),
    };
    Ok(super::from_columns!(row => ApprovalRequest {
        id, target, version, requested_by, requested_at, expires_at
    } and { commit: row.get("commit_sha")?, decisions: Vec::new(), closed: closed }))
}

fn with_decisions(
    conn: &Connection,
    mut request: ApprovalRequest,
) -> Result<ApprovalRequest, StoreError> {
    request.decisions = conn
        .prepare_cached(
            "SELECT decided_by, verdict, reason, decided_at FROM approval_decisions
             WHERE request_id = ?1 ORDER BY decided_at, rowid",
        )?
        .query_map([request.id], |row| {
            let verdict: String = row.get("verdict")?;
            Ok(Decision {
                by: row.get("decided_by")?,
                verdict: if verdict == "reject" { Verdict::Reject } else { Verdict::Approve },
                reason: row.get("reason")?,
                at: row.get("decided_at")?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(request)
}

fn one(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Option<ApprovalRequest>, StoreError> {
    let found = conn
        .prepare_cached(&format!("{COLUMNS} {filter}"))?
        .query_row(args, request_from_row)
        .optional()?;
    found.map(|request| with_decisions(conn, request)).transpose()
}

/// A request by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<ApprovalRequest>, StoreError> {
    one(conn, "WHERE id = ?1", [id])
}

/// The newest request for `version` on `target`, whatever its standing.
pub fn newest_for(
    conn: &Connection,
    target: &str,
    version: &str,
) -> Result<Option<ApprovalRequest>, StoreError> {
    one(
        conn,
        "WHERE target = ?1 AND version = ?2 ORDER BY id DESC LIMIT 1",
        params![target, version],
    )
}

/// The newest request of `target` still open (not closed; it may have expired or been
/// rejected since, which its standing says).
pub fn newest_open(conn: &Connection, target: &str) -> Result<Option<ApprovalRequest>, StoreError> {
    one(conn, "WHERE target = ?1 AND closed IS NULL ORDER BY id DESC LIMIT 1", [target])
}

/// Every open request, oldest first.
pub fn open(conn: &Connection) -> Result<Vec<ApprovalRequest>, StoreError> {
    let requests: Vec<ApprovalRequest> = conn
        .prepare_cached(&format!("{COLUMNS} WHERE closed IS NULL ORDER BY id"))?
        .query_map([], request_from_row)?
        .collect::<Result<_, _>>()?;
    requests.into_iter().map(|request| with_decisions(conn, request)).collect()
}

/// A new request: who asks, for what, and for how long it stays valid.
pub struct NewApprovalRequest<'a> {
    pub target: &'a str,
    pub version: &'a str,
    pub commit: Option<&'a str>,
    pub operator: &'a Operator,
    pub client: &'a str,
    pub valid_for_seconds: i64,
}

/// Opens a request; returns its id.
pub fn ask(conn: &Connection, new: &NewApprovalRequest<'_>) -> Result<i64, StoreError> {
    let credential = serde_json::to_string(&new.operator.credential).unwrap_or_default();
    Ok(conn
        .prepare_cached(
            "INSERT INTO approval_requests (target, version, commit_sha, requested_by,
                 requested_role, requested_credential, requested_client, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
                 strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+' || ?8 || ' seconds'))
             RETURNING id",
        )?
        .query_row(
            params![
                new.target,
                new.version,
                new.commit,
                new.operator.name,
                new.operator.role.as_str(),
                credential,
                new.client,
                new.valid_for_seconds
            ],
            |row| row.get(0),
        )?)
}

/// The requester as their account is now, with their client address; or why they can no
/// longer act.
pub type Requester = Result<(Operator, String), String>;

/// Who asked for request `id`, as their account is now (the deploy it starts is theirs):
/// `Err` with why not when the user was disabled or the token revoked since.
pub fn requester(conn: &Connection, id: i64) -> Result<Option<Requester>, StoreError> {
    let asked = conn
        .prepare_cached(
            "SELECT requested_by, requested_credential, requested_client
             FROM approval_requests WHERE id = ?1",
        )?
        .query_row([id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
        })
        .optional()?;
    let Some((name, credential, client)) = asked else {
        return Ok(None);
    };
    let gone = |why: &str| Ok(Some(Err(format!("{name} {why} since asking"))));
    let credential: Credential = match serde_json::from_str(&credential) {
        Ok(credential) => credential,
        Err(_) => return gone("cannot be read"),
    };
    let now = match &credential {
        Credential::Session { user_id } => super::operators::user_by_id(conn, *user_id)?
            .filter(|user| !user.disabled)
            .map(|user| (user.role, credential.clone())),
        Credential::Token { token_id, .. } => super::operators::list_tokens(conn)?
            .into_iter()
            .find(|token| token.id == *token_id && token.revoked_at.is_none())
            .map(|token| {
                let credential = Credential::Token { token_id: token.id, scope: token.scope };
                (token.role, credential)
            }),
    };
    match now {
        Some((role, credential)) => Ok(Some(Ok((Operator { name, role, credential }, client)))),
        None => gone("was disabled or revoked"),
    }
}

/// Records a decision; `false` when this person decided on it already.
pub fn decide(
    conn: &Connection,
    id: i64,
    by: &str,
    verdict: Verdict,
    reason: Option<&str>,
) -> Result<bool, StoreError> {
    let made = conn
        .prepare_cached(
            "INSERT INTO approval_decisions (request_id, decided_by, verdict, reason)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )?
        .execute(params![id, by, verdict.as_str(), reason])?;
    Ok(made == 1)
}

/// Closes request `id` if it is still open; `false` when something closed it first.
pub fn close(conn: &Connection, id: i64, closed: &Closed) -> Result<bool, StoreError> {
    let (word, why, release) = match closed {
        Closed::Started { release_id } => ("started", None, Some(*release_id)),
        Closed::Rejected => ("rejected", None, None),
        Closed::Expired => ("expired", None, None),
        Closed::Void { why } => ("void", Some(why.as_str()), None),
    };
    let changed = conn
        .prepare_cached(
            "UPDATE approval_requests SET closed = ?2, closed_why = ?3, release_id = ?4,
                 closed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             WHERE id = ?1 AND closed IS NULL",
        )?
        .execute(params![id, word, why, release])?;
    Ok(changed == 1)
}
