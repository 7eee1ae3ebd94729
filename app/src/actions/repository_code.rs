//! The actions that run repository code on the host: start-execution's hand-off to the
//! executor and prepare-release's validation command, each chosen by the configuration
//! and run in the sandbox.

use super::{base, failed, status, succeeded};
use crate::AppState;
use crate::domain::{
    Action, ActionResult, ActionView, CommandRun, Lane, Outcome, RecoveryGuidance, WorkItem,
    WorkItemId,
};
use crate::error::ServiceError;
use crate::process::{self, LocalCommand};
use crate::sandbox;
use crate::store::{sources, work_items};

/// start-execution with an executor: the item is in progress already; a failed handoff
/// puts it back in Ready so that the handoff can be retried.
pub(super) async fn hand_off(
    state: &AppState,
    mut item: WorkItem,
    view: ActionView,
    executor: &[String],
) -> Result<ActionResult, ServiceError> {
    let dir = state
        .repository_code
        .repository_dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let mut argv = executor.to_vec();
    argv.push(item.id.to_string());
    let mut command = LocalCommand::new(&argv, &dir, state.repository_code.executor_timeout);
    command.env = item_env(&item);
    // The prompt as the sync read it from the work-items directory, never a path the
    // file gave.
    command.stdin = process::Stdin::Text(item.prompt_context.text.clone().unwrap_or_default());
    let run = match command.in_sandbox(&state.repository_code.sandbox) {
        Ok(command) => process::run(&command).await,
        Err(reason) => sandbox::refused_run(&argv, &reason),
    };
    if run.passed {
        let message = format!(
            "{} moved to {} with status {}; the executor {}.",
            item.id,
            item.lifecycle.lane.label(),
            item.lifecycle.status,
            run.verdict()
        );
        let mut result = succeeded(&item, view, message);
        result.executor = Some(run);
        return Ok(result);
    }
    let id = item.id.clone();
    state
        .db
        .call(move |conn| {
            work_items::move_lane(conn, &id, Lane::InProgress, Lane::Ready, status::HANDOFF_FAILED)
        })
        .await?;
    item.lifecycle.lane = Lane::Ready;
    item.lifecycle.status = status::HANDOFF_FAILED.to_owned();
    let label = Action::StartExecution.label();
    let guidance = RecoveryGuidance {
        cause: format!("The executor {}.", run.verdict()),
        policy_context: format!(
            "{label} hands the item to the executor; an item whose handoff failed goes back to Ready so no work is lost or started twice."
        ),
        next_step: "Read the executor's output below, fix the executor or its configuration ([factory] executor), then start execution again.".to_owned(),
        safe_retry: format!("Safe to retry {label}: {} is back in Ready.", item.id),
    };
    let message = format!("{label} failed: the executor {}.", run.verdict());
    let mut result = failed(&item, view, message, guidance);
    result.executor = Some(run);
    Ok(result)
}

/// Why prepare-release runs nothing: what to do, and the sandbox's refused run when it
/// was the sandbox that refused.
struct NothingToRun {
    guidance: RecoveryGuidance,
    refused: Option<CommandRun>,
}

/// The validation command prepare-release runs for `item`, in the sandbox; or why
/// nothing runs.
fn command_to_validate(
    state: &AppState,
    item: &WorkItem,
) -> Result<LocalCommand, Box<NothingToRun>> {
    let nothing = |guidance| Box::new(NothingToRun { guidance, refused: None });
    let label = Action::PrepareRelease.label();
    let Some(name) = &item.execution_context.validation_command else {
        return Err(nothing(RecoveryGuidance {
            cause: format!("{} has no validation command.", item.id),
            policy_context: format!(
                "{label} runs the item's validation command; without one there is nothing to show the release is sound."
            ),
            next_step: "Name one of the configured validation commands as validation_command in the work-item file, then tap Refresh.".to_owned(),
            safe_retry: format!(
                "Safe to retry {label} once the item names its validation command."
            ),
        }));
    };
    let Some(argv) = state.repository_code.validation_commands.get(name) else {
        // The file was synced while the name was configured; the configuration changed.
        return Err(nothing(RecoveryGuidance {
            cause: format!(
                "{} names the validation command {}, which the configuration does not have.",
                item.id,
                crate::domain::text::quoted(name)
            ),
            policy_context: format!(
                "{label} runs only commands the configuration names under [factory.validation_commands]: a work-item file chooses among them and never says what runs."
            ),
            next_step: "Add the name under [factory.validation_commands] and restart, or name a configured command in the work-item file and tap Refresh.".to_owned(),
            safe_retry: format!("Safe to retry {label} once the name is configured."),
        }));
    };
    let Some(dir) = &state.repository_code.repository_dir else {
        return Err(nothing(RecoveryGuidance {
            cause: "No factory repository is configured, so the validation command has nowhere to run.".to_owned(),
            policy_context: format!("{label} runs validation commands in the factory repository only."),
            next_step: "Set repository_dir under [factory] in the configuration file (see docs/factory.example.toml) and restart the server.".to_owned(),
            safe_retry: format!("Safe to retry {label} once the repository is configured."),
        }));
    };
    let mut command = LocalCommand::new(argv, dir, state.repository_code.validation_timeout);
    command.env = item_env(item);
    command.in_sandbox(&state.repository_code.sandbox).map_err(|reason| {
        Box::new(NothingToRun {
            guidance: sandbox::refusal_guidance(label, &reason),
            refused: Some(sandbox::refused_run(argv, &reason)),
        })
    })
}

/// Variables a host command gets about the item it runs for.
fn item_env(item: &WorkItem) -> Vec<(String, String)> {
    let mut env = vec![("FACTORY_WORK_ITEM_ID".to_owned(), item.id.to_string())];
    if let Some(branch) = &item.execution_context.branch {
        env.push(("FACTORY_BRANCH".to_owned(), branch.clone()));
    }
    env
}

/// Removes the item from the running set when the run ends, however it ends.
struct RunningGuard<'a> {
    state: &'a AppState,
    id: WorkItemId,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.state.validations_running.lock() {
            running.remove(&self.id);
        }
    }
}

/// prepare-release: runs the item's validation command in the factory repository.
pub(super) async fn validate(
    state: &AppState,
    mut item: WorkItem,
    view: ActionView,
) -> Result<ActionResult, ServiceError> {
    let label = Action::PrepareRelease.label();
    let command = match command_to_validate(state, &item) {
        Ok(command) => command,
        Err(nothing) => {
            let NothingToRun { guidance, refused } = *nothing;
            let message = format!("{label} failed: {}", guidance.cause);
            let mut result = failed(&item, view, message, guidance);
            result.validation = refused;
            return Ok(result);
        }
    };
    let already_running = {
        let mut running =
            state.validations_running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        !running.insert(item.id.clone())
    };
    if already_running {
        let mut view = view;
        view.guidance = Some(RecoveryGuidance {
            cause: format!("A validation run for {} is already running.", item.id),
            policy_context: format!(
                "{label} runs one validation at a time per item, so two runs never race over one checkout."
            ),
            next_step:
                "Wait for the running validation; its result appears on this item and in History."
                    .to_owned(),
            safe_retry: format!("Safe to retry {label} when the running validation has finished."),
        });
        return Ok(base(
            &item,
            view,
            Outcome::Blocked,
            format!("{label} blocked: a validation run for {} is already running.", item.id),
        ));
    }
    let _guard = RunningGuard { state, id: item.id.clone() };
    let run = process::run(&command).await;
    let new_status = if run.passed { status::RELEASE_READY } else { status::VALIDATION_FAILED };
    let id = item.id.clone();
    state
        .db
        .call(move |conn| {
            // The validation ran against the item's current pull request: a change of
            // pull request is reconciled.
            sources::clear_pull_request_change(conn, &id)?;
            work_items::set_status(conn, &id, new_status)
        })
        .await?;
    item.lifecycle.status = new_status.to_owned();
    let mut result = if run.passed {
        let message = format!("Validation {}: {} is release-ready.", run.verdict(), item.id);
        succeeded(&item, view, message)
    } else {
        let guidance = RecoveryGuidance {
            cause: format!("The validation command {}.", run.verdict()),
            policy_context: format!(
                "{label} makes an item release-ready only when its validation command passes in the factory repository."
            ),
            next_step: if run.timed_out {
                format!(
                    "Find what hangs in the output below; if the checks need longer, raise validation_timeout_seconds under [factory] (now {} s).",
                    state.repository_code.validation_timeout.as_secs()
                )
            } else {
                "Read the output below, fix the failing checks on the item's branch, then prepare the release again.".to_owned()
            },
            safe_retry: format!(
                "Safe to retry {label}: a validation run changes nothing but the item's status."
            ),
        };
        let message = format!("{label} failed: the validation command {}.", run.verdict());
        failed(&item, view, message, guidance)
    };
    result.validation = Some(run);
    Ok(result)
}
