//! The release gates: what refuses a deploy, rollback or hold of a target, and the
//! guidance each gives — the deploy lock, the hold, the smoke gate, a release to go back
//! to, and the operator's permission.

use super::super::gate::{
    GateEvaluation, ReleaseGate, blocked, guidance, pass, permission_blocked, permission_gate_for,
};
use super::super::names::machine_names;
use super::super::operator::{Operator, Permission};
use super::super::{RecoveryGuidance, readable_time};
use super::approval::{ApprovalRequest, ApprovalRule, Standing};
use super::rights::{Right, TargetRights};
use super::{Hold, ReleaseRecord, Step};
use serde::{Deserialize, Serialize};

/// The buttons of the release page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseControl {
    Deploy,
    Rollback,
    Hold,
}

machine_names!(
    "release control",
    ReleaseControl {
        Deploy => "deploy",
        Rollback => "rollback",
        Hold => "hold",
    }
);

impl ReleaseControl {
    pub fn label(self) -> &'static str {
        match self {
            ReleaseControl::Deploy => "Deploy",
            ReleaseControl::Rollback => "Rollback",
            ReleaseControl::Hold => "Hold",
        }
    }

    pub fn permission(self) -> Permission {
        self.right().permission()
    }

    /// The right on a target this control needs.
    pub fn right(self) -> Right {
        match self {
            ReleaseControl::Deploy => Right::Deploy,
            ReleaseControl::Rollback => Right::Rollback,
            ReleaseControl::Hold => Right::Hold,
        }
    }
}

/// What the release gates look at.
#[derive(Debug, Clone, Copy)]
pub struct TargetFacts<'a> {
    pub target: &'a str,
    /// The release holding the deploy lock.
    pub running: Option<&'a ReleaseRecord>,
    pub hold: Option<&'a Hold>,
    /// The target has post-deploy smoke checks.
    pub smoke_gated: bool,
    /// Where a rollback would go.
    pub rollback_to: Option<&'a ReleaseRecord>,
    /// The freeze window in force now, if one is.
    pub freeze: Option<&'a super::freeze::FreezeView>,
    /// What the deploy asks to go past, with a reason.
    pub overrides: Overrides,
    /// For a deploy of a known version to a target that promotes from others: what each
    /// upstream target says of it. Empty: nothing to check.
    pub promotion: &'a [Upstream],
    /// For a deploy of a known version to a target that asks for approvals: its rule and
    /// the newest request for the version. `None`: nothing to check.
    pub approval: Option<ApprovalFacts<'a>>,
    /// Who may do what on the target.
    pub rights: &'a TargetRights,
}

/// What the approval gate reads.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalFacts<'a> {
    pub rule: &'a ApprovalRule,
    pub version: &'a str,
    pub request: Option<&'a ApprovalRequest>,
    pub now: time::OffsetDateTime,
}

/// What an upstream target says of the version a deploy would ship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub target: String,
    pub version: String,
    pub evidence: super::promotion::Evidence,
}

/// What a deploy asks to go past, each with a reason given and a right of its own: the
/// freeze window in force (break the glass, `factory.release.break-glass`) and missing
/// promotion evidence (an admin's bypass, `factory.release.bypass-promotion`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    pub break_glass: bool,
    pub bypass_promotion: bool,
}

impl TargetFacts<'_> {
    /// A deploy that breaks the glass of the window in force.
    pub fn breaks_a_freeze(&self) -> bool {
        self.overrides.break_glass && self.freeze.is_some_and(|freeze| freeze.active)
    }

    /// A deploy that goes ahead without the evidence some upstream target lacks.
    pub fn bypasses_promotion(&self) -> bool {
        self.overrides.bypass_promotion && self.missing_evidence().next().is_some()
    }

    /// The upstream targets that have not verified the version.
    /// Each with what is missing and when it unlocks by itself, if it does.
    pub fn missing_evidence(
        &self,
    ) -> impl Iterator<Item = (&Upstream, &str, Option<time::OffsetDateTime>)> {
        use super::promotion::Evidence;
        self.promotion.iter().filter_map(|upstream| match &upstream.evidence {
            Evidence::Missing { what, unlocks_at } => Some((upstream, what.as_str(), *unlocks_at)),
            Evidence::Verified { .. } => None,
        })
    }
}

/// A control evaluated for a target: enabled, or blocked with its gates and guidance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlView {
    pub control: ReleaseControl,
    pub enabled: bool,
    pub gates: Vec<GateEvaluation>,
    pub guidance: Option<RecoveryGuidance>,
}

/// The gates that pass with time, by themselves: a release ends, a hold is released or
/// expires, a freeze window closes.
const PASS_WITH_TIME: [ReleaseGate; 3] =
    [ReleaseGate::DeployLock, ReleaseGate::DeployHold, ReleaseGate::FreezeWindow];

impl ControlView {
    /// Blocked by the operator's permission.
    pub fn refused(&self) -> bool {
        permission_blocked(&self.gates)
    }

    fn blocked_only_by(&self, allowed: &[ReleaseGate]) -> bool {
        self.gates
            .iter()
            .filter(|g| g.result == crate::domain::gate::GateResult::Blocked)
            .all(|g| allowed.iter().any(|gate| g.name == *gate))
    }

    /// A deploy that waits for approval and nothing else that time will not pass: it
    /// asks for approval (and starts by itself once given and the way is clear).
    pub fn asks_for_approval(&self) -> bool {
        let approval = [ReleaseGate::Approval];
        !self.enabled
            && !self.blocked_only_by(&PASS_WITH_TIME)
            && self.blocked_only_by(&[approval.as_slice(), &PASS_WITH_TIME].concat())
    }

    /// Blocked only by what passes with time: worth trying again later.
    pub fn waits_for_time(&self) -> bool {
        !self.enabled && self.blocked_only_by(&PASS_WITH_TIME)
    }
}

/// Evaluates a control's gates: the deploy lock for deploy and rollback, the hold and the
/// smoke gate for deploy, a release to go back to for rollback; then the permission.
pub fn evaluate_control(
    control: ReleaseControl,
    facts: TargetFacts<'_>,
    operator: Option<&Operator>,
) -> ControlView {
    let mut gates = Vec::new();
    if control != ReleaseControl::Hold {
        gates.push(lock_gate(control, &facts));
    }
    if control == ReleaseControl::Deploy {
        gates.push(hold_gate(&facts));
        gates.push(freeze_gate(&facts));
        // Only a deploy of a known version to a target that promotes from others asks.
        if !facts.promotion.is_empty() {
            gates.push(promotion_gate(&facts));
        }
        gates.push(smoke_gate(&facts));
        // Last: what else blocks is worth fixing before anyone is asked to approve.
        if let Some(approval) = facts.approval {
            gates.push(approval_gate(facts.target, approval));
        }
    }
    if control == ReleaseControl::Rollback {
        gates.push(rollback_target_gate(&facts));
    }
    if let Some(operator) = operator {
        gates.push(facts.rights.gate(facts.target, control.right(), operator));
        if control == ReleaseControl::Deploy && facts.breaks_a_freeze() {
            gates.push(facts.rights.gate(facts.target, Right::BreakGlass, operator));
        }
        if control == ReleaseControl::Deploy && facts.bypasses_promotion() {
            gates.push(permission_gate_for(
                &format!("Deploying to {} without the promotion evidence", facts.target),
                Permission::ReleaseBypassPromotion,
                operator,
            ));
        }
    }
    let guidance = gates.iter().find_map(|g| g.guidance().cloned());
    ControlView { control, enabled: guidance.is_none(), gates, guidance }
}

fn lock_gate(control: ReleaseControl, facts: &TargetFacts<'_>) -> GateEvaluation {
    let Some(running) = facts.running else {
        return pass(ReleaseGate::DeployLock);
    };
    let step = running.current_step.map_or("starting", Step::label);
    blocked(
        ReleaseGate::DeployLock,
        guidance(
            format!(
                "Release #{} ({} of {}) is running on {}, now at: {step}.",
                running.id,
                running.kind.label().to_lowercase(),
                running.version,
                facts.target
            ),
            format!(
                "The deploy lock allows one release per target at a time, so two releases never change {} at once.",
                facts.target
            ),
            format!(
                "Follow release #{} on its page; when it has finished, {} again if it is still needed.",
                running.id,
                control.label().to_lowercase()
            ),
            format!("Safe to retry once release #{} has finished.", running.id),
        ),
    )
}

fn hold_gate(facts: &TargetFacts<'_>) -> GateEvaluation {
    let Some(hold) = facts.hold else {
        return pass(ReleaseGate::DeployHold);
    };
    let until = hold
        .expires_at
        .map_or("until it is released".to_owned(), |at| format!("until {}", readable_time(at)));
    blocked(
        ReleaseGate::DeployHold,
        guidance(
            format!(
                "{} is on hold since {}, set by {}: {}",
                facts.target,
                readable_time(hold.set_at),
                hold.set_by,
                hold.reason
            ),
            format!("A hold stops every deploy to {} {until}; rollbacks stay allowed.", facts.target),
            "Ask the person who set the hold whether it can end, then release it on the releases page; or roll back if the live release is the problem.".to_owned(),
            "Safe to retry the deploy once the hold is released or has expired.".to_owned(),
        ),
    )
}

fn freeze_gate(facts: &TargetFacts<'_>) -> GateEvaluation {
    let Some(freeze) = facts.freeze.filter(|freeze| freeze.active && !facts.overrides.break_glass)
    else {
        return pass(ReleaseGate::FreezeWindow);
    };
    let end = freeze.clock(freeze.ends_at);
    blocked(
        ReleaseGate::FreezeWindow,
        guidance(
            format!(
                "{} is inside its freeze window {} since {}, until {end}.",
                facts.target,
                freeze.named(),
                freeze.clock(freeze.starts_at)
            ),
            format!(
                "No deploy reaches {} inside a freeze window, from the page or the API; rollbacks and holds stay allowed.",
                facts.target
            ),
            format!(
                "Deploy after {end}; if the live release is broken, roll back now. A deploy that cannot wait may break the glass, once, with a reason (factory.release.break-glass); it is recorded and announced."
            ),
            format!("Safe to retry the deploy after {end}."),
        ),
    )
}

fn promotion_gate(facts: &TargetFacts<'_>) -> GateEvaluation {
    let missing = facts.missing_evidence().next();
    let Some((upstream, what, unlocks_at)) = missing.filter(|_| !facts.overrides.bypass_promotion)
    else {
        return pass(ReleaseGate::Promotion);
    };
    let from: Vec<&str> = facts.promotion.iter().map(|u| u.target.as_str()).collect();
    let version = &upstream.version;
    let (next_step, retry) = match unlocks_at {
        Some(at) => (
            format!(
                "Wait until {} for {version} to finish its soak on {}, then deploy it here.",
                readable_time(at),
                upstream.target
            ),
            format!("Safe to retry from {}.", readable_time(at)),
        ),
        None => (
            format!(
                "Deploy {version} to {} and let it pass its checks and soak there first; or deploy here a version {} has verified.",
                upstream.target, upstream.target
            ),
            format!("Safe to retry once {version} is verified on {}.", upstream.target),
        ),
    };
    blocked(
        ReleaseGate::Promotion,
        guidance(
            format!("{version} is not verified on {}: {what}.", upstream.target),
            format!(
                "{} takes only versions verified on {}: deployed there, its post-deploy smoke passed, live for the soak time with no rollback.",
                facts.target,
                from.join(" and ")
            ),
            next_step,
            retry,
        ),
    )
}

fn approval_gate(target: &str, facts: ApprovalFacts<'_>) -> GateEvaluation {
    let ApprovalFacts { rule, version, request, now } = facts;
    let Some(request) = request else {
        return approval_needed(target, rule, version, None);
    };
    let id = request.id;
    let cause = match request.standing(rule, now) {
        Standing::Approved => return pass(ReleaseGate::Approval),
        Standing::Waiting { .. } => return approval_needed(target, rule, version, Some(request)),
        // Its deploy started: another deploy of the version asks again.
        Standing::Started { .. } => return approval_needed(target, rule, version, None),
        Standing::Rejected { by, reason } => {
            format!("Request #{id} to deploy {version} to {target} was rejected by {by}: {reason}")
        }
        Standing::Expired => format!(
            "Request #{id} to deploy {version} to {target} expired at {}.",
            readable_time(request.expires_at)
        ),
        Standing::Void { why } => format!("Request #{id} to deploy {version} is void: {why}"),
    };
    blocked(
        ReleaseGate::Approval,
        guidance(
            cause,
            approval_policy(target, rule),
            "Deploy it again to ask for approval anew: the request gets its own page, and the deploy starts by itself once it is approved.".to_owned(),
            "Safe to retry: a new deploy asks for approval again.".to_owned(),
        ),
    )
}

/// No approved request yet: the one waiting, or none.
fn approval_needed(
    target: &str,
    rule: &ApprovalRule,
    version: &str,
    waiting: Option<&ApprovalRequest>,
) -> GateEvaluation {
    let (cause, next_step) = match waiting {
        None => (
            format!("{version} has no approval to deploy to {target} yet."),
            "Deploy it to ask for approval: the request gets its own page, and the deploy starts by itself once it is approved.".to_owned(),
        ),
        Some(request) => (
            format!(
                "Request #{} to deploy {version} to {target} needs {}; it is valid until {}.",
                request.id,
                request.missing(rule),
                readable_time(request.expires_at)
            ),
            format!(
                "Ask a person who may approve to open /approvals/{} and approve it; the deploy then starts by itself.",
                request.id
            ),
        ),
    };
    blocked(
        ReleaseGate::Approval,
        guidance(
            cause,
            approval_policy(target, rule),
            next_step,
            "No retry is needed: the deploy starts by itself once the request is approved."
                .to_owned(),
        ),
    )
}

fn approval_policy(target: &str, rule: &ApprovalRule) -> String {
    let people = if rule.required == 1 { "person" } else { "people" };
    let who = match (rule.requester_may_approve, rule.confirm_again_after) {
        (true, _) => String::new(),
        (false, Some(wait)) => format!(
            " other than the one who asked (or that one again, {} min after asking)",
            wait.whole_minutes()
        ),
        (false, None) => " other than the one who asked".to_owned(),
    };
    format!(
        "{target} takes a version only once {} {people}{who} approved it; a request stays valid for {} min.",
        rule.required,
        rule.valid_for.whole_minutes()
    )
}

fn smoke_gate(facts: &TargetFacts<'_>) -> GateEvaluation {
    if facts.smoke_gated {
        return pass(ReleaseGate::Smoke);
    }
    blocked(
        ReleaseGate::Smoke,
        guidance(
            format!("{} has no post-deploy smoke check.", facts.target),
            "Every deploy is smoke-gated: without a check after the deploy, a broken release would stay live unnoticed and never roll back.".to_owned(),
            format!(
                "Add a [[targets.smoke]] with when = \"post\" or \"both\" to the target {} in the configuration file, then restart the server.",
                facts.target
            ),
            "Safe to retry once the target has a post-deploy smoke check.".to_owned(),
        ),
    )
}

fn rollback_target_gate(facts: &TargetFacts<'_>) -> GateEvaluation {
    if facts.rollback_to.is_some() {
        return pass(ReleaseGate::RollbackTarget);
    }
    blocked(
        ReleaseGate::RollbackTarget,
        guidance(
            format!(
                "{} has no earlier successful release of another version to go back to.",
                facts.target
            ),
            "A rollback returns to a release that once passed its smoke checks; without one there is nothing known-good to return to.".to_owned(),
            "Deploy a version that works instead.".to_owned(),
            "Safe to retry once the target has two successful releases of different versions.".to_owned(),
        ),
    )
}
