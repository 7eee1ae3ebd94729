//! Clients that hold connections: half-sent requests, idle kept-alive connections,
//! bodies that trickle, and more connections than the server has descriptors. Each is
//! closed in its time or answered `503 busy` at once, and the dashboard keeps answering
//! everyone else, and keeps the descriptors a release needs.

mod common;

use common::{Sent, Setup, TestApp};
use server::serve::ConnectionLimits;
use std::net::{IpAddr, SocketAddr};

use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A connection from `from` (a loopback address) to `to`.
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from.parse::<IpAddr>().unwrap(), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// What the server sends on `stream` within `wait`, up to its close: `None` when the
/// connection is still open and silent.
async fn read_within(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => {
                return (!received.is_empty()).then(|| String::from_utf8_lossy(&received).into());
            }
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&received).into()),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

async fn healthz_from(from: &str, app: &TestApp) -> String {
    let mut stream = connect_from(from, app.addr).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: dashboard\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    read_within(&mut stream, Duration::from_secs(5)).await.expect("an answer")
}

fn limits(per_client: usize, timeout: Duration) -> ConnectionLimits {
    ConnectionLimits {
        max_connections: 1024,
        max_per_client: per_client,
        header_timeout: timeout,
        body_timeout: timeout,
    }
}

#[tokio::test]
async fn half_sent_requests_from_one_client_are_capped_then_closed_and_others_are_served() {
    let app =
        Setup::default().with(|s| s.connections = limits(20, Duration::from_secs(1))).spawn().await;
    let mut held = Vec::new();
    for _ in 0..60 {
        let mut stream = connect_from("127.0.0.1", app.addr).await;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: dashboard\r\nX-Slow: ").await.unwrap();
        held.push(stream);
    }
    // The twenty-first on are answered at once, and closed.
    let mut busy = 0;
    for stream in held.iter_mut().skip(20) {
        let answer = read_within(stream, Duration::from_secs(2)).await;
        if answer.is_some_and(|a| a.starts_with("HTTP/1.1 503") && a.contains("\"busy\"")) {
            busy += 1;
        }
    }
    assert_eq!(busy, 40, "every connection over the client's cap is told it is busy");
    // Another client is served while they hang.
    let started = Instant::now();
    let answer = healthz_from("127.0.0.2", &app).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(1), "at once");
    // The half-sent ones are closed after the header timeout.
    for stream in held.iter_mut().take(20) {
        let closed = read_within(stream, Duration::from_secs(5)).await;
        assert!(closed.is_some(), "a half-sent request is not held for ever");
    }
    // And the client that sent them is served again.
    let answer = healthz_from("127.0.0.1", &app).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_and_a_trickling_body_is_cut_off() {
    let app =
        Setup::default().with(|s| s.connections = limits(64, Duration::from_secs(1))).spawn().await;
    let mut idle = connect_from("127.0.0.1", app.addr).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: dashboard\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "served, kept alive");
    let started = Instant::now();
    let closed = read_within(&mut idle, Duration::from_secs(5)).await;
    assert_eq!(closed.as_deref(), Some(""), "the idle connection is closed");
    assert!(started.elapsed() < Duration::from_secs(4));

    // A body promised long and sent a byte at a time.
    let mut slow = connect_from("127.0.0.1", app.addr).await;
    slow.write_all(
        b"POST /fn/login HTTP/1.1\r\nHost: dashboard\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nusername=",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut answer = None;
    while started.elapsed() < Duration::from_secs(6) {
        if slow.write_all(b"a").await.is_err() {
            answer = Some(String::new());
            break;
        }
        if let Some(text) = read_within(&mut slow, Duration::from_millis(300)).await {
            answer = Some(text);
            break;
        }
    }
    let answer = answer.expect("the trickling body is cut off");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 4"), "closed, or a 4xx: {answer}");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    let answer = healthz_from("127.0.0.2", &app).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// The real binary with 256 descriptors, hundreds of idle connections from several
/// addresses, and a deploy that must still spawn its steps.
#[tokio::test]
async fn idle_connections_beyond_the_descriptors_leave_room_for_a_release() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let web = dir.path().join("web");
    std::fs::create_dir_all(&web).unwrap();
    // The deploy waits until the test has flooded the server, then its smoke check
    // needs a new process.
    let flooded = dir.path().join("flooded");
    let target = common::live_file_target(
        &web,
        &format!("while [ ! -e {} ]; do sleep 0.05; done", flooded.display()),
    );
    let config = dir.path().join("factory.toml");
    std::fs::write(&config, format!("[server]\nmax_connections_per_client = 100\n\n{target}"))
        .unwrap();
    let token = common::token_from_the_command_line(&data_dir, "operator");
    let port = common::unused_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = dir.path().join("server.log");
    let mut command = Command::new("prlimit");
    command
        .arg("--nofile=256:256")
        .arg(env!("CARGO_BIN_EXE_factory"))
        .args(["serve", "--addr", &addr.to_string(), "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data_dir);
    let mut server = common::start_server(command, &addr.to_string(), &log);
    let client = reqwest::Client::new();
    let deployed = client
        .post(format!("http://{addr}/api/targets/web/deploy"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "version": "1.0.0" }))
        .sent()
        .await;
    assert_eq!(deployed.status(), 202, "{:?}", deployed.text().await);
    let release: serde_json::Value = deployed.json().await.unwrap();
    let id = release["release_id"].as_i64().unwrap();
    // While it runs, 300 connections from three addresses, each sending half a request:
    // more than the 256 descriptors the server has.
    let mut held = Vec::new();
    for from in ["127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        for _ in 0..100 {
            let mut stream = connect_from(from, addr).await;
            let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
            held.push(stream);
        }
    }
    // A newcomer is told at once that the server is busy, not left hanging.
    let mut newcomer = connect_from("127.0.0.6", addr).await;
    let _ = newcomer.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answer = read_within(&mut newcomer, Duration::from_secs(2)).await;
    assert!(answer.as_deref().is_some_and(|a| a.starts_with("HTTP/1.1 503")), "{answer:?}");
    std::fs::write(&flooded, "").unwrap();
    // The release's steps still spawn; once the half-sent requests time out, the API
    // answers again.
    let mut status = serde_json::Value::Null;
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        let answer =
            client.get(format!("http://{addr}/api/releases/{id}")).bearer_auth(&token).send().await;
        if let Ok(answer) = answer
            && answer.status() == 200
        {
            let body: serde_json::Value = answer.json().await.unwrap();
            status = body["release"]["status"].clone();
            if status != "running" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(held);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        status,
        "succeeded",
        "the release's steps ran: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(std::fs::read_to_string(web.join("live")).unwrap().trim(), "1.0.0");
}
