//! The policy-gate vocabulary that work-item actions and release controls share: a
//! gate's name, its result, and the recovery guidance of a blocked one. Work-item gates
//! and release gates are enums of their own, so a rule for one can never be asked of the
//! other; the API and History name every gate by [`GateName::as_str`].

use super::operator::{Operator, Permission, Role};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::str::FromStr;

/// The gates of a work-item action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemGate {
    LaneTransition,
    LaneEligibility,
    PullRequest,
    ContextVisibility,
    /// The item's data is fresh and its truth signals agree.
    QueueTruth,
}

/// The gates of a release control (Deploy, Rollback, Hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseGate {
    /// No other release of the target is running.
    DeployLock,
    /// No hold stands on the target.
    DeployHold,
    /// The target's deploys are smoke-gated.
    Smoke,
    /// There is an earlier successful release to roll back to.
    RollbackTarget,
    /// The target is outside its freeze windows.
    FreezeWindow,
    /// The version is verified on every target this one promotes from.
    Promotion,
    /// The target asks for approvals, and the version has them.
    Approval,
}

/// Any gate, as results, the API and History name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GateName {
    Item(ItemGate),
    Release(ReleaseGate),
    /// The operator holds the permission: last for actions and controls alike.
    Permission,
}

impl GateName {
    pub const ALL: [GateName; 13] = [
        GateName::Item(ItemGate::LaneTransition),
        GateName::Item(ItemGate::LaneEligibility),
        GateName::Item(ItemGate::PullRequest),
        GateName::Item(ItemGate::ContextVisibility),
        GateName::Item(ItemGate::QueueTruth),
        GateName::Permission,
        GateName::Release(ReleaseGate::DeployLock),
        GateName::Release(ReleaseGate::DeployHold),
        GateName::Release(ReleaseGate::Smoke),
        GateName::Release(ReleaseGate::RollbackTarget),
        GateName::Release(ReleaseGate::FreezeWindow),
        GateName::Release(ReleaseGate::Promotion),
        GateName::Release(ReleaseGate::Approval),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GateName::Item(ItemGate::LaneTransition) => "lane-transition",
            GateName::Item(ItemGate::LaneEligibility) => "lane-eligibility",
            GateName::Item(ItemGate::PullRequest) => "pull-request",
            GateName::Item(ItemGate::ContextVisibility) => "context-visibility",
            GateName::Item(ItemGate::QueueTruth) => "queue-truth",
            GateName::Permission => "permission",
            GateName::Release(ReleaseGate::DeployLock) => "deploy-lock",
            GateName::Release(ReleaseGate::DeployHold) => "deploy-hold",
            GateName::Release(ReleaseGate::Smoke) => "smoke",
            GateName::Release(ReleaseGate::RollbackTarget) => "rollback-target",
            GateName::Release(ReleaseGate::FreezeWindow) => "freeze-window",
            GateName::Release(ReleaseGate::Promotion) => "promotion",
            GateName::Release(ReleaseGate::Approval) => "approval",
        }
    }
}

impl From<ItemGate> for GateName {
    fn from(gate: ItemGate) -> Self {
        GateName::Item(gate)
    }
}

impl From<ReleaseGate> for GateName {
    fn from(gate: ReleaseGate) -> Self {
        GateName::Release(gate)
    }
}

impl PartialEq<ItemGate> for GateName {
    fn eq(&self, other: &ItemGate) -> bool {
        *self == GateName::Item(*other)
    }
}

impl PartialEq<ReleaseGate> for GateName {
    fn eq(&self, other: &ReleaseGate) -> bool {
        *self == GateName::Release(*other)
    }
}

impl FromStr for GateName {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        GateName::ALL
            .into_iter()
            .find(|gate| gate.as_str() == name)
            .ok_or_else(|| format!("no gate is named {name:?}"))
    }
}

impl Serialize for GateName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for GateName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::names::string_enum_schema("gate", GateName::ALL.map(GateName::as_str))
    }
}

impl utoipa::ToSchema for GateName {}

impl<'de> Deserialize<'de> for GateName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GateResult {
    Pass,
    Blocked,
}

/// What to do about a blocked gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecoveryGuidance {
    /// What blocked it.
    pub cause: String,
    /// Which rule, and why it exists.
    pub policy_context: String,
    /// What to do instead.
    pub next_step: String,
    /// Whether and when retrying is safe.
    pub safe_retry: String,
}

/// One gate evaluated for an action on an item or a control on a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GateEvaluation {
    pub name: GateName,
    pub result: GateResult,
    /// Why it blocked; `None` when it passed.
    pub reason: Option<String>,
    #[serde(skip)]
    pub(crate) guidance: Option<RecoveryGuidance>,
}

impl GateEvaluation {
    /// What to do about this gate; `None` when it passed.
    pub fn guidance(&self) -> Option<&RecoveryGuidance> {
        self.guidance.as_ref()
    }
}

/// Whether the permission gate is among the blocked ones.
pub(crate) fn permission_blocked(gates: &[GateEvaluation]) -> bool {
    gates.iter().any(|g| g.name == GateName::Permission && g.result == GateResult::Blocked)
}

pub(crate) fn pass(name: impl Into<GateName>) -> GateEvaluation {
    GateEvaluation { name: name.into(), result: GateResult::Pass, reason: None, guidance: None }
}

pub(crate) fn blocked(name: impl Into<GateName>, guidance: RecoveryGuidance) -> GateEvaluation {
    GateEvaluation {
        name: name.into(),
        result: GateResult::Blocked,
        reason: Some(guidance.cause.clone()),
        guidance: Some(guidance),
    }
}

pub(crate) fn guidance(
    cause: String,
    policy: String,
    next: String,
    retry: String,
) -> RecoveryGuidance {
    RecoveryGuidance { cause, policy_context: policy, next_step: next, safe_retry: retry }
}

/// The operator's permission for something labelled `label`, as a gate.
pub(crate) fn permission_gate_for(
    label: &str,
    permission: Permission,
    operator: &Operator,
) -> GateEvaluation {
    if operator.can(permission) {
        return pass(GateName::Permission);
    }
    let role = Role::least_with(permission);
    blocked(
        GateName::Permission,
        guidance(
            format!("{} ({}) lacks the permission {permission}.", operator.name, operator.role),
            format!(
                "{label} needs {permission}, which the {role} role holds; every action is attributable to someone allowed to take it."
            ),
            format!("Ask an admin for the {role} role, or ask an operator who has it to do this."),
            format!("Safe to retry once your role includes {permission}."),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gate_name_reads_back() {
        for gate in GateName::ALL {
            assert_eq!(gate.as_str().parse::<GateName>(), Ok(gate));
            let json = serde_json::to_string(&gate).unwrap();
            assert_eq!(json, format!("\"{}\"", gate.as_str()));
            assert_eq!(serde_json::from_str::<GateName>(&json).unwrap(), gate);
        }
        assert!("deploy_lock".parse::<GateName>().is_err());
    }
}
