use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::AuditError;
use crate::checkpoint::sync_dir;

/// Name of segment number `n` (from 1).
pub(crate) fn segment_name(n: u32) -> String {
    format!("segment-{n:06}.jsonl")
}

/// The segment files of a log directory, ordered by number.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u32, PathBuf)>, AuditError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(AuditError::io("read", dir))? {
        let entry = entry.map_err(AuditError::io("read", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(number) = name
            .strip_prefix("segment-")
            .and_then(|r| r.strip_suffix(".jsonl"))
        else {
            continue;
        };
        if let Ok(n) = number.parse::<u32>() {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// One line of a segment file as raw bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawLine<'a> {
    /// One-based line number.
    pub(crate) line_no: u64,
    /// Byte offset of the line's start in the file.
    pub(crate) offset: usize,
    /// The line without its newline.
    pub(crate) bytes: &'a [u8],
    /// Whether the line ended with a newline.
    pub(crate) has_newline: bool,
}

/// Splits a file's bytes into lines; a final empty piece after the last
/// newline is not a line.
pub(crate) fn split_lines(buf: &[u8]) -> Vec<RawLine<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut line_no = 1;
    while start < buf.len() {
        match buf[start..].iter().position(|b| *b == b'\n') {
            Some(rel) => {
                out.push(RawLine {
                    line_no,
                    offset: start,
                    bytes: &buf[start..start + rel],
                    has_newline: true,
                });
                start += rel + 1;
            }
            None => {
                out.push(RawLine {
                    line_no,
                    offset: start,
                    bytes: &buf[start..],
                    has_newline: false,
                });
                start = buf.len();
            }
        }
        line_no += 1;
    }
    out
}

/// Where the log's bytes go. The log writes whole batches of lines with
/// [`SegmentSink::write_all`], then calls [`SegmentSink::sync`] once, and only
/// then acknowledges the records; an error from either refuses the batch and
/// every later one (fail closed).
///
/// [`FileSink`] is the real implementation; tests wrap it to inject faults.
pub trait SegmentSink: Send {
    /// Appends bytes to the current segment.
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Makes everything written so far durable.
    fn sync(&mut self) -> std::io::Result<()>;
    /// Starts the next segment (durably created) and makes it current.
    fn roll(&mut self) -> std::io::Result<()>;
    /// Bytes in the current segment.
    fn segment_len(&self) -> u64;
}

/// Segment files in a directory, appended to with `O_APPEND` and synced with
/// `fdatasync`.
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    number: u32,
    file: File,
    len: u64,
}

impl FileSink {
    /// Opens the highest-numbered segment of `dir` for appending, or creates
    /// `segment-000001.jsonl` when there is none.
    pub(crate) fn open(dir: &Path) -> Result<FileSink, AuditError> {
        let segments = list_segments(dir)?;
        match segments.last() {
            Some((number, path)) => {
                let file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(AuditError::io("open", path))?;
                let len = file.metadata().map_err(AuditError::io("read", path))?.len();
                Ok(FileSink {
                    dir: dir.to_owned(),
                    number: *number,
                    file,
                    len,
                })
            }
            None => {
                let file = create_segment(dir, 1)
                    .map_err(AuditError::io("create", dir.join(segment_name(1))))?;
                Ok(FileSink {
                    dir: dir.to_owned(),
                    number: 1,
                    file,
                    len: 0,
                })
            }
        }
    }

    /// The current segment's path.
    pub fn current_path(&self) -> PathBuf {
        self.dir.join(segment_name(self.number))
    }
}

fn create_segment(dir: &Path, number: u32) -> std::io::Result<File> {
    let path = dir.join(segment_name(number));
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&path)?;
    file.sync_all()?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(file)
}

impl SegmentSink for FileSink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    fn roll(&mut self) -> std::io::Result<()> {
        let next = self
            .number
            .checked_add(1)
            .ok_or_else(|| std::io::Error::other("segment numbers exhausted"))?;
        self.file = create_segment(&self.dir, next)?;
        self.number = next;
        self.len = 0;
        Ok(())
    }

    fn segment_len(&self) -> u64 {
        self.len
    }
}

/// Moves `bytes` (the torn tail of a segment) into a new file `torn-<seq>.bin`
/// (or `torn-<seq>-<n>.bin` if that exists) and returns its path.
pub(crate) fn save_torn(dir: &Path, stem: &str, bytes: &[u8]) -> Result<PathBuf, AuditError> {
    for n in 1..1000u32 {
        let name = if n == 1 {
            format!("{stem}.bin")
        } else {
            format!("{stem}-{n}.bin")
        };
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(bytes)
                    .and_then(|()| file.sync_all())
                    .map_err(AuditError::io("write", &path))?;
                sync_dir(dir)?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(AuditError::io("create", &path)(e)),
        }
    }
    Err(AuditError::Io {
        op: "create",
        path: dir.join(format!("{stem}.bin")),
        source: std::io::Error::other("too many torn-tail files"),
    })
}

/// Cuts a file to `len` bytes durably.
pub(crate) fn truncate_file(path: &Path, len: u64) -> Result<(), AuditError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(AuditError::io("open", path))?;
    file.set_len(len)
        .and_then(|()| file.sync_all())
        .map_err(AuditError::io("truncate", path))
}
