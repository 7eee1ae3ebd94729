//! A board page's read: its cards (work items with their sources), the lane counts and
//! the last sync, in one read transaction.

use super::read_cache::ReadCache;
use super::sources::{self, SyncSnapshot};
use super::{StoreError, work_items};
use crate::domain::board::CardsShown;
use crate::domain::{Lane, WorkItemSummary};
use rusqlite::Connection;

/// What a board page shows from the database.
#[derive(Debug, Clone)]
pub struct BoardRead {
    /// Items in each lane, in [`Lane::ALL`] order.
    pub counts: [usize; 5],
    /// The cards shown, by lane in board order.
    pub lanes: Vec<(Lane, Vec<WorkItemSummary>)>,
    pub last_sync: Option<SyncSnapshot>,
    /// Every item whose truth signals drift, in board order: what the board's attention
    /// line names. Read with the page and kept with it until the next write.
    pub drifting: Vec<crate::domain::WorkItemId>,
}

/// Board reads kept between writes, by the cards they show.
pub type BoardReads = ReadCache<CardsShown, BoardRead>;

/// How many board pages' reads are kept: the All tab and the first pages of the lanes,
/// with room to spare.
pub const BOARD_READS_KEPT: usize = 32;

/// Reads the cards `shown`, the lane counts and the last sync.
pub fn read(conn: &mut Connection, shown: CardsShown) -> Result<BoardRead, StoreError> {
    // One read transaction: the counts agree with the cards, and the database's locks
    // are taken once for the page.
    let tx = conn.transaction()?;
    let counts = work_items::lane_counts(&tx)?;
    let lanes = match shown {
        CardsShown::FirstOfEachLane { per_lane } => {
            let mut lanes = Lane::ALL.map(|lane| (lane, Vec::new()));
            for item in work_items::first_of_each_lane(&tx, per_lane)? {
                lanes[item.lane as usize].1.push(item);
            }
            lanes.into()
        }
        CardsShown::LanePage { lane, limit, offset } => {
            vec![(lane, work_items::lane_summaries(&tx, lane, limit, offset)?)]
        }
    };
    let last_sync = sources::last_snapshot(&tx)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let drifting = work_items::drifting(&tx, now)?;
    tx.commit()?;
    Ok(BoardRead { counts, lanes, last_sync, drifting })
}
