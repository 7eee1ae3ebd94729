//! `GET /metrics`: what the dashboard has done (releases, steps, webhook deliveries,
//! HTTP requests: counters and histograms, moved as it happens) and where things stand
//! (deploy locks, holds, the last sync, items by lane and freshness, drift: read at each
//! scrape), in the Prometheus (OpenMetrics) text format, by `prometheus-client`.

use crate::AppState;
use crate::domain::Lane;
use crate::domain::queue_truth::Freshness;
use crate::domain::release::{ReleaseRecord, ReleaseStatus};
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
        registry.register(
            "work_items",
            "Work items by lane and freshness",
            metrics.items.clone(),
        );
        registry.register(
            "work_items_drifting",
            "Work items whose signals disagree",
            metrics.drifting.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
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
            self.lock_held
                .get_or_create(&labels)
                .set(i64::from(running.is_some()));
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
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        Ok(text)
    }
}
