//! Work items as the glossary defines them: identity, execution context, lifecycle
//! metadata and prompt context.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a value cannot be part of a work item. Each variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkItemError {
    #[error(
        "work-item id {0:?} is not valid: use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. wi-BF-302)"
    )]
    InvalidId(String),
    #[error("lane {0:?} is not a lane: use one of backlog, ready, in-progress, review, done")]
    UnknownLane(String),
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
}

/// A work item's id, e.g. `wi-BF-302`. Restricted to characters that are safe in a
/// URL path segment and a file name, so it can name both.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct WorkItemId(String);

impl WorkItemId {
    pub fn parse(raw: &str) -> Result<Self, WorkItemError> {
        if super::names::is_plain_name(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(WorkItemError::InvalidId(raw.chars().take(80).collect()))
        }
    }
}

super::names::checked_text!(WorkItemId, WorkItemError);

/// The board column. Items move forward through the lanes; done items stay closed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Lane {
    Backlog,
    Ready,
    InProgress,
    Review,
    Done,
}

impl Lane {
    /// Board order, left to right.
    pub const ALL: [Lane; 5] =
        [Lane::Backlog, Lane::Ready, Lane::InProgress, Lane::Review, Lane::Done];

    /// The machine name used in URLs, the API and work-item files.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Backlog => "backlog",
            Lane::Ready => "ready",
            Lane::InProgress => "in-progress",
            Lane::Review => "review",
            Lane::Done => "done",
        }
    }

    /// The name a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Lane::Backlog => "Backlog",
            Lane::Ready => "Ready",
            Lane::InProgress => "In progress",
            Lane::Review => "Review",
            Lane::Done => "Done",
        }
    }
}

impl FromStr for Lane {
    type Err = WorkItemError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if let Some(lane) = Lane::ALL.into_iter().find(|lane| lane.as_str() == raw) {
            return Ok(lane);
        }
        // Accept the spellings people type: "In progress", "in_progress", "DONE".
        let normalised = raw.trim().to_ascii_lowercase().replace([' ', '_'], "-");
        Lane::ALL
            .into_iter()
            .find(|lane| lane.as_str() == normalised)
            .ok_or_else(|| WorkItemError::UnknownLane(raw.chars().take(40).collect()))
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where and how the item is executed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecutionContext {
    pub branch: Option<String>,
    /// Run on the host by `prepare-release`, e.g. `./scripts/validate-local.ps1`.
    pub validation_command: Option<String>,
    pub pull_request_url: Option<String>,
}

impl ExecutionContext {
    /// "PR #324" for a GitHub-style pull-request URL, so a card can show a short link.
    pub fn pull_request_label(&self) -> Option<String> {
        self.pull_request_url.as_deref().map(pull_request_label)
    }
}

/// The URL when it may be a link's `href`: `http` or `https`, with no white space or
/// control character. Anything else (`javascript:`, `data:`, a relative path) is shown as
/// text, never linked.
pub fn linkable_url(url: &str) -> Option<&str> {
    let scheme_ok = ["http://", "https://"].iter().any(|scheme| {
        url.get(..scheme.len()).is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    });
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    (scheme_ok && clean && url.len() > "https://".len()).then_some(url)
}

/// "PR #324" when the URL ends in the pull request's number, else "Pull request".
pub fn pull_request_label(url: &str) -> String {
    let last = url.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    if !last.is_empty() && last.chars().all(|c| c.is_ascii_digit()) {
        format!("PR #{last}")
    } else {
        "Pull request".to_owned()
    }
}

/// Where the item stands. `lane` is the control plane's board column; `source`,
/// `status` and `state` are the other truth signals that queue truth compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LifecycleMetadata {
    pub lane: Lane,
    pub work_type: String,
    pub source: String,
    pub status: String,
    pub state: String,
    pub done_criteria: Vec<String>,
}

/// The prompt the item was executed from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromptContext {
    pub path: Option<String>,
    pub text: Option<String>,
}

impl PromptContext {
    /// The prompt is visible when both its path and some text are known.
    pub fn is_present(&self) -> bool {
        self.path.as_deref().is_some_and(|p| !p.trim().is_empty())
            && self.text.as_deref().is_some_and(|t| !t.trim().is_empty())
    }
}

/// One work item with every field of the glossary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkItem {
    pub id: WorkItemId,
    pub title: String,
    pub summary: String,
    pub execution_context: ExecutionContext,
    pub lifecycle: LifecycleMetadata,
    pub prompt_context: PromptContext,
}

impl WorkItem {
    /// Checks what the type system cannot: required text is present.
    pub fn validate(&self) -> Result<(), WorkItemError> {
        let required = [("title", &self.title), ("work_type", &self.lifecycle.work_type)];
        for (field, value) in required {
            if value.trim().is_empty() {
                return Err(WorkItemError::Empty { field });
            }
        }
        Ok(())
    }
}

/// What a board card and the list API show of an item: no prompt text, no criteria text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkItemSummary {
    pub id: WorkItemId,
    pub title: String,
    pub lane: Lane,
    pub work_type: String,
    pub status: String,
    pub pull_request_url: Option<String>,
    pub done_criteria_count: usize,
    pub branch: Option<String>,
    /// Both the prompt path and its text are there (see [`PromptContext::is_present`]).
    pub has_prompt: bool,
    /// The file's lane at the last snapshot.
    pub source: String,
    pub state: String,
    /// Where the item came from, for its queue truth.
    #[serde(skip)]
    pub source_facts: super::queue_truth::SourceFacts,
}

impl WorkItemSummary {
    pub fn pull_request_label(&self) -> Option<String> {
        self.pull_request_url.as_deref().map(pull_request_label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_item_ids() {
        let cases = [
            ("wi-BF-302", true),
            ("a", true),
            ("wi_1.2", true),
            ("", false),
            ("-wi", false),
            ("wi/../etc", false),
            ("wi BF", false),
            ("wi-é", false),
            (&"x".repeat(64), true),
            (&"x".repeat(65), false),
        ];
        for (raw, ok) in cases {
            assert_eq!(WorkItemId::parse(raw).is_ok(), ok, "{raw:?}");
        }
    }

    #[test]
    fn lanes_parse_from_the_spellings_people_use() {
        let cases = [
            ("backlog", Some(Lane::Backlog)),
            ("Ready", Some(Lane::Ready)),
            ("in-progress", Some(Lane::InProgress)),
            ("In progress", Some(Lane::InProgress)),
            ("in_progress", Some(Lane::InProgress)),
            ("REVIEW", Some(Lane::Review)),
            (" done ", Some(Lane::Done)),
            ("doing", None),
            ("", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(raw.parse::<Lane>().ok(), expected, "{raw:?}");
        }
        for lane in Lane::ALL {
            assert_eq!(lane.as_str().parse::<Lane>(), Ok(lane));
            assert_eq!(lane.label().parse::<Lane>(), Ok(lane));
        }
    }

    #[test]
    fn lane_serialises_as_its_machine_name() {
        assert_eq!(serde_json::to_string(&Lane::InProgress).unwrap(), "\"in-progress\"");
    }

    #[test]
    fn only_http_and_https_urls_are_linkable() {
        let cases = [
            // http and https, in any case.
            ("https://github.com/o/r/pull/7", true),
            ("HTTP://example.test/pull/7", true),
            // Other schemes, addresses without one, and broken ones.
            ("javascript:alert(1)//pull/7", false),
            ("JavaScript:alert(1)", false),
            ("data:text/html,<b>x</b>", false),
            ("//evil.example/pull/7", false),
            ("/pull/7", false),
            ("https://", false),
            ("https://example.test/a b", false),
            ("https://example.test/\npull", false),
        ];
        for (url, linkable) in cases {
            assert_eq!(linkable_url(url).is_some(), linkable, "{url:?}");
        }
    }

    #[test]
    fn pull_request_labels() {
        let ctx = |url: Option<&str>| ExecutionContext {
            pull_request_url: url.map(str::to_owned),
            ..Default::default()
        };
        let cases = [
            (
                Some("https://github.com/SingletonTheory/build-factory-bootstrap/pull/324"),
                Some("PR #324"),
            ),
            (Some("https://example.test/pull/7/"), Some("PR #7")),
            (Some("https://example.test/merge-requests/new"), Some("Pull request")),
            (None, None),
        ];
        for (url, label) in cases {
            assert_eq!(ctx(url).pull_request_label().as_deref(), label, "{url:?}");
        }
    }

    #[test]
    fn prompt_presence_needs_path_and_text() {
        let prompt = |path: Option<&str>, text: Option<&str>| PromptContext {
            path: path.map(str::to_owned),
            text: text.map(str::to_owned),
        };
        assert!(prompt(Some("p.md"), Some("do it")).is_present());
        assert!(!prompt(Some("p.md"), Some("  ")).is_present());
        assert!(!prompt(None, Some("do it")).is_present());
        assert!(!prompt(Some(""), Some("do it")).is_present());
    }
}
