//! Work-item actions, the policy gates that decide whether each is enabled, and the
//! recovery guidance shown for every blocked one. Plain functions of the item and the
//! operator, so the table of every case is tested here, apart from HTTP and HTML.

use super::gate::{
    GateEvaluation, ItemGate, RecoveryGuidance, blocked, guidance, pass, permission_blocked,
    permission_gate_for,
};
use super::names::machine_names;
use super::operator::{Operator, Permission, Role};
use super::queue_truth::{QueueTruth, Reconciliation};
use super::work_item::{Lane, WorkItem, WorkItemId, WorkItemSummary};
use serde::{Deserialize, Serialize};

/// Something an operator can do to a work item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    StartExecution,
    RequestReview,
    PrepareRelease,
    RecordHistory,
}

machine_names!(
    "action",
    Action {
        StartExecution => "start-execution",
        RequestReview => "request-review",
        PrepareRelease => "prepare-release",
        RecordHistory => "record-history",
    }
);

impl Action {
    pub fn label(self) -> &'static str {
        match self {
            Action::StartExecution => "Start execution",
            Action::RequestReview => "Request review",
            Action::PrepareRelease => "Prepare release",
            Action::RecordHistory => "Record history",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Action::StartExecution => "Queue execution handoff for this work item.",
            Action::RequestReview => "Mark this item ready for review lane handoff.",
            Action::PrepareRelease => "Run release-preparation checks for the work item.",
            Action::RecordHistory => "Capture history snapshots for audit and validation views.",
        }
    }

    pub fn permission(self) -> Permission {
        match self {
            Action::StartExecution => Permission::WorkItemExecute,
            Action::RequestReview => Permission::WorkItemRequestReview,
            Action::PrepareRelease => Permission::WorkItemPrepareRelease,
            Action::RecordHistory => Permission::WorkItemRecordHistory,
        }
    }

    /// `POST /api/control-plane/items/{id}/actions/{identity}`
    pub fn endpoint(self, id: &WorkItemId) -> String {
        format!("/api/control-plane/items/{id}/actions/{}", self.as_str())
    }

    /// The lane move this action makes, from and to; `None` for actions that leave the
    /// lane alone.
    pub fn transition(self) -> Option<(Lane, Lane)> {
        match self {
            Action::StartExecution => Some((Lane::Ready, Lane::InProgress)),
            Action::RequestReview => Some((Lane::InProgress, Lane::Review)),
            Action::PrepareRelease | Action::RecordHistory => None,
        }
    }

    /// The policy gates this action is evaluated against, in order.
    pub fn gates(self) -> &'static [ItemGate] {
        match self {
            Action::StartExecution => &[ItemGate::LaneTransition, ItemGate::ContextVisibility],
            Action::RequestReview => &[ItemGate::LaneTransition, ItemGate::PullRequest],
            Action::PrepareRelease => {
                &[ItemGate::LaneEligibility, ItemGate::PullRequest, ItemGate::QueueTruth]
            }
            Action::RecordHistory => &[ItemGate::ContextVisibility],
        }
    }
}

/// An action as an operator sees it on an item: enabled, or blocked with guidance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionView {
    pub action: Action,
    pub enabled: bool,
    pub gates: Vec<GateEvaluation>,
    /// For the first blocked gate; `None` when enabled.
    pub guidance: Option<RecoveryGuidance>,
}

impl ActionView {
    /// Blocked by the operator's permission (whatever the other gates say).
    pub fn refused(&self) -> bool {
        permission_blocked(&self.gates)
    }

    /// Everything the item page shows of this action, for a script: the reference's
    /// identity, label, description, state, permission, gates, guidance and endpoint.
    pub fn described(self, item: &WorkItemId) -> ActionDescription {
        ActionDescription {
            identity: self.action,
            label: self.action.label(),
            description: self.action.description(),
            enabled: self.enabled,
            permission: self.action.permission(),
            endpoint: self.action.endpoint(item),
            gates: self.gates,
            guidance: self.guidance,
        }
    }
}

/// An action of an item as the item JSON gives it: the same data, in the same order, as
/// the item page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ActionDescription {
    pub identity: Action,
    pub label: &'static str,
    pub description: &'static str,
    pub enabled: bool,
    /// What the operator must hold; a `permission` gate says whether the caller does.
    pub permission: Permission,
    /// Where to `POST` it.
    pub endpoint: String,
    /// Each gate in order, the permission last.
    pub gates: Vec<GateEvaluation>,
    /// What to do about the first blocked gate; `None` when enabled.
    pub guidance: Option<RecoveryGuidance>,
}

/// What the gates look at: the same for a whole item and for a card's summary.
#[derive(Debug, Clone, Copy)]
pub struct GateFacts<'a> {
    pub id: &'a WorkItemId,
    pub lane: Lane,
    pub pull_request_url: Option<&'a str>,
    pub branch: Option<&'a str>,
    /// Both the prompt path and its text are there.
    pub has_prompt: bool,
    pub queue_truth: &'a QueueTruth,
}

impl<'a> GateFacts<'a> {
    pub fn of_item(item: &'a WorkItem, queue_truth: &'a QueueTruth) -> Self {
        GateFacts {
            id: &item.id,
            lane: item.lifecycle.lane,
            pull_request_url: item.execution_context.pull_request_url.as_deref(),
            branch: item.execution_context.branch.as_deref(),
            has_prompt: item.prompt_context.is_present(),
            queue_truth,
        }
    }

    pub fn of_summary(item: &'a WorkItemSummary, queue_truth: &'a QueueTruth) -> Self {
        GateFacts {
            id: &item.id,
            lane: item.lane,
            pull_request_url: item.pull_request_url.as_deref(),
            branch: item.branch.as_deref(),
            has_prompt: item.has_prompt,
            queue_truth,
        }
    }
}

/// Evaluates every action for an item and, when known, the operator.
pub fn evaluate_all(facts: GateFacts<'_>, operator: Option<&Operator>) -> Vec<ActionView> {
    Action::ALL.into_iter().map(|action| evaluate(action, facts, operator)).collect()
}

/// Evaluates one action's gates, in order, then the operator's permission.
pub fn evaluate(action: Action, item: GateFacts<'_>, operator: Option<&Operator>) -> ActionView {
    let mut gates: Vec<GateEvaluation> = action
        .gates()
        .iter()
        .map(|&gate| match blocker(gate, action, &item) {
            None => pass(gate),
            Some(blocker) => blocked(gate, blocker.guidance(action, &item)),
        })
        .collect();
    if let Some(operator) = operator {
        gates.push(permission_gate(action, operator));
    }
    let guidance = gates.iter().find_map(|gate| gate.guidance.clone());
    ActionView { action, enabled: guidance.is_none(), gates, guidance }
}

/// Each action with why it is blocked, in a few words for a card (`None` when it is
/// enabled). Decided as [`evaluate`] decides, without writing the guidance that a card
/// leaves to the item page: a board decides this for every action of every card.
pub fn card_causes(
    item: GateFacts<'_>,
    operator: Option<&Operator>,
) -> [(Action, Option<String>); 4] {
    Action::ALL.map(|action| (action, card_cause(action, &item, operator)))
}

fn card_cause(action: Action, item: &GateFacts<'_>, operator: Option<&Operator>) -> Option<String> {
    if let Some(blocker) = action.gates().iter().find_map(|&gate| blocker(gate, action, item)) {
        return Some(blocker.brief(action, item));
    }
    let permission = action.permission();
    operator.filter(|operator| !operator.can(permission)).map(|_| permission_brief(permission))
}

/// Why a work-item gate blocks an action, decided before a word of it is written.
#[derive(Debug, Clone, Copy)]
enum Blocker<'a> {
    /// The item has not reached the lane the action moves items from.
    NotYetIn {
        from: Lane,
        to: Lane,
    },
    /// The item is already where the action would move it.
    AlreadyIn {
        from: Lane,
        to: Lane,
    },
    /// The item has moved past the lane the action moves items from; it is not Done.
    MovedPast {
        from: Lane,
        to: Lane,
    },
    /// The item is Done, and the action moves lanes.
    Closed,
    /// Only items in Review or Done are released.
    NotUnderReview,
    NoPullRequest,
    NoPromptContext,
    /// The item's data is stale or its signals disagree: what to do about it.
    UntrustedQueue(&'a Reconciliation),
}

/// Whether `gate` blocks `action` on the item, and why.
fn blocker<'a>(gate: ItemGate, action: Action, item: &GateFacts<'a>) -> Option<Blocker<'a>> {
    let lane = item.lane;
    match gate {
        ItemGate::LaneTransition => {
            let (from, to) = action.transition()?;
            if lane == from {
                None
            } else if lane == Lane::Done {
                Some(Blocker::Closed)
            } else if lane < from {
                Some(Blocker::NotYetIn { from, to })
            } else if lane == to {
                Some(Blocker::AlreadyIn { from, to })
            } else {
                Some(Blocker::MovedPast { from, to })
            }
        }
        ItemGate::LaneEligibility => {
            (!matches!(lane, Lane::Review | Lane::Done)).then_some(Blocker::NotUnderReview)
        }
        ItemGate::PullRequest => item.pull_request_url.is_none().then_some(Blocker::NoPullRequest),
        ItemGate::ContextVisibility => (!item.has_prompt).then_some(Blocker::NoPromptContext),
        ItemGate::QueueTruth => item.queue_truth.blocking().map(Blocker::UntrustedQueue),
    }
}

impl Blocker<'_> {
    /// The cause in a few words, for a card.
    fn brief(self, action: Action, item: &GateFacts<'_>) -> String {
        let lane = item.lane.label();
        match self {
            Blocker::NotYetIn { from, .. } => {
                format!("Only from {}; this item is in {lane}.", from.label())
            }
            Blocker::AlreadyIn { to, .. } => format!("Already in {}.", to.label()),
            Blocker::MovedPast { .. } => {
                format!("Lanes only move forward; this item is in {lane}.")
            }
            // The reference's cause is short enough for a card.
            Blocker::Closed => closed_cause(action),
            Blocker::NotUnderReview => format!("Only in Review or Done; this item is in {lane}."),
            Blocker::NoPullRequest => "No pull request yet.".to_owned(),
            Blocker::NoPromptContext => "No prompt context yet.".to_owned(),
            Blocker::UntrustedQueue(_) => {
                match item.queue_truth.drift.iter().find(|d| d.kind.blocks_release()) {
                    Some(drift) if item.queue_truth.stale.is_none() => {
                        format!("Its signals disagree ({}).", drift.kind.as_str())
                    }
                    _ => "Its data is stale.".to_owned(),
                }
            }
        }
    }

    /// The whole recovery guidance, for the item page, the API and History.
    fn guidance(self, action: Action, item: &GateFacts<'_>) -> RecoveryGuidance {
        let label = action.label();
        let id = item.id;
        let lane = item.lane.label();
        match self {
            Blocker::NotYetIn { from, to } => guidance(
                format!(
                    "{label} moves items from {} to {}; {id} is still in {lane}.",
                    from.label(),
                    to.label(),
                ),
                format!(
                    "Lane transition policy allows {label} only from {}, so no lane is skipped.",
                    from.label()
                ),
                match from {
                    Lane::Ready => "Make the item ready first: move it from Backlog to Ready in its work-item file, then tap Refresh.".to_owned(),
                    _ => "Use Start execution first; request review once the work is in progress.".to_owned(),
                },
                format!(
                    "Safe to retry {label} once the item is in {}.",
                    from.label()
                ),
            ),
            Blocker::AlreadyIn { from, to } => guidance(
                format!("{id} is already in {}; {label} has nothing to do.", to.label()),
                format!(
                    "Lane transition policy allows {label} only from {}.",
                    from.label()
                ),
                "No action needed; continue with the next step for this lane.".to_owned(),
                format!("Retrying {label} changes nothing; do not retry."),
            ),
            Blocker::MovedPast { from, to } => guidance(
                format!("{label} would move {id} back from {lane} to {}.", to.label()),
                format!("Lane transition policy blocks {label} once an item has moved past {}: lanes only move forward.", from.label()),
                "Continue from the item's current lane; if the work must be redone, create a new work item.".to_owned(),
                format!("Do not retry {label} on an item in {lane}."),
            ),
            Blocker::Closed => guidance(
                closed_cause(action),
                format!("Lane transition policy blocks {label} when the item is already Done."),
                "Create a net-new work item if more delivery is needed instead of reopening this one."
                    .to_owned(),
                format!("Do not retry {label} on a done item."),
            ),
            Blocker::NotUnderReview => guidance(
                format!("{label} needs the item in Review or Done; {id} is in {lane}."),
                format!("Lane eligibility policy allows {label} only for items whose delivery is under review or done, so unfinished work is never released."),
                match item.lane {
                    Lane::InProgress => "Finish the work, then use Request review; prepare the release once the item is in Review.".to_owned(),
                    _ => "Start execution and request review first; prepare the release once the item is in Review.".to_owned(),
                },
                format!("Retry {label} once the item is in Review."),
            ),
            Blocker::NoPullRequest => guidance(
                format!("{id} has no pull request, and {label} needs one."),
                format!(
                    "Pull-request policy requires a pull request for {label}, so every reviewed or released change has a reviewable record."
                ),
                format!(
                    "Open a pull request for branch {} and add its URL to the work-item file, then tap Refresh.",
                    item.branch.unwrap_or("(no branch set)")
                ),
                format!("Safe to retry {label} as soon as the pull request is recorded on the item."),
            ),
            Blocker::NoPromptContext => guidance(
                format!(
                    "{id} has no visible prompt context (prompt path and text), and {label} needs it."
                ),
                format!(
                    "Context visibility policy requires the prompt context for {label}, so what is executed or recorded can be traced to its instructions."
                ),
                format!(
                    "Add the prompt file prompts/{id}.prompt.md beside the work-item file and set prompt_path, then tap Refresh."
                ),
                format!("Safe to retry {label} once the prompt context shows on this page."),
            ),
            Blocker::UntrustedQueue(why) => guidance(
                why.what_happened.clone(),
                format!(
                    "Queue-truth policy allows {label} only on items whose data is fresh and whose signals agree, so no release is prepared from stale or contradictory data. Trust: {}",
                    why.trust
                ),
                why.next_step.clone(),
                why.safe_to_act.clone(),
            ),
        }
    }
}

/// A done item's lane-transition cause, as the reference writes it.
fn closed_cause(action: Action) -> String {
    format!("Done items stay closed; {} cannot move them backward.", action.label())
}

fn permission_gate(action: Action, operator: &Operator) -> GateEvaluation {
    permission_gate_for(action.label(), action.permission(), operator)
}

/// A missing permission in a few words, for a card.
fn permission_brief(permission: Permission) -> String {
    format!("Needs the {} role.", Role::least_with(permission))
}

#[cfg(test)]
mod tests;
