//! Releases cut short by the server's end: stopping what their steps left running,
//! marking them interrupted, and checking their targets until the live version is known.

use super::*;

/// How long a step's processes get to end on SIGTERM before they are killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Interrupts the releases whose locks match `dead` (another, dead server's: at start;
/// this server's own: at a graceful stop), stopping what their steps left running
/// before freeing each lock: a step that outlived its server must never finish behind
/// the lock's back, overlapping the next release. Each record says what was stopped.
async fn interrupt_locked(
    state: &AppState,
    dead: bool,
    why: &str,
) -> Result<Vec<ReleaseRecord>, StoreError> {
    let owner = state.instance.clone();
    let locked = state.db.call(move |conn| store::locked_releases(conn, &owner, dead)).await?;
    let mut interrupted = Vec::new();
    for store::RunningRelease { release, processes } in locked {
        let id = release.id;
        state.db.call(move |conn| store::begin_interrupt(conn, id)).await?;
        let stops =
            futures::future::join_all(processes.iter().map(|group| group.stop(STOP_GRACE))).await;
        let stopped = if processes.is_empty() {
            stop_sentence(None, None)
        } else {
            processes
                .iter()
                .zip(stops)
                .map(|(group, stopped)| stop_sentence(Some(*group), Some(stopped)))
                .collect()
        };
        let step = release.current_step.map_or("before its first step", Step::label);
        let outcome = format!("Interrupted: {why} during {step}.{stopped}");
        let guidance = interrupted_guidance(&release);
        tracing::warn!(target = %release.target, release = release.id, version = %release.version, %outcome, "release interrupted");
        let record = release.clone();
        state.db.call(move |conn| store::interrupt(conn, &record, &outcome, &guidance)).await?;
        announce(state, id, None).await;
        interrupted.push(release);
    }
    Ok(interrupted)
}

/// At start: releases left running by a server that died are marked interrupted, what
/// their steps left running is stopped, and their locks are freed.
pub async fn recover_interrupted(state: &AppState) -> Result<Vec<ReleaseRecord>, StoreError> {
    interrupt_locked(state, true, "the server stopped").await
}

/// At a graceful stop: this server's running releases are interrupted, their steps'
/// processes stopped (SIGTERM, then SIGKILL after [`STOP_GRACE`]).
pub async fn stop_running(state: &AppState) -> Result<Vec<ReleaseRecord>, StoreError> {
    interrupt_locked(state, false, "the server was shut down").await
}

/// How often a target whose live version is not known is checked again.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// Checks a target that needs one: its post-deploy smoke checks, then its status
/// command, which must print the recorded live version. Whether it passed.
pub async fn check_target(state: &AppState, target: &Target) -> Result<bool, StoreError> {
    let mut env = target.own_env();
    env.push(("FACTORY_TARGET".to_owned(), target.name.clone()));
    let name = target.name.clone();
    let live = state.db.call(move |conn| store::live(conn, &name)).await?.map(|r| r.version);
    let mut failure = None;
    // Every host of the target (or this one), each checked the same way.
    'hosts: for host in target.hosts_named(&target.host_names()) {
        let on = host.map_or(String::new(), |h| format!(" on {}", h.name));
        for check in target.smoke_checks(SmokeWhen::Post) {
            let run = run_smoke_check(check, target, &env, host).await;
            if !run.passed {
                failure = Some(format!("smoke check {}{on} {}", check.name, run.verdict()));
                break 'hosts;
            }
        }
        if let Some(argv) = &target.status {
            let run = target.run(argv, env.clone(), host, target.step_timeout, &|_| {}).await;
            let reported = run.output.split_whitespace().next().map(str::to_owned);
            failure = match (run.passed, reported, &live) {
                (false, _, _) => Some(format!("the status command{on} {}", run.verdict())),
                (true, Some(reported), Some(live)) if &reported != live => Some(format!(
                    "the status command{on} reports {reported}, but the last recorded live release is {live}: deploy or roll back to the version you want"
                )),
                (true, None, _) => Some(format!("the status command{on} printed no version")),
                _ => None,
            };
            if failure.is_some() {
                break;
            }
        }
    }
    let passed = failure.is_none();
    let result = failure.unwrap_or_else(|| "passed".into());
    let name = target.name.clone();
    state.db.call(move |conn| store::record_check(conn, &name, passed, &result)).await?;
    if passed {
        tracing::info!(target = %target.name, "the target's check passed: its live version is known again");
    }
    Ok(passed)
}

/// Checks every target that needs it, every [`CHECK_INTERVAL`], until none does; each
/// check runs only while no release runs on its target.
pub async fn check_until_known(state: AppState) {
    loop {
        let mut waiting = false;
        for target in state.targets.iter() {
            let name = target.name.clone();
            let found = state
                .db
                .call(move |conn| {
                    Ok((store::needed_check(conn, &name)?, store::running(conn, &name)?))
                })
                .await;
            match found {
                Ok((Some(_), None)) => match check_target(&state, target).await {
                    Ok(true) => {}
                    Ok(false) => waiting = true,
                    Err(err) => {
                        tracing::warn!(error = %err, target = %target.name, "cannot check the target");
                        waiting = true;
                    }
                },
                Ok((Some(_), Some(_))) => waiting = true,
                Ok((None, _)) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read which targets need a check");
                    waiting = true;
                }
            }
        }
        if !waiting {
            return;
        }
        tokio::time::sleep(CHECK_INTERVAL).await;
    }
}
