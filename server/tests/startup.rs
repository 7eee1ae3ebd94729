//! An operator's first minutes with the real binary: what `factory serve` says at start
//! (no operator yet, a target that cannot deploy), its log formats, the usual spellings
//! of its boolean variables, and the admin commands finding the server's database.

mod common;

use common::assert_contains;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `factory serve` on a free port; returns the child and its log lines up to the one that
/// says it serves (or everything it wrote before it exited). Then its standard error is
/// closed: the server must run on without it (writing a log line there once panicked).
fn serve(data_dir: &Path, config: Option<&Path>, env: &[(&str, &str)]) -> (Child, Vec<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_factory"));
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("factory starts");
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match lines_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let serving = line.contains("serving the dashboard");
                lines.push(line);
                if serving {
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    (child, lines)
}

/// SIGTERM, as systemd stops it; the server must be gone within ten seconds.
/// `dir/factory.toml` with `text`; its path.
fn write_config(dir: &Path, text: impl AsRef<str>) -> std::path::PathBuf {
    let config = dir.join("factory.toml");
    std::fs::write(&config, text.as_ref()).expect("the configuration is written");
    config
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not stop on SIGTERM");
}

#[test]
fn a_new_install_says_no_operator_can_sign_in_yet_and_how_to_add_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (child, lines) = serve(&data, None, &[]);
    stop(child);
    let log = lines.join("\n");
    assert_contains(&log, "serving the dashboard");
    assert_contains(
        &log,
        "no operator can sign in yet: add the first with `factory user add NAME --role admin --data-dir",
    );
}

#[test]
fn logs_are_one_json_object_a_line_when_asked_and_never_coloured_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (child, lines) = serve(&dir.path().join("json"), None, &[("FACTORY_LOG_FORMAT", "json")]);
    stop(child);
    assert!(lines.len() >= 2, "{lines:?}");
    for line in &lines {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        assert!(object["timestamp"].is_string(), "{line}");
        assert!(object["level"].is_string(), "{line}");
        assert!(object["message"].is_string(), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|line| line.contains("\"message\":\"serving the dashboard at http://127.0.0.1:"))
    );

    // The default, to a pipe: plain text, no escape sequences.
    let (child, lines) = serve(&dir.path().join("text"), None, &[]);
    stop(child);
    let log = lines.join("\n");
    assert_contains(&log, " INFO ");
    assert!(!log.contains('\u{1b}'), "colour codes off a terminal: {log:?}");

    let mut unknown = Command::new(env!("CARGO_BIN_EXE_factory"))
        .args(["user", "list"])
        .env("FACTORY_LOG_FORMAT", "xml")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    unknown.stderr.take().unwrap().read_to_string(&mut said).unwrap();
    assert!(!unknown.wait().unwrap().success());
    assert!(said.contains("xml") && said.contains("json"), "{said}");
}

#[test]
fn boolean_variables_take_the_usual_spellings() {
    let dir = tempfile::tempdir().unwrap();
    for (i, yes) in ["1", "yes", "on", "true", "TRUE"].into_iter().enumerate() {
        let (child, lines) = serve(
            &dir.path().join(format!("yes-{i}")),
            None,
            &[
                ("FACTORY_DEMO", yes),
                ("FACTORY_NO_DEMO_FLEET", yes),
                ("FACTORY_INSECURE_COOKIES", yes),
                ("FACTORY_DEMO_PASSWORD", "a demo password for this test"),
            ],
        );
        stop(child);
        let log = lines.join("\n");
        assert!(log.contains("serving the dashboard"), "{yes}: {log}");
        assert!(log.contains("demo mode"), "{yes}: {log}");
        assert!(!log.contains("demo fleet started"), "{yes}: {log}");
    }
    for (i, no) in ["0", "no", "off", "false"].into_iter().enumerate() {
        let (child, lines) =
            serve(&dir.path().join(format!("no-{i}")), None, &[("FACTORY_DEMO", no)]);
        stop(child);
        let log = lines.join("\n");
        assert!(log.contains("serving the dashboard"), "{no}: {log}");
        assert!(!log.contains("demo mode"), "{no}: {log}");
    }
    let (child, lines) = serve(&dir.path().join("maybe"), None, &[("FACTORY_DEMO", "maybe")]);
    stop(child);
    let log = lines.join("\n");
    assert_contains(&log, "maybe");
    assert!(!log.contains("serving the dashboard"), "{log}");
}

#[test]
fn a_target_that_cannot_deploy_is_named_at_start_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        format!(
            r#"
[[targets]]
name = "web"
working_dir = "{}"
deploy = ["./deploy.sh"]
rollback = ["./rollback.sh"]
"#,
            dir.path().join("no-such-dir").display()
        ),
    );
    let (child, lines) = serve(&dir.path().join("data"), Some(&config), &[]);
    stop(child);
    let log = lines.join("\n");
    assert_contains(&log, "serving the dashboard");
    assert!(
        log.contains("target web: its working_dir") && log.contains("no-such-dir does not exist"),
        "{log}"
    );
    assert_contains(
        &log,
        "target web: it has no post-deploy smoke check, so its deploys are refused",
    );
}

fn factory(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_factory"))
        .args(args)
        .env_remove("FACTORY_DATA_DIR")
        .env_remove("FACTORY_CONFIG")
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn admin_commands_find_the_servers_database_through_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let data = dir.path().join("server-data");
    let config = write_config(dir.path(), format!("[server]\ndata_dir = \"{}\"\n", data.display()));
    let config_arg = config.to_str().unwrap();

    // A read command never creates a database, wherever it is run.
    let (ok, said) = factory(&["token", "list"], &[], &elsewhere);
    assert!(!ok, "{said}");
    assert_contains(&said, "there is no database at ./data/factory.sqlite3");
    assert_contains(&said, "--config");
    assert!(!elsewhere.join("data").exists(), "an empty database was left behind");

    // A token made with --config lands in the server's data directory...
    let (ok, said) = factory(
        &["token", "create", "ci", "--role", "viewer", "--config", config_arg],
        &[],
        &elsewhere,
    );
    assert!(ok, "{said}");
    assert!(data.join("factory.sqlite3").exists());
    assert!(!elsewhere.join("data").exists());
    // ...and FACTORY_CONFIG finds it too.
    let (ok, said) = factory(&["token", "list"], &[("FACTORY_CONFIG", config_arg)], &elsewhere);
    assert!(ok, "{said}");
    assert_contains(&said, "ci");
    let (ok, said) = factory(&["user", "list", "--config", config_arg], &[], &elsewhere);
    assert!(ok, "{said}");
    assert_contains(&said, "no users yet");

    // A configuration that does not load is named, with its key.
    std::fs::write(&config, "[server]\ndata_dir = 3\n").unwrap();
    let (ok, said) = factory(&["user", "list", "--config", config_arg], &[], &elsewhere);
    assert!(!ok);
    assert!(said.contains("factory.toml") && said.contains("data_dir"), "{said}");

    // The admin needs only the data directory: a webhook whose secret's variable is set
    // only in the service's environment does not stop the command.
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"{}\"\n\n[[webhooks]]\nname = \"ci\"\nurl = \"https://ci.example/hook\"\nsecret_env = \"FACTORY_TEST_UNSET_SECRET\"\n",
            data.display()
        ),
    )
    .unwrap();
    let (ok, said) = factory(&["token", "list", "--config", config_arg], &[], &elsewhere);
    assert!(ok, "{said}");

    // A configuration without data_dir (the runbook's: the unit gives --data-dir) is not
    // taken to mean ./data: the first admin would land in a new, empty database.
    std::fs::write(&config, "[factory]\nrepository_dir = \"/srv/factory\"\n").unwrap();
    let (ok, said) = factory(&["user", "list", "--config", config_arg], &[], &elsewhere);
    assert!(!ok, "{said}");
    assert!(said.contains("names no `data_dir`") && said.contains("--data-dir"), "{said}");
    assert!(!elsewhere.join("data").exists(), "nothing was created");
}

#[tokio::test]
async fn stopping_the_demo_stops_the_demo_services_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let created = Command::new(env!("CARGO_BIN_EXE_factory"))
        .args(["token", "create", "test", "--role", "operator", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let token = String::from_utf8_lossy(&created.stdout)
        .lines()
        .find(|line| line.starts_with("bf_"))
        .expect("a token")
        .to_owned();
    let (child, lines) = serve(
        &data,
        None,
        &[
            ("FACTORY_DEMO", "1"),
            ("FACTORY_NO_DEMO_FLEET", "1"),
            ("FACTORY_DEMO_PASSWORD", "a demo password for this test"),
        ],
    );
    let serving = lines
        .iter()
        .find_map(|line| line.split("serving the dashboard at ").nth(1))
        .expect("it serves")
        .trim()
        .to_owned();
    let client = reqwest::Client::new();
    let deploy = client.post(format!("{serving}/api/targets/demo-web/deploy"));
    let (_, started) =
        common::answer(deploy.bearer_auth(&token).json(&serde_json::json!({ "version": "1.1.0" })))
            .await;
    let id = started["release_id"].as_i64().expect("a release");
    loop {
        let release = client.get(format!("{serving}/api/releases/{id}"));
        let (_, record) = common::answer(release.bearer_auth(&token)).await;
        if record["release"]["status"] != "running" {
            assert_eq!(record["release"]["status"], "succeeded", "{record}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid: i32 = std::fs::read_to_string(data.join("demo-target/service.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let alive = |pid: i32| Path::new(&format!("/proc/{pid}")).exists();
    assert!(alive(pid), "the demo service runs");

    stop(child);
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(pid), "the demo service {pid} outlived the dashboard");
}

/// The server with `env`, its standard error a file, until it has answered `GET /healthz`
/// and stopped on SIGTERM; the file's lines.
fn logged_run(dir: &Path, config: &Path, env: &[(&str, &str)], to_journal: bool) -> Vec<String> {
    let log = dir.join(format!("log-{}", env.len() + usize::from(to_journal)));
    let file = std::fs::File::create(&log).unwrap();
    let port = common::unused_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_factory"));
    command
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"))
        .arg("--config")
        .arg(config)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if to_journal {
        // systemd names its stream by device and inode: here, the log file's.
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata().unwrap();
        command.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    }
    let child = command.stderr(file).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Write;
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            break;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(child);
    std::fs::read_to_string(&log).unwrap().lines().map(str::to_owned).collect()
}

#[test]
fn json_logs_have_each_key_once_numbers_as_numbers_and_journal_priorities_under_systemd() {
    let dir = tempfile::tempdir().unwrap();
    // A target whose working directory is missing: the start warns about it, naming it.
    let config = write_config(
        dir.path(),
        "[[targets]]\nname = \"web\"\nworking_dir = \"/nonexistent/web\"\ndeploy = [\"./deploy.sh\"]\nrollback = [\"./rollback.sh\"]\n\n[[targets.smoke]]\nname = \"up\"\nwhen = \"post\"\ncommand = [\"true\"]\n",
    );
    let lines = logged_run(dir.path(), &config, &[("FACTORY_LOG_FORMAT", "json")], false);
    for line in &lines {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        for key in ["\"target\":", "\"message\":", "\"level\":"] {
            assert!(line.matches(key).count() <= 1, "{key} twice: {line}");
        }
        assert!(object.is_object());
    }
    let warning = lines
        .iter()
        .find(|line| line.contains("working_dir"))
        .unwrap_or_else(|| panic!("the target's warning: {lines:?}"));
    let warning: serde_json::Value = serde_json::from_str(warning).unwrap();
    assert_eq!(warning["target"], "web", "the deploy target is kept: {warning}");
    let response = lines
        .iter()
        .find(|line| line.contains("finished processing request"))
        .unwrap_or_else(|| panic!("the request's line: {lines:?}"));
    let response: serde_json::Value = serde_json::from_str(response).unwrap();
    assert!(response["latency_ms"].is_number(), "{response}");
    assert_eq!(response["status"], 200, "{response}");

    // Under systemd (standard error is the journal's stream), each line starts with its
    // syslog priority; text lines too.
    let journal = logged_run(dir.path(), &config, &[], true);
    assert!(journal.iter().all(|line| line.starts_with('<')), "{journal:?}");
    assert!(journal.iter().any(|line| line.starts_with("<4>")), "a warning: {journal:?}");
    assert!(journal.iter().any(|line| line.starts_with("<6>")), "info: {journal:?}");
}
