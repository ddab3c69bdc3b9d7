//! Live progress: elapsed, requests/s, p99 and hit ratio, as an updating line
//! on a terminal and as plain periodic lines otherwise.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::metrics::{Latency, Outcome, Sample};

/// Counters the run's recorder updates for every finished request.
#[derive(Debug, Default)]
pub struct Progress {
    requests: AtomicU64,
    l1: AtomicU64,
    errors: AtomicU64,
    window: Mutex<Latency>,
}

impl Progress {
    /// Counts a finished request.
    pub fn record(&self, s: &Sample) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match s.outcome {
            Outcome::L1 => {
                self.l1.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Error => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        if let Ok(mut w) = self.window.lock() {
            w.record(s.finished.saturating_sub(s.intended));
        }
    }

    /// Prints a line every `every` until `done` resolves; the last line ends
    /// with a newline.
    pub async fn report(
        &self,
        label: &str,
        total: Duration,
        every: Duration,
        done: impl std::future::Future,
    ) {
        let tty = std::io::stderr().is_terminal();
        let mut last = 0;
        let mut elapsed = Duration::ZERO;
        tokio::pin!(done);
        loop {
            tokio::select! {
                _ = &mut done => break,
                () = tokio::time::sleep(every) => {}
            }
            elapsed += every;
            let n = self.requests.load(Ordering::Relaxed);
            let p99 =
                self.window.lock().map(|mut w| std::mem::take(&mut *w).quantile(0.99)).unwrap_or_default();
            let hits = self.l1.load(Ordering::Relaxed) as f64 / n.max(1) as f64;
            let line = format!(
                "{label}: {:>4.0}/{:.0}s  {:>7.0} req/s  p99 {:>8.1} ms  L1 hit {:>5.1}%  errors {}",
                elapsed.as_secs_f64(),
                total.as_secs_f64(),
                (n - last) as f64 / every.as_secs_f64(),
                p99.as_secs_f64() * 1e3,
                hits * 100.0,
                self.errors.load(Ordering::Relaxed)
            );
            last = n;
            let mut err = std::io::stderr().lock();
            let _ = if tty { write!(err, "\r{line}") } else { writeln!(err, "{line}") };
        }
        if tty {
            let _ = writeln!(std::io::stderr());
        }
    }
}
