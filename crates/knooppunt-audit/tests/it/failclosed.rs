//! Fail closed: when a record cannot be written durably, append fails, and
//! the log refuses every later append until it is reopened.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use knooppunt_audit::{AuditError, AuditLog, FileSink, SegmentSink, read_records, verify};

use crate::{Fixture, clock, draft};

const OK: u8 = 0;
const FAIL_WRITE: u8 = 1;
const FAIL_HALF_WRITE: u8 = 2;
const FAIL_SYNC: u8 = 3;

/// Wraps the real sink and fails on command.
struct FaultySink {
    inner: FileSink,
    mode: Arc<AtomicU8>,
}

impl SegmentSink for FaultySink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.mode.load(Ordering::SeqCst) {
            FAIL_WRITE => Err(std::io::Error::from_raw_os_error(28)), // ENOSPC
            FAIL_HALF_WRITE => {
                self.inner.write_all(&bytes[..bytes.len() / 2])?;
                self.inner.sync()?;
                Err(std::io::Error::other(
                    "injected: device went away mid-write",
                ))
            }
            _ => self.inner.write_all(bytes),
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        if self.mode.load(Ordering::SeqCst) == FAIL_SYNC {
            return Err(std::io::Error::other("injected: fsync failed"));
        }
        self.inner.sync()
    }

    fn roll(&mut self) -> std::io::Result<()> {
        self.inner.roll()
    }

    fn segment_len(&self) -> u64 {
        self.inner.segment_len()
    }
}

fn open_faulty(f: &Fixture) -> (AuditLog, Arc<AtomicU8>) {
    let mode = Arc::new(AtomicU8::new(OK));
    let m = Arc::clone(&mode);
    let (log, _) = AuditLog::open_with_sink(f.config(), clock(), move |inner| {
        Box::new(FaultySink { inner, mode: m })
    })
    .expect("open");
    (log, mode)
}

fn assert_refuses_until_reopened(f: &Fixture, failing_mode: u8) {
    let (log, mode) = open_faulty(f);
    for i in 1..=3 {
        log.append(draft(i)).expect("healthy append");
    }
    mode.store(failing_mode, Ordering::SeqCst);
    let err = log
        .append(draft(4))
        .expect_err("a failed write must refuse the append");
    assert!(matches!(err, AuditError::WriteFailed { .. }), "{err}");
    assert!(log.is_poisoned());

    // The disk is fine again, but the log stays closed: the failed batch may
    // be half on disk and must not be extended.
    mode.store(OK, Ordering::SeqCst);
    let err = log.append(draft(5)).expect_err("refused after a failure");
    assert!(matches!(err, AuditError::Poisoned), "{err}");
    assert!(matches!(log.checkpoint(), Err(AuditError::Poisoned)));
    drop(log);

    // Reopening recovers (moving a torn tail aside if there is one) and the
    // chain verifies.
    let (log, report) = AuditLog::open(f.config(), clock()).expect("reopen");
    if failing_mode == FAIL_HALF_WRITE {
        assert!(report.torn_tail.is_some(), "half a record is a torn tail");
    }
    log.append(draft(6)).expect("append after reopen");
    drop(log);
    let report = verify(&f.dir, None);
    assert!(report.is_ok(), "{report}");
    let seqs: Vec<u64> = read_records(&f.dir)
        .expect("read")
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(&seqs[..3], &[1, 2, 3]);
}

#[test]
fn failed_write_refuses_and_poisons() {
    assert_refuses_until_reopened(&Fixture::new(), FAIL_WRITE);
}

#[test]
fn half_written_batch_is_never_extended() {
    assert_refuses_until_reopened(&Fixture::new(), FAIL_HALF_WRITE);
}

#[test]
fn failed_fsync_refuses_and_poisons() {
    assert_refuses_until_reopened(&Fixture::new(), FAIL_SYNC);
}

/// A real "disk full" from the kernel: writes to /dev/full fail with ENOSPC,
/// also for root.
struct DevFull(std::fs::File);

impl SegmentSink for DevFull {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.write_all(bytes)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.0.sync_data()
    }
    fn roll(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn segment_len(&self) -> u64 {
        0
    }
}

#[test]
fn disk_full_refuses() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("SKIP disk_full_refuses: /dev/full is not available on this system");
        return;
    };
    let f = Fixture::new();
    let (log, _) = AuditLog::open_with_sink(f.config(), clock(), move |_| Box::new(DevFull(full)))
        .expect("open");
    let err = log.append(draft(1)).expect_err("disk full");
    match err {
        AuditError::WriteFailed { source } => assert_eq!(source.raw_os_error(), Some(28), "ENOSPC"),
        other => panic!("unexpected error {other}"),
    }
    assert!(matches!(log.append(draft(2)), Err(AuditError::Poisoned)));
}

/// Whether the process can write into a directory it made read-only (root
/// can).
fn ignores_permissions(dir: &std::path::Path) -> bool {
    let probe = dir.join(".probe");
    let ok = std::fs::write(&probe, b"x").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

#[cfg(unix)]
#[test]
fn read_only_log_directory_refuses() {
    use std::os::unix::fs::PermissionsExt;

    let f = Fixture::with_records(2);
    let mut config = f.config();
    config.segment_max_bytes = 600; // every batch needs a new segment file
    let (log, _) = AuditLog::open(config.clone(), clock()).expect("open");
    std::fs::set_permissions(&f.dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let restore = || std::fs::set_permissions(&f.dir, std::fs::Permissions::from_mode(0o755));

    if ignores_permissions(&f.dir) {
        // Running as root: directory permissions do not stop us. Use a log
        // "directory" that cannot be one: a path below a regular file.
        drop(log);
        restore().expect("chmod back");
        eprintln!(
            "NOTE read_only_log_directory_refuses: running as root; using a path under a regular file"
        );
        let file = f.root().join("not-a-dir");
        std::fs::write(&file, b"").expect("write");
        let mut config = config;
        config.dir = file.join("log");
        let err = AuditLog::open(config, clock()).expect_err("cannot open a log there");
        assert!(matches!(err, AuditError::Io { .. }), "{err}");
        return;
    }

    // The next batch must roll into a new segment, which the read-only
    // directory refuses.
    let err = log.append(draft(3)).expect_err("read-only directory");
    assert!(matches!(err, AuditError::WriteFailed { .. }), "{err}");
    assert!(matches!(log.append(draft(4)), Err(AuditError::Poisoned)));
    drop(log);
    // Opening a log in a read-only directory fails too (the lock file exists,
    // but a new log directory cannot be created below it).
    let mut below = f.config();
    below.dir = f.dir.join("sub");
    assert!(AuditLog::open(below, clock()).is_err());
    restore().expect("chmod back");
    assert!(verify(&f.dir, None).is_ok());
}
