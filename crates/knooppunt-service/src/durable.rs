//! Durable replacement of a small file, shared by the token store and the
//! budget ledger's stored answers: a temporary file in the same directory,
//! synced, renamed over the target, and the directory synced, so a crash
//! leaves either the old file or the new one, whole.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `tmp` (created or truncated; mode 0600 when `private`,
/// on Unix), fsyncs it, renames it to `dest` and fsyncs `dir`, the
/// directory of both. On failure `tmp` is removed and the step that failed
/// is returned with its error.
pub(crate) fn replace(
    dir: &Path,
    tmp: &Path,
    dest: &Path,
    bytes: &[u8],
    private: bool,
) -> Result<(), (&'static str, std::io::Error)> {
    let written = write_synced(tmp, bytes, private)
        .map_err(|e| ("write", e))
        .and_then(|()| std::fs::rename(tmp, dest).map_err(|e| ("rename into", e)));
    if written.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    written?;
    sync_dir(dir).map_err(|e| ("sync", e))
}

fn write_synced(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Fsyncs a directory, so a created or renamed entry in it is durable (a
/// no-op where directories cannot be opened, outside Unix).
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
