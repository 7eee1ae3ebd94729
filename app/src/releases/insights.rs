//! The delivery numbers of every configured target, now: read from the records, worked
//! out by `domain::insights`.

use crate::AppState;
use crate::domain::insights::{ROLLED_BACK_WITHIN, TargetInsights, WINDOW_SECONDS, insights};
use crate::store::StoreError;

/// Every configured target's numbers at this moment.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Insights {
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: time::OffsetDateTime,
    /// The length of each window, in days.
    pub window_days: u32,
    /// Deploys a window needs before its rates and medians are shown.
    pub enough_deploys: usize,
    pub targets: Vec<TargetInsights>,
}

/// The numbers last worked out, kept until the next write or the next minute: a scrape
/// and a page view between them cost nothing (the read of 100,000 releases takes tens of
/// milliseconds, docs/benchmarks.md).
#[derive(Debug, Default)]
pub struct KeptInsights(std::sync::Mutex<Option<(u64, i64, std::sync::Arc<Insights>)>>);

/// Every configured target's numbers, as of this minute.
pub async fn delivery_numbers(state: &AppState) -> Result<std::sync::Arc<Insights>, StoreError> {
    // Counted before the read: a write during it makes the next call read again.
    let (commits, minute) =
        (state.db.commits(), time::OffsetDateTime::now_utc().unix_timestamp() / 60);
    let kept = || state.kept_insights.0.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((c, m, insights)) = kept().as_ref()
        && (*c, *m) == (commits, minute)
    {
        return Ok(insights.clone());
    }
    let insights = std::sync::Arc::new(read_delivery_numbers(state).await?);
    *kept() = Some((commits, minute, insights.clone()));
    Ok(insights)
}

/// Every configured target's numbers read and worked out now, never kept ones.
pub async fn read_delivery_numbers(state: &AppState) -> Result<Insights, StoreError> {
    let generated_at = time::OffsetDateTime::now_utc();
    let now = generated_at.unix_timestamp();
    // Both windows, and the day before them: a deploy rolled back by hand in the first
    // hours of the older window counts there.
    let since = now - 2 * WINDOW_SECONDS - ROLLED_BACK_WITHIN;
    let (releases, forced) =
        state.db.call(move |conn| crate::store::insights::facts_since(conn, since)).await?;
    let targets: Vec<String> = state.targets.iter().map(|t| t.name.clone()).collect();
    Ok(Insights {
        generated_at,
        window_days: (WINDOW_SECONDS / 86_400) as u32,
        enough_deploys: crate::domain::insights::ENOUGH_DEPLOYS,
        targets: insights(&targets, &releases, &forced, now),
    })
}
