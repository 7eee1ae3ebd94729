//! Commands on a target's hosts over real OpenSSH: `sshd` processes on loopback ports,
//! with keys and `known_hosts` generated in the test's temporary directory.

mod common;

use app::process::RunEvent;
use app::ssh::{RemoteCommand, SshFailure, SshSettings, TargetHost, run_on_host};
use server::loopback_hosts::LoopbackHosts;
use std::time::Duration;

fn ignore(_: RunEvent) {}

fn command<'a>(argv: &'a [String], dir: &'a str, env: &'a [(String, String)]) -> RemoteCommand<'a> {
    RemoteCommand { argv, dir, env, timeout: Duration::from_secs(20), output_cap: 64 * 1024 }
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| (*w).to_owned()).collect()
}

async fn one_host(dir: &std::path::Path) -> (LoopbackHosts, TargetHost) {
    let hosts = LoopbackHosts::start(dir, &["web-1"]).await.unwrap();
    let host = hosts.hosts[0].target_host("127.0.0.1");
    (hosts, host)
}

#[tokio::test]
async fn no_argument_is_interpreted_by_the_remote_shell() {
    let dir = tempfile::tempdir().unwrap();
    let (hosts, host) = one_host(dir.path()).await;
    let planted = dir.path().join("planted");
    let hostile = [
        "two words".to_owned(),
        "it's quoted \"twice\"".to_owned(),
        format!("$(touch {})", planted.display()),
        format!("`touch {}`", planted.display()),
        format!("; touch {}", planted.display()),
        "line one\nline two".to_owned(),
        "$HOME * ? ~ | & > <".to_owned(),
        "-n".to_owned(),
    ];
    let mut argv = words(&["printf", "[%s]\\n"]);
    argv.extend(hostile.iter().cloned());
    let env = [("FACTORY_VERSION".to_owned(), "1.0 $(id)'".to_owned())];
    let run = run_on_host(
        &hosts.settings,
        &host,
        &command(&argv, &host.working_dir.clone().unwrap(), &env),
        &ignore,
    )
    .await;
    assert!(run.passed, "{run:?}");
    let expected: String = hostile.iter().map(|word| format!("[{word}]\n")).collect();
    assert_eq!(run.output, expected);
    assert!(!planted.exists(), "nothing ran on the host's shell");
    assert!(run.command.starts_with("on web-1: printf"), "{}", run.command);
}

#[tokio::test]
async fn a_command_gets_its_variables_and_runs_in_the_host_s_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (hosts, host) = one_host(dir.path()).await;
    let work = host.working_dir.clone().unwrap();
    let argv = words(&["sh", "-c", "pwd; echo \"$FACTORY_VERSION|$FACTORY_HOST\""]);
    let env = [
        ("FACTORY_VERSION".to_owned(), "2.0 beta's".to_owned()),
        ("FACTORY_HOST".to_owned(), "web-1".to_owned()),
    ];
    let run = run_on_host(&hosts.settings, &host, &command(&argv, &work, &env), &ignore).await;
    assert!(run.passed, "{run:?}");
    assert_eq!(run.output, format!("{work}\n2.0 beta's|web-1\n"));
}

#[tokio::test]
async fn an_unknown_host_key_is_refused_with_how_to_add_it() {
    let dir = tempfile::tempdir().unwrap();
    let (hosts, host) = one_host(dir.path()).await;
    let empty = dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let settings = SshSettings { known_hosts: Some(empty), ..hosts.settings.clone() };
    let planted = dir.path().join("ran");
    let argv = words(&["touch", planted.to_str().unwrap()]);
    let run = run_on_host(&settings, &host, &command(&argv, "/", &[]), &ignore).await;
    assert!(!run.passed);
    assert!(!planted.exists(), "nothing ran on an unverified host");
    let failure = SshFailure::of(&run).expect("ssh itself failed");
    assert_eq!(failure, SshFailure::HostKey, "{run:?}");
    let next = failure.next_step(&host, &settings);
    assert!(next.contains(&format!("ssh-keyscan -p {}", host.destination.port.unwrap())), "{next}");
}

#[tokio::test]
async fn an_unreachable_host_fails_at_once_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (hosts, mut host) = one_host(dir.path()).await;
    // A port nothing listens on.
    let port = common::unused_port();
    host.destination.port = Some(port);
    let argv = words(&["true"]);
    let run = run_on_host(&hosts.settings, &host, &command(&argv, "/", &[]), &ignore).await;
    assert!(!run.passed);
    assert_eq!(SshFailure::of(&run), Some(SshFailure::Unreachable), "{run:?}");
}

#[tokio::test]
async fn a_remote_step_past_its_timeout_is_stopped_on_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let (hosts, host) = one_host(dir.path()).await;
    let pid_file = dir.path().join("remote.pid");
    let marker = dir.path().join("outlived");
    // The "remote" host is this machine: the test can look for the process itself.
    let script = format!(
        "sh -c 'echo $$ > {}; sleep 3; touch {}' & wait",
        pid_file.display(),
        marker.display()
    );
    let argv = words(&["sh", "-c", &script]);
    let run = run_on_host(
        &hosts.settings,
        &host,
        &RemoteCommand { timeout: Duration::from_millis(700), ..command(&argv, "/", &[]) },
        &ignore,
    )
    .await;
    assert!(run.timed_out && !run.passed, "{run:?}");
    assert!(run.output.contains("[stopped on web-1"), "{run:?}");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert!(
        app::process::until_ended(pid).await,
        "the remote process {pid} was stopped with its group"
    );
    assert!(!marker.exists());
}
