//! Quirk-aware CSV writing: encoding (UTF-8, UTF-8 with BOM, Windows-1252),
//! line endings, header spelling, and atomic replacement of the target.
//!
//! Quoting is left to the `csv` crate with `;` as delimiter, so fields with
//! `;`, quotes or newlines come out the way spreadsheet programs write them.
//! Every file is written to a temporary name beside the target and renamed
//! into place only when complete, so an interrupted run never leaves a
//! half-written export under its real name.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::SynthError;

/// The byte order mark of UTF-8.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Character encoding of a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// UTF-8 without byte order mark.
    Utf8,
    /// UTF-8 starting with a byte order mark.
    Utf8Bom,
    /// Windows-1252 (what Excel on Windows writes as "CSV").
    Windows1252,
}

/// The outward form of a CSV file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CsvStyle {
    /// Character encoding.
    pub(crate) encoding: Encoding,
    /// `\r\n` instead of `\n` between records.
    pub(crate) crlf: bool,
    /// Header names in mixed case with stray spaces (` Postcode ;HUISNUMMER`).
    pub(crate) messy_header: bool,
}

impl CsvStyle {
    /// UTF-8 without BOM, `\n`, lower-case header: the clean form.
    pub(crate) const CLEAN: CsvStyle = CsvStyle {
        encoding: Encoding::Utf8,
        crlf: false,
        messy_header: false,
    };
}

/// The header name `name` spelled the way a department might, by position.
pub(crate) fn messy_name(name: &str, position: usize) -> String {
    let mut capital = String::with_capacity(name.len() + 2);
    let mut chars = name.chars();
    if let Some(first) = chars.next() {
        capital.extend(first.to_uppercase());
        capital.push_str(chars.as_str());
    }
    match position % 4 {
        0 => format!(" {capital} "),
        1 => name.to_uppercase(),
        2 => name.to_owned(),
        _ => format!("{capital} "),
    }
}

/// The temporary name `path` is written under before it is renamed.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

/// Renames the finished temporary file onto `path`.
pub(crate) fn commit(path: &Path) -> Result<(), SynthError> {
    std::fs::rename(temp_path(path), path).map_err(SynthError::io(path))
}

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SynthError> {
    let tmp = temp_path(path);
    std::fs::write(&tmp, bytes).map_err(SynthError::io(&tmp))?;
    commit(path)
}

/// Passes UTF-8 through, or transcodes it to Windows-1252.
///
/// The CSV writer may hand over a buffer that ends inside a multi-byte
/// character, so an incomplete tail is kept until the next write.
struct Transcoder {
    out: BufWriter<File>,
    windows_1252: bool,
    pending: Vec<u8>,
}

impl Write for Transcoder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.windows_1252 {
            return self.out.write(buf);
        }
        self.pending.extend_from_slice(buf);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(text) => text.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        };
        let text = std::str::from_utf8(&self.pending[..valid])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
        if unmappable {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "text has characters that Windows-1252 cannot represent",
            ));
        }
        self.out.write_all(&bytes)?;
        self.pending.drain(..valid);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "incomplete UTF-8 sequence at end of output",
            ));
        }
        self.out.flush()
    }
}

/// A CSV export being written; rows are streamed, never held.
pub(crate) struct CsvSink {
    path: PathBuf,
    writer: csv::Writer<Transcoder>,
    rows: u64,
}

impl CsvSink {
    /// Starts `path` (under its temporary name) with `header`.
    pub(crate) fn create(
        path: &Path,
        style: CsvStyle,
        header: &[&str],
    ) -> Result<Self, SynthError> {
        let tmp = temp_path(path);
        let file = File::create(&tmp).map_err(SynthError::io(&tmp))?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        if style.encoding == Encoding::Utf8Bom {
            out.write_all(BOM).map_err(SynthError::io(&tmp))?;
        }
        let transcoder = Transcoder {
            out,
            windows_1252: style.encoding == Encoding::Windows1252,
            pending: Vec::new(),
        };
        let terminator = if style.crlf {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        };
        let writer = csv::WriterBuilder::new()
            .delimiter(b';')
            .terminator(terminator)
            .from_writer(transcoder);
        let mut sink = CsvSink {
            path: path.to_path_buf(),
            writer,
            rows: 0,
        };
        let names: Vec<String> = header
            .iter()
            .enumerate()
            .map(|(i, name)| {
                if style.messy_header {
                    messy_name(name, i)
                } else {
                    (*name).to_owned()
                }
            })
            .collect();
        sink.writer
            .write_record(&names)
            .map_err(|source| SynthError::Csv {
                path: sink.path.clone(),
                source,
            })?;
        Ok(sink)
    }

    /// Writes one data row.
    pub(crate) fn row<S: AsRef<[u8]>>(&mut self, fields: &[S]) -> Result<(), SynthError> {
        self.writer
            .write_record(fields)
            .map_err(|source| SynthError::Csv {
                path: self.path.clone(),
                source,
            })?;
        self.rows += 1;
        Ok(())
    }

    /// Data rows written so far.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes, renames the file into place and returns its data row count.
    pub(crate) fn finish(self) -> Result<u64, SynthError> {
        let CsvSink { path, writer, rows } = self;
        let mut transcoder = writer.into_inner().map_err(|e| SynthError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        transcoder.flush().map_err(SynthError::io(&path))?;
        drop(transcoder);
        commit(&path)?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_sink_transcodes_and_quotes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.csv");
        let style = CsvStyle {
            encoding: Encoding::Windows1252,
            crlf: true,
            messy_header: true,
        };
        let mut sink = CsvSink::create(&path, style, &["postcode", "naam"]).expect("create");
        sink.row(&["1234AB", "Café \"Zoë\"; Jansen\nvestiging 2"])
            .expect("row");
        assert_eq!(sink.finish().expect("finish"), 1);
        let bytes = std::fs::read(&path).expect("read");
        let expected: &[u8] =
            b" Postcode ;NAAM\r\n1234AB;\"Caf\xE9 \"\"Zo\xEB\"\"; Jansen\nvestiging 2\"\r\n";
        assert_eq!(bytes, expected);
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn windows_1252_refuses_unrepresentable_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.csv");
        let style = CsvStyle {
            encoding: Encoding::Windows1252,
            ..CsvStyle::CLEAN
        };
        let mut sink = CsvSink::create(&path, style, &["naam"]).expect("create");
        let result = sink
            .row(&["Yılmaz"])
            .and_then(|()| sink.finish().map(|_| ()));
        assert!(matches!(
            result,
            Err(SynthError::Csv { .. }) | Err(SynthError::Io { .. })
        ));
    }

    #[test]
    fn bom_is_written_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.csv");
        let style = CsvStyle {
            encoding: Encoding::Utf8Bom,
            ..CsvStyle::CLEAN
        };
        let sink = CsvSink::create(&path, style, &["a", "b"]).expect("create");
        sink.finish().expect("finish");
        assert_eq!(std::fs::read(&path).expect("read"), b"\xEF\xBB\xBFa;b\n");
    }
}
