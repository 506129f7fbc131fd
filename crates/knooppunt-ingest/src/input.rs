//! Reading export files as bytes: one pass that hashes the file and detects
//! its encoding, then a decoding reader that turns Windows-1252 into UTF-8
//! while the CSV parser streams, so memory never depends on the file size.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::IngestError;

/// The text encoding of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// UTF-8 with a byte-order mark.
    Utf8Bom,
    /// UTF-8 without a byte-order mark.
    Utf8,
    /// Windows-1252 (what Excel on Dutch Windows writes as "CSV").
    Windows1252,
    /// Not text (xlsx, geojson is read as UTF-8 JSON).
    Binary,
}

/// What the first pass learnt about a file.
#[derive(Debug, Clone)]
pub(crate) struct Fingerprint {
    pub(crate) sha256: String,
    pub(crate) bytes: u64,
    pub(crate) encoding: Encoding,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Hashes a file and detects its encoding in one streaming pass: a BOM means
/// UTF-8; otherwise a file that is valid UTF-8 throughout is UTF-8, and any
/// invalid sequence means Windows-1252 (every byte sequence is valid there).
pub(crate) fn fingerprint(path: &Path, text: bool) -> Result<Fingerprint, IngestError> {
    let file = File::open(path).map_err(IngestError::io(path))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut carry: Vec<u8> = Vec::new();
    let mut total = 0u64;
    let mut first = true;
    let mut has_bom = false;
    let mut utf8_ok = true;
    loop {
        let n = reader.read(&mut buf).map_err(IngestError::io(path))?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        hasher.update(chunk);
        total += n as u64;
        if !text || !utf8_ok {
            continue;
        }
        let mut data = std::mem::take(&mut carry);
        data.extend_from_slice(chunk);
        if first {
            has_bom = data.starts_with(BOM);
            first = data.len() < BOM.len();
        }
        match std::str::from_utf8(&data) {
            Ok(_) => {}
            // An incomplete sequence at the end of a chunk may finish in the
            // next one; anything else is not UTF-8.
            Err(e) if e.error_len().is_none() => carry = data[e.valid_up_to()..].to_vec(),
            Err(_) => utf8_ok = false,
        }
    }
    if !carry.is_empty() {
        utf8_ok = false;
    }
    let encoding = match (text, has_bom, utf8_ok) {
        (false, _, _) => Encoding::Binary,
        (true, true, _) => Encoding::Utf8Bom,
        (true, false, true) => Encoding::Utf8,
        (true, false, false) => Encoding::Windows1252,
    };
    Ok(Fingerprint {
        sha256: hex::encode(hasher.finalize()),
        bytes: total,
        encoding,
    })
}

/// Counts bytes read, for progress reporting.
pub(crate) struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Counting<R> {
    pub(crate) fn new(inner: R, counter: Arc<AtomicU64>) -> Self {
        Counting { inner, counter }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Decodes Windows-1252 to UTF-8 on the fly. Windows-1252 maps every byte to
/// one character, so chunks can be decoded independently.
pub(crate) struct Windows1252Reader<R> {
    inner: R,
    raw: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
}

impl<R: Read> Windows1252Reader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Windows1252Reader {
            inner,
            raw: vec![0; 64 * 1024],
            out: Vec::new(),
            pos: 0,
        }
    }
}

impl<R: Read> Read for Windows1252Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.out.len() {
            let n = self.inner.read(&mut self.raw)?;
            if n == 0 {
                return Ok(0);
            }
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&self.raw[..n]);
            self.out.clear();
            self.out.extend_from_slice(text.as_bytes());
            self.pos = 0;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Opens a text export as a UTF-8 byte stream: the BOM skipped, Windows-1252
/// decoded.
pub(crate) fn open_text(
    path: &Path,
    encoding: Encoding,
    counter: Arc<AtomicU64>,
) -> Result<Box<dyn Read + Send>, IngestError> {
    let file = File::open(path).map_err(IngestError::io(path))?;
    let mut reader = Counting::new(BufReader::with_capacity(1 << 20, file), counter);
    match encoding {
        Encoding::Windows1252 => Ok(Box::new(Windows1252Reader::new(reader))),
        Encoding::Utf8Bom => {
            let mut bom = [0u8; 3];
            reader.read_exact(&mut bom).map_err(IngestError::io(path))?;
            Ok(Box::new(reader))
        }
        Encoding::Utf8 | Encoding::Binary => Ok(Box::new(reader)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn detect(bytes: &[u8]) -> Encoding {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        fingerprint(f.path(), true).unwrap().encoding
    }

    #[test]
    fn detects_encodings() {
        assert_eq!(detect(b"\xEF\xBB\xBFa;b\n"), Encoding::Utf8Bom);
        assert_eq!(detect("caf\u{e9};b\n".as_bytes()), Encoding::Utf8);
        assert_eq!(detect(b"caf\xe9;b\n"), Encoding::Windows1252);
        assert_eq!(detect(b""), Encoding::Utf8);
        // A multi-byte sequence cut off at the end is not UTF-8.
        assert_eq!(detect(b"abc\xC3"), Encoding::Windows1252);
    }

    #[test]
    fn decodes_windows_1252() {
        let mut out = String::new();
        Windows1252Reader::new(&b"Cura\xe7aostraat \x80"[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "Curaçaostraat €");
    }
}
