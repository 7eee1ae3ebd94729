//! Rights per target: who may deploy, approve, roll back, hold, freeze or break the glass
//! on one target. A target's configuration may give a right to users and roles; a right
//! it does not list stays with the role-wide permission (so on-call operators keep
//! rollback and hold unless the target says otherwise). A listed right narrows, never
//! widens: the holder still needs the role-wide permission.

use super::super::gate::{GateEvaluation, GateName, GateResult, blocked, guidance, pass};
use super::super::names::machine_names;
use super::super::operator::{Operator, Permission, Role};
use std::collections::BTreeMap;

/// What a person may do to a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Right {
    Deploy,
    Approve,
    Rollback,
    Hold,
    Freeze,
    BreakGlass,
}

machine_names!(
    "right",
    Right {
        Deploy => "deploy",
        Approve => "approve",
        Rollback => "rollback",
        Hold => "hold",
        Freeze => "freeze",
        BreakGlass => "break-glass",
    }
);

impl Right {
    /// The role-wide permission this right narrows on a target.
    pub fn permission(self) -> Permission {
        match self {
            Right::Deploy => Permission::ReleaseDeploy,
            Right::Approve => Permission::ReleaseApprove,
            Right::Rollback => Permission::ReleaseRollback,
            Right::Hold => Permission::ReleaseHold,
            Right::Freeze => Permission::ReleaseFreeze,
            Right::BreakGlass => Permission::ReleaseBreakGlass,
        }
    }
}

/// Who a right is given to: a user (or an API token, `token:NAME`) by name, or everyone
/// of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    Named(String),
    Role(Role),
}

impl Holder {
    /// `"ann"`, `"token:ci"` or `"role:operator"`.
    pub fn parse(raw: &str) -> Result<Holder, String> {
        if let Some(role) = raw.strip_prefix("role:") {
            return role.parse().map(Holder::Role).map_err(|err| format!("{raw:?}: {err}"));
        }
        let name = raw.strip_prefix("token:").unwrap_or(raw);
        if super::super::names::is_plain_name(name) {
            Ok(Holder::Named(raw.to_owned()))
        } else {
            Err(format!("{raw:?} is no username, \"token:NAME\" or \"role:viewer|operator|admin\""))
        }
    }

    fn holds(&self, operator: &Operator) -> bool {
        match self {
            Holder::Named(name) => *name == operator.name,
            Holder::Role(role) => operator.role >= *role,
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Named(name) => f.write_str(name),
            Holder::Role(role) => write!(f, "role:{role}"),
        }
    }
}

/// The rights a target gives; a right it does not list stays role-wide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetRights {
    pub given: BTreeMap<Right, Vec<Holder>>,
}

/// A target that narrows no right: every right stays role-wide.
pub static ROLE_WIDE: TargetRights = TargetRights { given: BTreeMap::new() };

impl TargetRights {
    /// Whether `operator` may use `right` on this target.
    pub fn allows(&self, target: &str, operator: &Operator, right: Right) -> bool {
        self.gate(target, right, operator).result == GateResult::Pass
    }

    fn holds(&self, operator: &Operator, right: Right) -> bool {
        self.given.get(&right).is_none_or(|holders| holders.iter().any(|h| h.holds(operator)))
    }

    /// The gate of `right` on `target` for `operator`: the permission gate, saying the
    /// right and who holds it when the target narrows it.
    pub fn gate(&self, target: &str, right: Right, operator: &Operator) -> GateEvaluation {
        let permission = right.permission();
        let label = format!("{} on {target}", right.as_str());
        let scope = operator.scope().filter(|s| !s.reaches(target) || !s.permits(permission));
        if let Some(scope) = scope {
            return outside_scope(target, right, operator, scope);
        }
        if !operator.can(permission) {
            return super::super::gate::permission_gate_for(&label, permission, operator);
        }
        let Some(holders) = self.given.get(&right).filter(|_| !self.holds(operator, right)) else {
            return pass(GateName::Permission);
        };
        let who: Vec<String> = holders.iter().map(Holder::to_string).collect();
        blocked(
            GateName::Permission,
            guidance(
                format!(
                    "{} lacks the right to {} on {target}: it is given to {}.",
                    operator.name,
                    right.as_str(),
                    who.join(", ")
                ),
                format!(
                    "{target} gives the right to {} to named people and roles only ([targets.rights] in the configuration).",
                    right.as_str()
                ),
                format!("Ask one of them to do it, or an admin to give you the right on {target}."),
                "Safe to retry once you hold the right.".to_owned(),
            ),
        )
    }
}

/// A limited API token asked for what its scope does not reach.
fn outside_scope(
    target: &str,
    right: Right,
    operator: &Operator,
    scope: &super::super::operator::TokenScope,
) -> GateEvaluation {
    blocked(
        GateName::Permission,
        guidance(
            format!(
                "{} is limited to acting {}: {} on {target} is outside it.",
                operator.name,
                scope.describe(),
                right.as_str()
            ),
            "An API token made for some targets or rights acts on those only, so a leaked CI token cannot reach the rest.".to_owned(),
            format!(
                "Use a token made for it (factory token create NAME --role operator --target {target} --right {}), or do it from a person's session.",
                right.as_str()
            ),
            "Do not retry with this token.".to_owned(),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Credential;

    fn person(name: &str, role: Role) -> Operator {
        Operator { name: name.into(), role, credential: Credential::Session { user_id: 1 } }
    }

    #[test]
    fn a_listed_right_narrows_the_role_and_an_unlisted_one_stays_role_wide() {
        let rights = TargetRights {
            given: [
                (Right::Deploy, vec![Holder::Named("ann".into()), Holder::Role(Role::Admin)]),
                (Right::BreakGlass, vec![Holder::Named("token:pager".into())]),
            ]
            .into(),
        };
        let (ann, bob, ada, vera) = (
            person("ann", Role::Operator),
            person("bob", Role::Operator),
            person("ada", Role::Admin),
            person("ann", Role::Viewer),
        );
        let pager = person("token:pager", Role::Operator);
        // (who, right) → allowed
        let cases = [
            (&ann, Right::Deploy, true),
            (&bob, Right::Deploy, false),
            (&ada, Right::Deploy, true),
            // Named, but the role lacks the permission: a right never widens.
            (&vera, Right::Deploy, false),
            // Unlisted: role-wide, so on-call operators keep rollback and hold.
            (&bob, Right::Rollback, true),
            (&bob, Right::Hold, true),
            (&vera, Right::Hold, false),
            (&pager, Right::BreakGlass, true),
            (&ann, Right::BreakGlass, false),
        ];
        for (who, right, allowed) in cases {
            assert_eq!(rights.allows("production", who, right), allowed, "{} {right}", who.name);
        }
        let refused = rights.gate("production", Right::Deploy, &bob).guidance().cloned().unwrap();
        assert_eq!(
            refused.cause,
            "bob lacks the right to deploy on production: it is given to ann, role:admin."
        );
    }

    #[test]
    fn a_limited_token_acts_only_on_its_targets_with_its_rights() {
        use crate::domain::operator::TokenScope;
        let token = |targets: &[&str], rights: &[Right]| Operator {
            name: "token:ci".into(),
            role: Role::Operator,
            credential: Credential::Token {
                token_id: 7,
                scope: TokenScope {
                    targets: targets.iter().map(|t| t.to_string()).collect(),
                    rights: rights.to_vec(),
                },
            },
        };
        let staging_deploy = token(&["staging"], &[Right::Deploy]);
        let staging_any = token(&["staging"], &[]);
        let deploy_anywhere = token(&[], &[Right::Deploy]);
        let whole = token(&[], &[]);
        // (token, target, right) → allowed
        let cases = [
            (&staging_deploy, "staging", Right::Deploy, true),
            (&staging_deploy, "production", Right::Deploy, false),
            (&staging_deploy, "staging", Right::Rollback, false),
            (&staging_any, "staging", Right::Rollback, true),
            (&staging_any, "production", Right::Hold, false),
            (&deploy_anywhere, "production", Right::Deploy, true),
            (&deploy_anywhere, "production", Right::Freeze, false),
            (&whole, "production", Right::Freeze, true),
        ];
        for (who, target, right, allowed) in cases {
            let case = format!("{:?} {target} {right}", who.scope());
            assert_eq!(ROLE_WIDE.allows(target, who, right), allowed, "{case}");
        }
        // Outside releases, a limited token may only read.
        assert!(!staging_any.can(Permission::WorkItemExecute));
        assert!(!staging_any.can(Permission::QueueSync));
        assert!(staging_any.can(Permission::MetricsRead));
        assert!(whole.can(Permission::WorkItemExecute));
        let refused = ROLE_WIDE.gate("production", Right::Deploy, &staging_deploy);
        assert_eq!(
            refused.guidance().unwrap().cause,
            "token:ci is limited to acting on staging, to deploy: deploy on production is outside it."
        );
    }

    #[test]
    fn holders_are_names_tokens_or_roles() {
        assert_eq!(Holder::parse("ann"), Ok(Holder::Named("ann".into())));
        assert_eq!(Holder::parse("token:ci"), Ok(Holder::Named("token:ci".into())));
        assert_eq!(Holder::parse("role:admin"), Ok(Holder::Role(Role::Admin)));
        assert!(Holder::parse("role:root").is_err());
        assert!(Holder::parse("Ann Smith").is_err());
        assert!(Holder::parse("").is_err());
    }
}
