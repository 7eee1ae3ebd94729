//! `factory user …` and `factory token …`, run as the real binary over a temporary data
//! directory, the password given on standard input.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn factory(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_factory"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("factory starts");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().expect("factory finishes")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const PASSWORD: &str = "correct horse battery staple";

#[test]
fn users_are_added_listed_changed_and_disabled_with_argon2id_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let add =
        factory(dir.path(), &["user", "add", "Alice", "--role", "admin"], &format!("{PASSWORD}\n"));
    assert!(add.status.success(), "{}", text(&add));
    assert!(text(&add).contains("added alice with the role admin"));
    assert!(!text(&add).contains(PASSWORD), "the password never reaches the output");

    let conn = rusqlite::Connection::open(dir.path().join(server::DATABASE_FILE)).unwrap();
    let hash: String = conn
        .query_row("SELECT password_hash FROM users WHERE username = 'alice'", [], |r| r.get(0))
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{hash}");

    let again = factory(
        dir.path(),
        &["user", "add", "alice", "--role", "viewer"],
        &format!("{PASSWORD}\n"),
    );
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"));

    let short = factory(dir.path(), &["user", "add", "bob", "--role", "viewer"], "short\n");
    assert!(!short.status.success());
    assert!(text(&short).contains("at least 12 characters"));

    let passwd = factory(dir.path(), &["user", "passwd", "alice"], "another long passphrase\n");
    assert!(passwd.status.success(), "{}", text(&passwd));
    let new_hash: String = conn
        .query_row("SELECT password_hash FROM users WHERE username = 'alice'", [], |r| r.get(0))
        .unwrap();
    assert_ne!(new_hash, hash);

    let disable = factory(dir.path(), &["user", "disable", "alice"], "");
    assert!(disable.status.success());
    let list = factory(dir.path(), &["user", "list"], "");
    let listed = text(&list);
    assert!(listed.contains("alice") && listed.contains("admin") && listed.contains("disabled"));

    let unknown = factory(dir.path(), &["user", "disable", "nobody"], "");
    assert!(!unknown.status.success());
    assert!(text(&unknown).contains("no user is named nobody"));

    let actions: Vec<String> = conn
        .prepare("SELECT action FROM audit_events ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(actions, ["user.add", "user.passwd", "user.disable"]);
}

#[test]
fn a_user_is_re_enabled_and_given_another_role_and_the_list_aligns() {
    let dir = tempfile::tempdir().unwrap();
    for (name, role) in [("al", "viewer"), ("a-much-longer-name", "admin")] {
        let add =
            factory(dir.path(), &["user", "add", name, "--role", role], &format!("{PASSWORD}\n"));
        assert!(add.status.success(), "{}", text(&add));
    }
    assert!(factory(dir.path(), &["user", "disable", "al"], "").status.success());
    let enable = factory(dir.path(), &["user", "enable", "al"], "");
    assert!(enable.status.success(), "{}", text(&enable));
    assert!(text(&enable).contains("enabled al: they can sign in again"));
    let role = factory(dir.path(), &["user", "role", "al", "operator"], "");
    assert!(role.status.success(), "{}", text(&role));
    assert!(text(&role).contains("al is now operator"), "{}", text(&role));
    let wrong = factory(dir.path(), &["user", "role", "al", "root"], "");
    assert!(!wrong.status.success());
    let nobody = factory(dir.path(), &["user", "enable", "nobody"], "");
    assert!(text(&nobody).contains("no user is named nobody"));

    let list = factory(dir.path(), &["user", "list"], "");
    let listed = String::from_utf8_lossy(&list.stdout).into_owned();
    let lines: Vec<&str> = listed.lines().collect();
    assert!(lines[0].starts_with("USER"), "{listed}");
    let al = lines.iter().find(|l| l.starts_with("al ")).unwrap();
    assert!(al.contains("operator") && al.contains("active"), "{listed}");
    // Every column starts at the same place on every line.
    let column = |line: &str, word: &str| line.find(word).unwrap();
    assert_eq!(column(lines[0], "ROLE"), column(al, "operator"), "{listed}");
    let long = lines.iter().find(|l| l.starts_with("a-much")).unwrap();
    assert_eq!(column(lines[0], "ROLE"), column(long, "admin"), "{listed}");
    assert_eq!(column(lines[0], "STATE"), column(long, "active"), "{listed}");
}

#[test]
fn tokens_are_printed_once_stored_hashed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let create = factory(dir.path(), &["token", "create", "ci-deploy", "--role", "operator"], "");
    assert!(create.status.success(), "{}", text(&create));
    let stdout = String::from_utf8_lossy(&create.stdout);
    let token = stdout
        .split_whitespace()
        .find(|word| word.starts_with("bf_"))
        .expect("the token is printed")
        .to_owned();
    assert!(!String::from_utf8_lossy(&create.stderr).contains(&token), "not logged");

    let conn = rusqlite::Connection::open(dir.path().join(server::DATABASE_FILE)).unwrap();
    let stored: String =
        conn.query_row("SELECT token_hash FROM api_tokens", [], |r| r.get(0)).unwrap();
    assert_eq!(stored, app::auth::secrets::token_hash(&token));
    assert!(!stored.contains(&token));

    let list = factory(dir.path(), &["token", "list"], "");
    assert!(text(&list).contains("ci-deploy"));
    assert!(!text(&list).contains(&token));

    let revoke = factory(dir.path(), &["token", "revoke", "1"], "");
    assert!(revoke.status.success());
    let twice = factory(dir.path(), &["token", "revoke", "1"], "");
    assert!(!twice.status.success());
    assert!(text(&factory(dir.path(), &["token", "list"], "")).contains("revoked"));
}

#[test]
fn root_is_refused_on_a_data_directory_the_service_owns() {
    // SAFETY: geteuid(2) has no failure and no side effect.
    if unsafe { libc_geteuid() } != 0 {
        eprintln!("skipped: only root can run a command as root on another user's directory");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
    let add =
        factory(&data, &["user", "add", "root-made", "--role", "admin"], &format!("{PASSWORD}\n"));
    assert!(!add.status.success(), "{}", text(&add));
    assert!(
        text(&add).contains("belongs to user id 65534") && text(&add).contains("sudo -u '#65534'"),
        "{}",
        text(&add)
    );
    assert!(std::fs::read_dir(&data).unwrap().next().is_none(), "nothing was written");
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
