//! The CI gate from the command line: `[thresholds]` at the end of a run,
//! `check` against a baseline (a degraded run fails naming the metric, a rerun
//! with other random draws passes), its Markdown and JUnit output, `compare`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tierbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tierbench"))
}

fn sandbox(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tierbench-gate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(out: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// A portal workload at 40 req/s for 3 simulated minutes (about 7,000
/// requests); `seed` changes every random draw, `l1`/`l2` are the TTLs.
fn scenario(dir: &Path, name: &str, seed: u64, l1: &str, l2: &str, thresholds: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"name = "gate"
seed = {seed}
duration = "180s"
time_scale = 10

[workload]
customers = 3000
popularity = {{ kind = "zipf", s = 0.9 }}
mix = {{ customer = 0.6, subscriptions = 0.2, payment_methods = 0.2 }}
arrival = {{ kind = "poisson", rate_per_s = 40 }}

[callers]
concurrency = 100

[mutations]
rate_per_s = 0.5

[stripe]
mode = "live"

[[policy]]
name = "portal"
l1_ttl = "{l1}"
l2_ttl = "{l2}"

[thresholds]
{thresholds}
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Simulates `scenario` and returns the run directory and the output.
fn sim(dir: &Path, scenario: &Path) -> (PathBuf, Output) {
    let out = tierbench()
        .args(["sim", "--calibration", "none", "--results"])
        .arg(dir.join("results"))
        .arg(scenario)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let run =
        stdout.lines().find_map(|l| l.strip_prefix("results: ")).unwrap_or_else(|| panic!("{}", show(&out)));
    (PathBuf::from(run.trim()), out)
}

fn check(args: &[&std::ffi::OsStr]) -> Output {
    tierbench().arg("check").args(args).output().unwrap()
}

#[test]
fn check_fails_a_degraded_run_naming_the_metric_and_passes_a_rerun() {
    let dir = sandbox("regress");
    let (baseline, out) = sim(&dir, &scenario(&dir, "base", 1, "2m", "10m", ""));
    assert!(out.status.success(), "{}", show(&out));
    // The same scenario with other random draws: noise, not a regression.
    let (rerun, _) = sim(&dir, &scenario(&dir, "rerun", 2, "2m", "10m", ""));
    let pass = check(&[rerun.as_os_str(), "--baseline".as_ref(), baseline.as_os_str()]);
    assert_eq!(pass.status.code(), Some(0), "a rerun passes:\n{}", show(&pass));
    assert!(text(&pass.stdout).contains("PASSED"), "{}", show(&pass));
    assert!(text(&pass.stdout).contains("seeds differ"), "the note says why values moved: {}", show(&pass));
    // Halved TTLs (as a careless change would): fewer L1 hits, more Stripe calls.
    let (degraded, _) = sim(&dir, &scenario(&dir, "halved", 1, "1m", "5m", ""));
    let (md, junit) = (dir.join("check.md"), dir.join("check.xml"));
    let fail = check(&[
        degraded.as_os_str(),
        "--baseline".as_ref(),
        baseline.as_os_str(),
        "--markdown".as_ref(),
        md.as_os_str(),
        "--junit".as_ref(),
        junit.as_os_str(),
    ]);
    let stdout = text(&fail.stdout);
    assert_eq!(fail.status.code(), Some(1), "halved TTLs fail:\n{}", show(&fail));
    let verdict = stdout.lines().last().unwrap();
    assert!(verdict.starts_with("FAILED: ") && verdict.contains("hit_ratio"), "{stdout}");
    assert!(stdout.contains("hit_ratio.l1") && stdout.contains("FAIL"), "{stdout}");
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(markdown.contains("❌") && markdown.contains("| portal | hit_ratio.l1 |"), "{markdown}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure message=") && xml.contains("hit_ratio.l1"), "{xml}");
    assert_valid_junit(&junit);
}

/// Validates a JUnit file with xmllint against tests/schemas/junit.xsd.
fn assert_valid_junit(file: &Path) {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/junit.xsd");
    let out = Command::new("xmllint").arg("--noout").arg("--schema").arg(&xsd).arg(file).output().unwrap_or_else(|e| {
        panic!("xmllint is needed to validate JUnit XML ({e}): apt-get install libxml2-utils (.ci/run installs it)")
    });
    assert!(out.status.success(), "JUnit XML does not validate: {}", show(&out));
}

#[test]
fn thresholds_are_checked_at_the_end_of_a_run_and_by_check() {
    let dir = sandbox("thresholds");
    let met = "p99 = \"< 5s\"\n\"hit_ratio.l1\" = \"> 0.3\"\nstale_reads = [\"< 5%\", \">= 0\"]";
    let (run, out) = sim(&dir, &scenario(&dir, "met", 1, "2m", "10m", met));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(text(&out.stdout).contains("PASSED (4 checks)"), "{}", show(&out));
    let broken = "hit_ratio.l1 = \"> 0.99\"\ncost_per_month = \"< $0.01\"";
    let (_, out) = sim(&dir, &scenario(&dir, "broken", 1, "2m", "10m", broken));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stdout.contains("FAILED: hit_ratio, cost (2 of 2 checks failed)"), "{stdout}");
    assert!(stdout.contains("results: "), "the results are written and named first: {stdout}");
    // `check` reads them from the result's scenario; --threshold adds more.
    let junit = dir.join("t.xml");
    let out = check(&[
        run.as_os_str(),
        "--threshold".as_ref(),
        "p50.l1 < 1us".as_ref(),
        "--junit".as_ref(),
        junit.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(text(&out.stdout).contains("FAILED: latency (1 of 5 checks failed)"), "{}", show(&out));
    assert_valid_junit(&junit);
}

#[test]
fn bad_check_input_exits_2_saying_what_is_wrong() {
    let dir = sandbox("bad");
    let (run, _) = sim(&dir, &scenario(&dir, "ok", 1, "2m", "10m", ""));
    let cases: [(&[&str], &str); 4] = [
        (&["--threshold", "p99 < 40"], "unit"),
        (&["--threshold", "p98.5 < 40ms"], "unknown metric"),
        (&["--tolerance", "latency=lots"], "--tolerance"),
        (&[], "nothing to check"),
    ];
    for (args, says) in cases {
        let mut all: Vec<&std::ffi::OsStr> = vec![run.as_os_str(), "--no-scenario-thresholds".as_ref()];
        all.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
        let out = check(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        assert!(text(&out.stderr).contains(says), "{args:?}: {}", show(&out));
    }
    let bad = scenario(&dir, "bad", 1, "2m", "10m", "p99 = \"< 40\"");
    let out = tierbench().args(["sim", "--calibration", "none"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.toml:27: thresholds.p99:") && stderr.contains("unit"), "{stderr}");
    // A baseline of another scenario is refused, not compared.
    let other = tierbench()
        .args(["sim", "--calibration", "none", "--results"])
        .arg(dir.join("results"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml"))
        .output()
        .unwrap();
    let other_dir =
        text(&other.stdout).lines().find_map(|l| l.strip_prefix("results: ").map(str::to_owned)).unwrap();
    let out = check(&[run.as_os_str(), "--baseline".as_ref(), other_dir.trim().as_ref()]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(text(&out.stderr).contains("scenario \"quickstart\""), "{}", show(&out));
}

#[test]
fn compare_shows_runs_side_by_side_marking_significant_changes() {
    let dir = sandbox("compare");
    let (a, _) = sim(&dir, &scenario(&dir, "a", 1, "2m", "10m", ""));
    let (b, _) = sim(&dir, &scenario(&dir, "b", 1, "1m", "5m", ""));
    let md = dir.join("compare.md");
    let out = tierbench().arg("compare").arg(&a).arg(&b).arg("--markdown").arg(&md).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = text(&out.stdout);
    let l1 = stdout.lines().find(|l| l.contains("hit_ratio.l1")).expect("a hit ratio row");
    assert!(l1.contains("* worse"), "halved TTLs lose L1 hits, beyond noise: {stdout}");
    let calls = stdout.lines().find(|l| l.contains("stripe_calls_per_s")).unwrap();
    assert!(calls.contains("* worse"), "{stdout}");
    assert!(std::fs::read_to_string(&md).unwrap().contains("| portal | hit_ratio.l1 |"));
}
