//! `GET /metrics`: what the dashboard has done (releases, steps, webhook deliveries,
//! HTTP requests: counters and histograms, moved as it happens) and where things stand
//! (deploy locks, holds, the last sync, items by lane and freshness, drift: read at each
//! scrape), in the Prometheus (OpenMetrics) text format, by `prometheus-client`.

use crate::AppState;
use crate::domain::Lane;
use crate::domain::queue_truth::Freshness;
use crate::domain::release::{ReleaseKind, ReleaseRecord, ReleaseStatus};
use crate::store::StoreError;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReleaseLabels {
    pub target: String,
    pub kind: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub target: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub target: String,
    pub step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub webhook: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route's pattern (`/api/releases/{id}`), never the path as asked: a path may
    /// be anything, and one series per path would grow without end.
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ItemLabels {
    pub lane: String,
    pub freshness: String,
}

/// Who may scrape `GET /metrics` (`[metrics] access`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Requests from this host's loopback address only, with no forwarding header (a
    /// reverse proxy on this host forwards the world's requests from loopback).
    #[default]
    Loopback,
    /// A token or session with `factory.metrics.read`, from anywhere.
    Token,
}

crate::domain::names::machine_names!(
    "metrics access",
    MetricsAccess {
        Loopback => "loopback",
        Token => "token",
    }
);

type Seconds = Gauge<f64, AtomicU64>;
type Timings<L> = Family<L, Histogram, fn() -> Histogram>;

/// A release or a step: seconds to hours.
fn release_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.25, 2.0, 16))
}

/// A request: a millisecond to ten seconds.
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

/// Every metric, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub releases: Family<ReleaseLabels, Counter>,
    pub release_seconds: Timings<KindLabels>,
    pub step_seconds: Timings<StepLabels>,
    pub webhook_deliveries: Family<WebhookLabels, Counter>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_seconds: Timings<RouteLabels>,
    lock_held: Family<TargetLabels, Gauge>,
    lock_age: Family<TargetLabels, Seconds>,
    held: Family<TargetLabels, Gauge>,
    last_sync_age: Seconds,
    last_sync_errors: Gauge,
    items: Family<ItemLabels, Gauge>,
    drifting: Gauge,
    delivery: DeliveryGauges,
}

/// The delivery numbers of the last 28 days (`/insights`), by target; a rate or median
/// of a window with fewer than 10 deploys has no series.
#[derive(Debug, Default)]
struct DeliveryGauges {
    verified_deploys: Family<TargetLabels, Gauge>,
    deploys: Family<TargetLabels, Gauge>,
    lead_time: Family<TargetLabels, Seconds>,
    change_failure: Family<TargetLabels, Seconds>,
    time_to_recover: Family<TargetLabels, Seconds>,
    rework: Family<TargetLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("factory");
        let metrics = Metrics {
            releases: Family::default(),
            release_seconds: Family::new_with_constructor(release_buckets),
            step_seconds: Family::new_with_constructor(release_buckets),
            webhook_deliveries: Family::default(),
            http_requests: Family::default(),
            http_seconds: Family::new_with_constructor(request_buckets),
            lock_held: Family::default(),
            lock_age: Family::default(),
            held: Family::default(),
            last_sync_age: Seconds::default(),
            last_sync_errors: Gauge::default(),
            items: Family::default(),
            drifting: Gauge::default(),
            delivery: DeliveryGauges::default(),
            registry: Registry::default(),
        };
        registry.register(
            "releases",
            "Releases that ended, by target, kind and outcome",
            metrics.releases.clone(),
        );
        registry.register(
            "release_duration_seconds",
            "How long releases took, start to end",
            metrics.release_seconds.clone(),
        );
        registry.register(
            "release_step_duration_seconds",
            "How long release steps took (on one host each)",
            metrics.step_seconds.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Webhook delivery tries, by webhook and outcome (delivered, pending: to be tried again, failed: given up)",
            metrics.webhook_deliveries.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            metrics.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "How long HTTP requests took to answer, by route",
            metrics.http_seconds.clone(),
        );
        registry.register(
            "deploy_lock_held",
            "1 while a release holds the target's deploy lock",
            metrics.lock_held.clone(),
        );
        registry.register(
            "deploy_lock_age_seconds",
            "How long the running release has held the target's lock (0 when free)",
            metrics.lock_age.clone(),
        );
        registry.register(
            "hold_active",
            "1 while a hold stands on the target",
            metrics.held.clone(),
        );
        registry.register(
            "last_sync_age_seconds",
            "Seconds since the last sync of the work-item files started",
            metrics.last_sync_age.clone(),
        );
        registry.register(
            "last_sync_errors",
            "Files the last sync could not read",
            metrics.last_sync_errors.clone(),
        );
        registry.register("work_items", "Work items by lane and freshness", metrics.items.clone());
        registry.register(
            "work_items_drifting",
            "Work items whose signals disagree",
            metrics.drifting.clone(),
        );
        metrics.delivery.register(&mut registry);
        Metrics { registry, ..metrics }
    }
}

impl DeliveryGauges {
    fn register(&self, registry: &mut Registry) {
        for (name, help, family) in [
            (
                "delivery_verified_deploys",
                "Deploys verified (every smoke check passed) in the last 28 days",
                &self.verified_deploys,
            ),
            (
                "delivery_deploys",
                "Deploys that changed the target in the last 28 days",
                &self.deploys,
            ),
            (
                "delivery_rework",
                "Rollbacks and forced deploys (promotion bypassed, glass broken) in the last 28 days",
                &self.rework,
            ),
        ] {
            registry.register(name, help, family.clone());
        }
        for (name, help, family) in [
            (
                "delivery_lead_time_seconds",
                "Median seconds from a work item ready to its deploy verified, last 28 days",
                &self.lead_time,
            ),
            (
                "delivery_change_failure_ratio",
                "Failed deploys over deploys, last 28 days",
                &self.change_failure,
            ),
            (
                "delivery_time_to_recover_seconds",
                "Median seconds from a failed deploy to the next verified one, last 28 days",
                &self.time_to_recover,
            ),
        ] {
            registry.register(name, help, family.clone());
        }
    }

    fn set(&self, insights: &crate::releases::Insights) {
        for target in &insights.targets {
            let labels = TargetLabels { target: target.target.clone() };
            let now = &target.last_28_days;
            self.verified_deploys.get_or_create(&labels).set(now.verified_deploys as i64);
            self.deploys.get_or_create(&labels).set(now.deploys as i64);
            self.rework.get_or_create(&labels).set(now.rework as i64);
            for (family, value) in [
                (&self.lead_time, now.lead_time_seconds.map(|s| s as f64)),
                (&self.change_failure, now.change_failure_rate),
                (&self.time_to_recover, now.time_to_recover_seconds.map(|s| s as f64)),
            ] {
                match value {
                    Some(value) => drop(family.get_or_create(&labels).set(value)),
                    None => drop(family.remove(&labels)),
                }
            }
        }
    }
}

impl Metrics {
    /// Every counter a target or webhook can have, at zero, from the start: an alert on
    /// `increase(…)` sees the first failure after a restart (a series that appears with
    /// its first count has no earlier value to increase from).
    pub fn start_at_zero(&self, state: &AppState) {
        for target in state.targets.iter().map(|target| &target.name) {
            for kind in ReleaseKind::ALL {
                for status in ReleaseStatus::ALL {
                    if status == ReleaseStatus::Running {
                        continue;
                    }
                    let labels = ReleaseLabels {
                        target: target.clone(),
                        kind: kind.as_str().to_owned(),
                        outcome: status.as_str().to_owned(),
                    };
                    drop(self.releases.get_or_create(&labels));
                }
            }
        }
        for webhook in state.webhooks.hooks.iter().map(|hook| &hook.name) {
            for outcome in ["delivered", "failed"] {
                let labels =
                    WebhookLabels { webhook: webhook.clone(), outcome: outcome.to_owned() };
                drop(self.webhook_deliveries.get_or_create(&labels));
            }
        }
    }

    /// Counts a release that ended, and how long it took.
    pub fn release_ended(&self, release: &ReleaseRecord) {
        if release.status == ReleaseStatus::Running {
            return;
        }
        self.releases
            .get_or_create(&ReleaseLabels {
                target: release.target.clone(),
                kind: release.kind.as_str().to_owned(),
                outcome: release.status.as_str().to_owned(),
            })
            .inc();
        if let Some(finished) = release.finished_at {
            self.release_seconds
                .get_or_create(&KindLabels {
                    target: release.target.clone(),
                    kind: release.kind.as_str().to_owned(),
                })
                .observe((finished - release.started_at).as_seconds_f64().max(0.0));
        }
    }

    /// The text a scrape gets: the counters as they are, the gauges read now.
    pub async fn render(&self, state: &AppState) -> Result<String, StoreError> {
        let targets: Vec<String> = state.targets.iter().map(|t| t.name.clone()).collect();
        let now = time::OffsetDateTime::now_utc();
        let (thresholds, unix_now) = (state.queue_truth.thresholds, now.unix_timestamp());
        let read = state
            .db
            .call(move |conn| {
                let mut per_target = Vec::new();
                for target in &targets {
                    let running = crate::store::releases::running(conn, target)?;
                    let hold = crate::store::holds::hold(conn, target)?;
                    per_target.push((target.clone(), running, hold.is_some()));
                }
                let last = crate::store::sources::last_snapshot(conn)?;
                // Counted a row at a time: a scrape never holds the whole queue.
                let mut items: BTreeMap<(Lane, Freshness), i64> = BTreeMap::new();
                let mut drifting = 0;
                crate::store::work_items::for_each_summary(conn, |item| {
                    let truth = crate::domain::queue_truth::evaluate(
                        (&item).into(),
                        &item.source_facts,
                        thresholds,
                        unix_now,
                    );
                    drifting += i64::from(!truth.drift.is_empty());
                    *items.entry((item.lane, truth.freshness)).or_default() += 1;
                })?;
                Ok((per_target, last, items, drifting))
            })
            .await?;
        let (per_target, last, items, drifting) = read;
        for (target, running, held) in per_target {
            let labels = TargetLabels { target };
            self.lock_held.get_or_create(&labels).set(i64::from(running.is_some()));
            let age = running.map_or(0.0, |r| (now - r.started_at).as_seconds_f64().max(0.0));
            self.lock_age.get_or_create(&labels).set(age);
            self.held.get_or_create(&labels).set(i64::from(held));
        }
        if let Some(last) = &last {
            let age = (now.unix_timestamp() - last.started_at).max(0) as f64;
            self.last_sync_age.set(age);
            self.last_sync_errors.set(last.errors.len() as i64);
        }
        self.items.clear();
        for ((lane, freshness), count) in items {
            self.items
                .get_or_create(&ItemLabels {
                    lane: lane.as_str().to_owned(),
                    freshness: freshness.as_str().to_owned(),
                })
                .set(count);
        }
        self.drifting.set(drifting);
        self.delivery.set(&*crate::releases::delivery_numbers(state).await?);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        Ok(text)
    }
}

/// The two text formats `GET /metrics` answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpositionFormat {
    /// OpenMetrics 1.0: what Prometheus asks for first.
    OpenMetrics,
    /// The Prometheus text format 0.0.4: what `promtool`, older Prometheus servers and
    /// most other parsers read, and what a client that asks for nothing in particular
    /// gets.
    PrometheusText,
}

impl ExpositionFormat {
    /// The format an `Accept` header asks for: OpenMetrics only when it names it.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let asks_for_open_metrics = accept.is_some_and(|accept| {
            accept.split(',').any(|range| {
                let mut parts = range.split(';').map(str::trim);
                let named = parts.next().is_some_and(|media| {
                    media.eq_ignore_ascii_case("application/openmetrics-text")
                });
                let refused = parts.any(|param| param.replace(' ', "") == "q=0");
                named && !refused
            })
        });
        if asks_for_open_metrics {
            ExpositionFormat::OpenMetrics
        } else {
            ExpositionFormat::PrometheusText
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::OpenMetrics => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
            ExpositionFormat::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The scrape in this format, from the OpenMetrics text the registry writes.
    pub fn write(self, open_metrics: String) -> String {
        match self {
            ExpositionFormat::OpenMetrics => open_metrics,
            ExpositionFormat::PrometheusText => prometheus_text(&open_metrics),
        }
    }
}

/// OpenMetrics text as the Prometheus text format 0.0.4: a counter's family is named
/// with its `_total` (0.0.4 parsers match `# TYPE` to the sample's own name, and call a
/// counter whose names differ untyped), `# UNIT` and `# EOF` go, `_created` samples of
/// counters go, and types 0.0.4 lacks become `untyped`.
pub fn prometheus_text(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let rewritten = if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            if counters.contains(name) {
                format!("# HELP {name}_total {help}")
            } else {
                line.to_owned()
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            match kind {
                "counter" => format!("# TYPE {name}_total counter"),
                "gauge" | "histogram" | "summary" | "untyped" => line.to_owned(),
                _ => format!("# TYPE {name} untyped"),
            }
        } else {
            let sample_name = line.split(['{', ' ']).next().unwrap_or_default();
            if sample_name.strip_suffix("_created").is_some_and(|family| counters.contains(family))
            {
                continue;
            }
            line.to_owned()
        };
        text.push_str(&rewritten);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod exposition_tests {
    use super::*;

    #[test]
    fn prometheus_asks_for_open_metrics_and_everyone_else_gets_the_text_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let cases = [
            (Some(prometheus), ExpositionFormat::OpenMetrics),
            (Some("application/openmetrics-text"), ExpositionFormat::OpenMetrics),
            (Some("text/plain;version=0.0.4"), ExpositionFormat::PrometheusText),
            (Some("*/*"), ExpositionFormat::PrometheusText),
            (
                Some("application/openmetrics-text;q=0, text/plain"),
                ExpositionFormat::PrometheusText,
            ),
            (None, ExpositionFormat::PrometheusText),
        ];
        for (accept, format) in cases {
            assert_eq!(ExpositionFormat::negotiate(accept), format, "{accept:?}");
        }
    }

    #[test]
    fn counters_are_named_with_their_total_in_the_text_format() {
        let open_metrics = "# HELP factory_releases Releases ended.\n# TYPE factory_releases counter\nfactory_releases_total{target=\"web\"} 2\nfactory_releases_created{target=\"web\"} 1.7e9\n# HELP factory_held Holds.\n# TYPE factory_held gauge\n# UNIT factory_held holds\nfactory_held{target=\"web\"} 0\n# TYPE factory_info info\nfactory_info{version=\"1\"} 1\n# EOF\n";
        assert_eq!(
            prometheus_text(open_metrics),
            "# HELP factory_releases_total Releases ended.\n# TYPE factory_releases_total counter\nfactory_releases_total{target=\"web\"} 2\n# HELP factory_held Holds.\n# TYPE factory_held gauge\nfactory_held{target=\"web\"} 0\n# TYPE factory_info untyped\nfactory_info{version=\"1\"} 1\n"
        );
    }
}
