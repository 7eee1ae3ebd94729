//! Syncing work items from the factory repository's work-item files, and each item's
//! queue truth as pages and the API show it. The rules are in
//! [`crate::domain::queue_truth`]; the tables in [`crate::store::sources`].

use crate::AppState;
use crate::auth::caller::{Caller, Via};
use crate::domain::Permission;
use crate::domain::queue_truth::{self, FreshnessThresholds, QueueTruth, TruthSignals};
use crate::domain::{SourceFacts, WorkItemId, parse_work_item_file};
use crate::error::ServiceError;
use crate::idempotency::{self, Keyed};
use crate::process::ValidationCommands;
use crate::store::StoreError;
use crate::store::sources::{self, FileRead, ReadItem, SourcePart, SyncError, SyncSnapshot};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
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

impl QueueTruthSettings {
    /// An item's queue truth now.
    pub fn truth_of<'a>(
        &self,
        signals: impl Into<TruthSignals<'a>>,
        facts: &SourceFacts,
    ) -> QueueTruth {
        queue_truth::evaluate(signals.into(), facts, self.thresholds, now())
    }
}

/// A sync a person or a token asked for: the one place its permission is checked, for
/// the Refresh button and the API alike. The trigger names the caller. A repeat with the
/// same key gets the first one's snapshot ([`crate::idempotency`]).
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
    let keyed = Keyed {
        key: caller.once_key.clone(),
        subject: "the work-item files".into(),
        what: "sync".into(),
        patience: SYNC_PATIENCE,
    };
    let owned = state.clone();
    idempotency::once(&state.db, keyed, async move { Ok(sync(&owned, &trigger).await?) }).await
}

/// How long a repeated sync waits for the first one's snapshot.
const SYNC_PATIENCE: Duration = Duration::from_secs(120);

impl idempotency::Answer for Option<SyncSnapshot> {}

/// Reads the work-item files and applies them; one sync at a time. `trigger` says who
/// asked: `start`, `interval`, `operator NAME`, `api NAME`.
pub async fn sync(state: &AppState, trigger: &str) -> Result<Option<SyncSnapshot>, StoreError> {
    let Some(dir) = state.queue_truth.work_items_dir.clone() else {
        return Ok(None);
    };
    let _one_at_a_time = state.sync_lock.lock().await;
    let started = std::time::Instant::now();
    // Read under the sync lock, so no other sync changes them before this one applies.
    let synced = state.db.call(sources::synced_hashes).await?;
    // The files are read on other threads while the database applies them, a part at a
    // time: at most a few parts are in memory, however large the queue.
    let (parts, received) = std::sync::mpsc::sync_channel(2);
    let repository_code = state.repository_code.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let mut send = |part| parts.send(part).is_ok();
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_source(&dir, &synced, &repository_code.validation_commands, &mut send)
        }));
        if read.is_err() {
            // What was read is applied; nothing counts as removed.
            tracing::error!("reading the work-item files stopped");
            let message = "reading the files stopped unexpectedly; see the server log";
            for part in directory_not_read(&dir, message.into()) {
                send(part);
            }
        }
    });
    let trigger = trigger.to_owned();
    let applied =
        state.db.call(move |conn| sources::apply(conn, received, &trigger, now(), started)).await;
    // The reader ends once its parts are taken, or at its next part when the apply failed.
    let _ = reader.await;
    let snapshot = applied?;
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
///
/// The files go to `send` a part at a time, in name order, then `End`; reading stops
/// when `send` says the other side is gone. `synced` holds each file's hash at its last
/// sync (see [`sources::synced_hashes`]): a file whose bytes and prompt hash the same is
/// not parsed again, only named as unchanged. The hash is of the content, not of the
/// size or modification time, so an edit that keeps both (or a clock set back) is never
/// missed. The hash covers the names of the configured validation commands too: when
/// they change, every file is checked again. The files are read on up to four threads,
/// one per core.
pub fn read_source(
    dir: &Path,
    synced: &HashMap<String, String>,
    validation_commands: &ValidationCommands,
    mut send: impl FnMut(SourcePart) -> bool,
) {
    // Resolved and listed before anything counts as read: a sync that could not list
    // the directory must remove nothing.
    let listed = dir.canonicalize().and_then(|root| Ok((std::fs::read_dir(dir)?, root)));
    let (entries, root) = match listed {
        Ok(listed) => listed,
        Err(err) => {
            let message = format!("the work-items directory cannot be read: {err}");
            for part in directory_not_read(dir, message) {
                send(part);
            }
            return;
        }
    };
    // Every `*.md` entry but directories: a link, a FIFO or a device among them is
    // reported by `read_trusted_text`, not skipped in silence.
    let mut files: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| !t.is_dir()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(".md"))
        .collect();
    files.sort();
    let source = Source::new(root, synced, validation_commands);
    let readers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    std::thread::scope(|scope| {
        // Reader `r` reads the r-th share of every part; the parts are put back together
        // in order, one at a time.
        let shares: Vec<_> = (0..readers)
            .map(|reader| {
                let (share, received) = std::sync::mpsc::sync_channel::<Vec<FileRead>>(1);
                let (source, files) = (&source, &files);
                scope.spawn(move || {
                    for part in files.chunks(FILES_PER_PART) {
                        let mine = part.chunks(part.len().div_ceil(readers)).nth(reader);
                        let read = mine.unwrap_or_default().iter().map(|name| source.read(name));
                        if share.send(read.collect()).is_err() {
                            return; // the apply stopped
                        }
                    }
                });
                received
            })
            .collect();
        for _ in files.chunks(FILES_PER_PART) {
            let mut read = Vec::new();
            for share in &shares {
                // A reader that stopped (it panicked) ends the scope with its panic.
                let Ok(files) = share.recv() else { return };
                read.extend(files);
            }
            if !send(SourcePart::Files(read)) {
                return; // the apply stopped; the readers stop at their next share
            }
        }
        send(SourcePart::End { listed: true, files_read: files.len() });
    });
}

/// A reading that failed as a whole: the directory's error, and an end that removes
/// nothing.
fn directory_not_read(dir: &Path, message: String) -> [SourcePart; 2] {
    [
        SourcePart::Files(vec![FileRead::Failed(SyncError {
            file: dir.display().to_string(),
            line: None,
            field: "work_items_dir".into(),
            message,
        })]),
        SourcePart::End { listed: false, files_read: 0 },
    ]
}

/// Files read, parsed and handed to the database at a time.
const FILES_PER_PART: usize = 64;

/// The work-items directory as one sync reads it.
struct Source<'a> {
    /// Canonical.
    root: PathBuf,
    /// `root/prompts`, canonical, when it is a directory inside `root`: its prompts are
    /// opened directly. Otherwise (missing, or a link out) each prompt is checked on
    /// its own, and one that leads out is refused.
    prompts: Option<PathBuf>,
    synced: &'a HashMap<String, String>,
    validation_commands: &'a ValidationCommands,
    /// The names of `validation_commands`, as the hash covers them.
    names: String,
}

impl<'a> Source<'a> {
    fn new(
        root: PathBuf,
        synced: &'a HashMap<String, String>,
        validation_commands: &'a ValidationCommands,
    ) -> Self {
        let prompts = root
            .join("prompts")
            .canonicalize()
            .ok()
            .filter(|dir| dir.starts_with(&root) && dir.is_dir());
        Source {
            root,
            prompts,
            synced,
            validation_commands,
            names: validation_commands.fingerprint(),
        }
    }

    fn read(&self, name: &str) -> FileRead {
        let whole_file = |message: String| {
            FileRead::Failed(SyncError {
                file: name.to_owned(),
                line: None,
                field: "file".into(),
                message,
            })
        };
        let text = match read_trusted_text(&self.root, &self.root, name) {
            Ok(Some(text)) => text,
            Ok(None) => return whole_file("was removed while the sync read it".into()),
            Err(message) => return whole_file(message),
        };
        // The prompt of the item the file name says; an item whose id is not its file's
        // name is refused below, once its file is parsed.
        let stem = name.trim_end_matches(".md");
        let prompt = self.read_prompt(stem).map(|prompt| {
            let hash = content_hash(&text, prompt.as_deref(), &self.names);
            (prompt, hash)
        });
        if let Ok((_, hash)) = &prompt
            && self.synced.get(name) == Some(hash)
        {
            return FileRead::Unchanged(name.to_owned());
        }
        match parse(name, &text, prompt, self.validation_commands) {
            Ok(item) => FileRead::Parsed(Box::new(item)),
            Err(error) => FileRead::Failed(error),
        }
    }

    /// `prompts/{id}.prompt.md`, trimmed; `Ok(None)` when there is none.
    fn read_prompt(&self, id: &str) -> Result<Option<String>, String> {
        if WorkItemId::parse(id).is_err() {
            // No item has this id: the file's own error says what is wrong.
            return Ok(None);
        }
        let name = format!("{id}.prompt.md");
        let prompt = match &self.prompts {
            Some(prompts) => read_trusted_text(&self.root, prompts, &name),
            None => read_linked_text(&self.root, &self.root.join("prompts").join(&name)),
        };
        prompt
            .map(|prompt| prompt.map(|p| p.trim_end().to_owned()))
            .map_err(|reason| format!("prompts/{name} {reason}"))
    }
}

/// SHA-256 of a work-item file, its prompt and the names of the validation commands it
/// was checked against, as `work_item_sources.hash` keeps it.
fn content_hash(text: &str, prompt: Option<&str>, names: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    hasher.update([0]);
    hasher.update(prompt.unwrap_or_default().as_bytes());
    hasher.update([0]);
    hasher.update(names.as_bytes());
    format!("{:x}", hasher.finalize())
}

/// Reads `dir/name`, a text file the sync may trust (see [`read_linked_text`]), where
/// `dir` is a canonical directory inside `root`. A file that is no link is opened as
/// it is, in one call; a link is resolved and checked first.
fn read_trusted_text(root: &Path, dir: &Path, name: &str) -> Result<Option<String>, String> {
    let path = dir.join(name);
    match open_no_follow(&path) {
        Ok(file) => read_opened(file).map(Some),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // A link (ELOOP) or anything odd: the careful path says what it is.
        Err(_) => read_linked_text(root, &path),
    }
}

/// Reads a text file of the work-items directory `root` (canonical) that the sync may
/// trust: a regular file inside `root` (a symbolic link is followed only while it stays
/// inside), of at most [`MAX_FILE_BYTES`], in UTF-8. `Ok(None)` when there is no file.
///
/// Work-item files and prompts are written by whoever writes the factory repository: a
/// link to `/proc/self/environ` would put the server's environment on a page, a FIFO
/// would hang the sync (and every sync after it), a huge file would fill the pages.
fn read_linked_text(root: &Path, path: &Path) -> Result<Option<String>, String> {
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
    read_opened(open_no_follow(&resolved).map_err(unreadable)?).map(Some)
}

fn unreadable(err: std::io::Error) -> String {
    format!("cannot be read: {err}")
}

/// Opens for reading without following a link in the last component, and without
/// waiting for a FIFO's writer.
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    options.open(path)
}

/// The text of an opened regular file of at most [`MAX_FILE_BYTES`], in UTF-8.
fn read_opened(file: std::fs::File) -> Result<String, String> {
    use std::io::Read;
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
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err("grew past 1 MiB while it was read".into());
    }
    String::from_utf8(bytes).map_err(|_| "cannot be read as UTF-8 text".into())
}

/// The item of a work-item file that changed since its last sync (or is new), with its
/// prompt and the hash of both, or why it cannot be used.
fn parse(
    name: &str,
    text: &str,
    prompt: Result<(Option<String>, String), String>,
    validation_commands: &ValidationCommands,
) -> Result<ReadItem, SyncError> {
    let known = |name: &str| validation_commands.contains(name);
    let mut item = parse_work_item_file(text, None, &known).map_err(|err| SyncError {
        file: name.to_owned(),
        line: Some(err.line),
        field: err.field,
        message: err.message,
    })?;
    let stem = name.trim_end_matches(".md");
    if item.id.as_str() != stem {
        let line = text.lines().position(|l| l.trim_start().starts_with("id")).map_or(1, |i| i + 1);
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
    // Reported against the item's own file, which keeps its last good data.
    let (prompt, hash) = prompt.map_err(|message| SyncError {
        file: name.to_owned(),
        line: None,
        field: "prompt".into(),
        message,
    })?;
    item.prompt_context.text = prompt;
    Ok(ReadItem { file: name.to_owned(), item, hash })
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
