//! Demo mode: work items for a database that has none, so a newcomer sees a real board.
//! The items are work-item files (the factory repository's format) embedded in the binary.

use app::auth::secrets::{hash_password, random_secret};
use app::domain::{Role, Username};
use app::domain::{WorkItem, WorkItemFileError, parse_work_item_file};
use app::store::operators::{self, OperatorStoreError};
use app::store::{Db, StoreError};

macro_rules! demo_item {
    ($id:literal) => {
        (concat!($id, ".md"), include_str!(concat!("../demo/work-items/", $id, ".md")), None)
    };
    ($id:literal, prompt) => {
        (
            concat!($id, ".md"),
            include_str!(concat!("../demo/work-items/", $id, ".md")),
            Some(include_str!(concat!("../demo/work-items/prompts/", $id, ".prompt.md"))),
        )
    };
}

/// (file name, file text, prompt text) for every demo item.
const DEMO_FILES: &[(&str, &str, Option<&str>)] = &[
    demo_item!("wi-BF-302", prompt),
    demo_item!("wi-BF-301", prompt),
    demo_item!("wi-BF-318", prompt),
    demo_item!("wi-BF-321", prompt),
    demo_item!("wi-BF-325", prompt),
    demo_item!("wi-BF-327", prompt),
    demo_item!("wi-BF-330", prompt),
    demo_item!("wi-BF-333", prompt),
    demo_item!("wi-BF-340"),
    demo_item!("wi-BF-342"),
    demo_item!("wi-BF-336"),
];

/// A demo file that does not sync (its lane is no lane), so that a newcomer sees the
/// sync report name a broken file by line and field. Not an item: it never parses.
const DEMO_BROKEN_FILE: (&str, &str) =
    ("wi-BF-344.md", include_str!("../demo/work-items/wi-BF-344.md"));

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo file {file}: {source}")]
    File { file: &'static str, source: WorkItemFileError },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("FACTORY_DEMO_PASSWORD: {0}")]
    Password(#[from] app::domain::OperatorError),
}

/// The demo items, parsed.
pub fn demo_items() -> Result<Vec<WorkItem>, DemoError> {
    DEMO_FILES
        .iter()
        .map(|(file, text, prompt)| {
            let prompt = prompt.map(|p| p.trim_end().to_owned());
            parse_work_item_file(text, prompt, &|name| name == DEMO_VALIDATION_COMMAND)
                .map_err(|source| DemoError::File { file, source })
        })
        .collect()
}

/// The demo factory repository's validation script (a POSIX shell script under the name
/// the demo items' validation command uses).
const DEMO_VALIDATE_SCRIPT: &str = include_str!("../demo/factory/scripts/validate-local.ps1");

/// Where the demo factory repository is written, inside the data directory.
pub const DEMO_FACTORY_DIR: &str = "demo-factory";

/// The validation command the demo's items name, as the reference item does; the demo's
/// configuration runs the script of that path in the demo repository.
pub const DEMO_VALIDATION_COMMAND: &str = "./scripts/validate-local.ps1";

/// Writes the demo factory repository (the work-item files, their prompts and the
/// validation script) into the data directory and returns its path. The work-item files
/// are written only when their directory is new: they are the demo's source of truth,
/// and a newcomer's edits to them must survive a restart. Prepare release runs the demo
/// items' validation command there.
pub fn write_demo_factory(data_dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let root = data_dir.join(DEMO_FACTORY_DIR);
    let prompts = root.join("work-items/prompts");
    let scripts = root.join("scripts");
    let first_time = !root.join("work-items").exists();
    std::fs::create_dir_all(&prompts)?;
    std::fs::create_dir_all(&scripts)?;
    for (file, text, prompt) in DEMO_FILES.iter().filter(|_| first_time) {
        std::fs::write(root.join("work-items").join(file), text)?;
        if let Some(prompt) = prompt {
            let id = file.trim_end_matches(".md");
            std::fs::write(prompts.join(format!("{id}.prompt.md")), prompt)?;
        }
    }
    if first_time {
        let (file, text) = DEMO_BROKEN_FILE;
        std::fs::write(root.join("work-items").join(file), text)?;
    }
    let script = scripts.join("validate-local.ps1");
    std::fs::write(&script, DEMO_VALIDATE_SCRIPT)?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok(root)
}

/// Where the demo target (its scripts, releases and service) lives, in the data directory.
pub const DEMO_TARGET_DIR: &str = "demo-target";

const DEMO_TARGET_SCRIPTS: &[(&str, &str)] = &[
    ("deploy.sh", include_str!("../demo/target/deploy.sh")),
    ("rollback.sh", include_str!("../demo/target/rollback.sh")),
    ("ensure-service.sh", include_str!("../demo/target/ensure-service.sh")),
    ("candidate.sh", include_str!("../demo/target/candidate.sh")),
    ("preflight.sh", include_str!("../demo/target/preflight.sh")),
    ("status.sh", include_str!("../demo/target/status.sh")),
];

/// The demo's versions: (version, commit, what its health check answers). 1.2.0 fails its
/// post-deploy smoke check, so a newcomer sees an automatic rollback; 1.4.0's deploy
/// runs a migration of a few seconds on each host, so they can watch a rollout move.
const DEMO_VERSIONS: &[(&str, &str, &str)] = &[
    ("1.0.0", "3f9c2a1", "ok 1.0.0"),
    ("1.1.0", "8b41d07", "ok 1.1.0"),
    ("1.2.0", "c0ffee5", "degraded: the cache layer is down"),
    ("1.3.0", "5a7e912", "ok 1.3.0"),
    ("1.4.0", "e41a9d3", "ok 1.4.0"),
];

/// The version whose deploy takes its time, and how many seconds on each host.
const DEMO_SLOW_VERSION: (&str, &str) = ("1.4.0", "4");

/// Writes the demo target into the data directory (scripts and five releases) and
/// returns it: a real local HTTP service (python3's http.server) that the deploy and
/// rollback scripts switch between releases, with a real HTTP smoke check. Its port is
/// chosen once and kept in `demo-target/port`.
pub fn write_demo_target(data_dir: &std::path::Path) -> std::io::Result<app::targets::Target> {
    use app::targets::{SmokeProbe, Target};
    let root = data_dir.join(DEMO_TARGET_DIR);
    let port = write_demo_host(&root)?;
    Ok(Target {
        name: DEMO_WEB.into(),
        working_dir: root,
        env: [("DEMO_PORT".to_owned(), port.to_string())].into(),
        smoke: demo_smoke_checks(SmokeProbe::Http {
            url: format!("http://127.0.0.1:{port}/healthz"),
            status: 200,
            body_contains: Some("ok".into()),
        }),
        // Staging for demo-production: a version verified here a minute after its deploy.
        soak: std::time::Duration::from_secs(60),
        ..demo_commands()
    })
}

/// The demo's first target, which demo-production promotes from.
const DEMO_WEB: &str = "demo-web";

/// Where the demo's production target lives.
pub const DEMO_PRODUCTION_DIR: &str = "demo-production";

/// The demo's production: its own copy of the demo service, taking only versions
/// verified on demo-web (promotion), each deploy approved first — by a second person, or
/// by the same one confirming again after a minute (a lone newcomer) — and a nightly
/// freeze window that opens six hours after the demo starts (so its first minutes are
/// outside it, and the card shows the next one).
pub fn write_demo_production(data_dir: &std::path::Path) -> std::io::Result<app::targets::Target> {
    use app::domain::release::approval::ApprovalRule;
    use app::domain::release::freeze::FreezeWindow;
    let root = data_dir.join(DEMO_PRODUCTION_DIR);
    let port = write_demo_host(&root)?;
    let opens = (time::OffsetDateTime::now_utc().hour() + 6) % 24;
    let nightly = FreezeWindow::new(
        "nightly",
        "UTC",
        &format!("{opens:02}:00"),
        &format!("{:02}:00", (opens + 2) % 24),
        "the nightly batch jobs run",
    )
    .map_err(|(field, why)| std::io::Error::other(format!("the demo's window {field}: {why}")))?;
    Ok(app::targets::Target {
        name: "demo-production".into(),
        working_dir: root,
        env: [("DEMO_PORT".to_owned(), port.to_string())].into(),
        smoke: demo_smoke_checks(app::targets::SmokeProbe::Http {
            url: format!("http://127.0.0.1:{port}/healthz"),
            status: 200,
            body_contains: Some("ok".into()),
        }),
        promotes_from: vec![DEMO_WEB.to_owned()],
        approvals: Some(ApprovalRule {
            required: 1,
            requester_may_approve: false,
            valid_for: time::Duration::minutes(60),
            confirm_again_after: Some(time::Duration::minutes(1)),
        }),
        freeze_windows: vec![nightly],
        ..demo_commands()
    })
}

/// What the demo's targets share: their scripts, and a step timeout of a minute.
fn demo_commands() -> app::targets::Target {
    app::targets::Target {
        candidate: Some(vec!["./candidate.sh".into()]),
        status: Some(vec!["./status.sh".into()]),
        step_timeout: std::time::Duration::from_secs(60),
        ..app::targets::Target::new(
            "",
            "",
            vec!["./deploy.sh".into()],
            vec!["./rollback.sh".into()],
        )
    }
}

/// The preflight command before a deploy, and `health` after it.
fn demo_smoke_checks(health: app::targets::SmokeProbe) -> Vec<app::targets::SmokeCheck> {
    use app::targets::{SmokeCheck, SmokeProbe, SmokeWhen};
    let check = |name: &str, when, probe, retries| SmokeCheck {
        name: name.to_owned(),
        when,
        probe,
        timeout: std::time::Duration::from_secs(5),
        retries,
        interval: std::time::Duration::from_millis(500),
    };
    vec![
        check("preflight", SmokeWhen::Pre, SmokeProbe::Command(vec!["./preflight.sh".into()]), 0),
        check("health", SmokeWhen::Post, health, 2),
    ]
}

/// Writes one release directory of a demo host; returns it.
fn write_release(
    root: &std::path::Path,
    version: &str,
    commit: &str,
    health: &str,
) -> std::io::Result<std::path::PathBuf> {
    let dir = root.join("releases").join(version);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("healthz"), format!("{health}\n"))?;
    std::fs::write(dir.join("version"), format!("{version}\n"))?;
    std::fs::write(dir.join("commit"), format!("{commit}\n"))?;
    std::fs::write(
        dir.join("index.html"),
        format!(
            "<!doctype html><title>Demo service {version}</title><h1>Demo service {version}</h1>\n"
        ),
    )?;
    Ok(dir)
}

/// Makes the demo's history true on a demo target's host: a release directory for each
/// of its versions, `current` on the live one, and the demo service started.
pub async fn put_history_live(
    data_dir: &std::path::Path,
    seeded: &crate::demo_history::Seeded,
) -> std::io::Result<()> {
    let root = match seeded.target {
        "demo-production" => data_dir.join(DEMO_PRODUCTION_DIR),
        _ => data_dir.join(DEMO_TARGET_DIR),
    };
    for version in &seeded.versions {
        write_release(&root, version, "0000000", &format!("ok {version}"))?;
    }
    let link = root.join("current.new");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(format!("releases/{}", seeded.live), &link)?;
    std::fs::rename(&link, root.join("current"))?;
    let port = std::fs::read_to_string(root.join("port"))?;
    let started = tokio::process::Command::new("./ensure-service.sh")
        .current_dir(&root)
        .env("DEMO_PORT", port.trim())
        .stdin(std::process::Stdio::null())
        .output()
        .await?;
    if !started.status.success() {
        return Err(std::io::Error::other(String::from_utf8_lossy(&started.stdout).into_owned()));
    }
    Ok(())
}

/// Writes one demo host into `root`: the scripts, the five releases, and the port its
/// service listens on (chosen once, kept in `root/port`). Returns the port.
fn write_demo_host(root: &std::path::Path) -> std::io::Result<u16> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(root)?;
    for (name, text) in DEMO_TARGET_SCRIPTS {
        let path = root.join(name);
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    for (version, commit, health) in DEMO_VERSIONS {
        let dir = write_release(root, version, commit, health)?;
        if *version == DEMO_SLOW_VERSION.0 {
            std::fs::write(dir.join("migrate-seconds"), DEMO_SLOW_VERSION.1)?;
        }
    }
    let port_file = root.join("port");
    if let Some(port) =
        std::fs::read_to_string(&port_file).ok().and_then(|p| p.trim().parse::<u16>().ok())
    {
        return Ok(port);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    std::fs::write(&port_file, port.to_string())?;
    Ok(port)
}

/// Where the demo fleet (its hosts' sshd, keys and working directories) lives.
pub const DEMO_FLEET_DIR: &str = "demo-fleet";

/// The demo's second target, `demo-fleet`: three "hosts" that are `sshd` processes on
/// loopback ports, each serving its own copy of the demo service, reached over real SSH.
/// The returned hosts stop their `sshd` when dropped.
pub async fn start_demo_fleet(
    data_dir: &std::path::Path,
) -> Result<(app::targets::Target, crate::loopback_hosts::LoopbackHosts), String> {
    use app::targets::{SmokeProbe, Target};
    let root = data_dir.join(DEMO_FLEET_DIR);
    let loopback =
        crate::loopback_hosts::LoopbackHosts::start(&root, &["web-1", "web-2", "web-3"]).await?;
    let mut hosts = Vec::new();
    for host in &loopback.hosts {
        let port =
            write_demo_host(&host.dir).map_err(|err| format!("{}: {err}", host.dir.display()))?;
        let mut target_host = host.target_host(&format!("127.0.0.1:{port}"));
        target_host.env.insert("DEMO_PORT".to_owned(), port.to_string());
        hosts.push(target_host);
    }
    let target = Target {
        name: "demo-fleet".into(),
        // The candidate command runs here, on web-1's copy of the releases.
        working_dir: loopback.hosts[0].dir.clone(),
        smoke: demo_smoke_checks(SmokeProbe::Http {
            url: "http://{host}/healthz".into(),
            status: 200,
            body_contains: Some("ok".into()),
        }),
        hosts,
        ssh: loopback.settings.clone(),
        ..demo_commands()
    };
    Ok((target, loopback))
}

/// Stops the demo services that deploys started under `data_dir` (the demo target's and
/// each demo fleet host's `http.server`): they run in sessions of their own, so that a
/// deploy step's end does not end them, and would otherwise outlive the dashboard. Each
/// is named by the `service.pid` its scripts wrote, and is stopped only if that process
/// is still an `http.server` working under `data_dir` (a pid can be reused).
pub fn stop_demo_services(data_dir: &std::path::Path) -> usize {
    let Ok(data_dir) = data_dir.canonicalize() else {
        return 0;
    };
    let mut pid_files = Vec::new();
    let mut dirs: Vec<_> = [DEMO_TARGET_DIR, DEMO_PRODUCTION_DIR, DEMO_FLEET_DIR]
        .into_iter()
        .map(|dir| (data_dir.join(dir), 0))
        .collect();
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && depth < 3 {
                dirs.push((path, depth + 1));
            } else if kind.is_file() && entry.file_name() == "service.pid" {
                pid_files.push(path);
            }
        }
    }
    let mut stopped = 0;
    for file in pid_files {
        let Some(pid) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok())
            .filter(|pid| *pid > 1)
        else {
            continue;
        };
        let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
        let is_demo_service = std::fs::read(proc.join("cmdline"))
            .is_ok_and(|cmdline| cmdline.windows(11).any(|w| w == b"http.server"))
            && std::fs::read_link(proc.join("cwd")).is_ok_and(|cwd| cwd.starts_with(&data_dir));
        // SAFETY: kill(2) with a checked pid and SIGTERM has no memory effects.
        if is_demo_service && unsafe { libc::kill(pid, libc::SIGTERM) } == 0 {
            stopped += 1;
        }
    }
    stopped
}

/// The demo's sign-in name.
pub const DEMO_USER: &str = "demo";

/// Creates the user `demo` (role operator) unless it exists. The password comes from
/// `password`, or is drawn at random and returned so the console can show it once.
pub async fn ensure_demo_user(
    db: &Db,
    password: Option<String>,
) -> Result<Option<String>, DemoError> {
    let name = Username::parse(DEMO_USER).expect("the demo username is valid");
    let lookup = name.clone();
    if db.call(move |conn| operators::user_by_name(conn, &lookup)).await?.is_some() {
        return Ok(None);
    }
    let (password, generated) = match password {
        Some(password) => {
            // The same policy as every other password.
            app::domain::check_new_password(&password)?;
            (password, false)
        }
        None => (random_secret(12), true),
    };
    let to_hash = password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&to_hash))
        .await
        .expect("hashing does not panic");
    db.call(move |conn| {
        match operators::add_user(conn, &name, &hash, Role::Operator) {
            // Another start created it meanwhile: keep theirs.
            Ok(_) | Err(OperatorStoreError::UsernameTaken(_)) => Ok(()),
            Err(OperatorStoreError::Store(err)) => Err(err),
        }
    })
    .await?;
    Ok(generated.then_some(password))
}

/// What a fresh demo's History starts with, dated back from now: the demo operator's
/// sign-in the day before, and two taps on actions their gates blocked (taken through the
/// action path's own gates, so their guidance is what the item pages say; a blocked
/// attempt changes nothing). (minutes ago, item, action); the sign-in comes first.
const DEMO_HISTORY: &[(i64, &str, app::domain::Action)] = &[
    (26 * 60 - 5, "wi-BF-340", app::domain::Action::RequestReview),
    (26 * 60 - 9, "wi-BF-327", app::domain::Action::PrepareRelease),
];
const DEMO_SIGN_IN_MINUTES_AGO: i64 = 26 * 60;

/// Gives a fresh demo's History a few realistic events (see [`DEMO_HISTORY`]). Only
/// into an empty History: a restart, or a History with real events, is left alone.
pub async fn seed_demo_history(state: &app::AppState) -> Result<(), app::error::ServiceError> {
    use app::auth::caller::Caller;
    use app::domain::{Credential, Operator, Via, WorkItemId};
    use app::store::audit::{self, NewAuditEvent};
    let name = Username::parse(DEMO_USER).expect("the demo username is valid");
    let found = state
        .db
        .call(move |conn| {
            let empty = audit::is_empty(conn)?;
            Ok(empty.then(|| operators::user_by_name(conn, &name)).transpose()?.flatten())
        })
        .await?;
    let Some(user) = found.filter(|user| !user.disabled) else {
        return Ok(());
    };
    let client = "127.0.0.1".to_owned();
    let sign_in = NewAuditEvent {
        actor: user.username.to_string(),
        action: "sign-in",
        outcome: "succeeded",
        client: Some(client.clone()),
        ..NewAuditEvent::default()
    };
    let mut dated = vec![(audit::save(&state.db, sign_in).await?, DEMO_SIGN_IN_MINUTES_AGO)];
    let caller = Caller {
        operator: Operator {
            name: user.username.to_string(),
            role: user.role,
            credential: Credential::Session { user_id: user.id },
        },
        via: Via::Page,
        client,
        once_key: None,
    };
    for (minutes_ago, item, action) in DEMO_HISTORY {
        let request = app::actions::ActionRequest {
            item: WorkItemId::parse(item).expect("the demo's ids are valid"),
            action: *action,
            caller: caller.clone(),
        };
        if let Some(result) = app::actions::record_blocked_attempt(state, &request).await? {
            dated.push((result.attempt, *minutes_ago));
        }
    }
    audit::date_back(&state.db, dated).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::domain::Lane;
    use std::collections::BTreeSet;

    #[test]
    fn demo_items_cover_every_lane_and_several_work_types() {
        let items = demo_items().unwrap();
        assert!(items.len() >= 9);
        let lanes: BTreeSet<Lane> = items.iter().map(|i| i.lifecycle.lane).collect();
        assert_eq!(lanes.len(), Lane::ALL.len());
        let types: BTreeSet<&str> = items.iter().map(|i| i.lifecycle.work_type.as_str()).collect();
        assert!(types.len() >= 4, "{types:?}");
        for item in &items {
            let file_id = item.id.as_str();
            assert!(
                DEMO_FILES.iter().any(|(f, ..)| f.starts_with(file_id)),
                "file name matches id {file_id}"
            );
        }
    }
}
