//! The durable, serialisable debit ledger and the answer cache.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BudgetConfig, BudgetError, CacheKey, Cost, Delta, MicroEpsilon};

/// Name of the append-only debit file in the ledger directory.
pub const LEDGER_FILE: &str = "ledger.jsonl";
/// Name of the file whose OS lock serialises processes sharing a directory.
pub const LOCK_FILE: &str = "ledger.lock";
/// Directory of the answer cache inside the ledger directory.
const ANSWERS_DIR: &str = "answers";

/// One debit: a line of `ledger.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    /// Sequence number: 1 for the first debit, without gaps.
    pub seq: u64,
    /// When the debit was made (UTC).
    pub time: DateTime<Utc>,
    /// The analyst (natural person) charged.
    pub analyst: String,
    /// Key of the budget period charged (see [`super::Period::key`]).
    pub period: String,
    /// The ε debited.
    pub charged: MicroEpsilon,
    /// The δ debited: what the query's calibration used. Absent (δ 0) in
    /// lines written before δ was recorded.
    #[serde(default)]
    pub delta_charged: Delta,
    /// Fingerprint of the canonical plan of the query.
    pub plan_fingerprint: String,
    /// Data snapshot the query ran on.
    pub snapshot: String,
    /// Trace id of the request, shared with its audit record.
    pub trace_id: String,
}

/// The outcome of [`Ledger::charge`].
#[derive(Debug, Clone, PartialEq)]
pub enum Charge {
    /// The identical query on the same snapshot was answered before: release
    /// this stored answer; nothing was debited and the query must not run.
    Cached {
        /// The stored (already noised) answer.
        answer: serde_json::Value,
    },
    /// The cost was debited durably; the query may run now.
    Debited {
        /// The ε debited.
        charged: MicroEpsilon,
        /// ε left in the period after this debit.
        left: MicroEpsilon,
        /// The δ debited.
        delta_charged: Delta,
        /// δ left in the period after this debit.
        delta_left: Delta,
        /// Sequence number of the debit in the ledger.
        seq: u64,
    },
}

/// An analyst's budget in the current period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// The analyst.
    pub analyst: String,
    /// Key of the current period.
    pub period: String,
    /// Budget granted for the period.
    pub limit: MicroEpsilon,
    /// Debited in the period.
    pub spent: MicroEpsilon,
    /// What is left: `limit - spent`, or zero.
    pub left: MicroEpsilon,
    /// δ granted for the period.
    pub delta_limit: Delta,
    /// δ debited in the period.
    pub delta_spent: Delta,
    /// δ left: `delta_limit - delta_spent`, or zero.
    pub delta_left: Delta,
}

/// The privacy-budget ledger of one directory (see the [module
/// documentation](super)).
///
/// Every method blocks on file I/O and on the directory lock; async callers
/// run them on a blocking thread. Share one `Ledger` per process (for
/// example in an `Arc`); several ledgers, in one process or several, may use
/// the same directory safely.
#[derive(Debug)]
pub struct Ledger {
    dir: PathBuf,
    ledger_path: PathBuf,
    lock_path: PathBuf,
    answers_dir: PathBuf,
    config: BudgetConfig,
    /// The OS lock is taken on this handle, only while `state` is held.
    lock_file: File,
    state: Mutex<State>,
}

/// What this ledger has read of `ledger.jsonl`.
#[derive(Debug)]
struct State {
    /// `ledger.jsonl`, opened for reading and appending.
    file: File,
    /// Bytes of complete lines read (or written) so far.
    offset: u64,
    /// Every entry, in sequence order.
    entries: Vec<LedgerEntry>,
    /// Spent per analyst per period key (of the configured period).
    spent: HashMap<String, BTreeMap<String, Cost>>,
}

/// Holds the OS lock on `ledger.lock`; releases it when dropped.
struct OsLock<'a>(&'a File);

impl Drop for OsLock<'_> {
    fn drop(&mut self) {
        // Closing the handle would release it too; an unlock error leaves
        // the lock to the process's exit.
        let _ = self.0.unlock();
    }
}

/// An answer file: the key is stored with the answer and checked on reading.
#[derive(Serialize)]
struct StoredAnswerRef<'a> {
    key: &'a CacheKey,
    answer: &'a serde_json::Value,
}

#[derive(Deserialize)]
struct StoredAnswer {
    key: CacheKey,
    answer: serde_json::Value,
}

/// Distinguishes temporary answer files of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Ledger {
    /// Opens (creating if needed) the ledger in `dir`: reads every debit,
    /// moves a torn last line aside, and refuses a corrupt ledger.
    pub fn open(dir: impl AsRef<Path>, config: BudgetConfig) -> Result<Ledger, BudgetError> {
        let dir = dir.as_ref().to_path_buf();
        let ledger_path = dir.join(LEDGER_FILE);
        let lock_path = dir.join(LOCK_FILE);
        let answers_dir = dir.join(ANSWERS_DIR);
        std::fs::create_dir_all(&answers_dir).map_err(BudgetError::io("create", &answers_dir))?;

        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(BudgetError::io("open", &lock_path))?;
        let state = {
            let _os = os_lock(&lock_file, &lock_path)?;
            let existed = ledger_path
                .try_exists()
                .map_err(BudgetError::io("look for", &ledger_path))?;
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(&ledger_path)
                .map_err(BudgetError::io("open", &ledger_path))?;
            if !existed {
                file.sync_all()
                    .map_err(BudgetError::io("sync", &ledger_path))?;
                sync_dir(&dir)?;
            }
            let mut state = State {
                file,
                offset: 0,
                entries: Vec::new(),
                spent: HashMap::new(),
            };
            state.sync(&dir, &ledger_path, &config)?;
            state
        };
        Ok(Ledger {
            dir,
            ledger_path,
            lock_path,
            answers_dir,
            config,
            lock_file,
            state: Mutex::new(state),
        })
    }

    /// The ledger directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The budget configuration.
    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    /// Charges `analyst` `cost` (ε, and δ; a bare [`MicroEpsilon`] is a
    /// cost with δ 0) for the query identified by `key`, before it runs, as
    /// of `now`.
    ///
    /// 1. If an answer for `key` is stored, returns it as [`Charge::Cached`]
    ///    and debits nothing.
    /// 2. If the cost's ε exceeds what is left of the analyst's ε budget in
    ///    the period containing `now`, refuses with
    ///    [`BudgetError::Exhausted`]; if its δ exceeds what is left of the δ
    ///    budget, with [`BudgetError::DeltaExhausted`].
    /// 3. Otherwise appends the debit to the ledger, fsyncs it, and returns
    ///    [`Charge::Debited`]. Only then may the query run.
    ///
    /// Serialisable with every other `charge` on the same directory, in this
    /// process or another.
    pub fn charge(
        &self,
        analyst: &str,
        cost: impl Into<Cost>,
        key: &CacheKey,
        trace_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Charge, BudgetError> {
        let cost = cost.into();
        if analyst.is_empty() {
            return Err(BudgetError::Config("the analyst must be named".into()));
        }
        // A stored answer appears whole (an atomic rename, see
        // `store_answer`), so it is read and parsed without holding the
        // locks every debit and balance needs.
        if let Some(answer) = self.read_answer(key)? {
            return Ok(Charge::Cached { answer });
        }
        let mut state = self.lock_state();
        let _os = os_lock(&self.lock_file, &self.lock_path)?;
        state.sync(&self.dir, &self.ledger_path, &self.config)?;
        let period = self.config.period.key(now);
        let spent = state.spent(analyst, &period);
        let left = self.config.limit_for(analyst).saturating_sub(spent.epsilon);
        let delta_left = self
            .config
            .delta_limit_for(analyst)
            .saturating_sub(spent.delta);
        if cost.epsilon > left {
            return Err(BudgetError::Exhausted {
                left,
                cost: cost.epsilon,
            });
        }
        if cost.delta > delta_left {
            return Err(BudgetError::DeltaExhausted {
                left: delta_left,
                cost: cost.delta,
            });
        }
        let seq = state.entries.len() as u64 + 1;
        let entry = LedgerEntry {
            seq,
            time: now,
            analyst: analyst.to_owned(),
            period,
            charged: cost.epsilon,
            delta_charged: cost.delta,
            plan_fingerprint: key.plan_fingerprint.clone(),
            snapshot: key.snapshot.clone(),
            trace_id: trace_id.to_owned(),
        };
        state.append(entry, &self.ledger_path, &self.config)?;
        Ok(Charge::Debited {
            charged: cost.epsilon,
            left: left.saturating_sub(cost.epsilon),
            delta_charged: cost.delta,
            delta_left: delta_left.saturating_sub(cost.delta),
            seq,
        })
    }

    /// The stored answer for `key`, if any (without charging anything).
    pub fn cached_answer(&self, key: &CacheKey) -> Result<Option<serde_json::Value>, BudgetError> {
        self.read_answer(key)
    }

    /// Stores the released (already noised) answer of the query identified
    /// by `key`, durably: temporary file, fsync, rename, fsync directory.
    ///
    /// The first stored answer for a key is kept: if one exists, this does
    /// nothing, so every later identical query gets that same answer.
    pub fn store_answer(
        &self,
        key: &CacheKey,
        answer: &serde_json::Value,
    ) -> Result<(), BudgetError> {
        let path = self.answer_path(key);
        if path
            .try_exists()
            .map_err(BudgetError::io("look for", &path))?
        {
            return Ok(());
        }
        let bytes =
            serde_json::to_vec(&StoredAnswerRef { key, answer }).map_err(|_| BudgetError::Io {
                op: "encode",
                path: path.clone(),
                kind: ErrorKind::InvalidData,
            })?;
        let tmp = self.answers_dir.join(format!(
            ".{}.{}.{}.tmp",
            key.digest(),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        crate::durable::replace(&self.answers_dir, &tmp, &path, &bytes, false)
            .map_err(|(op, e)| BudgetError::io(op, &path)(e))
    }

    /// The budget of `analyst` in the period containing `now`.
    pub fn balance(&self, analyst: &str, now: DateTime<Utc>) -> Result<Balance, BudgetError> {
        let period = self.config.period.key(now);
        self.with_synced(|state| self.balance_of(state, analyst, &period))
    }

    /// The budget of every analyst of [`Ledger::analysts`] in the period
    /// containing `now`: the privacy officer's overview.
    pub fn balances(&self, now: DateTime<Utc>) -> Result<Vec<Balance>, BudgetError> {
        let period = self.config.period.key(now);
        self.with_synced(|state| {
            self.analysts_of(state)
                .iter()
                .map(|a| self.balance_of(state, a, &period))
                .collect()
        })
    }

    /// The debits of one analyst (`Some`, the analyst's own view) or of all
    /// (`None`, the privacy officer's view), in sequence order. The caller
    /// decides who may see which.
    pub fn entries(&self, analyst: Option<&str>) -> Result<Vec<LedgerEntry>, BudgetError> {
        self.with_synced(|state| {
            state
                .entries
                .iter()
                .filter(|e| analyst.is_none_or(|a| e.analyst == a))
                .cloned()
                .collect()
        })
    }

    /// Every analyst the ledger knows: those with at least one debit and
    /// those with a configured override, sorted.
    pub fn analysts(&self) -> Result<Vec<String>, BudgetError> {
        self.with_synced(|state| self.analysts_of(state))
    }

    fn analysts_of(&self, state: &State) -> Vec<String> {
        let mut names: BTreeSet<&str> = state.spent.keys().map(String::as_str).collect();
        names.extend(self.config.overrides.keys().map(String::as_str));
        names.into_iter().map(str::to_owned).collect()
    }

    fn balance_of(&self, state: &State, analyst: &str, period: &str) -> Balance {
        let limit = self.config.limit_for(analyst);
        let delta_limit = self.config.delta_limit_for(analyst);
        let spent = state.spent(analyst, period);
        Balance {
            analyst: analyst.to_owned(),
            period: period.to_owned(),
            limit,
            spent: spent.epsilon,
            left: limit.saturating_sub(spent.epsilon),
            delta_limit,
            delta_spent: spent.delta,
            delta_left: delta_limit.saturating_sub(spent.delta),
        }
    }

    /// Runs `f` on the state after reading what other processes appended.
    fn with_synced<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, BudgetError> {
        let mut state = self.lock_state();
        let _os = os_lock(&self.lock_file, &self.lock_path)?;
        state.sync(&self.dir, &self.ledger_path, &self.config)?;
        Ok(f(&state))
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // The file is the truth: a panic between appending and recording
        // leaves `offset` behind, and the next sync reads the line again.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn answer_path(&self, key: &CacheKey) -> PathBuf {
        self.answers_dir.join(format!("{}.json", key.digest()))
    }

    fn read_answer(&self, key: &CacheKey) -> Result<Option<serde_json::Value>, BudgetError> {
        let path = self.answer_path(key);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BudgetError::io("read", &path)(e)),
        };
        let stored: StoredAnswer =
            serde_json::from_slice(&bytes).map_err(|_| BudgetError::Corrupt {
                file: path.clone(),
                line: 1,
                reason: "not a stored answer",
            })?;
        if stored.key != *key {
            return Err(BudgetError::Corrupt {
                file: path,
                line: 1,
                reason: "the stored answer belongs to another query",
            });
        }
        Ok(Some(stored.answer))
    }
}

impl State {
    fn spent(&self, analyst: &str, period: &str) -> Cost {
        self.spent
            .get(analyst)
            .and_then(|periods| periods.get(period))
            .copied()
            .unwrap_or_default()
    }

    fn record(&mut self, entry: LedgerEntry, config: &BudgetConfig) {
        // Spend is attributed by the debit's time under the configured
        // period, which equals the stored `period` key as long as the
        // configuration is unchanged.
        let slot = self
            .spent
            .entry(entry.analyst.clone())
            .or_default()
            .entry(config.period.key(entry.time))
            .or_default();
        slot.epsilon = slot.epsilon.saturating_add(entry.charged);
        slot.delta = slot.delta.saturating_add(entry.delta_charged);
        self.entries.push(entry);
    }

    /// Reads the complete lines appended since the last sync (by another
    /// ledger, in this process or another) and moves a torn tail aside.
    /// Must be called with the OS lock held. Nothing is recorded unless
    /// every new line is valid.
    fn sync(&mut self, dir: &Path, path: &Path, config: &BudgetConfig) -> Result<(), BudgetError> {
        let len = self
            .file
            .metadata()
            .map_err(BudgetError::io("inspect", path))?
            .len();
        let first_line = self.entries.len() as u64 + 1;
        if len < self.offset {
            return Err(BudgetError::Corrupt {
                file: path.to_path_buf(),
                line: first_line,
                reason: "the ledger is shorter than what was read before",
            });
        }
        if len == self.offset {
            return Ok(());
        }
        self.file
            .seek(SeekFrom::Start(self.offset))
            .map_err(BudgetError::io("read", path))?;
        let mut buf = Vec::new();
        (&mut self.file)
            .take(len - self.offset)
            .read_to_end(&mut buf)
            .map_err(BudgetError::io("read", path))?;
        let complete = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);

        let mut new = Vec::new();
        if let Some(lines) = buf[..complete].strip_suffix(b"\n") {
            for (i, line) in lines.split(|&b| b == b'\n').enumerate() {
                let line_no = first_line + i as u64;
                let corrupt = |reason| BudgetError::Corrupt {
                    file: path.to_path_buf(),
                    line: line_no,
                    reason,
                };
                let entry: LedgerEntry =
                    serde_json::from_slice(line).map_err(|_| corrupt("not a ledger entry"))?;
                if entry.seq != line_no {
                    return Err(corrupt("sequence number out of order"));
                }
                new.push(entry);
            }
        }
        let torn = &buf[complete..];
        if !torn.is_empty() {
            let kept = self.offset + complete as u64;
            move_aside(dir, torn)?;
            self.file
                .set_len(kept)
                .and_then(|()| self.file.sync_all())
                .map_err(BudgetError::io("truncate the torn tail of", path))?;
        }
        self.offset += complete as u64;
        for entry in new {
            self.record(entry, config);
        }
        Ok(())
    }

    /// Appends `entry` and fsyncs it. On failure the ledger is cut back to
    /// its previous length (best effort; a line that survives anyway is
    /// counted when read, the conservative side).
    fn append(
        &mut self,
        entry: LedgerEntry,
        path: &Path,
        config: &BudgetConfig,
    ) -> Result<(), BudgetError> {
        let mut line = serde_json::to_vec(&entry).map_err(|_| BudgetError::Io {
            op: "encode a debit for",
            path: path.to_path_buf(),
            kind: ErrorKind::InvalidData,
        })?;
        line.push(b'\n');
        let written = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            let _ = self.file.set_len(self.offset);
            let _ = self.file.sync_data();
            return Err(BudgetError::io("append to", path)(e));
        }
        self.offset += line.len() as u64;
        self.record(entry, config);
        Ok(())
    }
}

/// Takes the exclusive OS lock on `file`, waiting for other processes.
fn os_lock<'a>(file: &'a File, path: &Path) -> Result<OsLock<'a>, BudgetError> {
    file.lock().map_err(BudgetError::io("lock", path))?;
    Ok(OsLock(file))
}

/// Saves the bytes of a torn last line as `torn-<n>.bin` (first free `n`
/// from 1), durably. The debit they began was never acknowledged.
fn move_aside(dir: &Path, torn: &[u8]) -> Result<(), BudgetError> {
    for n in 1u64.. {
        let path = dir.join(format!("torn-{n}.bin"));
        let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(BudgetError::io("create", &path)(e)),
        };
        file.write_all(torn)
            .and_then(|()| file.sync_all())
            .map_err(BudgetError::io("write", &path))?;
        return sync_dir(dir);
    }
    Err(BudgetError::Io {
        op: "find a free name for a torn line in",
        path: dir.to_path_buf(),
        kind: ErrorKind::AlreadyExists,
    })
}

/// Fsyncs a directory, so a created or renamed entry in it is durable.
fn sync_dir(dir: &Path) -> Result<(), BudgetError> {
    crate::durable::sync_dir(dir).map_err(BudgetError::io("sync", dir))
}
