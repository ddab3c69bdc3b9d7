//! Provisioning: what starts, stops, fails fast, and is never left running.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tierbench::backends::probe::redis_once;
use tierbench::backends::{BackendChoice, default_cache_dir, find_dynamodb_jar, state};

use crate::util::backends;

fn tierbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tierbench"))
}

/// A fresh state directory (`TIERBENCH_CACHE`) for one test.
fn sandbox(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tierbench-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Live (non-zombie) servers started under `dir`: tierbench runs each local
/// server in a log directory below its cache directory.
fn processes_with(dir: &Path) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else { continue };
        if cwd.starts_with(dir) && state::pid_alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// Runs `backends down` for `dir` when dropped, so a failing test leaves nothing.
struct Down<'a>(&'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = tierbench().args(["backends", "down"]).env("TIERBENCH_CACHE", self.0).output();
        for pid in processes_with(self.0) {
            // SAFETY: killing a server this test started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

fn wait_until_gone(dir: &Path) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_with(dir);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cli(dir: &Path, args: &[&str]) -> Output {
    let jar = find_dynamodb_jar(&default_cache_dir())
        .expect("DynamoDB Local installed (scripts/install-backends.sh)");
    tierbench()
        .args(args)
        .env("TIERBENCH_CACHE", dir)
        .env("TIERBENCH_DYNAMODB_LOCAL_JAR", jar)
        .output()
        .expect("tierbench runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn local_backends_up_status_down_leave_no_process() {
    let dir = sandbox("updown");
    let _down = Down(&dir);
    let up = cli(&dir, &["backends", "up", "--backend", "local"]);
    assert!(up.status.success(), "up failed: {}", text(&up.stderr));
    let out = text(&up.stdout);
    let redis_url =
        out.lines().find_map(|l| l.strip_prefix("redis:")).expect("prints the redis endpoint").trim();
    let ddb =
        out.lines().find_map(|l| l.strip_prefix("dynamodb:")).expect("prints the dynamodb endpoint").trim();
    redis_once(redis_url, Duration::from_secs(2)).await.expect("the printed redis answers");
    tierbench::backends::probe::dynamodb_once(Some(ddb), "us-east-1", Duration::from_secs(5))
        .await
        .expect("the printed dynamodb answers");
    assert_eq!(processes_with(&dir).len(), 2, "redis-server and DynamoDB Local run after `up` exits");

    let status = cli(&dir, &["backends", "status"]);
    assert!(status.status.success(), "{}", text(&status.stdout));
    assert!(text(&status.stdout).contains("redis answers"));
    let twice = cli(&dir, &["backends", "up", "--backend", "local"]);
    assert!(
        twice.status.code() == Some(2) && text(&twice.stderr).contains("already up"),
        "{}",
        text(&twice.stderr)
    );

    let down = cli(&dir, &["backends", "down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(wait_until_gone(&dir), Vec::<u32>::new(), "`down` left processes running");
    assert!(!state::path(&dir).exists(), "state file removed");
    let status = cli(&dir, &["backends", "status"]);
    assert!(text(&status.stdout).contains("nothing is up"));
}

#[tokio::test]
async fn scoped_local_backends_stop_when_dropped() {
    let b = backends(BackendChoice::Local).await;
    let pids = b.process_ids();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|&p| state::pid_alive(p)));
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| state::pid_alive(p)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!pids.iter().any(|&p| state::pid_alive(p)), "dropping the backends must stop them");
}

#[test]
fn interrupted_up_leaves_no_process() {
    let dir = sandbox("sigint");
    let _down = Down(&dir);
    let jar = find_dynamodb_jar(&default_cache_dir()).expect("DynamoDB Local installed");
    let child = tierbench()
        .args(["backends", "up", "--backend", "local"])
        .env("TIERBENCH_CACHE", &dir)
        .env("TIERBENCH_DYNAMODB_LOCAL_JAR", jar)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt while DynamoDB Local is still starting (it takes seconds).
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with(&dir).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(text(&out.stderr).contains("interrupted"), "{}", text(&out.stderr));
    assert_eq!(wait_until_gone(&dir), Vec::<u32>::new(), "Ctrl-C left processes running");
    assert!(!state::path(&dir).exists());
}

#[test]
fn missing_dynamodb_local_fails_fast_with_exit_3() {
    let dir = sandbox("nojar");
    let started = Instant::now();
    let out = tierbench()
        .args(["backends", "up", "--backend", "local"])
        .env("TIERBENCH_CACHE", &dir)
        .env("TIERBENCH_DYNAMODB_LOCAL_JAR", "/nonexistent/DynamoDBLocal.jar")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("DynamoDB Local") && err.contains("install-backends.sh"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(wait_until_gone(&dir), Vec::<u32>::new());
}

#[test]
fn unreachable_external_redis_fails_fast_with_exit_3() {
    let started = Instant::now();
    let out = tierbench()
        .args(["backends", "up", "--backend", "external", "--redis-url", "redis://127.0.0.1:1"])
        .args(["--dynamodb-endpoint", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("redis at redis://127.0.0.1:1 is unreachable"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn wrong_dynamodb_endpoint_fails_fast_with_exit_3() {
    let b = backends(BackendChoice::Local).await;
    let out = tierbench()
        .args(["backends", "up", "--backend", "external", "--redis-url", &b.endpoints.redis_url])
        .args(["--dynamodb-endpoint", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("dynamodb at http://127.0.0.1:1 is unreachable"), "{err}");
    b.stop().await.unwrap();
}

#[test]
fn no_docker_engine_fails_fast_with_exit_3() {
    let dir = sandbox("nodocker");
    let started = Instant::now();
    let out = tierbench()
        .args(["backends", "up", "--backend", "containers"])
        .env("TIERBENCH_CACHE", &dir)
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("no Docker engine answers") && err.contains("--backend local"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn missing_image_fails_with_exit_3_naming_it() {
    let dir = sandbox("noimage");
    let out = tierbench()
        .args(["backends", "up", "--backend", "containers", "--redis-image", "tierbench/no-such-image:none"])
        .env("TIERBENCH_CACHE", &dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("tierbench/no-such-image:none") && err.contains("build-images.sh"), "{err}");
}

#[test]
fn check_and_compare_of_missing_results_exit_2_naming_the_file() {
    for args in [&["check", "no-such/r.json"][..], &["compare", "no-such/a.json", "no-such/b.json"]] {
        let out = tierbench().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "no output for {args:?}");
        assert!(text(&out.stderr).contains("no-such/"), "{}", text(&out.stderr));
    }
}

/// Containers tierbench labelled, running or not.
async fn labelled_containers() -> Vec<String> {
    use testcontainers::bollard::Docker;
    use testcontainers::bollard::query_parameters::ListContainersOptionsBuilder;
    let docker = Docker::connect_with_defaults().expect("a Docker API (scripts/dockerd.sh start)");
    let filters = std::collections::HashMap::from([("label", vec!["dev.tierbench.backend"])]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let list = docker.list_containers(Some(options)).await.expect("docker lists containers");
    list.into_iter().filter_map(|c| c.id).collect()
}

#[tokio::test]
async fn container_backends_up_down_leave_no_container() {
    let dir = sandbox("containers-updown");
    let up = cli(&dir, &["backends", "up", "--backend", "containers"]);
    assert!(up.status.success(), "up failed: {}", text(&up.stderr));
    let ids = state::load(&dir).unwrap().expect("state recorded").container_ids;
    assert_eq!(ids.len(), 2);
    let running = labelled_containers().await;
    assert!(ids.iter().all(|id| running.contains(id)), "both containers run after `up` exits");
    let redis_url =
        text(&up.stdout).lines().find_map(|l| l.strip_prefix("redis:").map(|u| u.trim().to_owned()));
    redis_once(&redis_url.unwrap(), Duration::from_secs(2)).await.expect("the printed redis answers");

    let down = cli(&dir, &["backends", "down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    let left = labelled_containers().await;
    assert!(ids.iter().all(|id| !left.contains(id)), "`down` left containers: {left:?}");
}
