//! Work-item files: the factory repository keeps one Markdown file per item, a TOML
//! front-matter block between `+++` lines holding the glossary's fields, and the summary
//! as the body. Prompts live beside them in `prompts/{id}.prompt.md`.

use super::work_item::{
    ExecutionContext, Lane, LifecycleMetadata, PromptContext, WorkItem, WorkItemId,
};
use serde::Deserialize;

/// Why a file is not a valid work item: which line and field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {field}: {message}")]
pub struct WorkItemFileError {
    /// 1-based line in the file.
    pub line: usize,
    /// The front-matter key, or `front matter` for the block itself.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: String,
    title: String,
    lane: String,
    work_type: String,
    status: Option<String>,
    state: Option<String>,
    branch: Option<String>,
    validation_command: Option<String>,
    pull_request_url: Option<String>,
    #[serde(default)]
    done_criteria: Vec<String>,
    prompt_path: Option<String>,
}

const FENCE: &str = "+++";

/// The most characters each field may hold. A file is at most 1 MiB, but one field that
/// large would make every page that shows it as large: each is bounded at sync instead.
pub const FIELD_LIMITS: &[(&str, usize)] = &[
    ("title", 200),
    ("work_type", 64),
    ("status", 64),
    ("state", 64),
    ("branch", 255),
    ("validation_command", 128),
    ("pull_request_url", 2048),
    ("prompt_path", 512),
    ("done_criteria", 500),
    ("summary", 16 * 1024),
];

/// The most done criteria one item may list.
pub const MAX_DONE_CRITERIA: usize = 100;

fn limit_of(field: &str) -> usize {
    FIELD_LIMITS.iter().find(|(name, _)| *name == field).map_or(usize::MAX, |(_, limit)| *limit)
}

/// Parses one work-item file. `prompt_text` is the content of its prompt file, if any.
/// `is_validation_command` says whether a name is one of the configured validation
/// commands: a file may only name one of them, never say what to run.
pub fn parse_work_item_file(
    text: &str,
    prompt_text: Option<String>,
    is_validation_command: &dyn Fn(&str) -> bool,
) -> Result<WorkItem, WorkItemFileError> {
    let (front, body, front_len) = split_front_matter(text)?;
    let fields = front_matter(&front)?;
    let invalid = |key: &str, message: String| WorkItemFileError {
        line: front.lines().position(|l| l.trim_start().starts_with(key)).map_or(1, |i| i + 2),
        field: key.into(),
        message,
    };
    let id = WorkItemId::parse(&fields.id).map_err(|e| invalid("id", e.to_string()))?;
    check_limits(&fields, &invalid)?;
    check_length("summary", body.trim()).map_err(|message| WorkItemFileError {
        // The summary's first line: after the closing fence and any blank lines.
        line: front_len + 3 + body.lines().take_while(|l| l.trim().is_empty()).count(),
        field: "summary".into(),
        message: format!("the text after the front matter {message}"),
    })?;
    let lane: Lane =
        fields.lane.parse().map_err(|e: super::WorkItemError| invalid("lane", e.to_string()))?;
    for (key, value) in [("title", &fields.title), ("work_type", &fields.work_type)] {
        if value.trim().is_empty() {
            return Err(invalid(key, "must not be empty".into()));
        }
    }
    let non_empty = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let references = references(
        non_empty(fields.pull_request_url.clone()).map(|url| url.trim().to_owned()),
        non_empty(fields.prompt_path.clone()).map(|path| path.trim().to_owned()),
        non_empty(fields.validation_command.clone()).map(|name| name.trim().to_owned()),
        is_validation_command,
        &invalid,
    )?;
    Ok(WorkItem {
        id,
        title: fields.title.trim().to_owned(),
        summary: body.trim().to_owned(),
        execution_context: ExecutionContext {
            branch: non_empty(fields.branch),
            validation_command: references.validation_command,
            pull_request_url: references.pull_request_url,
        },
        lifecycle: LifecycleMetadata {
            lane,
            work_type: fields.work_type.trim().to_owned(),
            // The file's lane is the item's `source` signal; the board's lane starts there.
            source: lane.as_str().to_owned(),
            status: fields.status.unwrap_or_default(),
            state: fields
                .state
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| super::queue_truth::derived_state(lane).to_owned()),
            done_criteria: fields.done_criteria,
        },
        prompt_context: PromptContext { path: references.prompt_path, text: prompt_text },
    })
}

/// A file's front matter (between its `+++` lines) and body, and how many lines the
/// front matter has.
fn split_front_matter(text: &str) -> Result<(String, String, usize), WorkItemFileError> {
    let block_error = |line, message: &str| WorkItemFileError {
        line,
        field: "front matter".into(),
        message: message.into(),
    };
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some(FENCE) {
        return Err(block_error(1, "the file must start with a `+++` line"));
    }
    let front_len = lines
        .clone()
        .position(|line| line.trim_end() == FENCE)
        .ok_or_else(|| block_error(1, "the `+++` block is not closed by a second `+++` line"))?;
    let front: String = lines.clone().take(front_len).collect::<Vec<_>>().join("\n");
    let body: String = lines.skip(front_len + 1).collect::<Vec<_>>().join("\n");
    Ok((front, body, front_len))
}

/// The front matter's fields, or the TOML error at its line and field.
fn front_matter(front: &str) -> Result<FrontMatter, WorkItemFileError> {
    // Front-matter line n is file line n + 1 (the opening fence is line 1).
    let front_line = |offset: usize| front[..offset.min(front.len())].matches('\n').count() + 2;
    toml::from_str(front).map_err(|err| {
        let message = err.message().to_owned();
        // A missing field has no line of its own: point at the block's opening line.
        let line = match err.span() {
            Some(span) if !message.starts_with("missing field") => front_line(span.start),
            _ => 1,
        };
        let field = line
            .checked_sub(2)
            .and_then(|index| key_on_line(front, index))
            .or_else(|| field_named_in(&message))
            .unwrap_or_else(|| "front matter".into());
        WorkItemFileError { line, field, message }
    })
}

/// Every field within its length, one-line fields on one line, at most
/// [`MAX_DONE_CRITERIA`] criteria.
fn check_limits(
    fields: &FrontMatter,
    invalid: &dyn Fn(&str, String) -> WorkItemFileError,
) -> Result<(), WorkItemFileError> {
    let one_line_fields = [
        ("title", Some(&fields.title)),
        ("work_type", Some(&fields.work_type)),
        ("status", fields.status.as_ref()),
        ("state", fields.state.as_ref()),
        ("branch", fields.branch.as_ref()),
        ("validation_command", fields.validation_command.as_ref()),
        ("pull_request_url", fields.pull_request_url.as_ref()),
        ("prompt_path", fields.prompt_path.as_ref()),
    ];
    for (key, value) in one_line_fields {
        let Some(value) = value else { continue };
        check_length(key, value).map_err(|message| invalid(key, message))?;
        if value.chars().any(char::is_control) {
            return Err(invalid(key, "must be one line, without control characters".into()));
        }
    }
    if fields.done_criteria.len() > MAX_DONE_CRITERIA {
        return Err(invalid(
            "done_criteria",
            format!(
                "lists {} criteria; an item may list at most {MAX_DONE_CRITERIA}",
                fields.done_criteria.len()
            ),
        ));
    }
    for criterion in &fields.done_criteria {
        check_length("done_criteria", criterion)
            .map_err(|message| invalid("done_criteria", format!("a criterion {message}")))?;
    }
    Ok(())
}

/// What a file points at outside itself, each checked.
struct References {
    pull_request_url: Option<String>,
    prompt_path: Option<String>,
    validation_command: Option<String>,
}

fn references(
    pull_request_url: Option<String>,
    prompt_path: Option<String>,
    validation_command: Option<String>,
    is_validation_command: &dyn Fn(&str) -> bool,
    invalid: &dyn Fn(&str, String) -> WorkItemFileError,
) -> Result<References, WorkItemFileError> {
    if prompt_path
        .as_deref()
        .is_some_and(|path| path.starts_with('-') || path.chars().any(char::is_control))
    {
        // The executor gets the path as an argument: one starting with `-` would read as
        // an option.
        return Err(invalid(
            "prompt_path",
            "must not start with '-' or hold control characters".into(),
        ));
    }
    if let Some(name) = &validation_command
        && !is_validation_command(name)
    {
        // The file names a command; the configuration says what it runs. A program or a
        // command line here would let anyone who can commit choose what runs on the host.
        return Err(invalid(
            "validation_command",
            format!(
                "{} is not one of the validation commands configured under [factory.validation_commands]; a work-item file names one of them and never says what to run",
                super::text::quoted(name)
            ),
        ));
    }
    if let Some(url) = &pull_request_url
        && super::work_item::linkable_url(url).is_none()
    {
        return Err(invalid("pull_request_url", "must be an http:// or https:// address".into()));
    }
    Ok(References { pull_request_url, prompt_path, validation_command })
}

/// `Err("is N characters long; at most M are kept")` when `value` is over its field's limit.
fn check_length(field: &str, value: &str) -> Result<(), String> {
    let limit = limit_of(field);
    // Bytes bound characters from above: count only when it could matter.
    if value.len() <= limit {
        return Ok(());
    }
    let chars = value.chars().count();
    if chars <= limit {
        return Ok(());
    }
    Err(format!("is {chars} characters long; {field} may have at most {limit}"))
}

/// serde names the field in messages such as "missing field `title`".
fn field_named_in(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// The key assigned on a front-matter line (0-based), e.g. `lane` in `lane = 3`.
fn key_on_line(front: &str, index: usize) -> Option<String> {
    let line = front.lines().nth(index)?;
    let key = line.split('=').next()?.trim();
    (!key.is_empty() && !line.trim_start().starts_with('[')).then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"+++
id = "wi-BF-9"
title = "A title"
lane = "review"
work_type = "bug"
status = "in-review"
state = "open"
validation_command = "validate"
pull_request_url = "https://example.test/pull/9"
done_criteria = ["one", "two"]
prompt_path = "./work-items/prompts/wi-BF-9.prompt.md"
+++

The summary.
"#;

    /// The validation commands the tests' configuration names.
    fn configured(name: &str) -> bool {
        name == "validate"
    }

    #[test]
    fn parses_a_complete_file() {
        let item = parse_work_item_file(GOOD, Some("Prompt.".into()), &configured).unwrap();
        assert_eq!(item.id.as_str(), "wi-BF-9");
        assert_eq!(item.summary, "The summary.");
        assert_eq!(item.lifecycle.lane, Lane::Review);
        assert_eq!(item.lifecycle.source, "review", "the file's lane is the source");
        let without_state = GOOD.replace("state = \"open\"\n", "");
        let derived = parse_work_item_file(&without_state, None, &configured).unwrap();
        assert_eq!(derived.lifecycle.state, "active", "a missing state is derived");
        assert_eq!(item.lifecycle.done_criteria, ["one", "two"]);
        assert_eq!(item.execution_context.branch, None);
        assert_eq!(item.prompt_context.text.as_deref(), Some("Prompt."));
    }

    #[test]
    fn malformed_files_name_line_and_field() {
        let cases: [(&str, String, usize, &str); 12] = [
            ("no front matter", "hello".into(), 1, "front matter"),
            ("unclosed block", "+++\nid = \"x\"\n".into(), 1, "front matter"),
            ("bad lane", GOOD.replace("lane = \"review\"", "lane = \"doing\""), 4, "lane"),
            ("bad id", GOOD.replace("id = \"wi-BF-9\"", "id = \"wi BF 9\""), 2, "id"),
            ("missing title", GOOD.replace("title = \"A title\"\n", ""), 1, "title"),
            (
                "wrong type",
                GOOD.replace("done_criteria = [\"one\", \"two\"]", "done_criteria = 3"),
                10,
                "done_criteria",
            ),
            ("unknown key", GOOD.replace("state = \"open\"", "stat = \"open\""), 7, "stat"),
            (
                "unterminated string",
                GOOD.replace("title = \"A title\"", "title = \"A title"),
                3,
                "title",
            ),
            (
                "empty work type",
                GOOD.replace("work_type = \"bug\"", "work_type = \" \""),
                5,
                "work_type",
            ),
            (
                "a pull request that is no web address",
                GOOD.replace("https://example.test/pull/9", "javascript:alert(1)//pull/9"),
                9,
                "pull_request_url",
            ),
            (
                "a prompt path that reads as an option",
                GOOD.replace("./work-items/prompts/wi-BF-9.prompt.md", "--output=/tmp/x"),
                11,
                "prompt_path",
            ),
            ("a key twice", GOOD.replace("status = \"in-review\"", "lane = \"done\""), 6, "lane"),
        ];
        for (name, text, line, field) in cases.into_iter().chain(hostile_files()) {
            let err = parse_work_item_file(&text, None, &configured).expect_err(name);
            assert_eq!((err.line, err.field.as_str()), (line, field), "{name}: {err}");
        }
    }

    /// What a writer of the factory repository could try: choose what runs on the host,
    /// or make every page that shows the item huge. Each is an error of its field.
    fn hostile_files() -> Vec<(&'static str, String, usize, &'static str)> {
        let command = |value: &str| {
            GOOD.replace(
                "validation_command = \"validate\"",
                &format!("validation_command = {value}"),
            )
        };
        let long = |n: usize| "x".repeat(n);
        vec![
            ("a shell", command("\"sh -c 'cat data/session.key'\""), 8, "validation_command"),
            ("a program by path", command("\"/bin/sh\""), 8, "validation_command"),
            (
                "a climb out of the repository",
                command("\"./../../../../bin/sh\""),
                8,
                "validation_command",
            ),
            (
                "a script beside the items",
                command("\"./work-items/run.sh\""),
                8,
                "validation_command",
            ),
            (
                "a configured name with more words",
                command("\"validate --and-more\""),
                8,
                "validation_command",
            ),
            (
                "a configured name with a hidden character",
                command("\"valid\\u202Eate\""),
                8,
                "validation_command",
            ),
            ("a title of a megabyte", GOOD.replace("A title", &long(1 << 20)), 3, "title"),
            ("a title over the limit", GOOD.replace("A title", &long(201)), 3, "title"),
            ("a title of two lines", GOOD.replace("A title", "one\\ntwo"), 3, "title"),
            ("a huge status", GOOD.replace("in-review", &long(65)), 6, "status"),
            (
                "a huge criterion",
                GOOD.replace("\"one\"", &format!("\"{}\"", long(501))),
                10,
                "done_criteria",
            ),
            (
                "too many criteria",
                GOOD.replace("[\"one\", \"two\"]", &format!("[{}]", vec!["\"c\""; 101].join(", "))),
                10,
                "done_criteria",
            ),
            ("a huge summary", GOOD.replace("The summary.", &long(16 * 1024 + 1)), 14, "summary"),
        ]
    }

    #[test]
    fn limits_are_inclusive() {
        let at_limit = GOOD.replace("A title", &"é".repeat(200));
        let item = parse_work_item_file(&at_limit, None, &configured).expect("200 characters");
        assert_eq!(item.title.chars().count(), 200);
    }

    #[test]
    fn the_documented_example_is_a_valid_file() {
        let doc = include_str!("../../../docs/work-item-files.md");
        let start = doc.find("```markdown\n").expect("the example") + "```markdown\n".len();
        let example = &doc[start..start + doc[start..].find("```").unwrap()];
        let item =
            parse_work_item_file(example, None, &|name| name == "./scripts/validate-local.ps1")
                .expect("the documented example parses");
        assert_eq!(item.id.as_str(), "wi-BF-302");
        assert_eq!(item.lifecycle.done_criteria.len(), 27);
    }
}
