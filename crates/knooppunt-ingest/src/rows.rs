//! Row readers: CSV (streamed through a reader thread) and the xlsx
//! meldingen sheet. Both hand out chunks of rows with their line numbers;
//! the header is matched case-insensitively with surrounding spaces ignored.

use std::io::Read;
use std::path::Path;

use calamine::{DataRef, Reader, Xlsx, open_workbook};
use chrono::NaiveDate;
use crossbeam_channel::{Receiver, bounded};

use crate::IngestError;
use crate::parse::Cell;

/// Rows per chunk handed from a reader to the converter.
pub(crate) const CHUNK_ROWS: usize = 16 * 1024;

/// A spreadsheet cell, owned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OwnedCell {
    Empty,
    Text(String),
    Number(f64),
    Date(NaiveDate),
}

impl OwnedCell {
    pub(crate) fn as_cell(&self) -> Cell<'_> {
        match self {
            OwnedCell::Empty => Cell::Empty,
            OwnedCell::Text(s) => Cell::text(s),
            OwnedCell::Number(n) => Cell::Number(*n),
            OwnedCell::Date(d) => Cell::Date(*d),
        }
    }
}

/// A chunk of rows: each with its 1-based line (CSV: line where the record
/// starts; xlsx: sheet row number).
pub(crate) enum Chunk {
    Csv(Vec<(u64, csv::ByteRecord)>),
    Cells(Vec<(u64, Vec<OwnedCell>)>),
}

/// The normalised header: trimmed, lower-case.
pub(crate) fn normalise_header(h: &str) -> String {
    h.trim()
        .trim_start_matches('\u{feff}')
        .trim()
        .to_lowercase()
}

type ChunkSender = crossbeam_channel::Sender<Result<(u64, Chunk), IngestError>>;

/// Runs a reader on its own thread. A panic inside a parsing library would
/// otherwise close the channel exactly like a clean end of file, and the
/// rest of the file would be dropped without a trace; it becomes an error
/// for the file instead, so nothing is written for the source.
fn spawn_reader(file: String, tx: ChunkSender, body: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).is_err() {
            let _ = tx.send(Err(IngestError::Unreadable {
                file,
                reason: "the reader failed part-way".into(),
            }));
        }
    });
}

/// A started reader: its header and a channel of chunks.
pub(crate) struct RowStream {
    pub(crate) header: Vec<String>,
    /// Chunks in file order, numbered from 0.
    pub(crate) chunks: Receiver<Result<(u64, Chunk), IngestError>>,
}

/// Starts streaming a `;` CSV from a UTF-8 byte stream on its own thread.
pub(crate) fn stream_csv(
    file: &str,
    input: Box<dyn Read + Send>,
) -> Result<RowStream, IngestError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(input);
    let header = reader
        .byte_headers()
        .map_err(|e| IngestError::Unreadable {
            file: file.to_string(),
            reason: csv_reason(&e),
        })?
        .clone();
    if header.is_empty() || header.iter().all(<[u8]>::is_empty) {
        return Err(IngestError::Unreadable {
            file: file.to_string(),
            reason: "no header line".into(),
        });
    }
    let header = header
        .iter()
        .map(|h| normalise_header(&String::from_utf8_lossy(h)))
        .collect();
    let (tx, rx) = bounded(4);
    let file = file.to_string();
    spawn_reader(file.clone(), tx.clone(), move || {
        let mut chunk = Vec::with_capacity(CHUNK_ROWS);
        let mut seq = 0u64;
        loop {
            let mut record = csv::ByteRecord::new();
            match reader.read_byte_record(&mut record) {
                Ok(true) => {
                    let line = record.position().map_or(0, csv::Position::line);
                    chunk.push((line, record));
                    if chunk.len() == CHUNK_ROWS {
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS));
                        if tx.send(Ok((seq, Chunk::Csv(full)))).is_err() {
                            return;
                        }
                        seq += 1;
                    }
                }
                Ok(false) => break,
                Err(e) => {
                    let _ = tx.send(Err(IngestError::Unreadable {
                        file: file.clone(),
                        reason: csv_reason(&e),
                    }));
                    return;
                }
            }
        }
        if !chunk.is_empty() {
            let _ = tx.send(Ok((seq, Chunk::Csv(chunk))));
        }
    });
    Ok(RowStream { header, chunks: rx })
}

/// Describes a CSV error by position only (the csv crate's messages for
/// UTF-8 errors can quote field contents, so they are not passed on).
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Io(io) => format!("read error: {}", io.kind()),
        _ => match e.position() {
            Some(p) => format!("malformed CSV at line {}", p.line()),
            None => "malformed CSV".into(),
        },
    }
}

/// Reads the `Meldingen` sheet (name matched case-insensitively) cell by
/// cell on its own thread. Calamine's streaming cell reader keeps the sheet
/// XML out of memory; the workbook's shared-string table is loaded whole,
/// as the xlsx format requires.
pub(crate) fn stream_xlsx(path: &Path, file: &str, sheet: &str) -> Result<RowStream, IngestError> {
    let (header_tx, header_rx) = bounded::<Result<Vec<String>, IngestError>>(1);
    let (tx, rx) = bounded(4);
    let path = path.to_path_buf();
    let file = file.to_string();
    let file_name = file.clone();
    let sheet = sheet.to_string();
    spawn_reader(file.clone(), tx.clone(), move || {
        let unreadable = |reason: String| IngestError::Unreadable {
            file: file.clone(),
            reason,
        };
        let mut workbook: Xlsx<_> = match open_workbook(&path) {
            Ok(w) => w,
            Err(e) => {
                let _ = header_tx.send(Err(unreadable(format!(
                    "not an xlsx workbook ({})",
                    xlsx_reason(&e)
                ))));
                return;
            }
        };
        let Some(name) = workbook
            .sheet_names()
            .into_iter()
            .find(|n| n.trim().eq_ignore_ascii_case(&sheet))
        else {
            let _ = header_tx.send(Err(unreadable(format!("no sheet named {sheet}"))));
            return;
        };
        let mut cells = match workbook.worksheet_cells_reader(&name) {
            Ok(c) => c,
            Err(e) => {
                let _ = header_tx.send(Err(unreadable(xlsx_reason(&e))));
                return;
            }
        };
        let mut state = SheetState {
            header_tx: Some(header_tx),
            tx,
            seq: 0,
            chunk: Vec::with_capacity(CHUNK_ROWS),
        };
        let mut current_row: Option<u32> = None;
        let mut current: Vec<OwnedCell> = Vec::new();
        loop {
            let cell = match cells.next_cell() {
                Ok(Some(cell)) => cell,
                Ok(None) => break,
                Err(e) => {
                    state.fail(unreadable(xlsx_reason(&e)));
                    return;
                }
            };
            let (r, c) = cell.get_position();
            if current_row != Some(r) {
                if let Some(prev) = current_row
                    && !state.row(prev, std::mem::take(&mut current))
                {
                    return;
                }
                current_row = Some(r);
            }
            let c = c as usize;
            if c > 1024 {
                continue;
            }
            if current.len() <= c {
                current.resize(c + 1, OwnedCell::Empty);
            }
            current[c] = owned(cell.get_value());
        }
        if let Some(prev) = current_row {
            state.row(prev, current);
        }
        state.finish(unreadable("sheet has no header row".into()));
    });
    match header_rx.recv() {
        Ok(Ok(header)) => Ok(RowStream { header, chunks: rx }),
        Ok(Err(e)) => Err(e),
        // The reader thread ended without a word: it panicked inside the
        // xlsx library. Name the file so the one-line reason is useful.
        Err(_) => Err(IngestError::Unreadable {
            file: file_name,
            reason: "xlsx reader stopped".into(),
        }),
    }
}

/// Where the xlsx reader thread is: before the header (which goes out on
/// its own channel), then collecting rows into chunks.
struct SheetState {
    header_tx: Option<crossbeam_channel::Sender<Result<Vec<String>, IngestError>>>,
    tx: ChunkSender,
    seq: u64,
    chunk: Vec<(u64, Vec<OwnedCell>)>,
}

impl SheetState {
    /// Takes one sheet row; false when the receiver has gone.
    fn row(&mut self, row: u32, cells: Vec<OwnedCell>) -> bool {
        if cells.iter().all(|c| matches!(c, OwnedCell::Empty)) {
            return true;
        }
        if let Some(header_tx) = self.header_tx.take() {
            let header = cells
                .iter()
                .map(|c| match c {
                    OwnedCell::Text(s) => normalise_header(s),
                    _ => String::new(),
                })
                .collect();
            return header_tx.send(Ok(header)).is_ok();
        }
        self.chunk.push((u64::from(row) + 1, cells));
        if self.chunk.len() == CHUNK_ROWS {
            let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK_ROWS));
            let sent = self.tx.send(Ok((self.seq, Chunk::Cells(full)))).is_ok();
            self.seq += 1;
            return sent;
        }
        true
    }

    fn fail(self, e: IngestError) {
        match self.header_tx {
            Some(h) => {
                let _ = h.send(Err(e));
            }
            None => {
                let _ = self.tx.send(Err(e));
            }
        }
    }

    fn finish(self, no_header: IngestError) {
        if let Some(h) = self.header_tx {
            let _ = h.send(Err(no_header));
            return;
        }
        if !self.chunk.is_empty() {
            let _ = self.tx.send(Ok((self.seq, Chunk::Cells(self.chunk))));
        }
    }
}

fn owned(value: &DataRef<'_>) -> OwnedCell {
    match value {
        DataRef::Empty => OwnedCell::Empty,
        DataRef::Int(i) => OwnedCell::Number(*i as f64),
        DataRef::Float(f) => OwnedCell::Number(*f),
        DataRef::String(s) => OwnedCell::Text(s.clone()),
        DataRef::SharedString(s) => OwnedCell::Text((*s).to_string()),
        DataRef::Bool(b) => OwnedCell::Text(b.to_string()),
        DataRef::DateTime(dt) => match dt.as_datetime() {
            Some(d) if dt.is_datetime() => OwnedCell::Date(d.date()),
            _ => OwnedCell::Number(dt.as_f64()),
        },
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => {
            OwnedCell::Text(s.chars().take(10).collect())
        }
        DataRef::Error(_) => OwnedCell::Text("#error".into()),
    }
}

/// Describes an xlsx error without cell contents.
fn xlsx_reason(e: &calamine::XlsxError) -> String {
    match e {
        calamine::XlsxError::Io(io) => format!("read error: {}", io.kind()),
        calamine::XlsxError::Zip(_) => "not a valid zip container".into(),
        calamine::XlsxError::WorksheetNotFound(_) => "worksheet not found".into(),
        _ => "malformed workbook".into(),
    }
}
