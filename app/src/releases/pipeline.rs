//! The pipeline of a release: its steps in the order `domain::release::after` gives,
//! each recorded as it runs, and the hand-over to an automatic rollback.

use super::*;
use crate::domain::release::rollout::{Ended, Plan, StepRunner, drive};

/// Runs the release's steps as the state machine orders them, recording each; a failed
/// deploy hands over to an automatic rollback under the same lock.
pub(super) async fn run_pipeline(
    state: &AppState,
    target: &Target,
    first: i64,
    kind: ReleaseKind,
    replaced: Option<ReleaseRecord>,
) {
    if let Err(err) = pipeline(state, target, first, kind, replaced).await {
        tracing::error!(error = %err, release = first, "a release failed to record its progress");
    }
}

async fn load(state: &AppState, id: i64) -> Result<ReleaseRecord, StoreError> {
    state
        .db
        .call(move |conn| store::get(conn, id))
        .await?
        .map(|(release, _)| release)
        .ok_or_else(|| StoreError::InvalidRow(format!("release #{id} vanished")))
}

async fn pipeline(
    state: &AppState,
    target: &Target,
    first: i64,
    kind: ReleaseKind,
    replaced: Option<ReleaseRecord>,
) -> Result<(), StoreError> {
    let release = load(state, first).await?;
    log_release_start(target, &release);
    let plan = Plan {
        kind,
        hosts: target
            .hosts_named(&release.hosts)
            .into_iter()
            .map(|host| host.map(|host| host.name.clone()))
            .collect(),
        batch_size: target.batch_size.max(1),
        can_roll_back: replaced.is_some(),
    };
    // What the commands are told the previous version is: the live release's.
    let previous_version = replaced.as_ref().map(|live| live.version.clone()).unwrap_or_default();
    let steps =
        RecordedSteps { state, target, release: &release, previous_version: &previous_version };
    match (drive(&plan, &steps).await?, replaced) {
        (Ended::Stopped, _) => Ok(()),
        (Ended::RollBack { step, moved, runs }, Some(back_to)) => {
            let plan = plan.automatic_rollback(moved);
            let auto =
                start_automatic_rollback(state, target, &release, back_to, step, &plan, &runs)
                    .await?;
            let steps =
                RecordedSteps { state, target, release: &auto, previous_version: &release.version };
            match drive(&plan, &steps).await? {
                Ended::Stopped => Ok(()),
                ended => finish(state, target, &auto, ended).await,
            }
        }
        (ended, _) => finish(state, target, &release, ended).await,
    }
}

/// Runs a release's steps where its target lives (here, or on its hosts over OpenSSH)
/// for the rollout driver, recording each step as it runs.
struct RecordedSteps<'a> {
    state: &'a AppState,
    target: &'a Target,
    release: &'a ReleaseRecord,
    previous_version: &'a str,
}

impl StepRunner for RecordedSteps<'_> {
    type Error = StoreError;

    async fn run(&self, step: Step, host: Option<&str>) -> Result<Vec<CommandRun>, StoreError> {
        let host = host.and_then(|name| self.target.hosts.iter().find(|h| h.name == name));
        run_host_step(self.state, self.target, self.release, step, host, self.previous_version)
            .await
    }

    async fn hold(&self) -> Result<Option<Hold>, StoreError> {
        let name = self.target.name.clone();
        self.state.db.call(move |conn| crate::store::holds::hold(conn, &name)).await
    }

    async fn still_running(&self) -> Result<bool, StoreError> {
        let id = self.release.id;
        self.state.db.call(move |conn| store::is_running(conn, id)).await
    }
}

/// A deploy that failed: starts its automatic rollback (`plan`: the hosts it moved) to
/// `back_to` under the same lock, ends the deploy with guidance naming the rollback, and
/// returns the rollback's record.
async fn start_automatic_rollback(
    state: &AppState,
    target: &Target,
    release: &ReleaseRecord,
    back_to: ReleaseRecord,
    failed_at: Step,
    plan: &Plan,
    runs: &[CommandRun],
) -> Result<ReleaseRecord, StoreError> {
    let failed_step = failed_at.label().to_owned();
    let failed = first_failure(runs);
    let advice = ssh_advice(target, runs);
    let deploy_record = release.clone();
    // The hosts the deploy moved go back, newest first (none named: this machine).
    let moved: Vec<String> = plan.hosts.iter().flatten().cloned().collect();
    let (name, started_by, via, deploy_id) =
        (target.name.clone(), release.started_by.clone(), release.started_via, release.id);
    let auto = state
        .db
        .call(move |conn| {
            let auto = store::start_under_lock(
                conn,
                &NewRelease {
                    target: &name,
                    kind: ReleaseKind::AutomaticRollback,
                    version: &back_to.version,
                    commit: back_to.commit.as_deref(),
                    replaces: Some(deploy_id),
                    related: Some(deploy_id),
                    started_by: &started_by,
                    started_via: via,
                    shipped_items: &[],
                    hosts: &moved,
                    batch_size: (!moved.is_empty()).then_some(1),
                },
            )?;
            // The deploy ends here; its lock moved to the rollback.
            let mut guidance =
                rolled_back_guidance(&deploy_record, failed_at, &failed, &back_to.version, auto);
            if !advice.is_empty() {
                guidance.next_step = format!("{advice} {}", guidance.next_step);
            }
            store::finish(
                conn,
                deploy_id,
                ReleaseStatus::Failed,
                &format!("{failed_step} failed; automatic rollback #{auto} started."),
                Some(&guidance),
            )?;
            Ok(auto)
        })
        .await?;
    tracing::warn!(target = %target.name, release = deploy_id, version = %release.version, step = failed_at.label(), "a deploy failed after changing the host: automatic rollback #{auto} started");
    let auto = load(state, auto).await?;
    log_release_start(target, &auto);
    announce(state, auto.id, Some(WebhookEvent::ReleaseStarted)).await;
    Ok(auto)
}

/// The deploy an automatic rollback that ended with `status` concludes: its id, its
/// status (rolled back, or failed with its rollback) and its outcome's words.
fn undone_deploy(
    kind: ReleaseKind,
    release: &ReleaseRecord,
    status: ReleaseStatus,
) -> Option<(i64, ReleaseStatus, String)> {
    let id = release.id;
    match (kind, release.related) {
        (ReleaseKind::AutomaticRollback, Some(deploy)) => {
            let undone = status == ReleaseStatus::Succeeded;
            let text = if undone {
                format!(
                    "Rolled back automatically by release #{id}; the previous version serves again."
                )
            } else {
                format!("The automatic rollback, release #{id}, failed: the target needs a person.")
            };
            let deploy_status =
                if undone { ReleaseStatus::RolledBack } else { ReleaseStatus::Failed };
            Some((deploy, deploy_status, text))
        }
        _ => None,
    }
}

/// Writes a release's end (and, for an automatic rollback, the end of the deploy it
/// undid), in one transaction, and announces it.
async fn finish(
    state: &AppState,
    target: &Target,
    release: &ReleaseRecord,
    ended: Ended,
) -> Result<(), StoreError> {
    let Ended::Finished { status, step, batch, moved, runs, hold } = ended else {
        return Err(StoreError::InvalidRow(format!(
            "release #{} did not finish by itself",
            release.id
        )));
    };
    let (id, kind) = (release.id, release.kind);
    let (mut outcome, mut guidance) = match &hold {
        Some(hold) if status == ReleaseStatus::Interrupted => {
            let reached = moved.min(release.hosts.len());
            stopped_by_hold(
                release,
                hold,
                batch,
                &release.hosts[..reached],
                &release.hosts[reached..],
            )
        }
        _ => ending(target, release, step, status, &runs),
    };
    let (left, at_end) = leave_hosts(state, target, release, status, &runs).await?;
    if status == ReleaseStatus::RollbackFailed && !left.is_empty() {
        outcome = format!("{outcome} {}", needs_a_person(&left));
    }
    if let Some(guidance) = &mut guidance {
        let advice = [needs_a_person(&left), ssh_advice(target, &runs)];
        guidance.next_step = advice
            .into_iter()
            .chain([guidance.next_step.clone()])
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
    }
    if status == ReleaseStatus::Succeeded {
        tracing::info!(target = %target.name, release = id, kind = kind.as_str(), version = %release.version, by = %release.started_by, status = status.as_str(), %outcome, "release ended");
    } else {
        tracing::warn!(target = %target.name, release = id, kind = kind.as_str(), version = %release.version, by = %release.started_by, status = status.as_str(), %outcome, hosts_needing_a_person = ?left, "release ended");
    }
    // The deploy an automatic rollback undoes ends with it, in the same
    // write: no reader sees the rollback over and the deploy still open.
    let undid = undone_deploy(kind, release, status);
    let concluded = undid.as_ref().map(|(deploy, ..)| *deploy);
    state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            store::finish_in(&tx, id, status, &outcome, guidance.as_ref())?;
            // The deploy keeps the guidance it got when it failed, and gets
            // where its rollback left the hosts.
            if let Some((deploy, deploy_status, text)) = &undid {
                store::conclude(&tx, *deploy, *deploy_status, text)?;
                if !at_end.is_empty() {
                    release_hosts::record_at_end(&tx, *deploy, &at_end)?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
    announce(state, id, None).await;
    if let Some(deploy) = concluded {
        announce(state, deploy, None).await;
    }
    Ok(())
}

/// Runs one step on one host (or on this one), recorded as a step of its own, and keeps
/// where it left the host.
async fn run_host_step(
    state: &AppState,
    target: &Target,
    release: &ReleaseRecord,
    step: Step,
    host: Option<&TargetHost>,
    previous_version: &str,
) -> Result<Vec<CommandRun>, StoreError> {
    let id = release.id;
    let host_name = host.map(|h| h.name.clone());
    let at = host_name.clone();
    let position =
        state.db.call(move |conn| store::begin_step(conn, id, step, at.as_deref())).await?;
    let started = Instant::now();
    let (events, recorder) = record_step_events(state, id, position);
    let watch = move |event: RunEvent| {
        let _ = events.send(event);
    };
    let runs = run_step(target, release, step, host, previous_version, &watch).await;
    drop(watch);
    let _ = recorder.await;
    let passed = runs.iter().all(|run| run.passed);
    let duration = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let stored_runs = runs.clone();
    let (name, version) = (target.name.clone(), release.version.clone());
    state
        .db
        .call(move |conn| {
            store::finish_step(conn, id, position, passed, duration, &stored_runs)?;
            // Where the host stands: a passed deploy or rollback command put this
            // release's version there; a failed one left it not known.
            if let Some(host) = &host_name
                && step.changes_the_host()
            {
                let version = passed.then_some(version.as_str());
                release_hosts::set(conn, &name, host, version, false, id)?;
            }
            Ok(())
        })
        .await?;
    state
        .metrics
        .step_seconds
        .get_or_create(&crate::metrics::StepLabels {
            target: target.name.clone(),
            step: step.as_str().to_owned(),
        })
        .observe(duration as f64 / 1000.0);
    let result = if passed { "passed" } else { "failed" };
    tracing::info!(target = %target.name, release = id, host = host.map(|h| h.name.as_str()), version = %release.version, step = step.label(), result, ms = duration, "release step ended");
    Ok(runs)
}

/// At a release's end: the hosts whose last step failed with nothing to undo it need a
/// person (a failed rollback, or a failed first deploy), and the release keeps where
/// every host of the target stood. Returns the hosts that need a person, and where every
/// host stands.
async fn leave_hosts(
    state: &AppState,
    target: &Target,
    release: &ReleaseRecord,
    status: ReleaseStatus,
    runs: &[CommandRun],
) -> Result<(Vec<String>, Vec<release_hosts::HostState>), StoreError> {
    if target.hosts.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let stranded = matches!(status, ReleaseStatus::Failed | ReleaseStatus::RollbackFailed);
    let failed_on: Vec<String> = release
        .hosts
        .iter()
        .filter(|host| {
            stranded && runs.iter().any(|run| !run.passed && run.host.as_ref() == Some(*host))
        })
        .cloned()
        .collect();
    let (name, id, all) = (target.name.clone(), release.id, target.host_names());
    state
        .db
        .call(move |conn| {
            for host in &failed_on {
                release_hosts::needs_person(conn, &name, host, id)?;
            }
            let states = release_hosts::states(conn, &name, &all)?;
            release_hosts::record_at_end(conn, id, &states)?;
            let left = states
                .iter()
                .filter(|state| state.needs_person)
                .map(|state| state.host.clone())
                .collect();
            Ok((left, states))
        })
        .await
}

/// "web-1 needs a person." / "web-1 and web-2 need a person."
pub fn needs_a_person(hosts: &[String]) -> String {
    match hosts {
        [] => String::new(),
        [one] => format!("{one} needs a person."),
        [first @ .., last] => format!("{} and {last} need a person.", first.join(", ")),
    }
}

/// What to do when `ssh` itself failed to reach a host (a host key, a connection, the
/// deploy key), naming the host; empty when no run failed that way.
fn ssh_advice(target: &Target, runs: &[CommandRun]) -> String {
    runs.iter()
        .filter(|run| !run.passed)
        .find_map(|run| {
            let failure = crate::ssh::SshFailure::of(run)?;
            let host = target.hosts.iter().find(|host| run.host.as_ref() == Some(&host.name))?;
            Some(failure.next_step(host, &target.ssh))
        })
        .unwrap_or_default()
}

/// A line in the server log for each release that starts: the runbook points there.
fn log_release_start(target: &Target, release: &ReleaseRecord) {
    tracing::info!(
        target = %target.name,
        release = release.id,
        kind = release.kind.as_str(),
        version = %release.version,
        by = %release.started_by,
        via = %release.started_via,
        "release started"
    );
}

/// The variables every command of a release gets.
fn release_env(
    target: &Target,
    release: &ReleaseRecord,
    previous_version: &str,
) -> Vec<(String, String)> {
    let mut env = target.own_env();
    env.push(("FACTORY_RELEASE_ID".into(), release.id.to_string()));
    env.push(("FACTORY_TARGET".into(), target.name.clone()));
    env.push(("FACTORY_VERSION".into(), release.version.clone()));
    env.push(("FACTORY_COMMIT".into(), release.commit.clone().unwrap_or_default()));
    env.push(("FACTORY_PREVIOUS_VERSION".into(), previous_version.to_owned()));
    env
}

/// Keeps a running step's process group and output so far in its record, as they come,
/// on a task of its own so the step never waits on the database. The task ends once
/// the sender is dropped and what was sent is written.
fn record_step_events(
    state: &AppState,
    release: i64,
    position: i64,
) -> (tokio::sync::mpsc::UnboundedSender<RunEvent>, tokio::task::JoinHandle<()>) {
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel::<RunEvent>();
    let db = state.db.clone();
    let recorder = tokio::spawn(async move {
        while let Some(event) = received.recv().await {
            let written = match event {
                RunEvent::Started(group) => {
                    db.call(move |conn| store::step_started_process(conn, release, position, group))
                        .await
                }
                RunEvent::Output(mut output) => {
                    // Only the newest output matters: skip any older one still queued.
                    while let Ok(RunEvent::Output(newer)) = received.try_recv() {
                        output = newer;
                    }
                    db.call(move |conn| store::step_output_so_far(conn, release, position, &output))
                        .await
                }
            };
            if let Err(err) = written {
                tracing::warn!(error = %err, release, "cannot keep a running step's progress");
            }
        }
    });
    (events, recorder)
}

async fn run_step(
    target: &Target,
    release: &ReleaseRecord,
    step: Step,
    host: Option<&TargetHost>,
    previous_version: &str,
    watch: &(dyn Fn(RunEvent) + Sync),
) -> Vec<CommandRun> {
    let env = release_env(target, release, previous_version);
    let timeout = target.step_timeout;
    match step {
        Step::Deploy => vec![target.run(&target.deploy, env, host, timeout, watch).await],
        Step::Rollback => vec![target.run(&target.rollback, env, host, timeout, watch).await],
        Step::PreSmoke | Step::PostSmoke | Step::RollbackSmoke => {
            let when = if step == Step::PreSmoke { SmokeWhen::Pre } else { SmokeWhen::Post };
            let on = host.map_or(String::new(), |h| format!("on {}: ", h.name));
            let mut runs = Vec::new();
            for check in target.smoke_checks(when) {
                let mut run = run_smoke_check(check, target, &env, host).await;
                let command = run.command.strip_prefix(&on).unwrap_or(&run.command);
                run.command = format!("{on}smoke check {}: {command}", check.name);
                let passed = run.passed;
                runs.push(run);
                // The first failed check decides the step.
                if !passed {
                    break;
                }
            }
            runs
        }
    }
}

/// "GET http://…/healthz answered 200 but the body lacks \"ok\"": the first failed run.
pub(super) fn first_failure(runs: &[CommandRun]) -> String {
    runs.iter()
        .find(|run| !run.passed)
        .map(|run| match why(run) {
            Some(why) => format!("{} {} ({why})", run.command, run.verdict()),
            None => format!("{} {}", run.command, run.verdict()),
        })
        .unwrap_or_default()
}

/// What a failed run says of why, in a line: an HTTP check's answer ("body lacks
/// \"ok\""), or a command's last line of output, where a failure's reason usually is.
fn why(run: &CommandRun) -> Option<String> {
    let line = run
        .output
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty() && !line.starts_with('['))?;
    // An HTTP check's line repeats its address: keep its answer.
    let line = line
        .strip_prefix("GET ")
        .and_then(|rest| rest.split_once(": "))
        .map_or(line, |(_, answer)| answer);
    Some(crate::domain::text::bounded(line, 160))
}
