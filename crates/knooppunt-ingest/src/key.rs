//! Keyed pseudonyms and record keys.
//!
//! One secret key file feeds two HMAC-SHA-256 keys, separated by domain:
//! - the **pseudonym** of a BSN (128 bits, hex), stable for as long as the
//!   key is, so registrations of one person link without the BSN;
//! - the **record key** of any privacy unit (person, address, company, sale,
//!   report): an integer in `[0, 2^32)` used by cell-key perturbation. It is
//!   derived from the unit's identity, so the same unit gets the same key in
//!   every table and every snapshot.
//!
//! The raw key never leaves this module; [`PseudonymKey::key_id`] is a
//! non-secret fingerprint recorded in the manifest so a key change forces a
//! re-ingest.

use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use knooppunt_core::PrivacyUnit;
use sha2::Sha256;

use crate::IngestError;

type HmacSha256 = Hmac<Sha256>;

/// Minimum number of key bytes accepted from a key file.
pub const MIN_KEY_BYTES: usize = 32;

/// The secret behind pseudonyms and record keys.
#[derive(Clone)]
pub struct PseudonymKey {
    pseudonym: [u8; 32],
    record: [u8; 32],
    key_id: String,
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PseudonymKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail; the fallback
    // keeps the function total without a panic path.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return [0; 32];
    };
    for p in parts {
        mac.update(&(p.len() as u64).to_be_bytes());
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

impl PseudonymKey {
    /// Derives the keys from secret material (at least [`MIN_KEY_BYTES`]).
    pub fn from_secret(secret: &[u8]) -> Result<PseudonymKey, String> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(format!(
                "key material must be at least {MIN_KEY_BYTES} bytes, found {}",
                secret.len()
            ));
        }
        let id = hmac(secret, &[b"knooppunt/key-id/v1"]);
        Ok(PseudonymKey {
            pseudonym: hmac(secret, &[b"knooppunt/pseudonym/v1"]),
            record: hmac(secret, &[b"knooppunt/record-key/v1"]),
            key_id: hex::encode(&id[..8]),
        })
    }

    /// Reads a key file. Surrounding whitespace is ignored, so a file holding
    /// 64 hex characters and a newline works, as does raw binary key material.
    pub fn from_file(path: &Path) -> Result<PseudonymKey, IngestError> {
        let bytes = std::fs::read(path).map_err(|source| IngestError::KeyFile {
            path: path.to_path_buf(),
            reason: source.to_string(),
        })?;
        let trimmed = bytes.trim_ascii();
        PseudonymKey::from_secret(trimmed).map_err(|reason| IngestError::KeyFile {
            path: PathBuf::from(path),
            reason,
        })
    }

    /// Non-secret fingerprint of the key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The pseudonym of a (validated) BSN: 32 hex characters.
    pub fn pseudonym(&self, bsn: &str) -> String {
        let mac = hmac(&self.pseudonym, &[b"bsn", bsn.as_bytes()]);
        hex::encode(&mac[..16])
    }

    /// The record key of a privacy unit, in `[0, 2^32)`.
    pub fn record_key(&self, unit: PrivacyUnit, id: &str) -> i64 {
        let mac = hmac(&self.record, &[unit.name().as_bytes(), id.as_bytes()]);
        i64::from(u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_stable_and_hide_the_bsn() {
        let a = PseudonymKey::from_secret(&[7u8; 32]).unwrap();
        let b = PseudonymKey::from_secret(&[8u8; 32]).unwrap();
        let p = a.pseudonym("999990019");
        assert_eq!(p, a.pseudonym("999990019"));
        assert_ne!(p, b.pseudonym("999990019"));
        assert_ne!(p, a.pseudonym("999990032"));
        assert_eq!(p.len(), 32);
        assert!(!p.contains("999990019"));
        assert!(!format!("{a:?}").contains("0707"));
    }

    #[test]
    fn record_keys_separate_units_and_stay_in_range() {
        let k = PseudonymKey::from_secret(&[1u8; 40]).unwrap();
        let x = k.record_key(PrivacyUnit::Address, "0034010000000001");
        assert_eq!(x, k.record_key(PrivacyUnit::Address, "0034010000000001"));
        assert_ne!(x, k.record_key(PrivacyUnit::Sale, "0034010000000001"));
        for i in 0..1000 {
            let v = k.record_key(PrivacyUnit::Person, &i.to_string());
            assert!((0..1i64 << 32).contains(&v));
        }
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(PseudonymKey::from_secret(b"too short").is_err());
    }
}
