//! Which cards a board page shows. The All tab is a glance at every lane, a lane's tab
//! pages through the lane: a phone on a weak connection gets a page of a few dozen
//! cards, never the whole queue at once (200 cards are about 250 KB of HTML).

use super::queue_truth::Freshness;
use super::release::TargetHealth;
use super::work_item::{Lane, WorkItemError, WorkItemId};
use std::fmt;

/// How many cards each lane shows on the All tab; its tab shows the rest.
pub const ALL_TAB_CARDS_PER_LANE: usize = 5;
/// How many cards one page of a lane's tab shows.
pub const LANE_PAGE_CARDS: usize = 25;

/// A board page: `/` or `/?lane=review&page=2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardView {
    All,
    /// `page` counts from 1.
    Lane {
        lane: Lane,
        page: usize,
    },
}

/// A board address that names no board page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardQueryError {
    UnknownLane(WorkItemError),
    BadPage(String),
}

impl fmt::Display for BoardQueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoardQueryError::UnknownLane(err) => err.fmt(f),
            BoardQueryError::BadPage(raw) => write!(
                f,
                "page {raw:?} is not a page number: use a whole number from 1, as in /?lane=review&page=2"
            ),
        }
    }
}

/// The cards a view shows, in board order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardsShown {
    /// The first `per_lane` cards of every lane.
    FirstOfEachLane { per_lane: usize },
    /// At most `limit` cards of `lane` from the `offset`-th.
    LanePage { lane: Lane, limit: usize, offset: usize },
}

impl BoardView {
    /// The view the query parameters `lane` and `page` name. `page` is read on a lane's
    /// tab only: the All tab has one page.
    pub fn parse(lane: Option<&str>, page: Option<&str>) -> Result<BoardView, BoardQueryError> {
        let Some(lane) = lane else {
            return Ok(BoardView::All);
        };
        let lane = lane.parse().map_err(BoardQueryError::UnknownLane)?;
        let page = match page {
            None => 1,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(page) if page >= 1 => page,
                _ => return Err(BoardQueryError::BadPage(raw.chars().take(20).collect())),
            },
        };
        Ok(BoardView::Lane { lane, page })
    }

    pub fn lane(self) -> Option<Lane> {
        match self {
            BoardView::All => None,
            BoardView::Lane { lane, .. } => Some(lane),
        }
    }

    /// The cards this view shows.
    pub fn cards(self) -> CardsShown {
        match self {
            BoardView::All => CardsShown::FirstOfEachLane { per_lane: ALL_TAB_CARDS_PER_LANE },
            BoardView::Lane { lane, page } => CardsShown::LanePage {
                lane,
                limit: LANE_PAGE_CARDS,
                offset: (page - 1).saturating_mul(LANE_PAGE_CARDS),
            },
        }
    }

    /// Whether the page exists for a lane holding `count` items: page 1 always does.
    pub fn exists(self, count: usize) -> bool {
        match self {
            BoardView::All => true,
            BoardView::Lane { page, .. } => page <= lane_pages(count),
        }
    }

    /// Where the board comes back to after a form on it: this very page.
    pub fn href(self) -> String {
        match self {
            BoardView::All => "/".to_owned(),
            BoardView::Lane { lane, page } => lane_href(lane, page),
        }
    }
}

/// How many pages a lane of `count` items has on its tab; an empty lane has one.
pub fn lane_pages(count: usize) -> usize {
    count.div_ceil(LANE_PAGE_CARDS).max(1)
}

/// The address of a page of a lane's tab.
pub fn lane_href(lane: Lane, page: usize) -> String {
    match page {
        1 => format!("/?lane={}", lane.as_str()),
        page => format!("/?lane={}&page={page}", lane.as_str()),
    }
}

/// What needs a person now, as the board's attention line names it: each one a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attention {
    /// An item whose truth signals disagree.
    Drifting(WorkItemId),
    /// The queue's data is older than `stale_after_seconds`, or its directory unreadable.
    StaleData,
    /// Work-item files the last sync could not read.
    SyncErrors(usize),
    /// A target whose last release failed, was rolled back or was interrupted.
    Release { target: String, health: TargetHealth, release: Option<i64> },
    /// A hold that ends within the hour, in whole minutes (at least 1).
    HoldEnding { target: String, minutes: i64 },
}

/// A target as the attention line looks at it.
#[derive(Debug, Clone)]
pub struct TargetGlance {
    pub name: String,
    pub health: TargetHealth,
    /// The newest release, the one its status word tells of.
    pub newest_release: Option<i64>,
    /// When its hold ends; `None` without a hold or for one until released.
    pub hold_expires_at: Option<time::OffsetDateTime>,
}

/// How many drifting items the line names one by one; the rest are counted.
pub const DRIFTING_NAMED: usize = 3;

/// What needs a person, most urgent first: releases that went wrong, holds about to end,
/// stale data and unreadable files, then drifting items.
pub fn attention(
    targets: &[TargetGlance],
    freshness: Freshness,
    sync_errors: usize,
    drifting: &[WorkItemId],
    now: time::OffsetDateTime,
) -> Vec<Attention> {
    let mut found = Vec::new();
    for target in targets {
        if matches!(
            target.health,
            TargetHealth::Failed | TargetHealth::RolledBack | TargetHealth::Interrupted
        ) {
            found.push(Attention::Release {
                target: target.name.clone(),
                health: target.health,
                release: target.newest_release,
            });
        }
    }
    for target in targets {
        if let Some(ends) = target.hold_expires_at {
            let left = ends - now;
            if left <= time::Duration::HOUR {
                found.push(Attention::HoldEnding {
                    target: target.name.clone(),
                    minutes: left.whole_minutes().max(1),
                });
            }
        }
    }
    if freshness == Freshness::Stale {
        found.push(Attention::StaleData);
    }
    if sync_errors > 0 {
        found.push(Attention::SyncErrors(sync_errors));
    }
    found.extend(drifting.iter().cloned().map(Attention::Drifting));
    found
}

impl Attention {
    /// The link's words.
    pub fn text(&self) -> String {
        match self {
            Attention::Drifting(id) => format!("{id} drifts"),
            Attention::StaleData => "the queue's data is stale".to_owned(),
            Attention::SyncErrors(1) => "1 work-item file did not sync".to_owned(),
            Attention::SyncErrors(n) => format!("{n} work-item files did not sync"),
            Attention::Release { target, health, .. } => {
                format!("{target}: {}", health.label().to_lowercase())
            }
            Attention::HoldEnding { target, minutes } => {
                format!("the hold on {target} ends in {minutes} min")
            }
        }
    }

    /// Where the link goes: the page that says what to do.
    pub fn href(&self) -> String {
        match self {
            Attention::Drifting(id) => format!("/items/{id}#queue-truth"),
            Attention::StaleData => "#queue-status".to_owned(),
            Attention::SyncErrors(_) => "#sync-errors".to_owned(),
            Attention::Release { release: Some(id), .. } => format!("/releases/{id}"),
            Attention::Release { target, .. } | Attention::HoldEnding { target, .. } => {
                format!("/releases#target-{target}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_name_a_view_or_say_what_is_wrong() {
        let review = |page| BoardView::Lane { lane: Lane::Review, page };
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<BoardView, &'a str>);
        let cases: &[Case] = &[
            (None, None, Ok(BoardView::All)),
            (None, Some("7"), Ok(BoardView::All)),
            (Some("review"), None, Ok(review(1))),
            (Some("In progress"), None, Ok(BoardView::Lane { lane: Lane::InProgress, page: 1 })),
            (Some("review"), Some("2"), Ok(review(2))),
            (Some("review"), Some(" 3 "), Ok(review(3))),
            (Some("review"), Some("0"), Err("page \"0\" is not a page number")),
            (Some("review"), Some("-1"), Err("page \"-1\" is not a page number")),
            (Some("review"), Some("two"), Err("page \"two\" is not a page number")),
            (Some("review"), Some(""), Err("page \"\" is not a page number")),
            (Some("nowhere"), Some("2"), Err("lane \"nowhere\" is not a lane")),
        ];
        for (lane, page, expected) in cases {
            let got = BoardView::parse(*lane, *page);
            match (expected, &got) {
                (Ok(view), Ok(got)) => assert_eq!(got, view, "{lane:?} {page:?}"),
                (Err(words), Err(err)) => {
                    assert!(err.to_string().contains(words), "{lane:?} {page:?}: {err}")
                }
                _ => panic!("{lane:?} {page:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn each_view_shows_its_window_of_each_lane() {
        let done = |page| BoardView::Lane { lane: Lane::Done, page };
        let done_page = |limit, offset| CardsShown::LanePage { lane: Lane::Done, limit, offset };
        let cases = [
            (BoardView::All, CardsShown::FirstOfEachLane { per_lane: 5 }),
            (done(1), done_page(25, 0)),
            (done(3), done_page(25, 50)),
            (done(usize::MAX), done_page(25, usize::MAX)),
        ];
        for (view, expected) in cases {
            assert_eq!(view.cards(), expected, "{view:?}");
        }
    }

    #[test]
    fn a_lane_has_as_many_pages_as_its_items_fill() {
        for (count, pages) in [(0, 1), (1, 1), (25, 1), (26, 2), (50, 2), (51, 3), (200, 8)] {
            assert_eq!(lane_pages(count), pages, "{count} items");
        }
        let page = |page| BoardView::Lane { lane: Lane::Ready, page };
        assert!(page(1).exists(0));
        assert!(page(2).exists(26));
        assert!(!page(3).exists(50));
        assert!(BoardView::All.exists(0));
    }

    #[test]
    fn a_view_links_back_to_itself() {
        assert_eq!(BoardView::All.href(), "/");
        let page = |page| BoardView::Lane { lane: Lane::InProgress, page };
        assert_eq!(page(1).href(), "/?lane=in-progress");
        assert_eq!(page(4).href(), "/?lane=in-progress&page=4");
    }

    #[test]
    fn the_attention_line_names_what_needs_a_person_most_urgent_first() {
        use super::{Attention, TargetGlance, attention};
        use crate::domain::release::TargetHealth::*;
        use crate::domain::{Freshness, WorkItemId};
        let now = time::macros::datetime!(2026-12-01 12:00 UTC);
        let target = |name: &str, health, hold_minutes: Option<i64>| TargetGlance {
            name: name.into(),
            health,
            newest_release: Some(7),
            hold_expires_at: hold_minutes.map(|m| now + time::Duration::minutes(m)),
        };
        let id = |raw: &str| WorkItemId::parse(raw).unwrap();
        // (targets, freshness, sync errors, drifting) → the texts, in order
        type Case = (Vec<TargetGlance>, Freshness, usize, Vec<WorkItemId>, Vec<&'static str>);
        let cases: Vec<Case> = vec![
            (vec![target("web", Healthy, None)], Freshness::Fresh, 0, vec![], vec![]),
            (
                vec![target("web", Held, Some(90)), target("api", Deploying, None)],
                Freshness::Aging,
                0,
                vec![],
                vec![],
            ),
            (
                vec![
                    target("web", RolledBack, None),
                    target("api", Held, Some(20)),
                    target("db", Interrupted, None),
                    target("edge", Failed, None),
                ],
                Freshness::Stale,
                2,
                vec![id("wi-1"), id("wi-2")],
                vec![
                    "web: rolled back",
                    "db: interrupted",
                    "edge: failed",
                    "the hold on api ends in 20 min",
                    "the queue's data is stale",
                    "2 work-item files did not sync",
                    "wi-1 drifts",
                    "wi-2 drifts",
                ],
            ),
            // A hold already past its end and not yet expired by the server: 1 min.
            (
                vec![target("web", Held, Some(-3))],
                Freshness::Fresh,
                1,
                vec![],
                vec!["the hold on web ends in 1 min", "1 work-item file did not sync"],
            ),
        ];
        for (targets, freshness, errors, drifting, expected) in cases {
            let found = attention(&targets, freshness, errors, &drifting, now);
            let texts: Vec<String> = found.iter().map(Attention::text).collect();
            assert_eq!(texts, expected);
        }
        assert_eq!(Attention::Drifting(id("wi-1")).href(), "/items/wi-1#queue-truth");
        assert_eq!(Attention::StaleData.href(), "#queue-status");
        let release = Attention::Release { target: "web".into(), health: Failed, release: Some(7) };
        assert_eq!(release.href(), "/releases/7");
        let hold = Attention::HoldEnding { target: "web".into(), minutes: 5 };
        assert_eq!(hold.href(), "/releases#target-web");
    }
}
