//! Progress of long stages: a bar on a terminal, one log line every few seconds when stderr is
//! not a terminal (CI, `nohup`, a pipe), nothing with `--quiet`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet`: no bars and no progress lines for the rest of the process.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Seconds between two progress lines when stderr is not a terminal.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

/// Progress of one long piece of work, counted in `unit`s out of a known total (0: unknown).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    what: String,
    unit: String,
    total: u64,
    done: AtomicU64,
    started: Instant,
    last_line: Mutex<Instant>,
    lines: bool,
}

impl Progress {
    /// `what` names the stage (`verify@2`), `unit` what is counted (`programs`).
    pub fn new(what: &str, unit: &str, total: u64) -> Progress {
        use std::io::IsTerminal;
        let quiet = is_quiet();
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let b = if total > 0 {
                indicatif::ProgressBar::new(total)
            } else {
                indicatif::ProgressBar::new_spinner()
            };
            let template = if total > 0 {
                format!("{what} {{bar:30}} {{pos}}/{{len}} {unit} {{per_sec}} eta {{eta}} {{msg}}")
            } else {
                format!("{what} {{spinner}} {{pos}} {unit} {{per_sec}} {{msg}}")
            };
            b.set_style(
                indicatif::ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        Progress {
            bar,
            what: what.to_string(),
            unit: unit.to_string(),
            total,
            done: AtomicU64::new(0),
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
            lines: !quiet && !terminal,
        }
    }

    /// `n` more units done.
    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(b) = &self.bar {
            b.inc(n);
        }
        self.maybe_line(done, None);
    }

    /// Sets the count (for work reported as a position, such as an enumerator level).
    pub fn set(&self, done: u64, msg: &str) {
        self.done.store(done, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_position(done);
            b.set_message(msg.to_string());
        }
        self.maybe_line(done, Some(msg));
    }

    /// A one-off message (a bar's message, or a log line right away).
    pub fn message(&self, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_message(msg.to_string());
        } else if self.lines {
            eprintln!("{}: {msg}", self.what);
        }
    }

    fn maybe_line(&self, done: u64, msg: Option<&str>) {
        if !self.lines {
            return;
        }
        let Ok(mut last) = self.last_line.lock() else {
            return;
        };
        if last.elapsed() < LOG_EVERY {
            return;
        }
        *last = Instant::now();
        eprintln!("{}", self.line(done, msg));
    }

    fn line(&self, done: u64, msg: Option<&str>) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = done as f64 / secs.max(1e-9);
        let of = if self.total > 0 {
            format!(
                "{done}/{} {} ({:.0}%)",
                self.total,
                self.unit,
                100.0 * done as f64 / self.total as f64
            )
        } else {
            format!("{done} {}", self.unit)
        };
        let extra = msg.map(|m| format!(", {m}")).unwrap_or_default();
        format!(
            "{}: {of}, {rate:.1} {}/s, {secs:.0}s{extra}",
            self.what, self.unit
        )
    }

    /// Ends the bar (it disappears) or, without one, prints nothing more.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_how_far() {
        let p = Progress::new("verify@1", "programs", 200);
        p.done.store(50, Ordering::Relaxed);
        let l = p.line(50, Some("chunk 1/4"));
        assert!(l.starts_with("verify@1: 50/200 programs (25%)"), "{l}");
        assert!(l.ends_with(", chunk 1/4"), "{l}");
        let q = Progress::new("enumerate", "levels", 0);
        assert!(q.line(3, None).starts_with("enumerate: 3 levels,"));
    }
}
