//! What changed, for the pages that follow `/events`: each write transaction that commits
//! is recorded as the topics its tables belong to (the database's update hook names every
//! changed row's table, so no write can forget to say so), numbered, and kept for a
//! while so a stream that reconnects with `Last-Event-ID` hears what it missed.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A part of the dashboard a page shows, as a bit of a [`Topics`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Releases, their steps and hosts, locks, holds, freezes, blocks and approvals.
    Releases = 1,
    /// The work-item queue and its syncs.
    Queue = 2,
    /// History (the audit trail).
    History = 4,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::Releases, Topic::Queue, Topic::History];

    pub fn name(self) -> &'static str {
        match self {
            Topic::Releases => "releases",
            Topic::Queue => "queue",
            Topic::History => "history",
        }
    }

    /// The topic a table's rows belong to; `None` for tables no page follows (sign-in,
    /// tokens, one-time answers, webhook deliveries).
    pub fn of_table(table: &str) -> Option<Topic> {
        match table {
            "releases" | "release_steps" | "deploy_locks" | "holds" | "target_checks"
            | "target_hosts" | "blocked_versions" | "approval_requests" | "approval_decisions"
            | "freezes" => Some(Topic::Releases),
            "work_items"
            | "work_item_done_criteria"
            | "work_item_sources"
            | "sync_snapshots"
            | "action_requests"
            | "history_snapshots" => Some(Topic::Queue),
            "audit_events" => Some(Topic::History),
            _ => None,
        }
    }
}

/// A set of topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Topics(pub u8);

impl Topics {
    pub const EVERY: Topics = Topics(7);

    pub fn with(self, topic: Topic) -> Topics {
        Topics(self.0 | topic as u8)
    }

    pub fn union(self, other: Topics) -> Topics {
        Topics(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Their names, as an event's data carries them: `["releases","queue"]`.
    pub fn names(self) -> Vec<&'static str> {
        Topic::ALL.into_iter().filter(|t| self.0 & *t as u8 != 0).map(Topic::name).collect()
    }
}

/// How many pages may follow `/events` at once, and how long one stream lasts before the
/// server ends it (the page reconnects at once, from the last event it heard): a stream
/// that ends now and then never outlives a session or a proxy's idea of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub most: usize,
    pub lifetime: std::time::Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits { most: 512, lifetime: std::time::Duration::from_secs(300) }
    }
}

/// How many changes are kept for a stream that reconnects: a few minutes of a busy
/// rollout. One older than these hears that everything changed.
const KEPT: usize = 256;

/// The numbered changes of this process, newest last.
#[derive(Debug)]
pub struct ChangeLog {
    /// Names this process: an event id of another one (before a restart) is not ours.
    epoch: String,
    changes: Mutex<VecDeque<(u64, Topics)>>,
    newest: tokio::sync::watch::Sender<u64>,
    /// Streams open now.
    pub streams: AtomicUsize,
}

impl Default for ChangeLog {
    fn default() -> Self {
        ChangeLog {
            epoch: crate::auth::secrets::random_secret(4),
            changes: Mutex::new(VecDeque::with_capacity(KEPT)),
            newest: tokio::sync::watch::Sender::new(0),
            streams: AtomicUsize::new(0),
        }
    }
}

/// What a stream that resumes from an event id missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    Nothing,
    Topics(Topics),
    /// The id is another process's, or older than the changes kept: all of it.
    Unknown,
}

impl ChangeLog {
    /// Records a committed write that changed `topics`; called on the database's thread.
    pub fn record(&self, topics: Topics) {
        if topics.is_empty() {
            return;
        }
        let mut changes = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let seq = changes.back().map_or(1, |(seq, _)| seq + 1);
        if changes.len() == KEPT {
            changes.pop_front();
        }
        changes.push_back((seq, topics));
        drop(changes);
        self.newest.send_replace(seq);
    }

    /// The number of the newest change (0: none yet).
    pub fn newest(&self) -> u64 {
        *self.newest.borrow()
    }

    /// Wakes when a change is recorded, or when the log is closed (its sender dropped).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.newest.subscribe()
    }

    /// The id of change `seq`, as `Last-Event-ID` brings it back.
    pub fn event_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    /// The change number an event id names, if it is this process's.
    fn seq_of(&self, id: &str) -> Option<u64> {
        let (epoch, seq) = id.trim().rsplit_once('-')?;
        if epoch != self.epoch {
            return None;
        }
        seq.parse().ok()
    }

    /// What happened after `last_id`, up to change `upto`.
    pub fn missed(&self, last_id: &str, upto: u64) -> Missed {
        let Some(seen) = self.seq_of(last_id).filter(|seen| *seen <= upto) else {
            return Missed::Unknown;
        };
        if seen == upto {
            return Missed::Nothing;
        }
        let changes = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        match changes.front() {
            Some((oldest, _)) if *oldest <= seen + 1 => Missed::Topics(
                changes
                    .iter()
                    .filter(|(seq, _)| *seq > seen && *seq <= upto)
                    .fold(Topics::default(), |all, (_, topics)| all.union(*topics)),
            ),
            _ => Missed::Unknown,
        }
    }

    /// Ends every stream: the server stops.
    pub fn close(&self) {
        self.newest.send_replace(u64::MAX);
    }

    /// Whether the server stops.
    pub fn closed(&self) -> bool {
        self.newest() == u64::MAX
    }

    /// Takes a place for a stream, if fewer than `most` are open; given back on drop.
    pub fn open_stream(self: &std::sync::Arc<Self>, most: usize) -> Option<StreamPlace> {
        let taken = self.streams.fetch_add(1, Ordering::AcqRel);
        let place = StreamPlace(self.clone());
        (taken < most).then_some(place)
    }
}

/// One open stream's place among the open ones.
#[derive(Debug)]
pub struct StreamPlace(std::sync::Arc<ChangeLog>);

impl Drop for StreamPlace {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_belong_to_the_topics_pages_follow() {
        let table = [
            ("release_steps", Some(Topic::Releases)),
            ("freezes", Some(Topic::Releases)),
            ("approval_decisions", Some(Topic::Releases)),
            ("work_items", Some(Topic::Queue)),
            ("sync_snapshots", Some(Topic::Queue)),
            ("audit_events", Some(Topic::History)),
            ("users", None),
            ("api_tokens", None),
            ("once_requests", None),
            ("webhook_deliveries", None),
        ];
        for (name, topic) in table {
            assert_eq!(Topic::of_table(name), topic, "{name}");
        }
    }

    #[test]
    fn a_resumed_stream_hears_what_it_missed() {
        let log = ChangeLog::default();
        log.record(Topics::default().with(Topic::Queue));
        log.record(Topics::default().with(Topic::Releases));
        log.record(Topics::default().with(Topic::History));
        let newest = log.newest();
        assert_eq!(newest, 3);
        let releases_and_history = Topics::default().with(Topic::Releases).with(Topic::History);
        let cases = [
            (log.event_id(3), Missed::Nothing),
            (log.event_id(1), Missed::Topics(releases_and_history)),
            (log.event_id(0), Missed::Topics(Topics::EVERY)),
            // Another process's id, an id from the future, or no id of ours at all.
            ("zzzz-2".to_owned(), Missed::Unknown),
            (log.event_id(9), Missed::Unknown),
            ("garbage".to_owned(), Missed::Unknown),
            (String::new(), Missed::Unknown),
        ];
        for (id, missed) in cases {
            assert_eq!(log.missed(&id, newest), missed, "{id}");
        }
    }

    #[test]
    fn a_change_older_than_those_kept_counts_as_everything() {
        let log = ChangeLog::default();
        for _ in 0..KEPT + 10 {
            log.record(Topics::default().with(Topic::Queue));
        }
        assert_eq!(log.missed(&log.event_id(5), log.newest()), Missed::Unknown);
        let recent = log.event_id(log.newest() - 1);
        assert_eq!(log.missed(&recent, log.newest()), Missed::Topics(Topics(2)));
    }

    #[test]
    fn streams_beyond_the_most_are_refused_and_places_come_back() {
        let log = std::sync::Arc::new(ChangeLog::default());
        let first = log.open_stream(1);
        assert!(first.is_some());
        assert!(log.open_stream(1).is_none());
        drop(first);
        assert!(log.open_stream(1).is_some());
        assert_eq!(log.streams.load(Ordering::Acquire), 0);
    }
}
