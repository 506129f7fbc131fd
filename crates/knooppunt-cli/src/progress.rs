//! Progress: a bar per file on a terminal, plain log lines otherwise.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use knooppunt_core::Source;
use knooppunt_ingest::{Progress, SourceReport, Status};

/// The progress reporter for the current output.
pub(crate) fn for_terminal(tty: bool) -> Box<dyn Progress> {
    if tty {
        Box::new(Bars::default())
    } else {
        Box::new(Lines::default())
    }
}

#[derive(Default)]
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<Source, ProgressBar>>,
}

impl Progress for Bars {
    fn start(&self, source: Source, file: &str, bytes: u64) {
        let bar = self.multi.add(ProgressBar::new(bytes));
        let style =
            ProgressStyle::with_template("{prefix:>11} [{bar:30}] {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(source.name());
        bar.set_message(file.to_string());
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(source, bar);
        }
    }

    fn advance(&self, source: Source, bytes_read: u64, rows: u64) {
        if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(&source).cloned()) {
            bar.set_position(bytes_read);
            bar.set_message(format!("{rows} rows"));
        }
    }

    fn finish(&self, report: &SourceReport) {
        if let Some(bar) = self
            .bars
            .lock()
            .ok()
            .and_then(|mut b| b.remove(&report.source))
        {
            bar.finish_with_message(outcome(report));
        }
    }
}

#[derive(Default)]
struct Lines {
    last: Mutex<HashMap<Source, Instant>>,
}

impl Progress for Lines {
    fn start(&self, source: Source, file: &str, bytes: u64) {
        eprintln!("ingest: {} started ({file}, {bytes} bytes)", source.name());
        if let Ok(mut last) = self.last.lock() {
            last.insert(source, Instant::now());
        }
    }

    fn advance(&self, source: Source, bytes_read: u64, rows: u64) {
        let due = self.last.lock().ok().is_some_and(|mut last| {
            let t = last.entry(source).or_insert_with(Instant::now);
            let due = t.elapsed() >= Duration::from_secs(10);
            if due {
                *t = Instant::now();
            }
            due
        });
        if due {
            eprintln!(
                "ingest: {} {rows} rows, {bytes_read} bytes read",
                source.name()
            );
        }
    }

    fn finish(&self, report: &SourceReport) {
        eprintln!("ingest: {} {}", report.source.name(), outcome(report));
    }
}

fn outcome(report: &SourceReport) -> String {
    let c = &report.counts;
    match &report.status {
        Status::Written { snapshot } => format!(
            "written: {} rows, {} quarantined, {} unlinked (snapshot {snapshot})",
            c.rows_written,
            c.quarantined_total(),
            c.unlinked
        ),
        Status::Unchanged { snapshot } => format!("unchanged (snapshot {snapshot})"),
        Status::Absent => "absent: no export file".to_string(),
        Status::Failed { reason } => format!("FAILED: {reason}"),
    }
}
