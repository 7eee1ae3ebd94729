//! The merge rule of a sync: what a changed work-item file does to the item the board
//! has. The file wins only where it changed since the last snapshot — an action's move
//! or status stays until the file itself says otherwise — and a Done item never reopens.

use crate::domain::{Lane, WorkItem};

/// The board's lane, status and state of an item, and what its file said at the last
/// snapshot (`None`: the item has no file yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub lane: Lane,
    pub status: String,
    pub state: String,
    pub pull_request_url: Option<String>,
    pub last_snapshot: Option<Snapshot>,
}

/// A file's values at its last snapshot, and the pull-request change kept since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub lane: String,
    pub status: String,
    pub state: String,
    /// The pull request the item had before its file named another one, and when.
    pub pull_request_before: Option<String>,
    pub pull_request_changed_at: Option<i64>,
}

/// The file's item with the board's lane, status and state wherever the file did not
/// change them since the last snapshot; a file that moves a Done item back moves
/// neither its lane nor its state.
pub fn merge(current: &Current, file_item: &WorkItem) -> WorkItem {
    let mut merged = file_item.clone();
    let file = &file_item.lifecycle;
    let base = current.last_snapshot.as_ref();
    let file_changed = |base_value: Option<&str>, file_value: &str| base_value != Some(file_value);
    let lane_changed = file_changed(base.map(|b| b.lane.as_str()), file.lane.as_str());
    let reopens = lane_changed && current.lane == Lane::Done && file.lane != Lane::Done;
    merged.lifecycle.lane = if lane_changed && !reopens { file.lane } else { current.lane };
    if !file_changed(base.map(|b| b.status.as_str()), &file.status) {
        merged.lifecycle.status = current.status.clone();
    }
    if reopens || !file_changed(base.map(|b| b.state.as_str()), &file.state) {
        merged.lifecycle.state = current.state.clone();
    }
    merged
}

/// The pull-request change to keep after a sync at `now`: a new one when the file names
/// another pull request than the item had, the earlier one while it stands, none once
/// the file is back to the first (or the item has no snapshot yet).
pub fn pull_request_change(
    current: &Current,
    file_item: &WorkItem,
    now: i64,
) -> Option<(Option<String>, i64)> {
    let base = current.last_snapshot.as_ref()?;
    let new = &file_item.execution_context.pull_request_url;
    match base.pull_request_changed_at {
        Some(at) if base.pull_request_before.as_ref() != new.as_ref() => {
            Some((base.pull_request_before.clone(), at))
        }
        Some(_) => None,
        None => (current.pull_request_url != *new).then(|| (current.pull_request_url.clone(), now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_work_item_file;

    fn file(lane: &str, status: &str, state: &str, pull_request: Option<&str>) -> WorkItem {
        let pull_request =
            pull_request.map(|url| format!("pull_request_url = \"{url}\"\n")).unwrap_or_default();
        let text = format!(
            "+++\nid = \"wi-T-1\"\ntitle = \"T\"\nlane = \"{lane}\"\nwork_type = \"bug\"\nstatus = \"{status}\"\nstate = \"{state}\"\n{pull_request}+++\nSummary.\n"
        );
        parse_work_item_file(&text, None, &|_| false).expect("a good file")
    }

    fn board(
        lane: Lane,
        status: &str,
        state: &str,
        snapshot: Option<(&str, &str, &str)>,
    ) -> Current {
        Current {
            lane,
            status: status.into(),
            state: state.into(),
            pull_request_url: None,
            last_snapshot: snapshot.map(|(lane, status, state)| Snapshot {
                lane: lane.into(),
                status: status.into(),
                state: state.into(),
                pull_request_before: None,
                pull_request_changed_at: None,
            }),
        }
    }

    #[test]
    fn the_file_wins_only_where_it_changed_and_done_never_reopens() {
        use Lane::*;
        // (what happens, the board now, the last snapshot, the file now, the merge).
        type Case = (
            &'static str,
            (Lane, &'static str, &'static str),
            Option<(&'static str, &'static str, &'static str)>,
            (&'static str, &'static str, &'static str),
            (Lane, &'static str, &'static str),
        );
        let cases: [Case; 8] = [
            (
                "an action moved it; the file changed elsewhere: the move stays",
                (InProgress, "queued", "active"),
                Some(("ready", "ready", "open")),
                ("ready", "ready", "open"),
                (InProgress, "queued", "active"),
            ),
            (
                "the file changes its status only: that applies, the lane stays",
                (InProgress, "queued", "active"),
                Some(("ready", "ready", "open")),
                ("ready", "executing", "open"),
                (InProgress, "executing", "active"),
            ),
            (
                "the file moves the lane: it applies",
                (InProgress, "executing", "active"),
                Some(("ready", "executing", "active")),
                ("review", "executing", "active"),
                (Review, "executing", "active"),
            ),
            (
                "the file closes it",
                (Review, "executing", "active"),
                Some(("review", "executing", "active")),
                ("done", "done", "done"),
                (Done, "done", "done"),
            ),
            (
                "a file moving a Done item back moves neither lane nor state",
                (Done, "done", "done"),
                Some(("done", "done", "done")),
                ("ready", "ready", "open"),
                (Done, "ready", "done"),
            ),
            (
                "a file that stays Done while its status changes",
                (Done, "done", "done"),
                Some(("done", "done", "done")),
                ("done", "released", "done"),
                (Done, "released", "done"),
            ),
            (
                "no snapshot yet (an item the control plane made): the file wins",
                (Ready, "ready", "open"),
                None,
                ("review", "reviewing", "active"),
                (Review, "reviewing", "active"),
            ),
            (
                "no snapshot, and the item is Done: it still never reopens",
                (Done, "done", "done"),
                None,
                ("ready", "ready", "open"),
                (Done, "ready", "done"),
            ),
        ];
        for (name, (lane, status, state), snapshot, (f_lane, f_status, f_state), want) in cases {
            let current = board(lane, status, state, snapshot);
            let merged = merge(&current, &file(f_lane, f_status, f_state, None));
            let got = (
                merged.lifecycle.lane,
                merged.lifecycle.status.as_str(),
                merged.lifecycle.state.as_str(),
            );
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn a_pull_request_change_is_kept_until_the_file_goes_back() {
        let pr = |n: u32| format!("https://git.example/pr/{n}");
        let mut current =
            board(Lane::Review, "review", "active", Some(("review", "review", "active")));
        current.pull_request_url = Some(pr(1));
        // The file names another pull request: a change from #1, now.
        let changed =
            pull_request_change(&current, &file("review", "review", "active", Some(&pr(2))), 50);
        assert_eq!(changed, Some((Some(pr(1)), 50)));
        // It stands while the file names #2 (or a third): the first change's time stays.
        let snapshot = current.last_snapshot.as_mut().unwrap();
        snapshot.pull_request_before = Some(pr(1));
        snapshot.pull_request_changed_at = Some(50);
        current.pull_request_url = Some(pr(2));
        for n in [2, 3] {
            let kept = pull_request_change(
                &current,
                &file("review", "review", "active", Some(&pr(n))),
                90,
            );
            assert_eq!(kept, Some((Some(pr(1)), 50)), "#{n}");
        }
        // Back to #1: no change to keep.
        let back =
            pull_request_change(&current, &file("review", "review", "active", Some(&pr(1))), 90);
        assert_eq!(back, None);
        // No snapshot yet: nothing to compare with.
        let new = board(Lane::Ready, "ready", "open", None);
        assert_eq!(
            pull_request_change(&new, &file("ready", "ready", "open", Some(&pr(9))), 1),
            None
        );
    }
}
