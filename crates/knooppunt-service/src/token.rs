//! Bearer tokens: 32 random bytes, shown once; only their SHA-256 hash is
//! stored, in a JSON file written atomically (temporary file, fsync,
//! rename).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ServiceError;

/// Prefix of every token, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "kp_";

/// The roles of PRIVACY.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads released indicators and signals within its scope.
    Dashboard,
    /// Reads released tables (and, later, SQL through the privacy gate).
    Analyst,
    /// Reads and verifies the audit log; never indicator data.
    PrivacyOfficer,
    /// Manages tokens and policy.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Role::Dashboard,
        Role::Analyst,
        Role::PrivacyOfficer,
        Role::Admin,
    ];

    /// The name used in tokens, audit records and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Dashboard => "dashboard",
            Role::Analyst => "analyst",
            Role::PrivacyOfficer => "privacy_officer",
            Role::Admin => "admin",
        }
    }

    /// Parses a role name.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored token: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    /// Public id (recorded in the audit log).
    pub id: String,
    /// What the token is for, for people.
    pub name: String,
    /// The natural person behind the token (analysts: whose privacy budget
    /// it spends; several tokens may share one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Its one role.
    pub role: Role,
    /// Gemeentecodes whose cells it may see.
    pub scope: Vec<String>,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked: Option<DateTime<Utc>>,
    /// SHA-256 of the token text, hex.
    pub sha256: String,
}

impl TokenRecord {
    /// Whether the token works at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked.is_none() && self.expires.is_none_or(|e| now < e)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    format: u32,
    tokens: Vec<TokenRecord>,
}

/// The token file.
#[derive(Debug, Clone)]
pub struct TokenStore {
    path: PathBuf,
    tokens: Vec<TokenRecord>,
}

/// SHA-256 of a token text.
fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl TokenStore {
    /// Opens the token file at `path`; a missing file is an empty store.
    pub fn load(path: impl Into<PathBuf>) -> Result<TokenStore, ServiceError> {
        let path = path.into();
        let tokens = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: TokenFile = serde_json::from_slice(&bytes).map_err(|e| {
                    ServiceError::Config(format!(
                        "token file {}: line {} column {}: {e}",
                        path.display(),
                        e.line(),
                        e.column()
                    ))
                })?;
                file.tokens
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(ServiceError::Config(format!(
                    "reading token file {}: {e}",
                    path.display()
                )));
            }
        };
        Ok(TokenStore { path, tokens })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every token, without secrets.
    pub fn list(&self) -> &[TokenRecord] {
        &self.tokens
    }

    /// Creates a token and saves the store; returns its record and the
    /// token text, which is not stored and cannot be shown again.
    pub fn create(
        &mut self,
        name: &str,
        role: Role,
        scope: Vec<String>,
        expires: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(TokenRecord, String), ServiceError> {
        for code in &scope {
            let ok = code.len() == 6
                && code.starts_with("GM")
                && code[2..].bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return Err(ServiceError::Config(format!(
                    "scope: {code:?} is not a gemeentecode (GM followed by 4 digits)"
                )));
            }
        }
        if scope.is_empty() {
            return Err(ServiceError::Config(
                "scope: name at least one gemeentecode".to_string(),
            ));
        }
        let mut secret = [0u8; 32];
        let mut id = [0u8; 8];
        getrandom::fill(&mut secret)
            .and_then(|()| getrandom::fill(&mut id))
            .map_err(|e| ServiceError::Config(format!("no system randomness: {e}")))?;
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
        let record = TokenRecord {
            id: hex::encode(id),
            name: name.to_string(),
            subject: None,
            role,
            scope,
            created: now,
            expires,
            revoked: None,
            sha256: hex::encode(digest(&token)),
        };
        self.tokens.push(record.clone());
        self.save()?;
        Ok((record, token))
    }

    /// Sets the person behind the token `id` and saves the store; false
    /// when there is no such token.
    pub fn set_subject(&mut self, id: &str, subject: &str) -> Result<bool, ServiceError> {
        let subject = subject.trim();
        if subject.is_empty() {
            return Err(ServiceError::Config("subject: name a person".to_string()));
        }
        let Some(record) = self.tokens.iter_mut().find(|t| t.id == id) else {
            return Ok(false);
        };
        record.subject = Some(subject.to_string());
        self.save()?;
        Ok(true)
    }

    /// Revokes the token `id` and saves the store; false when there is no
    /// such token.
    pub fn revoke(&mut self, id: &str, now: DateTime<Utc>) -> Result<bool, ServiceError> {
        let Some(record) = self.tokens.iter_mut().find(|t| t.id == id) else {
            return Ok(false);
        };
        if record.revoked.is_none() {
            record.revoked = Some(now);
        }
        self.save()?;
        Ok(true)
    }

    /// The active token whose hash matches `presented`. Every stored hash
    /// is compared, in constant time, whatever matches.
    pub fn authenticate(&self, presented: &str, now: DateTime<Utc>) -> Option<&TokenRecord> {
        let hash = hex::encode(digest(presented));
        let mut found = None;
        for record in &self.tokens {
            if constant_time_eq(record.sha256.as_bytes(), hash.as_bytes()) {
                found = Some(record);
            }
        }
        found.filter(|r| r.is_active(now))
    }

    /// Writes the store: a temporary file in the same directory, synced,
    /// renamed over the old one, and the directory synced.
    pub fn save(&self) -> Result<(), ServiceError> {
        let io = |what: &str, e: std::io::Error| {
            ServiceError::Config(format!("{what} {}: {e}", self.path.display()))
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| io("creating the directory of", e))?;
        let file = TokenFile {
            format: 1,
            tokens: self.tokens.clone(),
        };
        let mut text = serde_json::to_string_pretty(&file)
            .map_err(|e| ServiceError::Config(format!("encoding tokens: {e}")))?;
        text.push('\n');
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            self.path
                .file_name()
                .map_or_else(|| "tokens".into(), |n| n.to_string_lossy()),
            std::process::id()
        ));
        crate::durable::replace(&dir, &tmp, &self.path, text.as_bytes(), true)
            .map_err(|(op, e)| io(op, e))
    }
}

/// Parses a lifetime such as `90d`, `12h` or `30m`.
pub fn parse_lifetime(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    let split = text.len().saturating_sub(1);
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits
        .parse()
        .map_err(|_| "expected a lifetime such as 90d, 12h or 30m".to_string())?;
    if n <= 0 {
        return Err("the lifetime must be positive".into());
    }
    let d = match unit {
        "d" => chrono::Duration::try_days(n),
        "h" => chrono::Duration::try_hours(n),
        "m" => chrono::Duration::try_minutes(n),
        _ => return Err("expected a lifetime such as 90d, 12h or 30m".into()),
    };
    d.ok_or_else(|| "lifetime too long".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_as_hashes_and_verified() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.json");
        let now = Utc::now();
        let mut store = TokenStore::load(&path).expect("load");
        let (record, token) = store
            .create("d", Role::Dashboard, vec!["GM0034".into()], None, now)
            .expect("create");
        assert!(token.starts_with(TOKEN_PREFIX));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&token[TOKEN_PREFIX.len()..]));
        let store = TokenStore::load(&path).expect("reload");
        assert_eq!(
            store.authenticate(&token, now).map(|r| r.id.clone()),
            Some(record.id.clone())
        );
        assert!(store.authenticate("kp_00", now).is_none());
        let mut store = store;
        assert!(store.revoke(&record.id, now).expect("revoke"));
        assert!(store.authenticate(&token, now).is_none());
        assert!(!store.revoke("nope", now).expect("revoke"));
    }

    #[test]
    fn expired_tokens_fail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = Utc::now();
        let mut store = TokenStore::load(dir.path().join("t.json")).expect("load");
        let (_, token) = store
            .create(
                "a",
                Role::Analyst,
                vec!["GM0034".into()],
                Some(now + chrono::Duration::hours(1)),
                now,
            )
            .expect("create");
        assert!(store.authenticate(&token, now).is_some());
        assert!(
            store
                .authenticate(&token, now + chrono::Duration::hours(2))
                .is_none()
        );
    }

    #[test]
    fn scope_and_lifetime_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = TokenStore::load(dir.path().join("t.json")).expect("load");
        assert!(
            store
                .create("x", Role::Admin, vec!["0034".into()], None, Utc::now())
                .is_err()
        );
        assert_eq!(parse_lifetime("90d"), Ok(chrono::Duration::days(90)));
        assert!(parse_lifetime("0d").is_err());
        assert!(parse_lifetime("5y").is_err());
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
