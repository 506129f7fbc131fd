//! The lake on disk: immutable snapshots per source and one manifest that
//! names the current snapshot of each.
//!
//! ```text
//! lake/
//!   manifest.json                 current snapshot per source + history
//!   .lock                         held by the ingest process
//!   bag/<snapshot-id>/part-00000.parquet
//!   bag/<snapshot-id>/quarantine/rows.parquet, summary.txt
//!   bag/.staging-<snapshot-id>/   a snapshot being written (never read)
//! ```
//!
//! Crash safety: a snapshot is written under a staging name, every file is
//! fsynced, the directory is renamed to its final name and the parent is
//! fsynced; only then is the manifest replaced (write `manifest.json.tmp`,
//! fsync, rename, fsync the lake directory). A crash at any point leaves
//! the old manifest, whose snapshots are complete, or the new one, whose
//! snapshots are complete too. Leftover staging and unreferenced snapshot
//! directories are removed at the next run.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use knooppunt_core::{CONTRACT_VERSION, Source};
use serde::{Deserialize, Serialize};

use crate::IngestError;
use crate::input::Encoding;

/// File name of the manifest inside the lake.
pub const MANIFEST: &str = "manifest.json";

/// How many snapshots per source are kept (the current one included).
pub const KEEP_SNAPSHOTS: usize = 3;

/// One input file of a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputFile {
    /// File name in the exports directory.
    pub file: String,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Detected encoding.
    pub encoding: Encoding,
}

/// Row counts of a snapshot.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    /// Data rows read from the input.
    pub rows_read: u64,
    /// Rows written to the snapshot.
    pub rows_written: u64,
    /// Rows quarantined, per rule code.
    pub quarantined: BTreeMap<String, u64>,
    /// Written rows that could not be linked to a buurt.
    pub unlinked: u64,
}

impl Counts {
    /// Total quarantined rows.
    pub fn quarantined_total(&self) -> u64 {
        self.quarantined.values().sum()
    }
}

/// A complete, immutable snapshot of one source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// Snapshot id, also its directory name.
    pub id: String,
    /// When it was written (RFC 3339).
    pub created_at: String,
    /// Contract version the rows conform to.
    pub contract_version: String,
    /// Fingerprint of everything the snapshot was made from: input hashes,
    /// dependency snapshots, key id, contract version. Equal fingerprints
    /// mean re-ingesting would write the same snapshot.
    pub fingerprint: String,
    /// Non-secret id of the pseudonym key used.
    pub key_id: String,
    /// Input files.
    pub inputs: Vec<InputFile>,
    /// Snapshots of other sources this one was linked against.
    pub depends_on: BTreeMap<String, String>,
    /// Data files, relative to the snapshot directory.
    pub files: Vec<String>,
    /// Quarantine files, relative to the snapshot directory.
    pub quarantine_files: Vec<String>,
    /// Row counts.
    pub counts: Counts,
}

/// The history of one source.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceEntry {
    /// The current snapshot id.
    pub current: String,
    /// Kept snapshots, oldest first (the current one last).
    pub snapshots: Vec<Snapshot>,
}

impl SourceEntry {
    /// The current snapshot.
    pub fn current(&self) -> Option<&Snapshot> {
        self.snapshots.iter().find(|s| s.id == self.current)
    }
}

/// The lake manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Manifest format version.
    pub format: u32,
    /// Contract version of the most recent write.
    pub contract_version: String,
    /// Per source name.
    pub sources: BTreeMap<String, SourceEntry>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            format: 1,
            contract_version: CONTRACT_VERSION.into(),
            sources: BTreeMap::new(),
        }
    }
}

impl Manifest {
    /// Reads the manifest of a lake; a lake without one is empty.
    pub fn load(lake: &Path) -> Result<Manifest, IngestError> {
        let path = lake.join(MANIFEST);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| IngestError::Manifest {
                path,
                reason: format!("invalid JSON at line {} column {}", e.line(), e.column()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(source) => Err(IngestError::Io { path, source }),
        }
    }

    /// The current snapshot of a source.
    pub fn current(&self, source: Source) -> Option<&Snapshot> {
        self.sources.get(source.name())?.current()
    }

    /// Absolute paths of the current snapshot's data files.
    pub fn current_files(&self, lake: &Path, source: Source) -> Option<Vec<PathBuf>> {
        let snap = self.current(source)?;
        let dir = snapshot_dir(lake, source, &snap.id);
        Some(snap.files.iter().map(|f| dir.join(f)).collect())
    }

    /// Makes `snapshot` current for `source`, keeping the most recent
    /// [`KEEP_SNAPSHOTS`]; returns the ids that fell out of the history.
    pub(crate) fn install(&mut self, source: Source, snapshot: Snapshot) -> Vec<String> {
        let entry = self.sources.entry(source.name().to_string()).or_default();
        entry.current = snapshot.id.clone();
        entry.snapshots.retain(|s| s.id != snapshot.id);
        entry.snapshots.push(snapshot);
        let excess = entry.snapshots.len().saturating_sub(KEEP_SNAPSHOTS);
        entry.snapshots.drain(..excess).map(|s| s.id).collect()
    }

    /// Atomically replaces the manifest on disk.
    pub(crate) fn store(&self, lake: &Path) -> Result<(), IngestError> {
        let path = lake.join(MANIFEST);
        let tmp = lake.join(format!("{MANIFEST}.tmp"));
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| IngestError::Manifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_synced(&tmp, &bytes)?;
        fs::rename(&tmp, &path).map_err(IngestError::io(&path))?;
        sync_dir(lake)
    }
}

/// Directory of a snapshot.
pub fn snapshot_dir(lake: &Path, source: Source, id: &str) -> PathBuf {
    lake.join(source.name()).join(id)
}

/// Staging directory of a snapshot being written.
pub(crate) fn staging_dir(lake: &Path, source: Source, id: &str) -> PathBuf {
    lake.join(source.name()).join(format!(".staging-{id}"))
}

/// Writes a file and fsyncs it.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), IngestError> {
    use std::io::Write;
    let mut f = File::create(path).map_err(IngestError::io(path))?;
    f.write_all(bytes).map_err(IngestError::io(path))?;
    f.sync_all().map_err(IngestError::io(path))
}

/// Fsyncs a directory so renames inside it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), IngestError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(IngestError::io(dir))
}

/// Renames a complete staging directory to its final snapshot name.
pub(crate) fn publish(lake: &Path, source: Source, id: &str) -> Result<PathBuf, IngestError> {
    let staging = staging_dir(lake, source, id);
    let target = snapshot_dir(lake, source, id);
    sync_dir(&staging)?;
    if target.exists() {
        // Left by a run that crashed after publishing but before switching
        // the manifest; it is not referenced, so it can go.
        fs::remove_dir_all(&target).map_err(IngestError::io(&target))?;
    }
    fs::rename(&staging, &target).map_err(IngestError::io(&target))?;
    sync_dir(&lake.join(source.name()))?;
    Ok(target)
}

/// Removes staging directories and snapshot directories the manifest does
/// not reference. Only names that look like ours are touched.
pub(crate) fn clean_unreferenced(lake: &Path, manifest: &Manifest) -> Result<(), IngestError> {
    for source in Source::ALL {
        let dir = lake.join(source.name());
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let known: Vec<&str> = manifest
            .sources
            .get(source.name())
            .map(|e| e.snapshots.iter().map(|s| s.id.as_str()).collect())
            .unwrap_or_default();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let ours = name.starts_with(".staging-") || looks_like_snapshot_id(&name);
            if ours && !known.contains(&name.as_str()) {
                let path = entry.path();
                fs::remove_dir_all(&path).map_err(IngestError::io(&path))?;
            }
        }
    }
    Ok(())
}

/// Snapshot ids are `YYYYMMDDTHHMMSS.mmmZ-` + 12 hex digits (33 bytes).
pub(crate) fn looks_like_snapshot_id(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 33
        && b[8] == b'T'
        && b[15] == b'.'
        && b[19] == b'Z'
        && b[20] == b'-'
        && b[21..].iter().all(u8::is_ascii_hexdigit)
}

/// Builds a snapshot id from its creation time and fingerprint.
pub(crate) fn snapshot_id(created: chrono::DateTime<chrono::Utc>, fingerprint: &str) -> String {
    format!(
        "{}-{}",
        created.format("%Y%m%dT%H%M%S%.3fZ"),
        &fingerprint[..12.min(fingerprint.len())]
    )
}

/// An exclusive lock on the lake for the duration of an ingest.
pub(crate) struct LakeLock {
    _file: File,
}

impl LakeLock {
    pub(crate) fn acquire(lake: &Path) -> Result<LakeLock, IngestError> {
        fs::create_dir_all(lake).map_err(IngestError::io(lake))?;
        let path = lake.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(IngestError::io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(LakeLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(IngestError::Locked {
                path: lake.to_path_buf(),
            }),
            Err(fs::TryLockError::Error(source)) => Err(IngestError::Io { path, source }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ids_are_recognised() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-28T22:00:00.123Z")
            .unwrap()
            .to_utc();
        let id = snapshot_id(t, "0123456789abcdef0123");
        assert_eq!(id, "20261128T220000.123Z-0123456789ab");
        assert!(looks_like_snapshot_id(&id));
        assert!(!looks_like_snapshot_id("notes"));
    }
}
