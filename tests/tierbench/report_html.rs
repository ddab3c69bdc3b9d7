//! `report.html` and `latency.hlog` from a simulated sweep: every chart is in
//! the page, headless Chromium renders it (DOM and screenshot), and the
//! interval log parses.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

const WINDOW: (u32, u32) = (1400, 4000);

fn sandbox() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tierbench-report-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A simulated run of the six-policy TTL sweep; the directory it wrote.
fn simulated_sweep(results: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_tierbench"))
        .args(["sim", "--results"])
        .arg(results)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ttl-sweep.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let dir = stdout.lines().find_map(|l| l.strip_prefix("results: ")).expect("prints where results went");
    PathBuf::from(dir.trim())
}

/// Headless Chromium as root on a closed network (see the machine notes):
/// its stdout, or a failure after 90 s.
fn chromium(scratch: &Path, args: &[String]) -> Vec<u8> {
    let profile = scratch.join(format!("profile-{}", scratch.read_dir().unwrap().count()));
    let spawned = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => panic!(
            "cannot start chromium ({e}): install it with `apt-get install -y chromium` \
             (`.ci/run` installs it)"
        ),
    };
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium {args:?} failed: {status}");
            return reader.join().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium {args:?} did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn screenshot(scratch: &Path, page: &Path, png: &Path) -> Vec<u8> {
    chromium(
        scratch,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
            format!("file://{}", page.display()),
        ],
    );
    std::fs::read(png).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()))
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR", "not a PNG");
    let be = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

/// The chart ids a report of `policies` policies (more than one) must have.
fn chart_ids(policies: usize) -> Vec<String> {
    let mut ids = vec!["chart-cost-staleness".to_owned(), "chart-p99".to_owned()];
    for i in 0..policies {
        for kind in ["latency", "layers", "stripe", "staleness"] {
            ids.push(format!("chart-{kind}-{i}"));
        }
    }
    ids
}

#[test]
fn a_simulated_sweeps_report_renders_every_chart_in_headless_chromium() {
    let scratch = sandbox();
    let dir = simulated_sweep(&scratch.join("results"));
    let result: tierbench::report::RunResult =
        serde_json::from_slice(&std::fs::read(dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(result.policies.len(), 6);
    let page = dir.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("SIMULATED RUN"), "a simulated run says so");
    for external in ["<link", "<script", "src=\"", "url(", "@import"] {
        assert!(!html.contains(external), "the page fetches nothing, found {external:?}");
    }
    let ids = chart_ids(result.policies.len());
    for id in &ids {
        let at = html.find(&format!("<svg id=\"{id}\"")).unwrap_or_else(|| panic!("no chart {id}"));
        let svg = &html[at..at + html[at..].find("</svg>").expect("a closed svg")];
        let marks = ["<polyline", "<polygon", "<rect", "<circle"]
            .iter()
            .map(|m| svg.matches(m).count())
            .sum::<usize>();
        let empty_on_purpose = svg.contains("No stale reads");
        assert!(marks > 3 || empty_on_purpose, "{id} has nothing plotted ({marks} marks)");
        assert!(svg.contains("<text"), "{id} has no labels");
    }

    // Rendered by a browser: every chart's svg in the DOM, and a screenshot
    // well beyond a blank page's.
    let dom =
        String::from_utf8(chromium(&scratch, &["--dump-dom".into(), format!("file://{}", page.display())]))
            .unwrap();
    for id in &ids {
        assert!(dom.contains(&format!("<svg id=\"{id}\"")), "{id} missing from the rendered DOM");
    }
    assert!(dom.matches("<figure").count() >= ids.len(), "every chart in a figure");
    let blank = scratch.join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank_png = screenshot(&scratch, &blank, &scratch.join("blank.png"));
    let png_path = dir.join("report.png");
    let png = screenshot(&scratch, &page, &png_path);
    assert_eq!(png_size(&png), WINDOW);
    assert_eq!(png_size(&blank_png), WINDOW);
    assert!(
        png.len() > 20 * blank_png.len() && png.len() > 200_000,
        "the screenshot ({} bytes, {}) is hardly more than a blank page's ({} bytes)",
        png.len(),
        png_path.display(),
        blank_png.len()
    );

    // The interval log parses, one time series per policy.
    let log = std::fs::read(dir.join("latency.hlog")).unwrap();
    let mut tags = std::collections::BTreeSet::new();
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(i) = entry.expect("every line of latency.hlog parses") {
            tags.insert(i.tag().expect("tagged").to_string());
        }
    }
    for p in &result.policies {
        assert!(tags.contains(&p.name), "no per-second series for {}: {tags:?}", p.name);
        assert!(tags.contains(&format!("{}.corrected.l1", p.name)), "{tags:?}");
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
