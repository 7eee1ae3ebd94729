//! Syncing work items from the factory repository's work-item files, and each item's
//! queue truth as pages and the API show it. The rules are in
//! [`crate::domain::queue_truth`]; the tables in [`crate::store::sources`].

use crate::AppState;
use crate::auth::caller::{Caller, Via};
use crate::domain::Permission;
use crate::domain::queue_truth::{self, FreshnessThresholds, QueueTruth, TruthSignals};
use crate::domain::{SourceFacts, parse_work_item_file};
use crate::error::ServiceError;
use crate::store::StoreError;
use crate::store::sources::{self, ReadItem, SourceRead, SyncError, SyncSnapshot};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How and where work items are synced.
#[derive(Debug, Clone)]
pub struct QueueTruthSettings {
    /// The directory of work-item files; `None`: nothing to sync.
    pub work_items_dir: Option<PathBuf>,
    pub sync_interval: Duration,
    pub thresholds: FreshnessThresholds,
}

impl Default for QueueTruthSettings {
    fn default() -> Self {
        QueueTruthSettings {
            work_items_dir: None,
            sync_interval: Duration::from_secs(60),
            thresholds: FreshnessThresholds::default(),
        }
    }
}

/// A work-item file larger than this is refused rather than read: no real one comes close.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Now, in Unix seconds: the clock queue truth is judged by.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// An item's queue truth now.
pub fn truth_of<'a>(
    state: &AppState,
    signals: impl Into<TruthSignals<'a>>,
    facts: &SourceFacts,
) -> QueueTruth {
    queue_truth::evaluate(signals.into(), facts, state.queue_truth.thresholds, now())
}

/// A sync a person or a token asked for: the one place its permission is checked, for
/// the Refresh button and the API alike. The trigger names the caller.
pub async fn sync_for(
    state: &AppState,
    caller: &Caller,
) -> Result<Option<SyncSnapshot>, ServiceError> {
    let operator = &caller.operator;
    if !operator.can(Permission::QueueSync) {
        return Err(ServiceError::Forbidden(Permission::QueueSync));
    }
    let trigger = match caller.via {
        Via::Page => format!("operator {}", operator.name),
        Via::Api => format!("api {}", operator.name),
    };
    Ok(sync(state, &trigger).await?)
}

/// Reads the work-item files and applies them; one sync at a time. `trigger` says who
/// asked: `start`, `interval`, `operator NAME`, `api NAME`.
pub async fn sync(state: &AppState, trigger: &str) -> Result<Option<SyncSnapshot>, StoreError> {
    let Some(dir) = state.queue_truth.work_items_dir.clone() else {
        return Ok(None);
    };
    let _one_at_a_time = state.sync_lock.lock().await;
    let started = std::time::Instant::now();
    let shown_dir = dir.display().to_string();
    let read = tokio::task::spawn_blocking(move || read_source(&dir))
        .await
        .unwrap_or_else(|err| {
            tracing::error!(error = %err, "reading the work-item files stopped");
            SourceRead {
                errors: vec![SyncError {
                    file: shown_dir,
                    line: None,
                    field: "work_items_dir".into(),
                    message: "reading the files stopped unexpectedly; see the server log".into(),
                }],
                ..SourceRead::default()
            }
        });
    let trigger = trigger.to_owned();
    let snapshot = state
        .db
        .call(move |conn| sources::apply(conn, &read, &trigger, now(), started))
        .await?;
    if snapshot.errors.is_empty() {
        tracing::info!(
            trigger = %snapshot.trigger,
            files = snapshot.files_read,
            added = snapshot.added,
            changed = snapshot.changed,
            removed = snapshot.removed,
            ms = snapshot.duration_ms,
            "work items synced"
        );
    } else {
        for error in &snapshot.errors {
            tracing::warn!(%error, "work-item file not synced");
        }
    }
    Ok(Some(snapshot))
}

/// Reads every `*.md` file of `dir` and its prompt `prompts/{id}.prompt.md`. Never fails:
/// what cannot be read is reported by file, line and field.
pub fn read_source(dir: &Path) -> SourceRead {
    let mut read = SourceRead::default();
    // Resolved and listed before anything counts as read: a sync that could not list
    // the directory must remove nothing.
    let listed = dir
        .canonicalize()
        .and_then(|root| Ok((std::fs::read_dir(dir)?, root)));
    let (entries, root) = match listed {
        Ok(listed) => listed,
        Err(err) => {
            read.errors.push(SyncError {
                file: dir.display().to_string(),
                line: None,
                field: "work_items_dir".into(),
                message: format!("the work-items directory cannot be read: {err}"),
            });
            return read;
        }
    };
    read.listed = true;
    // Every `*.md` entry but directories: a link, a FIFO or a device among them is
    // reported by `read_trusted_text`, not skipped in silence.
    let mut files: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| !t.is_dir()))
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.ends_with(".md").then(|| (name, entry.path()))
        })
        .collect();
    files.sort();
    read.files_read = files.len();
    for (name, path) in files {
        match read_file(&root, &name, &path) {
            Ok(item) => read.items.push(item),
            Err(error) => read.errors.push(error),
        }
    }
    read
}

/// Reads a text file of the work-items directory `root` (canonical) that the sync may
/// trust: a regular file inside `root` (a symbolic link is followed only while it stays
/// inside), of at most [`MAX_FILE_BYTES`], in UTF-8. `Ok(None)` when there is no file.
///
/// Work-item files and prompts are written by whoever writes the factory repository: a
/// link to `/proc/self/environ` would put the server's environment on a page, a FIFO
/// would hang the sync (and every sync after it), a huge file would fill the pages.
fn read_trusted_text(root: &Path, path: &Path) -> Result<Option<String>, String> {
    use std::io::Read;
    let unreadable = |err: std::io::Error| format!("cannot be read: {err}");
    let resolved = match path.canonicalize() {
        Ok(resolved) => resolved,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            // A link to nowhere is refused like any other link that leaves; no file at
            // all is simply no file.
            return match std::fs::symlink_metadata(path) {
                Ok(_) => Err("is a symbolic link to a file that does not exist".into()),
                Err(_) => Ok(None),
            };
        }
        Err(err) => return Err(unreadable(err)),
    };
    if !resolved.starts_with(root) {
        return Err("leads outside the work-items directory (a symbolic link); only files inside it are read".into());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    let file = options.open(&resolved).map_err(unreadable)?;
    let metadata = file.metadata().map_err(unreadable)?;
    if !metadata.is_file() {
        return Err("is not a regular file (a FIFO, a socket, a device or a directory)".into());
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(format!(
            "is {} bytes; a work-item or prompt file may have at most 1 MiB",
            metadata.len()
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err("grew past 1 MiB while it was read".into());
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| "cannot be read as UTF-8 text".into())
}

fn read_file(root: &Path, name: &str, path: &Path) -> Result<ReadItem, SyncError> {
    let whole_file = |message: String| SyncError {
        file: name.to_owned(),
        line: None,
        field: "file".into(),
        message,
    };
    let text = read_trusted_text(root, path)
        .map_err(whole_file)?
        .ok_or_else(|| whole_file("was removed while the sync read it".into()))?;
    let mut item = parse_work_item_file(&text, None).map_err(|err| SyncError {
        file: name.to_owned(),
        line: Some(err.line),
        field: err.field,
        message: err.message,
    })?;
    let stem = name.trim_end_matches(".md");
    if item.id.as_str() != stem {
        let line = text
            .lines()
            .position(|l| l.trim_start().starts_with("id"))
            .map_or(1, |i| i + 1);
        return Err(SyncError {
            file: name.to_owned(),
            line: Some(line),
            field: "id".into(),
            message: format!(
                "the id {} does not match the file name: name the file {}.md",
                item.id, item.id
            ),
        });
    }
    let prompt_path = root.join("prompts").join(format!("{}.prompt.md", item.id));
    let prompt = read_trusted_text(root, &prompt_path)
        .map_err(|reason| SyncError {
            // Reported against the item's own file, which keeps its last good data.
            file: name.to_owned(),
            line: None,
            field: "prompt".into(),
            message: format!("prompts/{}.prompt.md {reason}", item.id),
        })?
        .map(|prompt| prompt.trim_end().to_owned());
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    hasher.update([0]);
    hasher.update(prompt.as_deref().unwrap_or_default().as_bytes());
    let hash = format!("{:x}", hasher.finalize());
    item.prompt_context.text = prompt;
    Ok(ReadItem {
        file: name.to_owned(),
        item,
        hash,
    })
}

/// Syncs every `interval` until the task is dropped.
pub async fn sync_every(state: AppState) {
    let mut ticks = tokio::time::interval(state.queue_truth.sync_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is now: the start-up sync just ran
    loop {
        ticks.tick().await;
        if let Err(err) = sync(&state, "interval").await {
            tracing::warn!(error = %err, "work items could not be synced");
        }
    }
}
