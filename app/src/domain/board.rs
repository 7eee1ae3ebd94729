//! Which cards a board page shows. The All tab is a glance at every lane, a lane's tab
//! pages through the lane: a phone on a weak connection gets a page of a few dozen
//! cards, never the whole queue at once (200 cards are about 250 KB of HTML).

use super::work_item::{Lane, WorkItemError};
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
    LanePage {
        lane: Lane,
        limit: usize,
        offset: usize,
    },
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
            BoardView::All => CardsShown::FirstOfEachLane {
                per_lane: ALL_TAB_CARDS_PER_LANE,
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_name_a_view_or_say_what_is_wrong() {
        let review = |page| BoardView::Lane {
            lane: Lane::Review,
            page,
        };
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<BoardView, &'a str>);
        let cases: &[Case] = &[
            (None, None, Ok(BoardView::All)),
            (None, Some("7"), Ok(BoardView::All)),
            (Some("review"), None, Ok(review(1))),
            (
                Some("In progress"),
                None,
                Ok(BoardView::Lane {
                    lane: Lane::InProgress,
                    page: 1,
                }),
            ),
            (Some("review"), Some("2"), Ok(review(2))),
            (Some("review"), Some(" 3 "), Ok(review(3))),
            (
                Some("review"),
                Some("0"),
                Err("page \"0\" is not a page number"),
            ),
            (
                Some("review"),
                Some("-1"),
                Err("page \"-1\" is not a page number"),
            ),
            (
                Some("review"),
                Some("two"),
                Err("page \"two\" is not a page number"),
            ),
            (
                Some("review"),
                Some(""),
                Err("page \"\" is not a page number"),
            ),
            (
                Some("nowhere"),
                Some("2"),
                Err("lane \"nowhere\" is not a lane"),
            ),
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
        let done = |page| BoardView::Lane {
            lane: Lane::Done,
            page,
        };
        let done_page = |limit, offset| CardsShown::LanePage {
            lane: Lane::Done,
            limit,
            offset,
        };
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
        let page = |page| BoardView::Lane {
            lane: Lane::Ready,
            page,
        };
        assert!(page(1).exists(0));
        assert!(page(2).exists(26));
        assert!(!page(3).exists(50));
        assert!(BoardView::All.exists(0));
    }

    #[test]
    fn a_view_links_back_to_itself() {
        assert_eq!(BoardView::All.href(), "/");
        let page = |page| BoardView::Lane {
            lane: Lane::InProgress,
            page,
        };
        assert_eq!(page(1).href(), "/?lane=in-progress");
        assert_eq!(page(4).href(), "/?lane=in-progress&page=4");
    }
}
