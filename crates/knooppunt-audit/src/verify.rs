use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::checkpoint::{CHECKPOINTS_FILE, Checkpoint, json_error_kind, read_checkpoints};
use crate::record::{AuditRecord, GENESIS_HASH, line_hash};
use crate::segment::{list_segments, split_lines};

/// What `verify` is given besides the log directory.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Checkpoints kept outside the system (a file of checkpoint JSON lines,
    /// as printed by `knooppunt audit checkpoint`). Their public keys become
    /// trusted keys.
    pub external_checkpoints: Option<PathBuf>,
    /// Public keys (hex) that checkpoints must be signed with. When this and
    /// `external_checkpoints` are both empty, a checkpoint only has to carry
    /// a valid signature by its own embedded key, which proves nothing
    /// against someone who rewrote the whole directory.
    pub trusted_keys: Vec<String>,
}

/// Where a record is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Segment file name.
    pub segment: String,
    /// One-based line number in it.
    pub line: u64,
    /// The sequence number the line claims, if it parses.
    pub seq: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.segment, self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        Ok(())
    }
}

/// The kinds of damage `verify` tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A record's bytes were changed: its hash is not what the next record
    /// (or a checkpoint) says, its sequence number was altered, or it does
    /// not parse.
    Edited,
    /// Records are missing: a gap in the sequence numbers.
    Removed,
    /// Records are out of order.
    Reordered,
    /// A record that does not belong in the chain was added.
    Inserted,
    /// Records were cut from the end (a signed checkpoint covers records that
    /// are gone) or a closed segment was cut short.
    Truncated,
    /// A checkpoint's signature does not verify: forged or altered.
    CheckpointSignatureInvalid,
    /// A checkpoint is validly signed, but by a key that is not trusted.
    CheckpointUntrustedKey,
    /// A validly signed checkpoint names a head hash the chain does not have.
    CheckpointMismatch,
    /// A file could not be read at all.
    Unreadable,
}

impl ProblemKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Edited => "edited",
            ProblemKind::Removed => "removed",
            ProblemKind::Reordered => "reordered",
            ProblemKind::Inserted => "inserted",
            ProblemKind::Truncated => "truncated",
            ProblemKind::CheckpointSignatureInvalid => "checkpoint_signature_invalid",
            ProblemKind::CheckpointUntrustedKey => "checkpoint_untrusted_key",
            ProblemKind::CheckpointMismatch => "checkpoint_mismatch",
            ProblemKind::Unreadable => "unreadable",
        }
    }
}

/// One finding of `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// The record concerned, where there is one.
    pub location: Option<Location>,
    /// The checkpoint concerned (its sequence number), for checkpoint findings.
    pub checkpoint_seq: Option<u64>,
    /// A sentence for people (never a record's content).
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.as_str())?;
        if let Some(location) = &self.location {
            write!(f, " at {location}")?;
        }
        if let Some(seq) = self.checkpoint_seq {
            write!(f, " [checkpoint seq {seq}]")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// The outcome of `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The log directory.
    pub dir: PathBuf,
    /// Segment files read.
    pub segments: usize,
    /// Whole records read (including any after the first problem).
    pub records: u64,
    /// Records verified in order from the start before the first chain
    /// problem.
    pub verified_records: u64,
    /// Sequence number and hash of the last verified record.
    pub head_seq: u64,
    /// Hash of the last verified record ([`GENESIS_HASH`] if none).
    pub head_hash: String,
    /// Checkpoints (internal and external) whose signature and head matched.
    pub checkpoints_ok: usize,
    /// A torn last line (no newline, or not parseable) at the very end of the
    /// last segment: what a crash leaves; not counted as tampering. Opening
    /// the log moves it aside.
    pub torn_tail: Option<Location>,
    /// Torn tails moved aside by earlier opens (`torn-*.bin`), for the record.
    pub moved_aside: Vec<String>,
    /// What is wrong; the first chain problem comes first.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// All is well: no problem and no torn tail. The CLI exits 0 only then.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.torn_tail.is_none()
    }

    /// Whether any damage other than a torn tail was found.
    pub fn tampered(&self) -> bool {
        !self.problems.is_empty()
    }

    /// The first problem, which names the first bad record.
    pub fn first_problem(&self) -> Option<&Problem> {
        self.problems.first()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "audit log {}: {} segment(s), {} record(s), {} verified in chain, head seq {} hash {}",
            self.dir.display(),
            self.segments,
            self.records,
            self.verified_records,
            self.head_seq,
            self.head_hash
        )?;
        writeln!(f, "checkpoints verified: {}", self.checkpoints_ok)?;
        for name in &self.moved_aside {
            writeln!(f, "earlier torn tail moved aside: {name}")?;
        }
        if let Some(torn) = &self.torn_tail {
            writeln!(
                f,
                "TORN TAIL at {torn}: a record cut short by a crash (not tampering); opening the log moves it aside"
            )?;
        }
        for problem in &self.problems {
            writeln!(f, "PROBLEM {problem}")?;
        }
        if self.is_ok() {
            writeln!(f, "OK")?;
        } else if self.tampered() {
            writeln!(f, "FAILED")?;
        } else {
            writeln!(f, "INCOMPLETE (torn tail only)")?;
        }
        Ok(())
    }
}

/// Verifies the log in `dir`, with optionally a file of checkpoints kept
/// outside the system (whose keys are then the trusted ones).
pub fn verify(dir: &Path, external_checkpoints: Option<&Path>) -> VerifyReport {
    verify_with(
        dir,
        &VerifyOptions {
            external_checkpoints: external_checkpoints.map(Path::to_owned),
            trusted_keys: Vec::new(),
        },
    )
}

/// One record as far as the chain is concerned.
struct Link {
    seq: u64,
    prev_hash: String,
    hash: String,
    location: Location,
}

/// Verifies the log in `dir` with explicit options.
pub fn verify_with(dir: &Path, options: &VerifyOptions) -> VerifyReport {
    let mut report = VerifyReport {
        dir: dir.to_owned(),
        segments: 0,
        records: 0,
        verified_records: 0,
        head_seq: 0,
        head_hash: GENESIS_HASH.to_owned(),
        checkpoints_ok: 0,
        torn_tail: None,
        moved_aside: Vec::new(),
        problems: Vec::new(),
    };
    let unreadable = |path: &Path, detail: String| Problem {
        kind: ProblemKind::Unreadable,
        location: None,
        checkpoint_seq: None,
        detail: format!("{}: {detail}", path.display()),
    };
    let segments = match list_segments(dir) {
        Ok(s) => s,
        Err(e) => {
            report.problems.push(unreadable(dir, e.to_string()));
            return report;
        }
    };
    report.segments = segments.len();
    report.moved_aside = moved_aside(dir);

    // Read every segment into links; a line that cannot be a record stops
    // the scan (unless it is the torn tail).
    let mut links = Vec::new();
    let mut scan_problem = None;
    'segments: for (index, (_, path)) in segments.iter().enumerate() {
        let last_segment = index + 1 == segments.len();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                scan_problem = Some(unreadable(path, e.to_string()));
                break;
            }
        };
        let lines = split_lines(&bytes);
        let count = lines.len();
        for (i, line) in lines.into_iter().enumerate() {
            let last_line = i + 1 == count;
            let parsed = serde_json::from_slice::<AuditRecord>(line.bytes);
            let location = Location {
                segment: name.clone(),
                line: line.line_no,
                seq: parsed.as_ref().ok().map(|r| r.seq),
            };
            if last_segment && last_line && (!line.has_newline || parsed.is_err()) {
                report.torn_tail = Some(location);
                break 'segments;
            }
            if !line.has_newline {
                scan_problem = Some(Problem {
                    kind: ProblemKind::Truncated,
                    location: Some(location),
                    checkpoint_seq: None,
                    detail: "a closed segment ends in a partial line".to_owned(),
                });
                break 'segments;
            }
            match parsed {
                Ok(record) => links.push(Link {
                    seq: record.seq,
                    prev_hash: record.prev_hash,
                    hash: line_hash(line.bytes),
                    location,
                }),
                Err(e) => {
                    scan_problem = Some(Problem {
                        kind: ProblemKind::Edited,
                        location: Some(location),
                        checkpoint_seq: None,
                        detail: format!(
                            "the line is not a valid audit record ({})",
                            json_error_kind(&e)
                        ),
                    });
                    break 'segments;
                }
            }
        }
    }
    report.records = links.len() as u64;

    let (verified, chain_problem) = check_chain(&links);
    report.verified_records = verified as u64;
    if let Some(last) = verified.checked_sub(1).map(|i| &links[i]) {
        report.head_seq = last.seq;
        report.head_hash = last.hash.clone();
    }
    // A problem in the chain before the unreadable line is the first one.
    match (chain_problem, scan_problem) {
        (Some(c), Some(s)) => report.problems.extend([c, s]),
        (Some(c), None) => report.problems.push(c),
        (None, Some(s)) => report.problems.push(s),
        (None, None) => {}
    }

    check_checkpoints(dir, options, &links, &mut report);
    report
}

fn moved_aside(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.starts_with("torn-") && n.ends_with(".bin"))
        .collect();
    names.sort();
    names
}

/// Walks the chain and classifies the first break. Returns how many links
/// from the start are good and the problem, if any.
fn check_chain(links: &[Link]) -> (usize, Option<Problem>) {
    let mut expected = 1u64;
    let mut prev_hash = GENESIS_HASH;
    for (i, link) in links.iter().enumerate() {
        if link.seq == expected && link.prev_hash == prev_hash {
            expected += 1;
            prev_hash = &link.hash;
            continue;
        }
        let problem = |kind, at: &Link, detail: String| Problem {
            kind,
            location: Some(at.location.clone()),
            checkpoint_seq: None,
            detail,
        };
        let next = links.get(i + 1);
        let next_fits = next.is_some_and(|n| n.seq == expected && n.prev_hash == prev_hash);
        // A record out of its place whose predecessor comes later in the
        // files was moved, not made up or left over after a removal.
        let belongs_later =
            link.seq != expected && links[i + 1..].iter().any(|l| l.hash == link.prev_hash);
        let found = if belongs_later {
            problem(
                ProblemKind::Reordered,
                link,
                format!(
                    "seq {} stands where seq {expected} belongs; it belongs further on",
                    link.seq
                ),
            )
        } else if next_fits {
            // The chain continues after this line as if it were not there.
            problem(
                ProblemKind::Inserted,
                link,
                format!(
                    "the record does not belong between seq {} and the next record, which links past it",
                    expected - 1
                ),
            )
        } else if link.seq == expected {
            match i.checked_sub(1).map(|p| &links[p]) {
                None => problem(
                    ProblemKind::Edited,
                    link,
                    "the first record does not start from the genesis hash".to_owned(),
                ),
                Some(previous) => problem(
                    ProblemKind::Edited,
                    previous,
                    format!(
                        "its hash does not match the prev_hash that seq {} records for it",
                        link.seq
                    ),
                ),
            }
        } else if link.prev_hash == prev_hash {
            problem(
                ProblemKind::Edited,
                link,
                format!(
                    "it links to seq {} but claims seq {} instead of {expected}",
                    expected - 1,
                    link.seq
                ),
            )
        } else if link.seq > expected {
            if links[i + 1..].iter().any(|l| l.seq == expected) {
                problem(
                    ProblemKind::Reordered,
                    link,
                    format!(
                        "seq {} stands where seq {expected} belongs; seq {expected} comes later",
                        link.seq
                    ),
                )
            } else {
                let missing = if link.seq - 1 == expected {
                    format!("seq {expected} is missing")
                } else {
                    format!("seq {expected}..={} are missing", link.seq - 1)
                };
                problem(
                    ProblemKind::Removed,
                    link,
                    format!("{missing} before this record"),
                )
            }
        } else {
            let twin = links[..i].iter().rposition(|l| l.seq == link.seq);
            match twin {
                Some(j) if links[j].prev_hash == link.prev_hash => {
                    // Two records claim the same place; the genuine one is the
                    // one the rest of the chain links to.
                    let chain_follows_this = next.is_some_and(|n| n.prev_hash == link.hash);
                    let (inserted, other) = if chain_follows_this {
                        (&links[j], link)
                    } else {
                        (link, &links[j])
                    };
                    problem(
                        ProblemKind::Inserted,
                        inserted,
                        format!(
                            "it duplicates seq {} (also at {}) and the chain does not continue from it",
                            link.seq, other.location
                        ),
                    )
                }
                _ => problem(
                    ProblemKind::Reordered,
                    link,
                    format!("seq {} comes after seq {}", link.seq, expected - 1),
                ),
            }
        };
        let good = match found.kind {
            ProblemKind::Edited if link.seq == expected && i > 0 => i - 1,
            ProblemKind::Inserted => found
                .location
                .as_ref()
                .and_then(|loc| links.iter().position(|l| &l.location == loc))
                .unwrap_or(i),
            _ => i,
        };
        return (good, Some(found));
    }
    (links.len(), None)
}

fn check_checkpoints(
    dir: &Path,
    options: &VerifyOptions,
    links: &[Link],
    report: &mut VerifyReport,
) {
    let mut all: Vec<(String, Checkpoint)> = Vec::new();
    let internal = dir.join(CHECKPOINTS_FILE);
    match read_checkpoints(&internal) {
        Ok(cps) => all.extend(cps.into_iter().map(|c| (CHECKPOINTS_FILE.to_owned(), c))),
        Err(e) => report.problems.push(Problem {
            kind: ProblemKind::CheckpointSignatureInvalid,
            location: None,
            checkpoint_seq: None,
            detail: format!("the checkpoint file cannot be read as checkpoints: {e}"),
        }),
    }
    let mut trusted: BTreeSet<String> = options
        .trusted_keys
        .iter()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    if let Some(external) = &options.external_checkpoints {
        let label = external.display().to_string();
        match std::fs::read(external) {
            Ok(bytes) => match crate::checkpoint::parse_checkpoints(external, &bytes) {
                Ok(cps) => {
                    for c in cps {
                        if c.signature_is_valid() {
                            trusted.insert(c.public_key.to_ascii_lowercase());
                        }
                        all.push((label.clone(), c));
                    }
                }
                Err(e) => report.problems.push(Problem {
                    kind: ProblemKind::Unreadable,
                    location: None,
                    checkpoint_seq: None,
                    detail: e.to_string(),
                }),
            },
            Err(e) => report.problems.push(Problem {
                kind: ProblemKind::Unreadable,
                location: None,
                checkpoint_seq: None,
                detail: format!("{label}: {e}"),
            }),
        }
    }

    let mut by_seq: HashMap<u64, &Link> = HashMap::with_capacity(links.len());
    for link in links {
        by_seq.entry(link.seq).or_insert(link);
    }
    let last_seq = links.iter().map(|l| l.seq).max().unwrap_or(0);
    for (source, c) in all {
        let problem = |kind, location: Option<Location>, detail: String| Problem {
            kind,
            location,
            checkpoint_seq: Some(c.seq),
            detail: format!("{source}: {detail}"),
        };
        if !c.signature_is_valid() {
            report.problems.push(problem(
                ProblemKind::CheckpointSignatureInvalid,
                None,
                format!(
                    "the signature by key {} does not verify: forged or altered",
                    c.key_id
                ),
            ));
            continue;
        }
        if !trusted.is_empty() && !trusted.contains(&c.public_key.to_ascii_lowercase()) {
            report.problems.push(problem(
                ProblemKind::CheckpointUntrustedKey,
                None,
                format!("signed by key {}, which is not a trusted key", c.key_id),
            ));
            continue;
        }
        if c.seq == 0 {
            if c.head_hash == GENESIS_HASH {
                report.checkpoints_ok += 1;
            } else {
                report.problems.push(problem(
                    ProblemKind::CheckpointMismatch,
                    None,
                    "a checkpoint of the empty log must name the genesis hash".to_owned(),
                ));
            }
            continue;
        }
        match by_seq.get(&c.seq) {
            Some(link) if link.hash == c.head_hash => report.checkpoints_ok += 1,
            Some(link) => report.problems.push(problem(
                ProblemKind::CheckpointMismatch,
                Some(link.location.clone()),
                "the signed head hash differs from this record's hash: the record (or one before it) was altered".to_owned(),
            )),
            None if c.seq > last_seq => report.problems.push(problem(
                ProblemKind::Truncated,
                None,
                format!("the checkpoint covers seq {} but the log ends at seq {last_seq}", c.seq),
            )),
            None => report.problems.push(problem(
                ProblemKind::Removed,
                None,
                format!("the checkpointed record seq {} is not in the log", c.seq),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A genuine chain of `n` links; link `i` (seq i+1) has hash `h{i+1}`.
    fn chain(n: u64) -> Vec<Link> {
        (1..=n)
            .map(|seq| Link {
                seq,
                prev_hash: if seq == 1 {
                    GENESIS_HASH.to_owned()
                } else {
                    format!("h{}", seq - 1)
                },
                hash: format!("h{seq}"),
                location: Location {
                    segment: "s".to_owned(),
                    line: seq,
                    seq: Some(seq),
                },
            })
            .collect()
    }

    fn relocate(links: &mut [Link]) {
        for (i, l) in links.iter_mut().enumerate() {
            l.location.line = i as u64 + 1;
        }
    }

    fn first(links: &mut [Link]) -> (ProblemKind, Option<u64>) {
        relocate(links);
        let (_, problem) = check_chain(links);
        let p = problem.expect("a problem");
        (p.kind, p.location.and_then(|l| l.seq))
    }

    #[test]
    fn classifies_each_kind_of_damage() {
        assert!(check_chain(&chain(6)).1.is_none());

        let mut c = chain(6);
        c[2].hash = "edited".to_owned();
        assert_eq!(first(&mut c), (ProblemKind::Edited, Some(3)));

        let mut c = chain(6);
        c.remove(0);
        assert_eq!(first(&mut c), (ProblemKind::Removed, Some(2)));

        let mut c = chain(6);
        c.drain(2..4);
        assert_eq!(first(&mut c), (ProblemKind::Removed, Some(5)));

        let mut c = chain(6);
        c.swap(4, 5);
        assert_eq!(
            first(&mut c),
            (ProblemKind::Reordered, Some(6)),
            "last two swapped"
        );

        let mut c = chain(6);
        c.swap(1, 4);
        assert_eq!(
            first(&mut c),
            (ProblemKind::Reordered, Some(5)),
            "non-adjacent swap"
        );

        let mut c = chain(6);
        let mut dup = Link {
            hash: "forged".to_owned(),
            ..chain(6).remove(2)
        };
        dup.location.seq = Some(3);
        c.push(dup);
        assert_eq!(
            first(&mut c),
            (ProblemKind::Inserted, Some(3)),
            "duplicate appended at the end"
        );

        let mut c = chain(6);
        let forged = Link {
            seq: 7,
            prev_hash: "h3".to_owned(),
            hash: "forged".to_owned(),
            ..chain(6).remove(0)
        };
        c.insert(3, forged);
        let (kind, _) = first(&mut c);
        assert_eq!(
            kind,
            ProblemKind::Inserted,
            "a made-up record linking to seq 3"
        );
    }
}
