//! Test helpers: the real router on 127.0.0.1:0 over a temporary data directory, and
//! clients that behave like a browser (cookies kept, redirects not followed).
#![allow(dead_code)] // Each test binary uses a different part of this module.

pub mod release_host;

use reqwest::{Client, Response, StatusCode, redirect};
pub use server::startup::Settings;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;
use tokio::task::JoinHandle;

/// Validation commands named by their program, as a test's configuration would give
/// them: `./pass.sh` runs `./pass.sh` in the repository.
pub fn validation_commands(programs: &[&str]) -> app::process::ValidationCommands {
    app::process::ValidationCommands::new(
        programs.iter().map(|program| (program.to_string(), vec![program.to_string()])).collect(),
    )
}

/// An executable shell script `dir/name` running `body`; its path.
pub fn script(dir: &std::path::Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("the script is written");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("the script is made executable");
    path
}

/// A target `web` in `working_dir` whose deploy runs `deploy_body` (then writes the
/// version to `live`), whose rollback writes the version back to `live`, and whose
/// post-deploy smoke check is that `live` exists: the scripts are written (each stops at
/// its first failing command), and the `[[targets]]` table for a configuration file is
/// returned.
pub fn live_file_target(working_dir: &std::path::Path, deploy_body: &str) -> String {
    let strict = |body: &str| format!("set -eu\n{body}");
    script(
        working_dir,
        "deploy.sh",
        &strict(&format!("{deploy_body}\necho \"$FACTORY_VERSION\" > live")),
    );
    script(working_dir, "rollback.sh", &strict("echo \"$FACTORY_VERSION\" > live"));
    script(working_dir, "check.sh", &strict("test -f live"));
    format!(
        "[[targets]]\nname = \"web\"\nworking_dir = {:?}\ndeploy = [\"./deploy.sh\"]\nrollback = [\"./rollback.sh\"]\n\n[[targets.smoke]]\nname = \"live file\"\nwhen = \"post\"\ncommand = [\"./check.sh\"]\n",
        working_dir.display().to_string()
    )
}

/// A new API token with `role` in `data_dir`'s database, made by the binary's own
/// `factory token create` (creating the database if needed); its secret.
pub fn token_from_the_command_line(data_dir: &std::path::Path, role: &str) -> String {
    token_made_with(data_dir, &["--role", role])
}

/// A new API token `ci` made by `factory token create ci ARGS… --data-dir DIR`; its
/// secret.
pub fn token_made_with(data_dir: &std::path::Path, args: &[&str]) -> String {
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_factory"))
        .args(["token", "create", "ci"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("factory runs");
    assert!(created.status.success(), "{created:?}");
    String::from_utf8_lossy(&created.stdout)
        .lines()
        .find(|line| line.starts_with("bf_"))
        .expect("the token is printed")
        .to_owned()
}

/// The demo user's password in tests.
pub const DEMO_PASSWORD: &str = "demo password for tests";

pub struct TestApp {
    pub addr: SocketAddr,
    /// Signed in as the demo operator.
    pub client: Client,
    /// No session, no token.
    pub anonymous: Client,
    pub data_dir: PathBuf,
    /// The server's own state: its database connection, as the server uses it.
    pub state: app::AppState,
    server: JoinHandle<()>,
    /// Tells the server to stop as SIGTERM does ([`TestApp::shut_down`]).
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// Stops the demo services its deploys started, however the test ends: a test that
    /// fails before its own shutdown leaves nothing running. Before `_dir`, which it
    /// reads.
    _demo_services: DemoServices,
    _dir: Option<TempDir>,
}

/// The data directory whose demo services are stopped when this is dropped.
struct DemoServices(PathBuf);

impl Drop for DemoServices {
    fn drop(&mut self) {
        server::demo::stop_demo_services(&self.0);
    }
}

/// A client with a cookie jar that does not follow redirects, optionally from another
/// loopback address (127.0.0.2, …) so throttling sees a different client.
pub fn browser(from: Option<IpAddr>) -> Client {
    let mut builder = Client::builder().redirect(redirect::Policy::none()).cookie_store(true);
    if let Some(ip) = from {
        builder = builder.local_address(ip);
    }
    builder.build().expect("client builds")
}

impl TestApp {
    /// `POST /api/control-plane/sync` as the demo operator: the new snapshot.
    pub async fn sync(&self) -> serde_json::Value {
        let response = self.client.post(self.url("/api/control-plane/sync")).sent().await;
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["last_sync"].clone()
    }

    /// `GET /api/control-plane/items/{id}`, which must answer 200: the whole item.
    pub async fn item(&self, id: &str) -> serde_json::Value {
        let (status, body) = self.get_json(&format!("/api/control-plane/items/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A page as the signed-in browser gets it; it must answer 200.
    pub async fn page(&self, path: &str) -> String {
        self.page_as(&self.client, path).await
    }

    /// A page as `browser` gets it; it must answer 200.
    pub async fn page_as(&self, browser: &Client, path: &str) -> String {
        let response = get_html(browser, &self.url(path)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.text().await.expect("the page's text")
    }

    /// A GET as a signed-in browser sends it.
    pub async fn get_page(&self, path: &str) -> Response {
        get_html(&self.client, &self.url(path)).await
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, serde_json::Value) {
        json_of(self.client.get(self.url(path)).header("accept", "application/json").sent().await)
            .await
    }

    /// Posts the sign-in form as a browser without JavaScript does.
    pub async fn sign_in(
        &self,
        client: &Client,
        username: &str,
        password: &str,
        next: Option<&str>,
    ) -> Response {
        let mut form = vec![("username", username), ("password", password)];
        if let Some(next) = next {
            form.push(("next", next));
        }
        let referer = match next {
            Some(next) => self.url(&format!("/login?next={next}")),
            None => self.url("/login"),
        };
        client
            .post(self.url("/fn/login"))
            .header("accept", "text/html")
            .header("origin", format!("http://{}", self.addr))
            .header("referer", referer)
            .form(&form)
            .sent()
            .await
    }

    /// An API POST as a script sends it: asking for JSON, with an `Idempotency-Key` when
    /// given. Add a body or a token, then [`answer`] it.
    pub fn api_post(
        &self,
        client: &Client,
        path: &str,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = client.post(self.url(path)).header("accept", "application/json");
        match key {
            Some(key) => request.header("idempotency-key", key),
            None => request,
        }
    }

    /// Deploys `version` to `target` through the API and waits for the release's end;
    /// returns `{release, steps, hosts}`.
    pub async fn deployed(&self, target: &str, version: &str) -> serde_json::Value {
        let (status, body) = answer(
            self.api_post(&self.client, &format!("/api/targets/{target}/deploy"), None)
                .json(&serde_json::json!({ "version": version })),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{target} {version}: {body}");
        self.finished_start(&body).await
    }

    /// The release a start answered (`{release_id}`), once it has finished.
    pub async fn finished_start(&self, started: &serde_json::Value) -> serde_json::Value {
        let id = started["release_id"].as_i64().expect("a release id");
        self.finished_release(id).await
    }

    /// The automatic rollback a release (`{release, …}`) started, once it has finished.
    pub async fn its_rollback(&self, record: &serde_json::Value) -> serde_json::Value {
        let id = record["release"]["related"].as_i64().expect("a rollback");
        self.finished_release(id).await
    }

    /// Waits until release `id` has finished; returns `{release, steps}` as the API
    /// answers it.
    pub async fn finished_release(&self, id: i64) -> serde_json::Value {
        for _ in 0..600 {
            let (status, body) = self.get_json(&format!("/api/releases/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["release"]["status"] != "running" {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("release #{id} did not finish in 30 s");
    }

    /// A new API token with `role`; returns its secret.
    pub async fn token(&self, name: &str, role: app::domain::Role) -> String {
        let secret = app::auth::secrets::new_api_token();
        let hash = app::auth::secrets::token_hash(&secret);
        let name = name.to_owned();
        self.db()
            .await
            .call(move |conn| {
                app::store::operators::add_token(conn, &name, role, &hash, &Default::default())
            })
            .await
            .expect("the token is stored");
        secret
    }

    /// Sets a work item's validation command, as a sync of its file would.
    pub async fn set_validation_command(&self, item: &'static str, command: &'static str) {
        self.db()
            .await
            .call(move |conn| {
                conn.execute(
                    "UPDATE work_items SET validation_command = ?2 WHERE id = ?1",
                    [item, command],
                )?;
                Ok(())
            })
            .await
            .expect("the item is updated");
    }

    /// Posts a page's form as a browser without JavaScript does: form-encoded, asking for
    /// HTML, with this site as Origin and `page` as Referer.
    pub async fn post_form(
        &self,
        client: &Client,
        path: &str,
        page: &str,
        form: &[(&str, &str)],
    ) -> Response {
        self.form_post(client, path, page, form).sent().await
    }

    /// [`TestApp::post_form`] as the signed-in browser.
    pub async fn submit(&self, path: &str, page: &str, form: &[(&str, &str)]) -> Response {
        self.post_form(&self.client, path, page, form).await
    }

    /// The newest `n` webhook deliveries, queued or done, newest first.
    pub async fn deliveries(&self, n: usize) -> Vec<app::store::webhooks::Delivery> {
        self.db()
            .await
            .call(move |conn| app::store::webhooks::recent(conn, n))
            .await
            .expect("the deliveries are read")
    }

    /// The request [`TestApp::post_form`] sends, to send it another way.
    pub fn form_post(
        &self,
        client: &Client,
        path: &str,
        page: &str,
        form: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        client
            .post(self.url(path))
            .header("accept", "text/html")
            .header("origin", format!("http://{}", self.addr))
            .header("referer", self.url(page))
            .form(form)
    }

    /// A second connection to the app's database, as another process would open it.
    pub async fn db(&self) -> app::store::Db {
        server::open_state(&self.data_dir).await.expect("the database opens").db.clone()
    }

    /// Adds a user straight to the app's database.
    pub async fn add_user(&self, name: &str, password: &str, role: app::domain::Role) {
        let hash = app::auth::secrets::hash_password(password);
        let name = app::domain::Username::parse(name).expect("a valid username");
        self.db()
            .await
            .call(move |conn| Ok(app::store::operators::add_user(conn, &name, &hash, role)))
            .await
            .expect("the database answers")
            .expect("the user is new");
    }

    /// A new browser signed in as a new user with this role.
    pub async fn browser_signed_in_as(&self, name: &str, role: app::domain::Role) -> Client {
        let password = "a password for this test user";
        self.add_user(name, password, role).await;
        let client = browser(None);
        let response = self.sign_in(&client, name, password, None).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{name} signs in");
        client
    }

    /// Stops the server, keeping the data directory.
    /// Stops the server as SIGTERM does: requests finish, running releases are
    /// interrupted, demo services and kept SSH connections end.
    pub async fn shut_down(mut self) -> (PathBuf, Option<TempDir>) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = (&mut self.server).await;
        (self.data_dir, self._dir)
    }

    /// Stops the server as SIGTERM does and checks that nothing it started (a demo
    /// service, an SSH connection, a loopback sshd) runs on under its data directory.
    pub async fn shut_down_leaving_nothing(self) {
        let (data_dir, _keep) = self.shut_down().await;
        let left = processes_left_under(&data_dir).await;
        assert_eq!(left, Vec::<String>::new(), "left behind by the dashboard");
    }

    pub async fn stop(self) -> (PathBuf, Option<TempDir>, Client) {
        self.server.abort();
        let _ = self.server.await;
        (self.data_dir, self._dir, self.client)
    }
}

pub async fn get_html(client: &Client, url: &str) -> Response {
    client.get(url).header("accept", "text/html").sent().await
}

/// Waits until `path` exists: how a test's script says it got somewhere, so the test
/// waits for that event rather than for a time.
pub async fn until_exists(path: &std::path::Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(std::time::Instant::now() < deadline, "{} never appeared", path.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends a request and reads its JSON answer.
/// `request.sent().await`: the response, or the test fails saying the request could
/// not be sent.
pub trait Sent {
    fn sent(self) -> impl std::future::Future<Output = Response>;
}

impl Sent for reqwest::RequestBuilder {
    async fn sent(self) -> Response {
        self.send().await.expect("request sent")
    }
}

/// A response header's value, when it has one that is text.
pub fn header(response: &Response, name: &str) -> Option<String> {
    let value = response.headers().get(name)?;
    value.to_str().ok().map(str::to_owned)
}

pub async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, serde_json::Value) {
    json_of(request.send().await.expect("request sent")).await
}

pub async fn json_of(response: Response) -> (StatusCode, serde_json::Value) {
    let status = response.status();
    let content_type = header(&response, "content-type").unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "content type {content_type:?}");
    (status, response.json().await.expect("JSON body"))
}

/// A loopback port nothing listens on (now).
pub fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Starts `factory serve` as `command` sets it up (it serves on `addr`), its standard
/// error into `log`, and waits up to 30 s until `addr` takes connections.
pub fn start_server(
    mut command: std::process::Command,
    addr: &str,
    log: &std::path::Path,
) -> std::process::Child {
    use std::process::Stdio;
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("the log file"))
        .spawn()
        .expect("the server starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(std::time::Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// A fresh data directory with the demo data, served on a free port, with a client
/// signed in as the demo operator.
pub async fn spawn_demo_app() -> TestApp {
    Setup::default().spawn().await
}

/// How a test's app starts: the server's own [`Settings`], built as `factory serve`
/// builds them (from [`Settings::new`], where every default is written), with the
/// test's choices, started through the server's own start-up
/// (`server::startup::Application::build`).
pub struct Setup {
    pub settings: Settings,
    /// The signed-in client: a new browser unless given (to keep an earlier server's
    /// cookies).
    client: Option<Client>,
    /// The data directory when the test did not name one; removed with the app.
    temporary: Option<TempDir>,
}

/// A demo app in a fresh temporary data directory: the demo's items, the `demo` user
/// with [`DEMO_PASSWORD`] and, without targets, the demo target; cookies without
/// `Secure` (the tests speak plain HTTP); a webhook's second try after 200 ms.
impl Default for Setup {
    fn default() -> Self {
        let temporary = tempfile::tempdir().expect("temporary directory");
        let mut settings = Settings::new(
            "127.0.0.1:0".parse().expect("an address"),
            temporary.path().join("data"),
        );
        settings.demo = true;
        settings.demo_password = Some(DEMO_PASSWORD.into());
        settings.insecure_cookies = true;
        settings.webhook_first_retry = Duration::from_millis(200);
        settings.webhook_attempts = 8;
        Setup { settings, client: None, temporary: Some(temporary) }
    }
}

impl Setup {
    /// Changes the settings as a configuration file or a flag would.
    pub fn with(mut self, change: impl FnOnce(&mut Settings)) -> Setup {
        change(&mut self.settings);
        self
    }

    /// Serves `dir`, which outlives the app (a restart serves it again).
    pub fn in_data_dir(mut self, dir: PathBuf) -> Setup {
        self.settings.data_dir = dir;
        self.temporary = None;
        self
    }

    /// Signs in, or keeps the cookies of, this client rather than a new browser.
    pub fn client(mut self, client: Client) -> Setup {
        self.client = Some(client);
        self
    }

    /// No demo, and `Secure` cookies, as a real server has them.
    pub fn without_demo_with_secure_cookies(self) -> Setup {
        self.with(|s| {
            s.demo = false;
            s.insecure_cookies = false;
        })
    }

    /// Starts the app on 127.0.0.1 and a free port; a demo app's client is signed in as
    /// the demo operator.
    pub async fn spawn(self) -> TestApp {
        let Setup { mut settings, client, temporary } = self;
        let data_dir = settings.data_dir.clone();
        // A demo app with its own repository still syncs the demo's work-item files.
        if settings.demo
            && settings.repository_code.repository_dir.is_some()
            && settings.queue_truth.work_items_dir.is_none()
        {
            settings.queue_truth.work_items_dir =
                Some(data_dir.join(server::demo::DEMO_FACTORY_DIR).join("work-items"));
        }
        let demo = settings.demo;
        let application =
            server::startup::Application::build(settings).await.expect("the app starts");
        let addr = application.addr();
        let state = application.state().clone();
        let (shutdown, stop_signal) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            application
                .run_until(async move {
                    let _ = stop_signal.await;
                })
                .await
                .expect("server runs");
        });
        let app = TestApp {
            addr,
            client: client.unwrap_or_else(|| browser(None)),
            anonymous: browser(None),
            data_dir: data_dir.clone(),
            state,
            server,
            shutdown: Some(shutdown),
            _demo_services: DemoServices(data_dir),
            _dir: temporary,
        };
        if demo && get_html(&app.client, &app.url("/")).await.status() != StatusCode::OK {
            let response = app.sign_in(&app.client, "demo", DEMO_PASSWORD, None).await;
            assert_eq!(response.status(), StatusCode::FOUND, "the demo user signs in");
        }
        app
    }
}

/// Processes whose working directory or command line names `dir`: what a stopped server
/// left behind there.
pub fn processes_under(dir: &std::path::Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let needle = dir.to_string_lossy().into_owned();
    let mut left = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
            .unwrap_or_default();
        let cwd = std::fs::read_link(entry.path().join("cwd")).unwrap_or_default();
        if cwd.starts_with(&dir) || cmdline.contains(&needle) {
            left.push(format!("{pid}: {cmdline}"));
        }
    }
    left
}

/// What is still running under `dir` once stopped processes have had up to 5 s to go
/// (a stopped one can linger a moment, exiting).
pub async fn processes_left_under(dir: &std::path::Path) -> Vec<String> {
    let mut left = processes_under(dir);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = processes_under(dir);
    }
    left
}

/// The text as the page shows it: Leptos escapes `&`, `<` and `>` in text nodes.
pub fn html_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn assert_contains(body: &str, needle: &str) {
    assert!(body.contains(needle), "expected {needle:?} in: {body}");
}

/// A refusal's recovery guidance names `cause` and `next_step` (each in part).
pub fn assert_guidance(body: &serde_json::Value, cause: &str, next_step: &str) {
    let guidance = &body["guidance"];
    assert_contains(guidance["cause"].as_str().unwrap_or_default(), cause);
    assert_contains(guidance["next_step"].as_str().unwrap_or_default(), next_step);
}

/// Sends `GET path` exactly as written (no dot segment resolved, nothing encoded, as
/// `curl --path-as-is` does) and returns the status code and the whole response.
pub async fn raw_get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("the server accepts");
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/html\r\n{cookie}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("request sent");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    (status, response)
}

/// The one-time token of a confirm page's form.
pub fn form_token(html: &str) -> String {
    let marker = "name=\"token\" value=\"";
    let start = html.find(marker).expect("the form has a token") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

pub fn location(response: &Response) -> String {
    response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The gate named `name` of a refusal's body (the one refusal: an action's or a
/// release control's), asserted to be what blocked it.
pub fn blocking_gate<'a>(refusal: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let gate = refusal["gates"]
        .as_array()
        .unwrap_or_else(|| panic!("a refusal with gates: {refusal}"))
        .iter()
        .find(|gate| gate["name"] == name)
        .unwrap_or_else(|| panic!("the {name} gate in {refusal}"));
    assert_eq!(gate["result"], "blocked", "{refusal}");
    gate
}
