//! `factory user …` and `factory token …`: operator management from the host's shell.

use crate::cli::{DataDirArg, SessionCommand, TokenCommand, UserCommand};
use crate::{StartError, open_state};
use app::auth::secrets::{hash_password, new_api_token, token_hash};
use app::domain::machine_time;
use app::domain::{OperatorError, Username, check_new_password};
use app::store::audit::{self, NewAuditEvent};
use app::store::operators::{self, OperatorStoreError};
use app::store::{Db, StoreError, sessions};
use std::io::{BufRead, IsTerminal, Write};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error("{0}")]
    Refused(String),
    #[error("reading the password: {0}")]
    Input(#[from] std::io::Error),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

impl From<OperatorStoreError> for AdminError {
    fn from(err: OperatorStoreError) -> Self {
        match err {
            OperatorStoreError::UsernameTaken(name) => AdminError::Refused(format!(
                "a user named {name} already exists; use `factory user passwd {name}` to change their password"
            )),
            OperatorStoreError::Store(err) => AdminError::Store(err),
        }
    }
}

/// Opens the database of `data`. Only a command that adds the first user or token may
/// create it: any other, pointed at the wrong directory, would leave an empty database
/// there and answer as if nothing were wrong.
async fn open(data: &DataDirArg, may_create: bool) -> Result<Db, AdminError> {
    let data_dir = data.resolve().map_err(StartError::from)?;
    refuse_root_on_anothers_directory(&data_dir)?;
    let database = data_dir.join(crate::DATABASE_FILE);
    if !may_create && !database.exists() {
        return Err(AdminError::Refused(format!(
            "there is no database at {}: give the server's --config or --data-dir (FACTORY_CONFIG, FACTORY_DATA_DIR); nothing was created",
            database.display()
        )));
    }
    Ok(open_state(&data_dir).await?.db.clone())
}

/// As root, on a data directory another user owns (the service's), a command would leave
/// files (the database's journal, a new database) that the service cannot open, and
/// the service would then fail with no word of why.
fn refuse_root_on_anothers_directory(data_dir: &std::path::Path) -> Result<(), AdminError> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid(2) has no failure and no side effect.
    let root = unsafe { libc::geteuid() } == 0;
    let owner = std::fs::metadata(data_dir).map(|meta| meta.uid()).ok();
    match owner {
        Some(owner) if root && owner != 0 => Err(AdminError::Refused(format!(
            "{} belongs to user id {owner}, and this command runs as root: files it wrote would belong to root, and the service could not open them. Run it as the directory's owner: sudo -u '#{owner}' factory …",
            data_dir.display()
        ))),
        _ => Ok(()),
    }
}

/// Records what the command line did in the audit history.
async fn audit_cli(db: &Db, action: &'static str, subject: String, outcome: &'static str) {
    let event = NewAuditEvent {
        actor: "cli".into(),
        action,
        subject: Some(subject),
        outcome,
        client: Some("cli".into()),
        ..NewAuditEvent::default()
    };
    audit::save_or_log(db, event).await;
}

/// Reads a new password: twice without echo on a terminal, else one line of stdin.
fn read_new_password() -> Result<String, AdminError> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        let second = rpassword::prompt_password("Repeat it: ")?;
        if first != second {
            return Err(AdminError::Refused(
                "the two passwords differ; nothing was changed".into(),
            ));
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    check_new_password(&password)?;
    Ok(password)
}

async fn hash_off_thread(password: String) -> String {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .expect("hashing does not panic")
}

pub async fn run_user(command: UserCommand) -> Result<(), AdminError> {
    let mut out = std::io::stdout().lock();
    match command {
        UserCommand::Add { name, role, data } => {
            let username = Username::parse(&name)?;
            let password = read_new_password()?;
            let db = open(&data, true).await?;
            let hash = hash_off_thread(password).await;
            let name = username.clone();
            db.call(move |conn| Ok(operators::add_user(conn, &name, &hash, role))).await??;
            audit_cli(&db, "user.add", format!("{username} ({role})"), "done").await;
            writeln!(out, "added {username} with the role {role}")?;
        }
        UserCommand::List { data } => {
            let db = open(&data, false).await?;
            let users = db.call(|conn| operators::list_users(conn)).await?;
            if users.is_empty() {
                writeln!(out, "no users yet: add one with `factory user add NAME --role admin`")?;
            }
            // Padded as strings: the names' own Display does not pad.
            let width = users
                .iter()
                .map(|user| user.username.as_str().len())
                .max()
                .unwrap_or(0)
                .max("USER".len());
            if !users.is_empty() {
                writeln!(out, "{:<width$}  {:<8}  {:<8}  LAST SIGN-IN", "USER", "ROLE", "STATE")?;
            }
            for user in users {
                let state = if user.disabled { "disabled" } else { "active" };
                let last = user.last_sign_in_at.map_or("never signed in".into(), machine_time);
                writeln!(
                    out,
                    "{:<width$}  {:<8}  {:<8}  {last}",
                    user.username.as_str(),
                    user.role.to_string(),
                    state
                )?;
            }
        }
        UserCommand::Passwd { name, data } => {
            let username = Username::parse(&name)?;
            let db = open(&data, false).await?;
            let lookup = username.clone();
            if db.call(move |c| operators::user_by_name(c, &lookup)).await?.is_none() {
                return Err(no_such_user(&username));
            }
            let hash = hash_off_thread(read_new_password()?).await;
            let name = username.clone();
            db.call(move |conn| operators::set_password_hash(conn, &name, &hash)).await?;
            let done = format!("changed the password of {username}");
            end_sessions_saying(&db, &username, "user.passwd", &done, &mut out).await?;
        }
        UserCommand::Disable { name, data } => set_disabled(&data, &name, true, &mut out).await?,
        UserCommand::Enable { name, data } => set_disabled(&data, &name, false, &mut out).await?,
        UserCommand::Role { name, role, data } => {
            let (db, username) =
                change_user(&data, &name, move |c, user| operators::set_role(c, user, role))
                    .await?;
            audit_cli(&db, "user.role", format!("{username} ({role})"), "done").await;
            writeln!(
                out,
                "{username} is now {role}; their signed-in sessions take it within a minute"
            )?;
        }
    }
    Ok(())
}

/// `user disable` ends the user's sessions at once; `user enable` lets them sign in again
/// with the password they had.
async fn set_disabled(
    data: &DataDirArg,
    name: &str,
    disabled: bool,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let (db, username) =
        change_user(data, name, move |c, user| operators::set_disabled(c, user, disabled)).await?;
    if disabled {
        let done = format!("disabled {username}: they can no longer sign in");
        end_sessions_saying(&db, &username, "user.disable", &done, out).await?;
    } else {
        audit_cli(&db, "user.enable", username.to_string(), "done").await;
        writeln!(out, "enabled {username}: they can sign in again")?;
    }
    Ok(())
}

/// Opens the database and makes `change` to the user `name`, which must exist.
async fn change_user(
    data: &DataDirArg,
    name: &str,
    change: impl FnOnce(&tokio_rusqlite::rusqlite::Connection, &Username) -> Result<bool, StoreError>
    + Send
    + 'static,
) -> Result<(Db, Username), AdminError> {
    let username = Username::parse(name)?;
    let db = open(data, false).await?;
    let user = username.clone();
    if !db.call(move |conn| change(conn, &user)).await? {
        return Err(no_such_user(&username));
    }
    Ok((db, username))
}

/// Ends every session of a user; how many there were.
/// Ends the user's sessions after a change (`action` in History), and says what was
/// done and how many sessions ended.
async fn end_sessions_saying(
    db: &Db,
    username: &Username,
    action: &'static str,
    done: &str,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let ended = end_sessions_of(db, username).await?;
    audit_cli(db, action, username.to_string(), "done").await;
    writeln!(out, "{done}; ended {ended} session(s)")?;
    Ok(())
}

async fn end_sessions_of(db: &Db, username: &Username) -> Result<usize, AdminError> {
    let name = username.clone();
    let user = db
        .call(move |conn| operators::user_by_name(conn, &name))
        .await?
        .ok_or_else(|| no_such_user(username))?;
    Ok(db.call(move |conn| Ok(sessions::end_for_user(conn, user.id)?)).await?)
}

pub async fn run_session(command: SessionCommand) -> Result<(), AdminError> {
    let mut out = std::io::stdout().lock();
    match command {
        SessionCommand::List { data } => {
            let db = open(&data, false).await?;
            let list = db.call(|conn| Ok(sessions::list(conn)?)).await?;
            if list.is_empty() {
                writeln!(out, "no one is signed in")?;
            }
            for session in list {
                let user = session.username.as_deref().unwrap_or("(not signed in)");
                let expires = time::OffsetDateTime::from_unix_timestamp(session.expires_at)
                    .map(machine_time)
                    .unwrap_or_default();
                writeln!(out, "{}  {user:<24} expires {expires}", session.handle)?;
            }
        }
        SessionCommand::End { handle, user, data } => {
            let db = open(&data, false).await?;
            match (handle, user) {
                (_, Some(name)) => {
                    let username = Username::parse(&name)?;
                    let ended = end_sessions_of(&db, &username).await?;
                    audit_cli(&db, "session.end", format!("every session of {username}"), "done")
                        .await;
                    writeln!(out, "ended {ended} session(s) of {username}")?;
                }
                (Some(handle), None) => {
                    let wanted = handle.clone();
                    if !db.call(move |conn| Ok(sessions::end(conn, &wanted)?)).await? {
                        return Err(AdminError::Refused(format!(
                            "no session has the handle {handle}; `factory session list` shows them"
                        )));
                    }
                    audit_cli(&db, "session.end", handle.clone(), "done").await;
                    writeln!(out, "ended the session {handle}")?;
                }
                (None, None) => {
                    return Err(AdminError::Refused(
                        "name a session's handle, or --user NAME".into(),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn no_such_user(username: &Username) -> AdminError {
    AdminError::Refused(format!(
        "no user is named {username}; `factory user list` shows who exists"
    ))
}

pub async fn run_token(command: TokenCommand) -> Result<(), AdminError> {
    let mut out = std::io::stdout().lock();
    match command {
        TokenCommand::Create { name, role, targets, rights, data } => {
            let name = name.trim().to_owned();
            if name.is_empty() || name.len() > 64 {
                return Err(AdminError::Refused(
                    "a token name must be 1 to 64 characters, e.g. ci-deploy".into(),
                ));
            }
            if let Some(bad) = targets.iter().find(|t| !app::domain::names::is_plain_name(t)) {
                return Err(AdminError::Refused(format!(
                    "--target {bad:?} is no target name: use the name from [[targets]], such as staging"
                )));
            }
            let scope = app::domain::operator::TokenScope { targets, rights };
            let limited = match scope.is_whole() {
                true => String::new(),
                false => format!(", limited to acting {}", scope.describe()),
            };
            let db = open(&data, true).await?;
            let token = new_api_token();
            let hash = token_hash(&token);
            let stored_name = name.clone();
            let id = db
                .call(move |conn| operators::add_token(conn, &stored_name, role, &hash, &scope))
                .await?;
            audit_cli(&db, "token.create", format!("{id} {name} ({role}){limited}"), "done").await;
            writeln!(
                out,
                "token {id} ({name}, role {role}{limited}) — shown this once, store it now:"
            )?;
            writeln!(out, "{token}")?;
            writeln!(out, "use it as: Authorization: Bearer <token>")?;
        }
        TokenCommand::List { data } => {
            let db = open(&data, false).await?;
            let tokens = db.call(|conn| operators::list_tokens(conn)).await?;
            if tokens.is_empty() {
                writeln!(out, "no tokens yet")?;
            }
            for token in tokens {
                let state = match &token.revoked_at {
                    Some(at) => format!("revoked {}", machine_time(*at)),
                    None => "active".into(),
                };
                let used = token.last_used_at.map_or("never used".into(), machine_time);
                let limited = match token.scope.is_whole() {
                    true => String::new(),
                    false => format!("  limited to acting {}", token.scope.describe()),
                };
                writeln!(
                    out,
                    "{:>4}  {:<24} {:<9} {state:<28} {used}{limited}",
                    token.id, token.name, token.role
                )?;
            }
        }
        TokenCommand::Revoke { id, data } => {
            let db = open(&data, false).await?;
            if !db.call(move |conn| operators::revoke_token(conn, id)).await? {
                return Err(AdminError::Refused(format!(
                    "no live token has the id {id}; `factory token list` shows them"
                )));
            }
            audit_cli(&db, "token.revoke", id.to_string(), "done").await;
            writeln!(out, "revoked token {id}: it fails from now on")?;
        }
    }
    Ok(())
}
