//! Who may do what: for each target and each right, the users and API tokens that hold
//! it now, worked out by the same rule the gates use (`TargetRights::allows`).

use super::*;
use crate::domain::operator::{Credential, Operator};
use crate::domain::release::rights::Right;

/// One right on one target, and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightHolders {
    pub right: Right,
    /// The target's `[targets.rights]` lists it (else it is role-wide).
    pub narrowed: bool,
    /// Users by name, then tokens as `token:NAME`.
    pub holders: Vec<String>,
}

/// A target and its six rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetAccess {
    pub target: String,
    pub rights: Vec<RightHolders>,
}

/// Every target's rights and their holders: enabled users and live tokens.
pub async fn who_may(state: &AppState) -> Result<Vec<TargetAccess>, ServiceError> {
    use crate::store::operators;
    let (users, tokens) = state
        .db
        .call(|conn| Ok((operators::list_users(conn)?, operators::list_tokens(conn)?)))
        .await?;
    let people = users.into_iter().filter(|u| !u.disabled).map(|u| Operator {
        name: u.username.to_string(),
        role: u.role,
        credential: Credential::Session { user_id: u.id },
    });
    let tokens = tokens.into_iter().filter(|t| t.revoked_at.is_none()).map(|t| Operator {
        name: format!("token:{}", t.name),
        role: t.role,
        credential: Credential::Token { token_id: t.id, scope: t.scope },
    });
    let everyone: Vec<Operator> = people.chain(tokens).collect();
    Ok(state
        .targets
        .iter()
        .map(|target| TargetAccess {
            target: target.name.clone(),
            rights: Right::ALL
                .into_iter()
                .map(|right| RightHolders {
                    right,
                    narrowed: target.rights.given.contains_key(&right),
                    holders: everyone
                        .iter()
                        .filter(|who| target.rights.allows(&target.name, who, right))
                        .map(|who| who.name.clone())
                        .collect(),
                })
                .collect(),
        })
        .collect())
}
