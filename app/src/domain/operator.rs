//! Operators: who may act, through which role and permissions.

use super::names::machine_names;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A permission, named by the string that actions and API refusals carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    WorkItemExecute,
    WorkItemRequestReview,
    WorkItemPrepareRelease,
    WorkItemRecordHistory,
    ReleaseDeploy,
    ReleaseRollback,
    ReleaseHold,
    /// Deploy once inside a freeze window, with a reason ("break the glass").
    ReleaseBreakGlass,
    /// Approve or reject a deploy waiting for approval.
    ReleaseApprove,
    /// Freeze a target's deploys now until a chosen time, and end such a freeze.
    ReleaseFreeze,
    /// Deploy a version the promotion evidence does not cover, with a reason.
    ReleaseBypassPromotion,
    /// Sync work items from the factory repository now (Refresh).
    QueueSync,
    /// Add, change and disable users; create and revoke API tokens.
    OperatorsManage,
    /// Scraping `GET /metrics` with a token.
    MetricsRead,
}

machine_names!(
    "permission",
    Permission {
        WorkItemExecute => "factory.work-item.execute",
        WorkItemRequestReview => "factory.work-item.request-review",
        WorkItemPrepareRelease => "factory.work-item.prepare-release",
        WorkItemRecordHistory => "factory.work-item.record-history",
        ReleaseDeploy => "factory.release.deploy",
        ReleaseRollback => "factory.release.rollback",
        ReleaseHold => "factory.release.hold",
        ReleaseBreakGlass => "factory.release.break-glass",
        ReleaseApprove => "factory.release.approve",
        ReleaseFreeze => "factory.release.freeze",
        ReleaseBypassPromotion => "factory.release.bypass-promotion",
        QueueSync => "factory.queue.sync",
        OperatorsManage => "factory.operators.manage",
        MetricsRead => "factory.metrics.read",
    }
);

impl Permission {}

/// What an operator may do. Each role holds every permission of the roles below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Acts on work items and runs releases.
    Operator,
    /// An operator who also manages users and API tokens.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn has(self, permission: Permission) -> bool {
        match permission {
            Permission::OperatorsManage | Permission::ReleaseBypassPromotion => self == Role::Admin,
            // Viewers read everything; the figures are no more than the pages show.
            Permission::MetricsRead => true,
            _ => self >= Role::Operator,
        }
    }

    /// The least role that holds `permission`, for recovery guidance.
    pub fn least_with(permission: Permission) -> Role {
        Role::ALL.into_iter().find(|role| role.has(permission)).unwrap_or(Role::Admin)
    }
}

impl FromStr for Role {
    type Err = OperatorError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == raw.trim().to_ascii_lowercase())
            .ok_or_else(|| OperatorError::UnknownRole(raw.chars().take(40).collect()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    #[error("role {0:?} is not a role: use viewer, operator or admin")]
    UnknownRole(String),
    #[error(
        "username {0:?} is not valid: use 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidUsername(String),
    #[error(
        "the password is too short: use at least {MIN_PASSWORD_CHARS} characters (a few words make a good one)"
    )]
    PasswordTooShort,
    #[error("the password is too long: use at most {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
}

/// OWASP's minimum for a password that is the only factor is 8; this dashboard deploys to
/// production from the internet, so it asks for more.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Hashing cost grows with length; a cap keeps a sign-in attempt cheap to refuse.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A validated username: lowercase, safe to show and log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, OperatorError> {
        let name = raw.trim().to_ascii_lowercase();
        if super::names::is_plain_name(&name) {
            Ok(Self(name))
        } else {
            Err(OperatorError::InvalidUsername(raw.chars().take(80).collect()))
        }
    }
}

super::names::checked_text!(Username, OperatorError);

/// Checks a new password against the policy; never logs or returns it.
pub fn check_new_password(password: &str) -> Result<(), OperatorError> {
    if password.len() > MAX_PASSWORD_BYTES {
        Err(OperatorError::PasswordTooLong)
    } else if password.chars().count() < MIN_PASSWORD_CHARS {
        Err(OperatorError::PasswordTooShort)
    } else {
        Ok(())
    }
}

/// How a request came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A page's form (no JavaScript needed).
    Page,
    /// The JSON API.
    Api,
}

machine_names!("way in", Via { Page => "page", Api => "api" });

/// How an operator proved who they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Credential {
    /// A signed-in browser session of a user.
    Session { user_id: i64 },
    /// An API token, by its id (never its secret), and what it is limited to.
    Token {
        token_id: i64,
        #[serde(default, skip_serializing_if = "TokenScope::is_whole")]
        scope: TokenScope,
    },
}

/// What an API token is limited to (`factory token create --target … --right …`): the
/// targets it may act on and the rights it may use there; empty: no limit of that kind.
/// A limited token may do nothing but those rights on those targets (and read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenScope {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rights: Vec<super::release::rights::Right>,
}

impl TokenScope {
    /// No limit at all.
    pub fn is_whole(&self) -> bool {
        self.targets.is_empty() && self.rights.is_empty()
    }

    /// Whether the scope lets `permission` be used at all: reading always; a limited
    /// token only the release permissions of its rights (all six when it names none).
    pub fn permits(&self, permission: Permission) -> bool {
        use super::release::rights::Right;
        if self.is_whole() || permission == Permission::MetricsRead {
            return true;
        }
        let rights: &[Right] = if self.rights.is_empty() { &Right::ALL } else { &self.rights };
        rights.iter().any(|right| right.permission() == permission)
    }

    /// Whether the scope reaches target `name`.
    pub fn reaches(&self, name: &str) -> bool {
        self.targets.is_empty() || self.targets.iter().any(|t| t == name)
    }

    /// "on staging, to deploy", as a refusal says it.
    pub fn describe(&self) -> String {
        let on = match self.targets.as_slice() {
            [] => "on every target".to_owned(),
            targets => format!("on {}", targets.join(", ")),
        };
        match self.rights.as_slice() {
            [] => on,
            rights => {
                let names: Vec<&str> = rights.iter().map(|r| r.as_str()).collect();
                format!("{on}, to {}", names.join(", "))
            }
        }
    }
}

/// The person or token acting in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// The username, or `token:NAME` for an API token.
    pub name: String,
    pub role: Role,
    pub credential: Credential,
}

impl Operator {
    pub fn can(&self, permission: Permission) -> bool {
        self.role.has(permission) && self.scope().is_none_or(|scope| scope.permits(permission))
    }

    /// A limited API token's scope; `None` for a person or a token without limits.
    pub fn scope(&self) -> Option<&TokenScope> {
        match &self.credential {
            Credential::Token { scope, .. } if !scope.is_whole() => Some(scope),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_hold_the_permissions_the_issue_gives_them() {
        use Permission::*;
        for permission in Permission::ALL {
            let expected = match permission {
                OperatorsManage | ReleaseBypassPromotion => [false, false, true],
                MetricsRead => [true, true, true],
                _ => [false, true, true],
            };
            let got = Role::ALL.map(|role| role.has(permission));
            assert_eq!(got, expected, "{permission}");
        }
        assert_eq!(Role::least_with(ReleaseDeploy), Role::Operator);
        assert_eq!(Role::least_with(OperatorsManage), Role::Admin);
    }

    #[test]
    fn permissions_serialise_as_their_strings() {
        for permission in Permission::ALL {
            assert_eq!(serde_json::to_value(permission).unwrap(), permission.as_str());
        }
    }

    #[test]
    fn roles_parse() {
        assert_eq!("Operator".parse::<Role>(), Ok(Role::Operator));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn usernames() {
        let cases = [
            ("demo", Some("demo")),
            ("Alice.Smith", Some("alice.smith")),
            (" ops-1 ", Some("ops-1")),
            ("", None),
            ("_x", None),
            ("a b", None),
            ("ü", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                Username::parse(raw).ok().as_ref().map(Username::as_str),
                expected,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn password_policy() {
        assert_eq!(check_new_password("short"), Err(OperatorError::PasswordTooShort));
        assert_eq!(check_new_password("correct horse battery"), Ok(()));
        assert_eq!(
            check_new_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(OperatorError::PasswordTooLong)
        );
    }
}
