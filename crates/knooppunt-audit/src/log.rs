use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use ed25519_dalek::SigningKey;
use knooppunt_core::TimeProvider;

use crate::AuditError;
use crate::checkpoint::{
    CHECKPOINTS_FILE, Checkpoint, append_checkpoint, check_key_outside, load_signing_key,
};
use crate::record::{AuditRecord, GENESIS_HASH, LogEvent, RecordDraft, line_hash};
use crate::segment::{FileSink, SegmentSink, list_segments, save_torn, split_lines, truncate_file};

/// Name of the lock file that keeps a second writer out of a log directory.
const LOCK_FILE: &str = "LOCK";

/// How an audit log is opened.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The log directory (created if missing).
    pub dir: PathBuf,
    /// The Ed25519 signing key file for checkpoints; must lie outside `dir`.
    /// Without one, no checkpoints are written and
    /// [`AuditLog::checkpoint`] fails; production configurations set it.
    pub signing_key: Option<PathBuf>,
    /// A new segment is started when the current one has reached this size.
    pub segment_max_bytes: u64,
    /// Write a checkpoint after this many records (0: never by count).
    pub checkpoint_every_records: u64,
    /// Write a checkpoint when records were appended and this much time has
    /// passed since the last one (`None`: never by time).
    pub checkpoint_interval: Option<Duration>,
    /// The most records written with one fsync.
    pub max_batch: usize,
}

impl AuditConfig {
    /// Defaults: 16 MiB segments, a checkpoint every 1,000 records or
    /// 60 seconds, batches of up to 1,024 records, no signing key.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        AuditConfig {
            dir: dir.into(),
            signing_key: None,
            segment_max_bytes: 16 * 1024 * 1024,
            checkpoint_every_records: 1000,
            checkpoint_interval: Some(Duration::from_secs(60)),
            max_batch: 1024,
        }
    }

    /// Sets the signing key file.
    pub fn with_signing_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.signing_key = Some(path.into());
        self
    }
}

/// The last record of the chain: its sequence number and line hash
/// (`seq` 0 and [`GENESIS_HASH`] for an empty log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Sequence number of the last record.
    pub seq: u64,
    /// Hex SHA-256 of its line.
    pub hash: String,
}

/// Proof that a record is durable: returned by [`AuditLog::append`] only
/// after the record's bytes were synced to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The record's sequence number.
    pub seq: u64,
    /// Hex SHA-256 of its line.
    pub hash: String,
    /// The time stamped on it.
    pub time: DateTime<Utc>,
}

/// A torn tail found and moved aside when the log was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment it was cut from.
    pub segment: PathBuf,
    /// Its line number in that segment.
    pub line: u64,
    /// Byte offset the segment was cut at.
    pub offset: u64,
    /// How many bytes were moved aside.
    pub bytes: u64,
    /// Where they were moved to.
    pub moved_to: PathBuf,
    /// Sequence number of the `log_event` record that records the move.
    pub event_seq: u64,
}

/// What opening a log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The chain's head after opening (after the torn-tail event, if any).
    pub head: Head,
    /// A torn tail, if the last segment ended in one.
    pub torn_tail: Option<TornTail>,
    /// Torn bytes at the end of `checkpoints.jsonl` moved aside, if any.
    pub torn_checkpoint_file: Option<PathBuf>,
}

enum Entry {
    Draft(Box<RecordDraft>),
    Event(LogEvent),
}

/// Where the writer sends an append's receipt: a blocked thread or an
/// awaiting task.
enum Reply {
    Blocking(Sender<Result<Receipt, AuditError>>),
    Async(tokio::sync::oneshot::Sender<Result<Receipt, AuditError>>),
}

impl Reply {
    fn send(self, result: Result<Receipt, AuditError>) -> Result<(), ()> {
        match self {
            Reply::Blocking(s) => s.send(result).map_err(|_| ()),
            Reply::Async(s) => s.send(result).map_err(|_| ()),
        }
    }
}

enum Request {
    Append {
        entry: Entry,
        reply: Reply,
    },
    Checkpoint {
        reply: Sender<Result<Checkpoint, AuditError>>,
    },
}

/// Handle to an open audit log. Cheap to clone and `Send + Sync`: any number
/// of threads append through clones of it, and their records share fsyncs
/// (group commit) in one writer thread. The writer stops, after a final
/// checkpoint, when the last handle is dropped.
///
/// [`AuditLog::append`] blocks until the record is durable; async callers run
/// it on a blocking thread (for tokio, `spawn_blocking`).
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

struct Inner {
    dir: PathBuf,
    tx: Option<Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    poisoned: Arc<AtomicBool>,
    head: Arc<Mutex<Head>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer's loop; wait for its final
        // checkpoint so that a reopen sees a finished log.
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl AuditLog {
    /// Opens (or creates) the log in `config.dir`, recovering a torn tail,
    /// with time from `clock`.
    pub fn open(
        config: AuditConfig,
        clock: Arc<dyn TimeProvider>,
    ) -> Result<(AuditLog, OpenReport), AuditError> {
        AuditLog::open_with_sink(config, clock, |sink| Box::new(sink))
    }

    /// Like [`AuditLog::open`], with the segment writer wrapped by `wrap`:
    /// the seam for injecting faults in tests.
    pub fn open_with_sink(
        config: AuditConfig,
        clock: Arc<dyn TimeProvider>,
        wrap: impl FnOnce(FileSink) -> Box<dyn SegmentSink>,
    ) -> Result<(AuditLog, OpenReport), AuditError> {
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).map_err(AuditError::io("create", &dir))?;
        let lock = lock_dir(&dir)?;
        let key = match &config.signing_key {
            Some(path) => {
                check_key_outside(path, &dir)?;
                Some(load_signing_key(path)?)
            }
            None => None,
        };
        let recovered = recover(&dir)?;
        let torn_checkpoint_file = recover_checkpoint_file(&dir)?;
        let sink = wrap(FileSink::open(&dir)?);

        let (tx, rx) = crossbeam_channel::unbounded();
        let poisoned = Arc::new(AtomicBool::new(false));
        let head = Arc::new(Mutex::new(recovered.head.clone()));
        let writer = Writer {
            sink,
            clock,
            key,
            checkpoints_path: dir.join(CHECKPOINTS_FILE),
            next_seq: recovered.head.seq + 1,
            head_hash: recovered.head.hash.clone(),
            since_checkpoint: 0,
            last_checkpoint_at: Instant::now(),
            config,
            poisoned: Arc::clone(&poisoned),
            head: Arc::clone(&head),
            _lock: lock,
        };
        let thread = std::thread::Builder::new()
            .name("audit-writer".to_owned())
            .spawn(move || writer.run(rx))
            .map_err(AuditError::io("start writer for", &dir))?;
        let log = AuditLog {
            inner: Arc::new(Inner {
                dir,
                tx: Some(tx),
                thread: Some(thread),
                poisoned,
                head,
            }),
        };

        let torn_tail = match recovered.torn {
            Some(found) => {
                let event = LogEvent::TornTailMovedAside {
                    segment: file_name(&found.segment),
                    bytes: found.bytes,
                    moved_to: file_name(&found.moved_to),
                };
                let receipt = log.submit(Entry::Event(event))?;
                tracing::warn!(
                    segment = %found.segment.display(),
                    line = found.line,
                    bytes = found.bytes,
                    "audit log: torn tail moved aside"
                );
                Some(TornTail {
                    segment: found.segment,
                    line: found.line,
                    offset: found.offset,
                    bytes: found.bytes,
                    moved_to: found.moved_to,
                    event_seq: receipt.seq,
                })
            }
            None => None,
        };
        let report = OpenReport {
            head: log.head(),
            torn_tail,
            torn_checkpoint_file,
        };
        Ok((log, report))
    }

    /// Appends a record and returns once it is durable. Fails (and the
    /// caller must not release anything) when the record cannot be written;
    /// after a failed write every later append fails until the log is
    /// reopened. Blocks: async callers use a blocking thread.
    pub fn append(&self, draft: RecordDraft) -> Result<Receipt, AuditError> {
        draft.validate()?;
        self.submit(Entry::Draft(Box::new(draft)))
    }

    fn submit(&self, entry: Entry) -> Result<Receipt, AuditError> {
        if self.inner.poisoned.load(Ordering::Acquire) {
            return Err(AuditError::Poisoned);
        }
        let (reply, wait) = crossbeam_channel::bounded(1);
        self.sender()?
            .send(Request::Append {
                entry,
                reply: Reply::Blocking(reply),
            })
            .map_err(|_| AuditError::Closed)?;
        wait.recv().map_err(|_| AuditError::Closed)?
    }

    /// [`AuditLog::append`] for async callers: the task waits for the
    /// group commit without holding a thread. Returns only after the
    /// record is durable, exactly like `append`.
    pub async fn append_async(&self, draft: RecordDraft) -> Result<Receipt, AuditError> {
        draft.validate()?;
        if self.inner.poisoned.load(Ordering::Acquire) {
            return Err(AuditError::Poisoned);
        }
        let (reply, wait) = tokio::sync::oneshot::channel();
        self.sender()?
            .send(Request::Append {
                entry: Entry::Draft(Box::new(draft)),
                reply: Reply::Async(reply),
            })
            .map_err(|_| AuditError::Closed)?;
        wait.await.map_err(|_| AuditError::Closed)?
    }

    /// Writes a signed checkpoint of the current head now and returns it (to
    /// be printed and kept outside the system).
    pub fn checkpoint(&self) -> Result<Checkpoint, AuditError> {
        if self.inner.poisoned.load(Ordering::Acquire) {
            return Err(AuditError::Poisoned);
        }
        let (reply, wait) = crossbeam_channel::bounded(1);
        self.sender()?
            .send(Request::Checkpoint { reply })
            .map_err(|_| AuditError::Closed)?;
        wait.recv().map_err(|_| AuditError::Closed)?
    }

    /// The head of the chain as of the last durable batch.
    pub fn head(&self) -> Head {
        match self.inner.head.lock() {
            Ok(head) => head.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether the log refuses appends after a failed write.
    pub fn is_poisoned(&self) -> bool {
        self.inner.poisoned.load(Ordering::Acquire)
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn sender(&self) -> Result<&Sender<Request>, AuditError> {
        self.inner.tx.as_ref().ok_or(AuditError::Closed)
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn lock_dir(dir: &Path) -> Result<std::fs::File, AuditError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(AuditError::io("create", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(AuditError::Locked {
            dir: dir.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(AuditError::io("lock", &path)(e)),
    }
}

struct FoundTorn {
    segment: PathBuf,
    line: u64,
    offset: u64,
    bytes: u64,
    moved_to: PathBuf,
}

struct Recovered {
    head: Head,
    torn: Option<FoundTorn>,
}

/// Finds the head of the chain; a last line of the last segment that lacks
/// its newline or does not parse is a torn tail: its bytes are moved to
/// `torn-<seq>.bin` and the segment is cut back to the last whole record.
fn recover(dir: &Path) -> Result<Recovered, AuditError> {
    let segments = list_segments(dir)?;
    let mut torn = None;
    let mut head = None;
    for (index, (_, path)) in segments.iter().enumerate().rev() {
        let bytes = std::fs::read(path).map_err(AuditError::io("read", path))?;
        let lines = split_lines(&bytes);
        let mut last = lines.last().copied();
        if index + 1 == segments.len()
            && let Some(line) = last
            && (!line.has_newline || serde_json::from_slice::<AuditRecord>(line.bytes).is_err())
        {
            // The torn record would have had the sequence number after the
            // last whole one; find that first so the file can be named.
            let previous_seq = match lines.len().checked_sub(2).map(|i| lines[i]) {
                Some(prev) => parse_line(path, prev)?.seq,
                None => previous_segments_head(dir, &segments[..index])?.seq,
            };
            let moved_to = save_torn(
                dir,
                &format!("torn-{:06}", previous_seq + 1),
                &bytes[line.offset..],
            )?;
            truncate_file(path, line.offset as u64)?;
            torn = Some(FoundTorn {
                segment: path.clone(),
                line: line.line_no,
                offset: line.offset as u64,
                bytes: (bytes.len() - line.offset) as u64,
                moved_to,
            });
            last = lines.len().checked_sub(2).map(|i| lines[i]);
        }
        if let Some(line) = last {
            let record = parse_line(path, line)?;
            head = Some(Head {
                seq: record.seq,
                hash: line_hash(line.bytes),
            });
            break;
        }
    }
    let head = head.unwrap_or(Head {
        seq: 0,
        hash: GENESIS_HASH.to_owned(),
    });
    Ok(Recovered { head, torn })
}

fn previous_segments_head(dir: &Path, segments: &[(u32, PathBuf)]) -> Result<Head, AuditError> {
    for (_, path) in segments.iter().rev() {
        let bytes = std::fs::read(path).map_err(AuditError::io("read", path))?;
        if let Some(line) = split_lines(&bytes).last() {
            let record = parse_line(path, *line)?;
            return Ok(Head {
                seq: record.seq,
                hash: line_hash(line.bytes),
            });
        }
    }
    let _ = dir;
    Ok(Head {
        seq: 0,
        hash: GENESIS_HASH.to_owned(),
    })
}

fn parse_line(path: &Path, line: crate::segment::RawLine<'_>) -> Result<AuditRecord, AuditError> {
    serde_json::from_slice(line.bytes).map_err(|e| AuditError::Corrupt {
        file: path.to_owned(),
        line: line.line_no,
        reason: format!(
            "not an audit record ({}); run verify",
            crate::checkpoint::json_error_kind(&e)
        ),
    })
}

/// A checkpoint line cut short by a crash is moved aside too, so the next
/// checkpoint does not extend it.
fn recover_checkpoint_file(dir: &Path) -> Result<Option<PathBuf>, AuditError> {
    let path = dir.join(CHECKPOINTS_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuditError::io("read", &path)(e)),
    };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(None);
    }
    let cut = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let moved = save_torn(dir, "torn-checkpoint", &bytes[cut..])?;
    truncate_file(&path, cut as u64)?;
    Ok(Some(moved))
}

struct Writer {
    sink: Box<dyn SegmentSink>,
    clock: Arc<dyn TimeProvider>,
    key: Option<SigningKey>,
    checkpoints_path: PathBuf,
    next_seq: u64,
    head_hash: String,
    since_checkpoint: u64,
    last_checkpoint_at: Instant,
    config: AuditConfig,
    poisoned: Arc<AtomicBool>,
    head: Arc<Mutex<Head>>,
    /// Held for the writer's lifetime; the OS lock goes with the handle.
    _lock: std::fs::File,
}

impl Writer {
    fn run(mut self, rx: Receiver<Request>) {
        loop {
            let first = match self.checkpoint_deadline() {
                Some(deadline) => {
                    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                        Ok(request) => request,
                        Err(RecvTimeoutError::Timeout) => {
                            self.automatic_checkpoint(true);
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                None => match rx.recv() {
                    Ok(request) => request,
                    Err(_) => break,
                },
            };
            let mut batch = vec![first];
            while batch.len() < self.config.max_batch.max(1) {
                match rx.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.process(batch);
        }
        // Last handle gone: seal what was written with a checkpoint.
        if self.since_checkpoint > 0 {
            self.automatic_checkpoint(false);
        }
    }

    fn checkpoint_deadline(&self) -> Option<Instant> {
        if self.key.is_none() || self.since_checkpoint == 0 || self.is_poisoned() {
            return None;
        }
        self.config
            .checkpoint_interval
            .map(|interval| self.last_checkpoint_at + interval)
    }

    fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    fn process(&mut self, batch: Vec<Request>) {
        let mut appends = Vec::new();
        let mut checkpoints = Vec::new();
        for request in batch {
            match request {
                Request::Append { entry, reply } => appends.push((entry, reply)),
                Request::Checkpoint { reply } => checkpoints.push(reply),
            }
        }
        if !appends.is_empty() {
            self.write_batch(appends);
        }
        for reply in checkpoints {
            let result = if self.is_poisoned() {
                Err(AuditError::Poisoned)
            } else {
                self.write_checkpoint()
            };
            let _ = reply.send(result);
        }
        let by_count = self.config.checkpoint_every_records > 0
            && self.since_checkpoint >= self.config.checkpoint_every_records;
        if by_count {
            self.automatic_checkpoint(false);
        }
    }

    fn write_batch(&mut self, appends: Vec<(Entry, Reply)>) {
        if self.is_poisoned() {
            for (_, reply) in appends {
                let _ = reply.send(Err(AuditError::Poisoned));
            }
            return;
        }
        let mut buf = Vec::with_capacity(appends.len() * 512);
        let mut receipts = Vec::with_capacity(appends.len());
        let mut seq = self.next_seq;
        let mut prev = self.head_hash.clone();
        for (entry, reply) in appends {
            let time = self.clock.now().trunc_subsecs(6);
            let record = match entry {
                Entry::Draft(draft) => AuditRecord::from_draft(*draft, seq, time, prev),
                Entry::Event(event) => AuditRecord::log_event(event, seq, time, prev),
            };
            let line = record.to_line();
            let hash = line_hash(&line);
            buf.extend_from_slice(&line);
            buf.push(b'\n');
            receipts.push((
                Receipt {
                    seq,
                    hash: hash.clone(),
                    time,
                },
                reply,
            ));
            prev = hash;
            seq += 1;
        }
        match self.write_durably(&buf) {
            Ok(()) => {
                self.next_seq = seq;
                self.head_hash = prev;
                self.since_checkpoint += receipts.len() as u64;
                self.publish_head();
                for (receipt, reply) in receipts {
                    let _ = reply.send(Ok(receipt));
                }
            }
            Err(e) => {
                // Fail closed: nobody in this batch gets a receipt, and no
                // later batch may extend what may be a half-written one.
                self.poisoned.store(true, Ordering::Release);
                tracing::error!(error = %e, "audit log: batch not durable, refusing further appends");
                for (_, reply) in receipts {
                    let source = match e.raw_os_error() {
                        Some(code) => std::io::Error::from_raw_os_error(code),
                        None => std::io::Error::new(e.kind(), e.to_string()),
                    };
                    let _ = reply.send(Err(AuditError::WriteFailed { source }));
                }
            }
        }
    }

    fn write_durably(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let len = self.sink.segment_len();
        if len > 0 && len + buf.len() as u64 > self.config.segment_max_bytes {
            self.sink.roll()?;
        }
        self.sink.write_all(buf)?;
        self.sink.sync()
    }

    fn publish_head(&self) {
        let head = Head {
            seq: self.next_seq - 1,
            hash: self.head_hash.clone(),
        };
        match self.head.lock() {
            Ok(mut guard) => *guard = head,
            Err(poisoned) => *poisoned.into_inner() = head,
        }
    }

    fn automatic_checkpoint(&mut self, by_time: bool) {
        if self.key.is_none() || self.is_poisoned() || self.since_checkpoint == 0 {
            return;
        }
        if let Err(e) = self.write_checkpoint() {
            tracing::error!(error = %e, by_time, "audit log: automatic checkpoint failed");
        }
    }

    fn write_checkpoint(&mut self) -> Result<Checkpoint, AuditError> {
        let Some(key) = &self.key else {
            return Err(AuditError::NoSigningKey);
        };
        let checkpoint =
            Checkpoint::sign(self.next_seq - 1, &self.head_hash, self.clock.now(), key);
        if let Err(source) = append_checkpoint(&self.checkpoints_path, &checkpoint) {
            // A checkpoint line may be half written; stop, like for records.
            self.poisoned.store(true, Ordering::Release);
            return Err(AuditError::WriteFailed { source });
        }
        self.since_checkpoint = 0;
        self.last_checkpoint_at = Instant::now();
        Ok(checkpoint)
    }
}
