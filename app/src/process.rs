//! The processes this server runs on its own machine: validation commands, the executor,
//! a target's commands (or `ssh`, which runs them on a target's host — in this code base
//! "host" means a target's machine, never this one).
//! Always an argument list from the configuration (never a shell, never a word from a
//! work-item file), in a working directory from the configuration, with a clean
//! environment, a timeout that stops the whole process group, and the output kept up to
//! a cap. Repository code runs in the [sandbox](crate::sandbox).

use crate::domain::CommandRun;
use crate::sandbox::{Bubblewrap, Sandbox};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

/// How much output is kept by default: the last 64 KiB, where a failure's reason usually
/// is.
pub const OUTPUT_CAP: usize = 64 * 1024;

/// Only these variables reach a local command: the server's own environment can hold
/// secrets (the demo password, tokens in a service manager's environment).
const PASSED_ENV: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];

/// Where and how repository code (validation commands, the executor) runs; from the
/// `[factory]` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryCodeSettings {
    /// The factory repository: validation commands run here.
    pub repository_dir: Option<PathBuf>,
    /// `[factory.validation_commands]`: what prepare-release may run, by name.
    pub validation_commands: ValidationCommands,
    /// Run by start-execution with the item id appended and its prompt on standard input.
    pub executor: Option<Vec<String>>,
    pub validation_timeout: Duration,
    pub executor_timeout: Duration,
    /// Where validation commands and the executor run.
    pub sandbox: Sandbox,
}

impl Default for RepositoryCodeSettings {
    fn default() -> Self {
        RepositoryCodeSettings {
            repository_dir: None,
            validation_commands: ValidationCommands::default(),
            executor: None,
            validation_timeout: Duration::from_secs(600),
            executor_timeout: Duration::from_secs(60),
            sandbox: Sandbox::default(),
        }
    }
}

/// `[factory.validation_commands]`: each a name a work-item file may give as its
/// `validation_command`, and the argument list that name runs. Only the configuration
/// says what runs: a file that names anything else does not sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationCommands(BTreeMap<String, Vec<String>>);

impl ValidationCommands {
    pub fn new(commands: BTreeMap<String, Vec<String>>) -> Self {
        ValidationCommands(commands)
    }

    /// The argument list `name` runs.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.0.get(name).map(Vec::as_slice)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Adds `name` unless the configuration has it already.
    pub fn add_if_missing(&mut self, name: &str, argv: Vec<String>) {
        self.0.entry(name.to_owned()).or_insert(argv);
    }

    /// The names, in order, one a line: what a sync's hash covers, so a file is checked
    /// again when the names change.
    pub fn fingerprint(&self) -> String {
        self.0.keys().map(|name| format!("{name}\n")).collect()
    }
}

/// One command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub dir: PathBuf,
    pub timeout: Duration,
    /// Extra variables, e.g. the work item's id.
    pub env: Vec<(String, String)>,
    /// The most output kept, in bytes: the last ones.
    pub output_cap: usize,
    /// What its standard input is.
    pub stdin: Stdin,
    /// Repository code runs in this sandbox; `None`: as the dashboard (targets'
    /// commands, which the configuration alone chooses).
    pub sandbox: Option<Bubblewrap>,
}

impl LocalCommand {
    /// An argument list from the configuration, run in `dir`. A relative program path
    /// (`./scripts/x`) is taken from `dir`, not from the server's own working directory.
    pub fn new(argv: &[String], dir: &Path, timeout: Duration) -> Self {
        let (program, args) = argv.split_first().map_or(("", &[][..]), |(p, a)| (p, a));
        LocalCommand {
            program: resolve_program(program, dir),
            args: args.to_vec(),
            dir: dir.to_owned(),
            timeout,
            env: Vec::new(),
            output_cap: OUTPUT_CAP,
            stdin: Stdin::Null,
            sandbox: None,
        }
    }

    /// The same command in `sandbox`: `Err` with the reason when the sandbox cannot run,
    /// so repository code never runs outside it unless the configuration said so.
    pub fn in_sandbox(mut self, sandbox: &Sandbox) -> Result<Self, String> {
        match sandbox {
            Sandbox::Bubblewrap(bubblewrap) => {
                self.sandbox = Some(bubblewrap.clone());
                Ok(self)
            }
            Sandbox::Off => Ok(self),
            Sandbox::Unavailable(reason) => Err(reason.clone()),
        }
    }

    /// The argument list for people to read.
    pub fn display(&self) -> String {
        let program = self.program.display().to_string();
        display_argv(std::iter::once(&program).chain(&self.args))
    }
}

/// A command's standard input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Stdin {
    /// Nothing: `/dev/null`.
    #[default]
    Null,
    /// This text, then its end (the executor's prompt).
    Text(String),
    /// A pipe this server holds open, writing nothing, until the command ends: its end
    /// tells the command that the server stopped or died (`ssh` passes it to the remote
    /// step, which stops when it closes).
    HeldOpen,
}

/// An argument list for people to read, quoted as a shell would need it (it never goes
/// to one).
pub fn display_argv<'a>(argv: impl IntoIterator<Item = &'a String>) -> String {
    argv.into_iter()
        .map(|word| shlex::try_quote(word).map_or_else(|_| word.clone(), |q| q.into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `./x` and `dir/x` are relative to the repository; a bare name is looked up in `PATH`.
/// The result is absolute: the command runs with `dir` as its working directory, where a
/// relative `dir` (the default data directory is `./data`) would no longer lead to it.
pub fn resolve_program(program: &str, dir: &Path) -> PathBuf {
    let path = Path::new(program);
    if path.is_relative() && program.contains('/') {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        // Without `.` parts, so the command reads as the file it runs.
        path.components()
            .filter(|part| !matches!(part, std::path::Component::CurDir))
            .fold(dir, |joined, part| joined.join(part))
    } else {
        path.to_owned()
    }
}

/// Keeps the last `cap` bytes written.
struct Tail {
    bytes: Vec<u8>,
    cap: usize,
    dropped: bool,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        // Trim in batches, not on every chunk.
        if self.bytes.len() > 2 * self.cap {
            self.trim();
        }
    }

    fn trim(&mut self) {
        if self.bytes.len() > self.cap {
            let cut = self.bytes.len() - self.cap;
            self.bytes.drain(..cut);
            self.dropped = true;
        }
    }

    /// The output kept so far, as [`Tail::finish`] will give it.
    fn so_far(&self) -> String {
        self.text().0
    }

    fn finish(mut self) -> (String, bool) {
        self.trim();
        self.text()
    }

    /// The last `cap` bytes as text: bytes that are no UTF-8 shown as U+FFFD, control
    /// characters (a terminal's escape codes, a bell) and invisible ones escaped as
    /// `\u{001B}`, then cut again to `cap` bytes, since both can make the text longer
    /// than the bytes it came from. Whether the start was cut.
    fn text(&self) -> (String, bool) {
        let start = self.bytes.len().saturating_sub(self.cap);
        let raw = String::from_utf8_lossy(&self.bytes[start..]);
        let text = crate::domain::text::shown_keeping_lines(&raw);
        let mut cut = text.len().saturating_sub(self.cap);
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        let dropped = self.dropped || start > 0 || cut > 0;
        if dropped {
            let kib = self.cap / 1024;
            (format!("[earlier output cut: the last {kib} KiB are kept]\n{}", &text[cut..]), true)
        } else {
            (text.into_owned(), false)
        }
    }
}

/// Starts a process. A script written a moment ago can be busy (`ETXTBSY`) for as long as
/// a process forked elsewhere in this server, between its fork and its exec, holds a
/// copy of the writer's handle: microseconds, so it is tried again briefly.
async fn spawn(process: &mut tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    const TRIES: u32 = 20;
    let mut tried = 1;
    loop {
        match process.spawn() {
            Err(err) if err.kind() == std::io::ErrorKind::ExecutableFileBusy && tried < TRIES => {
                tried += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            started => return started,
        }
    }
}

/// A running command's process group, as it can be found again by another server
/// process: the group's id (the leader's pid) and the leader's start time in clock ticks
/// since boot (`/proc/PID/stat`), so a pid the kernel reused is not taken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessGroup {
    pub id: i32,
    pub started: u64,
}

/// The start time of a process, in clock ticks since boot: field 22 of `/proc/PID/stat`.
fn process_start(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether process `pid` has ended: gone, or a zombie its parent has not reaped yet.
pub fn process_has_ended(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |stat| stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
}

/// Waits (a few seconds at most) until process `pid` has ended; whether it did.
pub async fn until_ended(pid: i32) -> bool {
    for _ in 0..200 {
        if process_has_ended(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    process_has_ended(pid)
}

/// How a process group left behind was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Nothing of it was running any more.
    AlreadyGone,
    /// It ended on SIGTERM.
    Terminated,
    /// It was still running after the grace period and was killed with SIGKILL.
    Killed,
}

impl ProcessGroup {
    /// The group of a child started with `process_group(0)`.
    fn of_child(pid: u32) -> Option<Self> {
        let id = i32::try_from(pid).ok()?;
        Some(ProcessGroup { id, started: process_start(id)? })
    }

    /// Whether any process of this group still runs. The kernel does not hand out a pid
    /// that is still some group's id, so a live group with this id is this group, unless
    /// its leader is alive with another start time (the group died and the id was
    /// reused).
    pub fn is_alive(&self) -> bool {
        // SAFETY: kill(2) with signal 0 only checks that the group exists.
        let exists = unsafe { libc::kill(-self.id, 0) } == 0;
        exists && process_start(self.id).is_none_or(|started| started == self.started)
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on a negative pid signals that process group only.
        unsafe {
            libc::kill(-self.id, signal);
        }
    }

    /// Stops the whole group: SIGTERM, then SIGKILL to whatever is left after `grace`.
    pub async fn stop(&self, grace: Duration) -> Stopped {
        if !self.is_alive() {
            return Stopped::AlreadyGone;
        }
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if !self.is_alive() {
                return Stopped::Terminated;
            }
        }
        if self.is_alive() {
            self.signal(libc::SIGKILL);
        }
        Stopped::Killed
    }
}

/// What a watched run reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// The command started in this process group.
    Started(ProcessGroup),
    /// The output kept so far (the last `output_cap` bytes), at most every
    /// [`OUTPUT_REPORT_INTERVAL`].
    Output(String),
}

/// How often a watched run reports its output while it runs.
pub const OUTPUT_REPORT_INTERVAL: Duration = Duration::from_millis(500);

/// The process that runs `command`: in its sandbox if it has one, in its directory, with
/// a clean environment, its output piped, in a process group of its own.
fn process_of(command: &LocalCommand) -> tokio::process::Command {
    let mut process = match &command.sandbox {
        Some(sandbox) => {
            let dir = std::path::absolute(&command.dir).unwrap_or_else(|_| command.dir.clone());
            let mut process = tokio::process::Command::new(&sandbox.program);
            process.args(sandbox.args(&dir)).arg(&command.program);
            process
        }
        None => tokio::process::Command::new(&command.program),
    };
    process
        .args(&command.args)
        .current_dir(&command.dir)
        .env_clear()
        .envs(
            PASSED_ENV
                .iter()
                .filter_map(|name| std::env::var_os(name).map(|value| (name.to_string(), value))),
        )
        .envs(command.env.iter().cloned())
        .stdin(match command.stdin {
            Stdin::Null => Stdio::null(),
            Stdin::Text(_) | Stdin::HeldOpen => Stdio::piped(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout stops whatever it started too.
        .process_group(0)
        .kill_on_drop(true);
    process
}

/// Gives a started command its input: its text, written beside the reading (a command
/// that does not read its input must not hold up its output; it may stop reading, its
/// choice), or the pipe to hold open, returned.
fn give_input(
    command: &LocalCommand,
    child: &mut tokio::process::Child,
) -> Option<tokio::process::ChildStdin> {
    let pipe = child.stdin.take()?;
    match &command.stdin {
        Stdin::Text(input) => {
            let (input, mut pipe) = (input.clone(), pipe);
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let _ = pipe.write_all(input.as_bytes()).await;
            });
            None
        }
        Stdin::HeldOpen => Some(pipe),
        Stdin::Null => None,
    }
}

/// Runs the command to its end or its timeout. Never fails: a command that cannot start
/// is a failed run whose output says why.
pub async fn run(command: &LocalCommand) -> CommandRun {
    run_watched(command, &|_| {}).await
}

/// [`run`], telling `watch` the command's process group when it starts and its output
/// as it comes, so a record can keep them while it runs: a server that dies mid-step
/// loses at most the last moment, and the next one can stop what it left running.
pub async fn run_watched(command: &LocalCommand, watch: &(dyn Fn(RunEvent) + Sync)) -> CommandRun {
    let started = Instant::now();
    let deadline = started + command.timeout;
    let display = command.display();
    let mut process = process_of(command);
    let mut child = match spawn(&mut process).await {
        Ok(child) => child,
        Err(err) => {
            return CommandRun {
                command: display,
                passed: false,
                exit_code: None,
                timed_out: false,
                duration_ms: 0,
                output: format!(
                    "cannot start {} in {}: {err}",
                    command.program.display(),
                    command.dir.display()
                ),
                output_truncated: false,
                host: None,
            };
        }
    };
    // Held open, writing nothing, until this run is over (dropped at its end, or with
    // this process).
    let _held_open = give_input(command, &mut child);
    let pid = child.id();
    if let Some(group) = pid.and_then(ProcessGroup::of_child) {
        watch(RunEvent::Started(group));
    }
    let mut reported = Instant::now();
    let mut unreported = false;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let mut tail = Tail { bytes: Vec::new(), cap: command.output_cap, dropped: false };
    let (mut out_buf, mut err_buf) = (vec![0u8; 8192], vec![0u8; 8192]);
    let (mut out_open, mut err_open) = (true, true);
    let mut timed_out = false;
    // Read both pipes to their end: the output is complete only when every process
    // holding them has exited.
    while out_open || err_open {
        tokio::select! {
            read = stdout.read(&mut out_buf), if out_open => match read {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => {
                    tail.push(&out_buf[..n]);
                    unreported = true;
                }
            },
            read = stderr.read(&mut err_buf), if err_open => match read {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => {
                    tail.push(&err_buf[..n]);
                    unreported = true;
                }
            },
            () = tokio::time::sleep_until(reported + OUTPUT_REPORT_INTERVAL), if unreported => {
                watch(RunEvent::Output(tail.so_far()));
                reported = Instant::now();
                unreported = false;
            }
            () = tokio::time::sleep_until(deadline) => {
                timed_out = true;
                break;
            }
        }
    }
    let status = if timed_out {
        None
    } else {
        tokio::select! {
            status = child.wait() => status.ok(),
            () = tokio::time::sleep_until(deadline) => {
                timed_out = true;
                None
            }
        }
    };
    if timed_out {
        if let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) {
            // SAFETY: kill(2) with a negative pid signals that process group; the group
            // is the child's own (process_group(0) above), so nothing else is hit.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = child.wait().await;
    }
    let (mut output, output_truncated) = tail.finish();
    if timed_out {
        output
            .push_str(&format!("\n[stopped: no result within {} s]\n", command.timeout.as_secs()));
    }
    let exit_code = status.and_then(|s| s.code());
    CommandRun {
        command: display,
        passed: !timed_out && status.is_some_and(|s| s.success()),
        exit_code,
        timed_out,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        output,
        output_truncated,
        host: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A command as the configuration would give it, written as a shell would split it.
    fn command(dir: &Path, line: &str, timeout: Duration) -> LocalCommand {
        LocalCommand::new(&shlex::split(line).unwrap(), dir, timeout)
    }

    /// The sandbox as the server sets it up, hiding `hidden`.
    async fn sandbox(hidden: &[PathBuf]) -> Sandbox {
        crate::sandbox::set_up(Sandbox::default(), hidden).await
    }

    #[tokio::test]
    async fn a_passing_command_keeps_its_output_and_runs_in_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "ok.sh", "echo \"in $(pwd)\"; echo \"arg=$1\"; echo oops >&2");
        let run = run(&command(dir.path(), "./ok.sh 'two words'", Duration::from_secs(10))).await;
        assert!(run.passed, "{run:?}");
        assert_eq!(run.exit_code, Some(0));
        let real_dir = dir.path().canonicalize().unwrap();
        assert!(run.output.contains(&format!("in {}", real_dir.display())), "{run:?}");
        assert!(run.output.contains("arg=two words"), "{run:?}");
        assert!(run.output.contains("oops"), "stderr is kept too: {run:?}");
        assert!(run.verdict().starts_with("passed in"));
    }

    #[tokio::test]
    async fn a_failing_command_reports_its_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "fail.sh", "echo 'lint: 2 errors'; exit 3");
        let run = run(&command(dir.path(), "./fail.sh", Duration::from_secs(10))).await;
        assert!(!run.passed);
        assert_eq!(run.exit_code, Some(3));
        assert!(run.output.contains("lint: 2 errors"));
        assert!(run.verdict().starts_with("failed with exit code 3"), "{}", run.verdict());
    }

    #[tokio::test]
    async fn a_script_busy_for_a_moment_starts_when_it_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(dir.path(), "busy.sh", "echo ran");
        // A handle open for writing makes exec fail with ETXTBSY until it is closed.
        let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(writer);
        });
        let run = run(&command(dir.path(), "./busy.sh", Duration::from_secs(5))).await;
        closer.join().unwrap();
        assert!(run.passed && run.output.contains("ran"), "{run:?}");
    }

    #[tokio::test]
    async fn a_hanging_command_is_stopped_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("grandchild-survived");
        let pid_file = dir.path().join("grandchild.pid");
        // The grandchild says who it is, then would write the marker after 3 s unless the
        // group is killed.
        script(
            dir.path(),
            "hang.sh",
            &format!(
                "sh -c 'echo $$ > {}; sleep 3; touch {}' &\nwhile [ ! -s {} ]; do sleep 0.01; done\necho started\nsleep 30",
                pid_file.display(),
                marker.display(),
                pid_file.display(),
            ),
        );
        let run = run(&command(dir.path(), "./hang.sh", Duration::from_millis(500))).await;
        assert!(run.timed_out && !run.passed, "{run:?}");
        assert!(run.output.contains("started"), "output before the timeout is kept");
        assert!(run.output.contains("[stopped"), "{run:?}");
        let grandchild: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        // Killed with its group: gone, or a zombie waiting to be reaped.
        assert!(
            until_ended(grandchild).await,
            "the grandchild {grandchild} was stopped with its group"
        );
        assert!(!marker.exists(), "the grandchild never got to its marker");
    }

    #[test]
    fn output_is_shown_escaped_and_bounded_as_it_is_stored() {
        let mut tail = Tail { bytes: Vec::new(), cap: 1024, dropped: false };
        tail.push(b"\x1b[31mred\x1b[0m \x07bell\r\nnext\tline\n");
        let (text, cut) = tail.finish();
        assert_eq!(text, "\\u{001B}[31mred\\u{001B}[0m \\u{0007}bell\r\nnext\tline\n");
        assert!(!cut);
        // Bytes that grow when shown: invalid UTF-8 (U+FFFD, 3 bytes each) and escape
        // codes (8 bytes each) are still kept within the cap.
        for byte in [0xffu8, 0x1b] {
            let mut tail = Tail { bytes: Vec::new(), cap: 1024, dropped: false };
            tail.push(&vec![byte; 4096]);
            tail.push(b"END");
            let (text, cut) = tail.finish();
            assert!(cut);
            assert!(text.ends_with("END"), "{byte}");
            let body = text.split_once('\n').unwrap().1;
            assert!(body.len() <= 1024, "{byte}: {} bytes", body.len());
        }
    }

    #[tokio::test]
    async fn output_keeps_the_last_64_kib() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "loud.sh",
            "i=0; while [ $i -lt 3000 ]; do echo \"line $i ................................\"; i=$((i+1)); done; echo LAST",
        );
        let run = run(&command(dir.path(), "./loud.sh", Duration::from_secs(20))).await;
        assert!(run.passed);
        assert!(run.output_truncated);
        assert!(run.output.starts_with("[earlier output cut: the last 64 KiB are kept]"));
        assert!(run.output.len() <= OUTPUT_CAP + 64);
        assert!(run.output.trim_end().ends_with("LAST"));
    }

    #[tokio::test]
    async fn a_missing_program_is_a_failed_run_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let run = run(&command(dir.path(), "./scripts/nope.ps1", Duration::from_secs(5))).await;
        assert!(!run.passed && run.exit_code.is_none());
        assert!(run.output.contains("cannot start"), "{run:?}");
    }

    #[tokio::test]
    async fn the_environment_is_clean() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "env.sh", "env");
        let mut cmd = command(dir.path(), "./env.sh", Duration::from_secs(5));
        cmd.env.push(("FACTORY_WORK_ITEM_ID".into(), "wi-T-1".into()));
        // SAFETY: the variable is set before the command starts and only read by it.
        unsafe { std::env::set_var("FACTORY_TEST_SECRET", "hunter2-secret") };
        let run = run(&cmd).await;
        assert!(run.output.contains("FACTORY_WORK_ITEM_ID=wi-T-1"));
        assert!(!run.output.contains("hunter2-secret"), "{}", run.output);
    }

    #[tokio::test]
    async fn a_relative_working_directory_still_finds_its_program() {
        // The default data directory is `./data`: a demo script there must run.
        let dir = tempfile::tempdir_in(".").unwrap();
        script(dir.path(), "ok.sh", "echo ran");
        let relative = dir.path().strip_prefix(std::env::current_dir().unwrap()).unwrap();
        assert!(relative.is_relative());
        let run = run(&command(relative, "./ok.sh", Duration::from_secs(5))).await;
        assert!(run.passed, "{run:?}");
        assert!(run.output.contains("ran"));
    }

    #[test]
    fn argument_lists_are_taken_as_they_are() {
        let dir = Path::new("/repo");
        let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        let cmd =
            LocalCommand::new(&argv(&["./scripts/v.sh", "--fast", "a b"]), dir, Duration::ZERO);
        assert_eq!(cmd.program, Path::new("/repo/scripts/v.sh"));
        assert_eq!(cmd.args, ["--fast", "a b"]);
        let cmd = LocalCommand::new(&argv(&["make", "check;", "rm"]), dir, Duration::ZERO);
        assert_eq!(cmd.program, Path::new("make"));
        assert_eq!(cmd.args, ["check;", "rm"], "no shell: `;` is an argument");
        assert_eq!(cmd.display(), "make 'check;' rm");
    }

    #[tokio::test]
    async fn an_unavailable_sandbox_refuses_and_an_explicit_none_runs_as_the_dashboard() {
        let dir = tempfile::tempdir().unwrap();
        let refused = command(dir.path(), "true", Duration::from_secs(5))
            .in_sandbox(&Sandbox::Unavailable("no bwrap".into()));
        assert_eq!(refused.unwrap_err(), "no bwrap");
        let plain =
            command(dir.path(), "true", Duration::from_secs(5)).in_sandbox(&Sandbox::Off).unwrap();
        assert_eq!(plain.sandbox, None);
    }

    #[tokio::test]
    async fn the_prompt_reaches_standard_input() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "read.sh", "echo \"got: $(cat)\"");
        let mut cmd = command(dir.path(), "./read.sh", Duration::from_secs(10));
        cmd.stdin = Stdin::Text("the prompt's text".into());
        let run = run(&cmd).await;
        assert!(run.output.contains("got: the prompt's text"), "{run:?}");
    }

    #[tokio::test]
    async fn a_sandboxed_run_sees_no_process_and_no_hidden_file_of_the_dashboard() {
        let dir = tempfile::tempdir().unwrap();
        let repository = dir.path().join("repo");
        let secrets = dir.path().join("data");
        std::fs::create_dir_all(&repository).unwrap();
        std::fs::create_dir_all(&secrets).unwrap();
        std::fs::write(secrets.join("session.key"), "SECRET-KEY").unwrap();
        std::fs::write(repository.join("readme"), "repository file").unwrap();
        script(
            &repository,
            "look.sh",
            &format!(
                "cat readme; echo; cat {}/session.key; ls /proc/{}/environ; echo > written-here",
                secrets.display(),
                std::process::id()
            ),
        );
        let sandbox = sandbox(std::slice::from_ref(&secrets)).await;
        let Sandbox::Bubblewrap(_) = &sandbox else {
            panic!("bubblewrap runs on this machine (apt-get install bubblewrap): {sandbox:?}")
        };
        let cmd = command(&repository, "./look.sh", Duration::from_secs(20))
            .in_sandbox(&sandbox)
            .unwrap();
        let run = run(&cmd).await;
        assert!(run.output.contains("repository file"), "{run:?}");
        assert!(!run.output.contains("SECRET-KEY"), "{run:?}");
        assert!(run.output.contains("No such file"), "{run:?}");
        assert!(repository.join("written-here").exists(), "the repository is writable");
        assert_eq!(
            run.command,
            repository.join("look.sh").display().to_string(),
            "the command is shown as configured, not as bubblewrap's"
        );
    }

    #[tokio::test]
    async fn a_sandboxed_run_is_stopped_with_children_that_left_its_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let marker = outside.path().join("escaped");
        // The sandbox hides nothing of `outside` but /tmp; a marker in the repository
        // shows whether the child outlived the run.
        let marker_in_repo = dir.path().join("escaped");
        script(
            dir.path(),
            "escape.sh",
            "setsid sh -c 'sleep 2; echo late > escaped' &\nnohup sh -c 'sleep 2; echo late > escaped' >/dev/null 2>&1 &\necho started\nsleep 30",
        );
        let cmd = command(dir.path(), "./escape.sh", Duration::from_millis(700))
            .in_sandbox(&sandbox(&[]).await)
            .unwrap();
        let run = run(&cmd).await;
        assert!(run.timed_out && run.output.contains("started"), "{run:?}");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            !marker_in_repo.exists() && !marker.exists(),
            "a child that left the process group outlived the run"
        );
    }
}
