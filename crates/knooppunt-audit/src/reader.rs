use std::path::{Path, PathBuf};

use crate::AuditError;
use crate::checkpoint::json_error_kind;
use crate::record::AuditRecord;
use crate::segment::{list_segments, split_lines};

/// Iterates over all whole records of a log directory in file order, one
/// segment in memory at a time. A torn tail at the very end is skipped (see
/// [`RecordIter::torn_tail`]); any other unreadable line is an error.
///
/// Reading does not verify the chain; use `verify` for that.
#[derive(Debug)]
pub struct RecordIter {
    segments: std::vec::IntoIter<PathBuf>,
    remaining: usize,
    current: std::vec::IntoIter<AuditRecord>,
    torn_tail: Option<(PathBuf, u64)>,
    failed: bool,
}

/// Opens an iterator over the records in `dir`.
pub fn read_log(dir: &Path) -> Result<RecordIter, AuditError> {
    let segments: Vec<PathBuf> = list_segments(dir)?.into_iter().map(|(_, p)| p).collect();
    Ok(RecordIter {
        remaining: segments.len(),
        segments: segments.into_iter(),
        current: Vec::new().into_iter(),
        torn_tail: None,
        failed: false,
    })
}

/// Reads all whole records of `dir` into memory.
pub fn read_records(dir: &Path) -> Result<Vec<AuditRecord>, AuditError> {
    read_log(dir)?.collect()
}

impl RecordIter {
    /// The segment and line of a torn tail that was skipped, once the
    /// iterator has reached the end.
    pub fn torn_tail(&self) -> Option<(&Path, u64)> {
        self.torn_tail.as_ref().map(|(p, l)| (p.as_path(), *l))
    }

    fn load(&mut self, path: &Path) -> Result<(), AuditError> {
        self.remaining -= 1;
        let last_segment = self.remaining == 0;
        let bytes = std::fs::read(path).map_err(AuditError::io("read", path))?;
        let lines = split_lines(&bytes);
        let count = lines.len();
        let mut records = Vec::with_capacity(count);
        for (i, line) in lines.into_iter().enumerate() {
            let parsed = serde_json::from_slice::<AuditRecord>(line.bytes);
            let at_end = last_segment && i + 1 == count;
            match parsed {
                Ok(record) if line.has_newline => records.push(record),
                _ if at_end => self.torn_tail = Some((path.to_owned(), line.line_no)),
                Ok(_) => {
                    return Err(AuditError::Corrupt {
                        file: path.to_owned(),
                        line: line.line_no,
                        reason: "a closed segment ends in a partial line".to_owned(),
                    });
                }
                Err(e) => {
                    return Err(AuditError::Corrupt {
                        file: path.to_owned(),
                        line: line.line_no,
                        reason: format!("not an audit record ({})", json_error_kind(&e)),
                    });
                }
            }
        }
        self.current = records.into_iter();
        Ok(())
    }
}

impl Iterator for RecordIter {
    type Item = Result<AuditRecord, AuditError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            if let Some(record) = self.current.next() {
                return Some(Ok(record));
            }
            let path = self.segments.next()?;
            if let Err(e) = self.load(&path) {
                self.failed = true;
                return Some(Err(e));
            }
        }
    }
}
