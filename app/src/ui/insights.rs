//! `/insights`: each target's delivery numbers — verified deploys, lead time, change
//! failure rate, time to recover, rework — the last 28 days against the 28 before, with a
//! chart of each day's deploys drawn here as SVG (no chart script), and links to the
//! History rows they count.

use super::{Title, app_state, storage_failure};
use crate::domain::insights::{DayCount, TargetInsights, Trend, WindowNumbers, duration_words};
use leptos::prelude::*;

/// `/insights`
pub(super) async fn page() -> impl IntoView {
    let state = app_state();
    let body = match crate::releases::delivery_numbers(&state).await {
        Ok(insights) if insights.targets.is_empty() => view! {
            <section class="notice">
                <p>"No deploy target is configured, so there is nothing to count."</p>
            </section>
        }
        .into_any(),
        Ok(insights) => {
            let today = insights.generated_at.date();
            insights
                .targets
                .iter()
                .cloned()
                .map(|target| view! { <TargetNumbers target today /> })
                .collect_view()
                .into_any()
        }
        Err(err) => storage_failure(err),
    };
    view! {
        <Title text="Insights" />
        <div class="page-head">
            <h1>"Insights"</h1>
            <p class="muted">
                "Delivery numbers from this dashboard's own release records: the last 28 days against the 28 before. Rates and medians need 10 deploys in a window. "
                <a href="/api/insights">"As JSON"</a>
            </p>
        </div>
        {body}
    }
}

/// One number's row: its name, this window's value, the one before, which way it went.
struct Row {
    name: &'static str,
    now: String,
    before: String,
    trend: Trend,
    /// Which way the number itself moved.
    arrow: &'static str,
    history: String,
}

#[component]
fn TargetNumbers(target: TargetInsights, today: time::Date) -> impl IntoView {
    let heading_id = format!("insights-{}", target.target);
    let nothing = target.last_28_days.deploys + target.previous_28_days.deploys == 0
        && target.last_28_days.rework + target.previous_28_days.rework == 0;
    if nothing {
        let labelled = heading_id.clone();
        return view! {
            <section class="target" aria-labelledby=labelled>
                <h2 id=heading_id>{target.target.clone()}</h2>
                <p class="muted">"No deploy in the last 56 days: nothing to count yet."</p>
            </section>
        }
        .into_any();
    }
    let rows = rows(&target, today)
        .into_iter()
        .map(|row| {
            let (trend_class, trend_word) = match row.trend {
                Trend::Better => ("trend trend-better", "better"),
                Trend::Worse => ("trend trend-worse", "worse"),
                Trend::Same => ("trend", "the same"),
                Trend::Unknown => ("trend", "not enough data to compare"),
            };
            let arrow = match row.trend {
                Trend::Unknown => None,
                Trend::Same => Some("→"),
                _ => Some(row.arrow),
            };
            view! {
                <div class="number">
                    <dt>{row.name}</dt>
                    <dd>
                        <strong>{row.now}</strong>
                        <span class="muted">{format!(" · 28 days before: {}", row.before)}</span>
                    </dd>
                    <dd>
                        <span class=trend_class>
                            {arrow.map(|arrow| view! { <span aria-hidden="true">{arrow} " "</span> })}
                            {trend_word}
                        </span>
                        " · "
                        <a href=row.history>"History rows"</a>
                    </dd>
                </div>
            }
        })
        .collect_view();
    let labelled = heading_id.clone();
    view! {
        <section class="target" aria-labelledby=labelled>
            <h2 id=heading_id>{target.target.clone()}</h2>
            <DeployChart days=target.days.clone() />
            <dl class="numbers">{rows}</dl>
        </section>
    }
    .into_any()
}

fn rows(target: &TargetInsights, today: time::Date) -> Vec<Row> {
    let (now, before) = (&target.last_28_days, &target.previous_28_days);
    let both = now.enough_data && before.enough_data;
    let history = |actions: &str, from_days: i64, until_days: i64| {
        let day = |ago: i64| (today - time::Duration::days(ago)).to_string();
        format!(
            "/history?target={}&action={actions}&from={}&until={}",
            percent_encoding::utf8_percent_encode(&target.target, QUERY_VALUE),
            day(from_days),
            day(until_days)
        )
    };
    let deploys_history = history("deploy,rollback", 27, 0);
    let rate = |n: &WindowNumbers| {
        n.change_failure_rate
            .map(|rate| format!("{:.0} % ({} of {})", rate * 100.0, n.failed_deploys, n.deploys))
    };
    let row = |name,
               now: Option<String>,
               before: Option<String>,
               values: (f64, f64),
               higher_is_better,
               history| {
        let (n, b) = values;
        Row {
            name,
            now: now.unwrap_or_else(|| not_enough(target.last_28_days.deploys)),
            before: before.unwrap_or_else(|| not_enough(target.previous_28_days.deploys)),
            trend: Trend::of(Some(n).filter(|_| both), Some(b).filter(|_| both), higher_is_better),
            arrow: arrow(n, b),
            history,
        }
    };
    // A median of seconds: lead time, time to recover.
    let median_row = |name, pick: fn(&WindowNumbers) -> Option<i64>| {
        let (n, b) = (pick(now), pick(before));
        let values = (n.unwrap_or(0) as f64, b.unwrap_or(0) as f64);
        row(
            name,
            n.map(duration_words),
            b.map(duration_words),
            values,
            false,
            deploys_history.clone(),
        )
    };
    vec![
        row(
            "Deploy frequency",
            Some(format!(
                "{} verified deploys ({:.1} a week)",
                now.verified_deploys,
                now.verified_deploys as f64 / 4.0
            )),
            Some(before.verified_deploys.to_string()),
            (now.verified_deploys as f64, before.verified_deploys as f64),
            true,
            deploys_history.clone(),
        ),
        median_row("Lead time (ready → verified here)", |n| n.lead_time_seconds),
        row(
            "Change failure rate",
            rate(now),
            rate(before),
            (now.change_failure_rate.unwrap_or(0.0), before.change_failure_rate.unwrap_or(0.0)),
            false,
            deploys_history.clone(),
        ),
        median_row("Time to recover", |n| n.time_to_recover_seconds),
        row(
            "Rework (rollbacks, forced deploys)",
            Some(now.rework.to_string()),
            Some(before.rework.to_string()),
            (now.rework as f64, before.rework as f64),
            false,
            history("rollback,promotion-bypass,break-glass", 27, 0),
        ),
    ]
}

/// What a target's name keeps as it is in a query string: letters, digits and `-._~`.
const QUERY_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn not_enough(deploys: usize) -> String {
    format!("not enough data ({deploys} deploys)")
}

fn arrow(now: f64, before: f64) -> &'static str {
    match now.partial_cmp(&before) {
        Some(std::cmp::Ordering::Greater) => "↑",
        Some(std::cmp::Ordering::Less) => "↓",
        _ => "→",
    }
}

/// Each day's verified (and, stacked on them, failed) deploys over 56 days, the older 28
/// left of the dashed line. Drawn with the stylesheet's colours, so it follows light and
/// dark; its label says the same in words.
#[component]
fn DeployChart(days: Vec<DayCount>) -> impl IntoView {
    const WIDTH: usize = 10;
    const BASE: u32 = 118;
    let most = days.iter().map(|d| d.verified + d.failed).max().unwrap_or(0).max(1);
    let scale = |count: u32| count * 90 / most;
    let sum =
        |half: &[DayCount]| half.iter().fold((0, 0), |(v, f), d| (v + d.verified, f + d.failed));
    let (before, now) = days.split_at(days.len() / 2);
    let ((verified_now, failed_now), (verified_before, failed_before)) = (sum(now), sum(before));
    let label = format!(
        "Deploys a day over 56 days: {verified_now} verified and {failed_now} failed in the last 28 days, {verified_before} verified and {failed_before} failed in the 28 before; at most {most} a day."
    );
    let bars = days
        .iter()
        .enumerate()
        .map(|(index, day)| {
            let x = (index * WIDTH) as u32;
            let ok = scale(day.verified);
            let bad = scale(day.failed);
            // A day without a deploy draws nothing: the page stays small.
            view! {
                {(ok > 0).then(|| view! { <rect class="bar-ok" x=x y=BASE - ok width="8" height=ok /> })}
                {(bad > 0)
                    .then(|| view! { <rect class="bar-bad" x=x y=BASE - ok - bad width="8" height=bad /> })}
            }
        })
        .collect_view();
    let title = label.clone();
    view! {
        <svg class="chart" viewBox="0 0 560 148" role="img" aria-label=label>
            <title>{title}</title>
            <line class="chart-axis" x1="0" y1=BASE x2="560" y2=BASE />
            <line class="chart-split" x1="279" y1="0" x2="279" y2=BASE />
            {bars}
            <text class="chart-text" x="0" y="140">
                "56 days ago"
            </text>
            <text class="chart-text" x="284" y="140">
                "28 days ago"
            </text>
            <text class="chart-text" x="560" y="140" text-anchor="end">
                "today"
            </text>
            <text class="chart-text" x="0" y="16">
                {format!("{most} a day")}
            </text>
        </svg>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn arrows_follow_the_number() {
        assert_eq!(
            [super::arrow(2.0, 1.0), super::arrow(1.0, 2.0), super::arrow(1.0, 1.0)],
            ["↑", "↓", "→"]
        );
    }
}
