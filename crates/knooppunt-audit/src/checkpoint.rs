use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::AuditError;
use crate::record::{format_time, line_hash};

/// Name of the file in the log directory that holds the checkpoints.
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";

/// Domain separation for checkpoint signatures, so that a signature over a
/// checkpoint can never be taken for a signature over anything else.
const SIGNING_CONTEXT: &str = "knooppunt-audit checkpoint v1";

/// A signed statement "the record with sequence number `seq` has hash
/// `head_hash`": kept inside the log directory and, printed by
/// `knooppunt audit checkpoint`, outside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Sequence number of the last record covered.
    pub seq: u64,
    /// Hex SHA-256 of that record's line.
    pub head_hash: String,
    /// When the checkpoint was made (RFC 3339, UTC, microseconds).
    pub time: String,
    /// Short id of the public key: the first 16 hex digits of its SHA-256.
    pub key_id: String,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// The Ed25519 signature over the fields above, hex.
    pub signature: String,
}

impl Checkpoint {
    /// Signs a checkpoint for `seq`/`head_hash` at `time`.
    pub fn sign(seq: u64, head_hash: &str, time: DateTime<Utc>, key: &SigningKey) -> Checkpoint {
        let public = key.verifying_key();
        let public_key = hex::encode(public.as_bytes());
        let key_id = key_id(&public);
        let time = format_time(&time);
        let message = signing_message(seq, head_hash, &time, &key_id);
        let signature = hex::encode(key.sign(message.as_bytes()).to_bytes());
        Checkpoint {
            seq,
            head_hash: head_hash.to_owned(),
            time,
            key_id,
            public_key,
            signature,
        }
    }

    /// Whether the signature is valid for the embedded public key and the
    /// key id belongs to that key. Says nothing about whether the key is
    /// trusted; compare [`Checkpoint::public_key`] with a key kept apart.
    pub fn signature_is_valid(&self) -> bool {
        let Some(public) = parse_public_key(&self.public_key) else {
            return false;
        };
        if key_id(&public) != self.key_id {
            return false;
        }
        let Ok(sig_bytes) = hex::decode(&self.signature) else {
            return false;
        };
        let Ok(sig_bytes) = <[u8; 64]>::try_from(sig_bytes.as_slice()) else {
            return false;
        };
        let signature = Signature::from_bytes(&sig_bytes);
        let message = signing_message(self.seq, &self.head_hash, &self.time, &self.key_id);
        public.verify_strict(message.as_bytes(), &signature).is_ok()
    }

    /// The checkpoint as one JSON line (without newline), as stored and as
    /// printed for keeping outside the system.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn signing_message(seq: u64, head_hash: &str, time: &str, key_id: &str) -> String {
    format!("{SIGNING_CONTEXT}\nseq={seq}\nhead={head_hash}\ntime={time}\nkey={key_id}\n")
}

fn key_id(public: &VerifyingKey) -> String {
    let mut id = line_hash(public.as_bytes());
    id.truncate(16);
    id
}

fn parse_public_key(hex_text: &str) -> Option<VerifyingKey> {
    let bytes = hex::decode(hex_text).ok()?;
    let bytes = <[u8; 32]>::try_from(bytes.as_slice()).ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// The public half of a signing key, to be kept apart from the log and
/// handed to `verify` as a trusted key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyInfo {
    /// Short id (first 16 hex digits of the key's SHA-256).
    pub key_id: String,
    /// The Ed25519 public key, hex.
    pub public_key: String,
}

impl PublicKeyInfo {
    fn of(key: &SigningKey) -> Self {
        let public = key.verifying_key();
        PublicKeyInfo {
            key_id: key_id(&public),
            public_key: hex::encode(public.as_bytes()),
        }
    }
}

/// Creates a new Ed25519 signing key in `path` (hex, one line), readable by
/// its owner only (mode 0600). Refuses to overwrite an existing file. Keep
/// the file outside the log directory: opening a log refuses a key inside it.
pub fn generate_signing_key(path: &Path) -> Result<PublicKeyInfo, AuditError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|_| AuditError::KeyFile {
        path: path.to_owned(),
        reason: "the operating system's random number generator failed",
    })?;
    let key = SigningKey::from_bytes(&secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            AuditError::KeyFile {
                path: path.to_owned(),
                reason: "exists already; refusing to overwrite a key",
            }
        } else {
            AuditError::io("create", path)(e)
        }
    })?;
    file.write_all(format!("{}\n", hex::encode(secret)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(AuditError::io("write", path))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(PublicKeyInfo::of(&key))
}

/// Reads the public key of the signing key in `path`.
pub fn public_key_of(path: &Path) -> Result<PublicKeyInfo, AuditError> {
    Ok(PublicKeyInfo::of(&load_signing_key(path)?))
}

/// Loads a signing key, refusing a file that others can read.
pub(crate) fn load_signing_key(path: &Path) -> Result<SigningKey, AuditError> {
    let bad = |reason| AuditError::KeyFile {
        path: path.to_owned(),
        reason,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(AuditError::io("read", path))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(bad(
                "is readable or writable by others than its owner; use mode 0600",
            ));
        }
    }
    let text = std::fs::read_to_string(path).map_err(AuditError::io("read", path))?;
    let bytes = hex::decode(text.trim()).map_err(|_| bad("is not a hex Ed25519 key"))?;
    let secret = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad("is not 32 bytes"))?;
    Ok(SigningKey::from_bytes(&secret))
}

/// Refuses a key file that lies inside the log directory (an attacker who
/// can rewrite the log could then also re-sign it).
pub(crate) fn check_key_outside(key: &Path, dir: &Path) -> Result<(), AuditError> {
    let dir_c = dir.canonicalize().map_err(AuditError::io("open", dir))?;
    let key_c = key.canonicalize().map_err(AuditError::io("read", key))?;
    if key_c.starts_with(&dir_c) {
        return Err(AuditError::KeyInsideLogDir {
            key: key.to_owned(),
            dir: dir.to_owned(),
        });
    }
    Ok(())
}

/// Reads checkpoints, one JSON object per line. A last line without its
/// newline is a torn write and is skipped; any other bad line is an error.
pub fn read_checkpoints(path: &Path) -> Result<Vec<Checkpoint>, AuditError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AuditError::io("read", path)(e)),
    };
    parse_checkpoints(path, &bytes)
}

pub(crate) fn parse_checkpoints(path: &Path, bytes: &[u8]) -> Result<Vec<Checkpoint>, AuditError> {
    let mut out = Vec::new();
    let ends_whole = bytes.ends_with(b"\n");
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let count = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        let last = i + 1 == count;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Checkpoint>(line) {
            Ok(c) => out.push(c),
            Err(_) if last && !ends_whole => break,
            Err(e) => {
                return Err(AuditError::Corrupt {
                    file: path.to_owned(),
                    line: i as u64 + 1,
                    reason: format!("not a checkpoint ({})", json_error_kind(&e)),
                });
            }
        }
    }
    Ok(out)
}

/// A short description of why JSON did not parse, without its content.
pub(crate) fn json_error_kind(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "io error",
        serde_json::error::Category::Syntax => "bad JSON",
        serde_json::error::Category::Data => "wrong fields or types",
        serde_json::error::Category::Eof => "cut short",
    }
}

/// Appends one checkpoint line to `path` and syncs it.
pub(crate) fn append_checkpoint(path: &Path, checkpoint: &Checkpoint) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut line = checkpoint.to_json_line().into_bytes();
    line.push(b'\n');
    file.write_all(&line)?;
    file.sync_data()
}

/// Syncs a directory so that new entries in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(AuditError::io("sync", PathBuf::from(dir)))
}
