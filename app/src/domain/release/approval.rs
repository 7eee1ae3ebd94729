//! Approvals: a target may ask that people approve a version before it deploys there. A
//! deploy request then opens an approval request for one version on one target; the
//! rule here says where a request stands (waiting, approved, rejected, expired, void,
//! started) and who may decide on it. Plain Rust over the request's facts and the clock,
//! so every case is a table row.

use super::super::names::machine_names;
use super::super::readable_time;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// What a target asks of a deploy (`[targets.approvals]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalRule {
    /// Approvals a version needs.
    pub required: u32,
    /// The requester's own approval counts at once.
    pub requester_may_approve: bool,
    /// How long a request stays valid, from when it was asked.
    pub valid_for: Duration,
    /// For a lone operator: the requester may confirm their own request once this long
    /// has passed since asking; the confirmation counts as one approval.
    pub confirm_again_after: Option<Duration>,
}

/// A person's decision on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject,
}

machine_names!("verdict", Verdict { Approve => "approve", Reject => "reject" });

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    pub by: String,
    #[schema(value_type = String, example = "approve")]
    pub verdict: Verdict,
    /// A rejection's reason; an approval's is optional.
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// How a request was closed for good: what its standing already said, written down
/// once so it is announced once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// Its deploy started: release `release_id`.
    Started {
        release_id: i64,
    },
    Rejected,
    Expired,
    /// It can no longer start: another version was asked for, its evidence went away.
    Void {
        why: String,
    },
}

/// A request for one version on one target, with the decisions so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApprovalRequest {
    pub id: i64,
    pub target: String,
    pub version: String,
    pub commit: Option<String>,
    pub requested_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// In the order they were made.
    pub decisions: Vec<Decision>,
    /// How it was closed: its standing says it in full.
    #[serde(skip)]
    pub closed: Option<Closed>,
}

/// Where a request stands now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Standing {
    /// Waiting for approvals: how many count so far of how many.
    Waiting {
        approvals: u32,
        required: u32,
    },
    /// Approved: its deploy starts as soon as no lock, hold or freeze window is in the way.
    Approved,
    Rejected {
        by: String,
        reason: String,
    },
    /// Not decided, or approved but not started, in its time.
    Expired,
    Void {
        why: String,
    },
    Started {
        release_id: i64,
    },
}

impl Standing {
    /// Nothing more can happen to it.
    pub fn is_final(&self) -> bool {
        !matches!(self, Standing::Waiting { .. } | Standing::Approved)
    }

    pub fn label(&self) -> &'static str {
        match self {
            Standing::Waiting { .. } => "Waiting for approval",
            Standing::Approved => "Approved",
            Standing::Rejected { .. } => "Rejected",
            Standing::Expired => "Expired",
            Standing::Void { .. } => "Void",
            Standing::Started { .. } => "Deploy started",
        }
    }
}

impl ApprovalRequest {
    /// The approvals that count: others', and the requester's own where the rule lets it.
    pub fn approvals(&self, rule: &ApprovalRule) -> u32 {
        let own_counts = |at: OffsetDateTime| {
            rule.requester_may_approve
                || rule.confirm_again_after.is_some_and(|wait| at >= self.requested_at + wait)
        };
        let counted = self.decisions.iter().filter(|d| {
            d.verdict == Verdict::Approve && (d.by != self.requested_by || own_counts(d.at))
        });
        counted.count() as u32
    }

    pub fn standing(&self, rule: &ApprovalRule, now: OffsetDateTime) -> Standing {
        match &self.closed {
            Some(Closed::Started { release_id }) => {
                return Standing::Started { release_id: *release_id };
            }
            Some(Closed::Void { why }) => return Standing::Void { why: why.clone() },
            Some(Closed::Expired) => return Standing::Expired,
            Some(Closed::Rejected) | None => {}
        }
        if let Some(no) = self.decisions.iter().find(|d| d.verdict == Verdict::Reject) {
            let reason = no.reason.clone().unwrap_or_default();
            return Standing::Rejected { by: no.by.clone(), reason };
        }
        if now >= self.expires_at {
            return Standing::Expired;
        }
        let approvals = self.approvals(rule);
        if approvals >= rule.required {
            Standing::Approved
        } else {
            Standing::Waiting { approvals, required: rule.required }
        }
    }

    /// Whether `who` may give `verdict` now; else why not, in words for them. Anyone who
    /// may approve may reject until the deploy starts; the requester may always take
    /// their request back.
    pub fn may_decide(
        &self,
        rule: &ApprovalRule,
        who: &str,
        verdict: Verdict,
        now: OffsetDateTime,
    ) -> Result<(), String> {
        let standing = self.standing(rule, now);
        match (&standing, verdict) {
            (Standing::Waiting { .. }, _) | (Standing::Approved, Verdict::Reject) => {}
            (Standing::Approved, Verdict::Approve) => {
                return Err(format!("Request #{} is approved already.", self.id));
            }
            (ended, _) => {
                let how = match ended {
                    Standing::Started { release_id } => format!("started release #{release_id}"),
                    Standing::Rejected { by, .. } => format!("was rejected by {by}"),
                    Standing::Expired => "has expired".to_owned(),
                    _ => "is void".to_owned(),
                };
                return Err(format!(
                    "Request #{} {how}: nothing more can be decided on it.",
                    self.id
                ));
            }
        }
        if self.decisions.iter().any(|d| d.by == who) {
            return Err(format!("You decided on request #{} already.", self.id));
        }
        if verdict == Verdict::Reject || who != self.requested_by || rule.requester_may_approve {
            return Ok(());
        }
        match rule.confirm_again_after {
            Some(wait) if now >= self.requested_at + wait => Ok(()),
            Some(wait) => Err(format!(
                "You asked for it: you may confirm it yourself from {}, or someone else approves it.",
                readable_time(self.requested_at + wait)
            )),
            None => Err("You asked for it: someone else must approve it.".to_owned()),
        }
    }

    /// What it still needs, in words: "1 more approval, from someone other than demo".
    pub fn missing(&self, rule: &ApprovalRule) -> String {
        let more = rule.required.saturating_sub(self.approvals(rule));
        let approvals = if more == 1 { "approval" } else { "approvals" };
        let from = match (rule.requester_may_approve, rule.confirm_again_after) {
            (true, _) => String::new(),
            (false, Some(wait)) => format!(
                ", from someone other than {} (or {}'s own confirmation from {})",
                self.requested_by,
                self.requested_by,
                readable_time(self.requested_at + wait)
            ),
            (false, None) => format!(", from someone other than {}", self.requested_by),
        };
        format!("{more} more {approvals}{from}")
    }
}

#[cfg(test)]
mod tests;
