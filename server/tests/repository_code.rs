//! What the writers of the factory repository can make the dashboard do. They write the
//! work-item files and the code in the repository; they are not trusted with the host.
//! A file may name one of the configured validation commands and nothing else, and the
//! code the dashboard runs from the repository runs in a sandbox without the dashboard's
//! secrets, stopped as a whole at its timeout.

mod common;

use app::process::RepositoryCodeSettings;
use common::{Setup, TestApp, answer, assert_contains, assert_guidance};
use reqwest::StatusCode;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

fn script(dir: &Path, name: &str, body: &str) {
    common::script(dir, name, body);
}

fn work_item(id: &str, title: &str, lane: &str, validation_command: &str) -> String {
    format!(
        "+++\nid = \"{id}\"\ntitle = \"{title}\"\nlane = \"{lane}\"\nwork_type = \"bug\"\nvalidation_command = {validation_command}\npull_request_url = \"https://example.test/pull/1\"\n+++\nA summary.\n"
    )
}

async fn prepare_release(app: &TestApp, id: &str) -> (StatusCode, Value) {
    answer(app.api_post(
        &app.client,
        &format!("/api/control-plane/items/{id}/actions/prepare-release"),
        None,
    ))
    .await
}

/// A repository whose work-items directory holds one good file and every hostile
/// `validation_command` the audit tried, with the script they hoped to run.
fn hostile_repository() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    let items = repo.path().join("work-items");
    std::fs::create_dir_all(&items).unwrap();
    let ran = repo.path().join("hostile-code-ran");
    script(&items, "run.sh", &format!("touch {}", ran.display()));
    script(repo.path(), "validate.sh", "echo configured validation ran");
    let files = [
        ("wi-OK-1", "\"validate\""),
        ("wi-EVIL-1", "\"sh -c 'touch hostile-code-ran'\""),
        ("wi-EVIL-2", "\"/bin/sh\""),
        ("wi-EVIL-3", "\"./../../../../bin/sh\""),
        ("wi-EVIL-4", "\"./work-items/run.sh\""),
        ("wi-EVIL-5", "\"validate; ./work-items/run.sh\""),
    ];
    for (id, command) in files {
        std::fs::write(items.join(format!("{id}.md")), work_item(id, "Hostile", "review", command))
            .unwrap();
    }
    // A title of a megabyte, and one that reads backwards from its middle.
    std::fs::write(
        items.join("wi-BIG-1.md"),
        work_item("wi-BIG-1", &"x".repeat(1_000_000), "review", "\"validate\""),
    )
    .unwrap();
    std::fs::write(
        items.join("wi-BIDI-1.md"),
        work_item(
            "wi-BIDI-1",
            "Fix login \u{202E}exe.txt\u{202C} and \u{200B}more",
            "review",
            "\"validate\"",
        ),
    )
    .unwrap();
    repo
}

/// A demo app over `repo`'s work items, whose one validation command `validate` runs
/// `program` in the repository.
fn setup_over(repo: &Path, program: &str, settings: RepositoryCodeSettings) -> Setup {
    Setup::default().with(|s| {
        s.repository_code = RepositoryCodeSettings {
            repository_dir: Some(repo.to_owned()),
            validation_commands: app::process::ValidationCommands::new(
                [("validate".to_owned(), vec![program.to_owned()])].into(),
            ),
            ..settings
        };
        s.queue_truth.work_items_dir = Some(repo.join("work-items"));
    })
}

async fn app_over(repo: &Path, settings: RepositoryCodeSettings) -> TestApp {
    setup_over(repo, "./validate.sh", settings).spawn().await
}

#[tokio::test]
async fn a_work_item_file_can_name_a_configured_command_and_nothing_else() {
    let repo = hostile_repository();
    let app = app_over(repo.path(), RepositoryCodeSettings::default()).await;

    let (status, sync) = app.get_json("/api/control-plane/sync").await;
    assert_eq!(status, StatusCode::OK);
    let errors = sync["last_sync"]["errors"].as_array().unwrap();
    for file in ["wi-EVIL-1.md", "wi-EVIL-2.md", "wi-EVIL-3.md", "wi-EVIL-4.md", "wi-EVIL-5.md"] {
        let error = errors
            .iter()
            .find(|e| e["file"] == file)
            .unwrap_or_else(|| panic!("{file} is a sync error: {errors:?}"));
        assert_eq!(error["field"], "validation_command", "{error}");
        assert_eq!(error["line"], 6, "{error}");
        assert_contains(
            error["message"].as_str().unwrap(),
            "is not one of the validation commands configured under [factory.validation_commands]",
        );
        let id = file.trim_end_matches(".md");
        let (status, _) = app.get_json(&format!("/api/control-plane/items/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id} did not sync");
    }
    let big = errors.iter().find(|e| e["file"] == "wi-BIG-1.md").unwrap();
    assert_eq!(big["field"], "title", "{big}");
    assert_contains(big["message"].as_str().unwrap(), "title may have at most 200");

    // The other items synced, and the good one runs the configured command.
    let (status, body) = prepare_release(&app, "wi-OK-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["validation"]["passed"], true, "{body}");
    assert_contains(body["validation"]["output"].as_str().unwrap(), "configured validation ran");

    // An item whose file turns hostile keeps its last good data, and Prepare release
    // waits for the file to be fixed.
    std::fs::write(
        repo.path().join("work-items/wi-OK-1.md"),
        work_item("wi-OK-1", "Hostile now", "review", "\"./work-items/run.sh\""),
    )
    .unwrap();
    let sync = app.sync().await;
    assert!(
        sync["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["file"] == "wi-OK-1.md" && e["field"] == "validation_command"),
        "{sync}"
    );
    let (status, body) = prepare_release(&app, "wi-OK-1").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let gate = common::blocking_gate(&body, "queue-truth");
    assert_contains(gate["reason"].as_str().unwrap(), "validation_command");
    let (_, item) = app.get_json("/api/control-plane/items/wi-OK-1").await;
    assert_eq!(item["execution_context"]["validation_command"], "validate");
    assert!(!repo.path().join("hostile-code-ran").exists(), "no hostile command ran");
}

#[tokio::test]
async fn hidden_and_direction_changing_characters_are_shown_escaped() {
    let repo = hostile_repository();
    let app = app_over(repo.path(), RepositoryCodeSettings::default()).await;
    for path in ["/items/wi-BIDI-1", "/?lane=review"] {
        let page = app.page(path).await;
        assert_contains(&page, "Fix login \\u{202E}exe.txt\\u{202C} and \\u{200B}more");
        assert!(
            !page.contains('\u{202E}') && !page.contains('\u{200B}'),
            "{path} shows no raw override"
        );
    }
    // The API gives the title as the file has it: a client decides how to show it.
    let (_, item) = app.get_json("/api/control-plane/items/wi-BIDI-1").await;
    assert_eq!(item["title"], "Fix login \u{202E}exe.txt\u{202C} and \u{200B}more");
}

/// A validation command that tries to reach each of the dashboard's secrets and says
/// which it reached.
fn attacker(repo: &Path, data_dir: &Path, config_dir: &Path) {
    std::fs::write(repo.join("readme"), "in the repository").unwrap();
    script(
        repo,
        "attack.sh",
        &format!(
            r#"try() {{ label=$1; shift; if "$@" >/dev/null 2>&1; then echo "REACHED $label"; else echo "DENIED $label"; fi; }}
try repository cat ./readme
try session-key cat {data}/session.key
try database cat {data}/factory.sqlite3
try deploy-key cat {config}/deploy_key
try configuration cat {config}/factory.toml
try environment cat /proc/{pid}/environ
try ssh-connection python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' {data}/ssh/master.sock
"#,
            data = data_dir.display(),
            config = config_dir.display(),
            pid = std::process::id(),
        ),
    );
}

/// Runs [`attacker`] as wi-OK-1's validation command in `sandbox`; its output.
async fn attack(repo: &Path, config_file: &Path, sandbox: app::sandbox::Sandbox) -> String {
    let settings = RepositoryCodeSettings { sandbox, ..RepositoryCodeSettings::default() };
    let app = setup_over(repo, "./attack.sh", settings)
        .with(|s| s.config_file = Some(config_file.to_owned()))
        .spawn()
        .await;
    // A kept SSH connection is a socket in the data directory.
    std::fs::create_dir_all(app.data_dir.join("ssh")).unwrap();
    let _master =
        std::os::unix::net::UnixListener::bind(app.data_dir.join("ssh/master.sock")).unwrap();
    attacker(repo, &app.data_dir, config_file.parent().unwrap());
    let (status, body) = prepare_release(&app, "wi-OK-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["validation"]["output"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn repository_code_cannot_reach_the_dashboards_secrets() {
    let repo = hostile_repository();
    let etc = tempfile::tempdir().unwrap();
    std::fs::write(etc.path().join("factory.toml"), "# secrets").unwrap();
    std::fs::write(etc.path().join("deploy_key"), "PRIVATE KEY").unwrap();
    std::fs::set_permissions(etc.path().join("deploy_key"), std::fs::Permissions::from_mode(0o600))
        .unwrap();
    let config_file = etc.path().join("factory.toml");
    let secrets = |sandbox| attack(repo.path(), &config_file, sandbox);
    let sandboxed = secrets(app::sandbox::Sandbox::default()).await;
    assert_contains(&sandboxed, "REACHED repository");
    for secret in
        ["session-key", "database", "deploy-key", "configuration", "environment", "ssh-connection"]
    {
        assert_contains(&sandboxed, &format!("DENIED {secret}"));
    }

    // Without the sandbox (the configuration's explicit `sandbox = "none"`) the same
    // script reaches them: the test sees what the sandbox stops.
    let unsandboxed = secrets(app::sandbox::Sandbox::Off).await;
    for secret in ["session-key", "database", "deploy-key", "environment", "ssh-connection"] {
        assert_contains(&unsandboxed, &format!("REACHED {secret}"));
    }
}

#[tokio::test]
async fn without_a_sandbox_repository_code_is_refused_with_guidance() {
    let repo = hostile_repository();
    script(repo.path(), "validate.sh", &format!("touch {}", repo.path().join("ran").display()));
    let app = app_over(
        repo.path(),
        RepositoryCodeSettings {
            sandbox: app::sandbox::Sandbox::Bubblewrap(app::sandbox::Bubblewrap {
                program: "/nonexistent/bwrap".into(),
                hidden: Vec::new(),
            }),
            ..RepositoryCodeSettings::default()
        },
    )
    .await;
    let (status, body) = prepare_release(&app, "wi-OK-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "failed", "{body}");
    assert_guidance(
        &body,
        "Repository code is not run: its sandbox cannot run here",
        "apt-get install bubblewrap",
    );
    assert_eq!(body["validation"]["exit_code"], Value::Null);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!repo.path().join("ran").exists(), "nothing ran");
    let (_, item) = app.get_json("/api/control-plane/items/wi-OK-1").await;
    assert_eq!(item["lifecycle"]["status"], "", "the status is unchanged");
}
