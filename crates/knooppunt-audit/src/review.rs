use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;

use crate::record::{AuditRecord, RecordKind};

/// Thresholds of the review aids.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewConfig {
    /// An actor's hour with more data requests than this is flagged.
    pub max_requests_per_hour: u64,
    /// At most this many distinct queries per actor are compared pairwise
    /// (the comparison is quadratic); the most recent ones are kept.
    pub max_pair_candidates: usize,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            max_requests_per_hour: 60,
            max_pair_candidates: 2000,
        }
    }
}

/// Queries by one actor that are the same query: the same plan
/// fingerprint, or the same SQL after normalisation (case, spacing,
/// comments). Repeating a query is how noise is averaged away.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearDuplicate {
    /// The actor.
    pub actor: String,
    /// `plan_fingerprint` or `normalised_sql`.
    pub matched_on: &'static str,
    /// The fingerprint or the normalised SQL.
    pub key: String,
    /// Sequence numbers of the records.
    pub seqs: Vec<u64>,
    /// How many different raw SQL texts the group has (re-wordings).
    pub distinct_texts: usize,
}

/// How two queries differ in one narrow condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NarrowDifference {
    /// One literal differs (`leeftijd > 30` against `leeftijd > 31`).
    Literal,
    /// One comparison operator differs (`>` against `>=`).
    Comparison,
    /// One query has one extra predicate (`AND x = 5`).
    ExtraCondition,
}

/// Two queries by one actor that differ by one narrow condition: together
/// they may single out the units in the difference (differencing attack).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NarrowPair {
    /// The actor.
    pub actor: String,
    /// The earlier query's sequence number.
    pub first_seq: u64,
    /// The later query's sequence number.
    pub second_seq: u64,
    /// What differs.
    pub difference: NarrowDifference,
    /// The differing tokens, `left` against `right` (SQL text, not results).
    pub detail: String,
}

/// Data requests of one actor in one clock hour above the threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusyHour {
    /// The actor.
    pub actor: String,
    /// The start of the hour (UTC).
    #[serde(serialize_with = "crate::record::rfc3339::serialize")]
    pub hour: DateTime<Utc>,
    /// Requests in it.
    pub requests: u64,
}

/// Request rate of one actor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActorRate {
    /// The actor.
    pub actor: String,
    /// All data requests (queries and releases).
    pub requests: u64,
    /// Hours with at least one request.
    pub active_hours: u64,
    /// The most requests in one hour.
    pub max_per_hour: u64,
}

/// Privacy budget spent by one actor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetBurn {
    /// The actor.
    pub actor: String,
    /// Requests that charged budget.
    pub charged_requests: u64,
    /// Sum of the budget charged.
    pub total_charged: f64,
    /// Budget left according to the actor's latest record that states it.
    pub last_left: Option<f64>,
    /// Requests refused (any rule).
    pub refused: u64,
}

/// Review aids over a set of records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    /// Records looked at.
    pub records: u64,
    /// The thresholds used.
    pub config: ReviewConfig,
    /// Repeated queries.
    pub near_duplicates: Vec<NearDuplicate>,
    /// Pairs differing by one narrow condition.
    pub narrow_pairs: Vec<NarrowPair>,
    /// Request rate per actor.
    pub rates: Vec<ActorRate>,
    /// Hours above the threshold.
    pub busy_hours: Vec<BusyHour>,
    /// Budget burn per actor.
    pub budget: Vec<BudgetBurn>,
}

impl PartialEq for ReviewConfig {
    fn eq(&self, other: &Self) -> bool {
        self.max_requests_per_hour == other.max_requests_per_hour
            && self.max_pair_candidates == other.max_pair_candidates
    }
}

/// Computes the review aids over `records` (typically the whole log).
pub fn review(records: &[AuditRecord], config: &ReviewConfig) -> Review {
    let data: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| matches!(r.kind, RecordKind::Query | RecordKind::Release))
        .collect();
    Review {
        records: records.len() as u64,
        config: config.clone(),
        near_duplicates: near_duplicates(&data),
        narrow_pairs: narrow_pairs(&data, config.max_pair_candidates),
        rates: Vec::new(),
        busy_hours: Vec::new(),
        budget: budget_burn(&data),
    }
    .with_rates(&data, config.max_requests_per_hour)
}

impl Review {
    fn with_rates(mut self, data: &[&AuditRecord], threshold: u64) -> Self {
        let mut per_hour: BTreeMap<(String, DateTime<Utc>), u64> = BTreeMap::new();
        for r in data {
            let hour = r.time.duration_trunc(TimeDelta::hours(1)).unwrap_or(r.time);
            *per_hour.entry((r.actor.to_string(), hour)).or_default() += 1;
        }
        let mut rates: BTreeMap<String, ActorRate> = BTreeMap::new();
        for ((actor, hour), count) in per_hour {
            let rate = rates.entry(actor.clone()).or_insert_with(|| ActorRate {
                actor: actor.clone(),
                requests: 0,
                active_hours: 0,
                max_per_hour: 0,
            });
            rate.requests += count;
            rate.active_hours += 1;
            rate.max_per_hour = rate.max_per_hour.max(count);
            if count > threshold {
                self.busy_hours.push(BusyHour {
                    actor,
                    hour,
                    requests: count,
                });
            }
        }
        self.rates = rates.into_values().collect();
        self
    }
}

fn near_duplicates(data: &[&AuditRecord]) -> Vec<NearDuplicate> {
    type Group<'a> = (&'static str, Vec<&'a AuditRecord>);
    let mut groups: BTreeMap<(String, String), Group<'_>> = BTreeMap::new();
    for r in data {
        let (matched_on, key) = match (&r.plan_fingerprint, &r.sql) {
            (Some(fp), _) => ("plan_fingerprint", fp.clone()),
            (None, Some(sql)) => ("normalised_sql", normalise_sql(sql)),
            (None, None) => continue,
        };
        groups
            .entry((r.actor.to_string(), key))
            .or_insert_with(|| (matched_on, Vec::new()))
            .1
            .push(r);
    }
    groups
        .into_iter()
        .filter(|(_, (_, members))| members.len() > 1)
        .map(|((actor, key), (matched_on, members))| {
            let mut texts: Vec<&str> = members.iter().filter_map(|r| r.sql.as_deref()).collect();
            texts.sort_unstable();
            texts.dedup();
            NearDuplicate {
                actor,
                matched_on,
                key,
                seqs: members.iter().map(|r| r.seq).collect(),
                distinct_texts: texts.len(),
            }
        })
        .collect()
}

fn narrow_pairs(data: &[&AuditRecord], limit: usize) -> Vec<NarrowPair> {
    // Distinct normalised queries per actor, each with its first record.
    let mut per_actor: BTreeMap<String, Vec<(u64, Vec<Token>)>> = BTreeMap::new();
    let mut seen: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
    for r in data {
        let Some(sql) = &r.sql else { continue };
        let tokens = tokenize(sql);
        let actor = r.actor.to_string();
        if seen.insert((actor.clone(), render(&tokens))) {
            per_actor.entry(actor).or_default().push((r.seq, tokens));
        }
    }
    let mut out = Vec::new();
    for (actor, mut queries) in per_actor {
        if queries.len() > limit {
            queries.drain(..queries.len() - limit);
        }
        for i in 0..queries.len() {
            for j in i + 1..queries.len() {
                if let Some((difference, detail)) = narrow_difference(&queries[i].1, &queries[j].1)
                {
                    out.push(NarrowPair {
                        actor: actor.clone(),
                        first_seq: queries[i].0,
                        second_seq: queries[j].0,
                        difference,
                        detail,
                    });
                }
            }
        }
    }
    out
}

fn budget_burn(data: &[&AuditRecord]) -> Vec<BudgetBurn> {
    let mut per_actor: BTreeMap<String, BudgetBurn> = BTreeMap::new();
    for r in data {
        let actor = r.actor.to_string();
        let burn = per_actor
            .entry(actor.clone())
            .or_insert_with(|| BudgetBurn {
                actor,
                charged_requests: 0,
                total_charged: 0.0,
                last_left: None,
                refused: 0,
            });
        if let Some(charged) = r.budget_charged {
            burn.charged_requests += 1;
            burn.total_charged += charged;
        }
        if r.budget_left.is_some() {
            burn.last_left = r.budget_left;
        }
        if r.outcome.rule().is_some() {
            burn.refused += 1;
        }
    }
    per_actor
        .into_values()
        .filter(|b| b.charged_requests > 0 || b.refused > 0)
        .collect()
}

/// A token of SQL text, for comparing queries.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Keyword or identifier, lower-cased (quoted identifiers keep case).
    Word(String),
    /// Numeric literal.
    Number(String),
    /// String literal (content).
    Str(String),
    /// Comparison operator.
    Cmp(String),
    /// Any other punctuation.
    Punct(String),
}

impl Token {
    fn is_literal(&self) -> bool {
        matches!(self, Token::Number(_) | Token::Str(_))
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) | Token::Number(w) | Token::Cmp(w) | Token::Punct(w) => f.write_str(w),
            Token::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
        }
    }
}

fn tokenize(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c == '\'' || c == '"' {
            let mut text = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == c {
                    if chars.get(i + 1) == Some(&c) {
                        text.push(c);
                        i += 2;
                        continue;
                    }
                    break;
                }
                text.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(if c == '\'' {
                Token::Str(text)
            } else {
                Token::Word(text)
            });
        } else if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Token::Number(chars[start..i].iter().collect()));
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            out.push(Token::Word(
                chars[start..i].iter().collect::<String>().to_lowercase(),
            ));
        } else {
            let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
            if matches!(two.as_str(), "<=" | ">=" | "<>" | "!=") {
                out.push(Token::Cmp(if two == "!=" { "<>".to_owned() } else { two }));
                i += 2;
            } else if matches!(c, '<' | '>' | '=') {
                out.push(Token::Cmp(c.to_string()));
                i += 1;
            } else {
                out.push(Token::Punct(c.to_string()));
                i += 1;
            }
        }
    }
    // A trailing semicolon changes nothing.
    if out.last() == Some(&Token::Punct(";".to_owned())) {
        out.pop();
    }
    out
}

fn render(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// SQL with case of keywords and identifiers, spacing, comments and a
/// trailing semicolon normalised away; literals are kept.
pub fn normalise_sql(sql: &str) -> String {
    render(&tokenize(sql))
}

fn narrow_difference(a: &[Token], b: &[Token]) -> Option<(NarrowDifference, String)> {
    if a == b {
        return None;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let max_suffix = a.len().min(b.len()) - prefix;
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    let da = &a[prefix..a.len() - suffix];
    let db = &b[prefix..b.len() - suffix];
    let detail = || format!("{} | {}", render(da), render(db));
    match (da, db) {
        ([x], [y]) if x.is_literal() && y.is_literal() => {
            Some((NarrowDifference::Literal, detail()))
        }
        ([Token::Cmp(_)], [Token::Cmp(_)]) => Some((NarrowDifference::Comparison, detail())),
        ([], extra) | (extra, []) if is_single_predicate(extra) => {
            Some((NarrowDifference::ExtraCondition, detail()))
        }
        _ => None,
    }
}

/// `AND col op literal`, `col op literal AND`, or the same with OR.
fn is_single_predicate(tokens: &[Token]) -> bool {
    let conj = |t: &Token| matches!(t, Token::Word(w) if w == "and" || w == "or");
    let pred = |t: &[Token]| {
        matches!(t, [Token::Word(_), Token::Cmp(_), lit] if lit.is_literal())
            || matches!(t, [lit, Token::Cmp(_), Token::Word(_)] if lit.is_literal())
    };
    match tokens {
        [first, rest @ ..] if conj(first) => pred(rest),
        [rest @ .., last] if conj(last) => pred(rest),
        _ => false,
    }
}

impl fmt::Display for Review {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Audit review of {} record(s)", self.records)?;
        writeln!(
            f,
            "\nNear-duplicate queries (same plan or same normalised SQL): {}",
            self.near_duplicates.len()
        )?;
        for d in &self.near_duplicates {
            writeln!(
                f,
                "  {} ran {} times ({} wording(s)), on {}: seqs {:?}\n    {}",
                d.actor,
                d.seqs.len(),
                d.distinct_texts,
                d.matched_on,
                d.seqs,
                d.key
            )?;
        }
        writeln!(
            f,
            "\nQuery pairs differing by one narrow condition: {}",
            self.narrow_pairs.len()
        )?;
        for p in &self.narrow_pairs {
            let kind = match p.difference {
                NarrowDifference::Literal => "literal",
                NarrowDifference::Comparison => "comparison",
                NarrowDifference::ExtraCondition => "extra condition",
            };
            writeln!(
                f,
                "  {} seq {} / seq {}: {kind}: {}",
                p.actor, p.first_seq, p.second_seq, p.detail
            )?;
        }
        writeln!(
            f,
            "\nRequests per actor (threshold {} per hour):",
            self.config.max_requests_per_hour
        )?;
        for r in &self.rates {
            writeln!(
                f,
                "  {}: {} request(s) in {} hour(s), at most {} in one hour",
                r.actor, r.requests, r.active_hours, r.max_per_hour
            )?;
        }
        for h in &self.busy_hours {
            writeln!(
                f,
                "  FLAG {} made {} requests in the hour from {}",
                h.actor,
                h.requests,
                h.hour.to_rfc3339()
            )?;
        }
        writeln!(f, "\nBudget burn per actor:")?;
        for b in &self.budget {
            let left = b
                .last_left
                .map_or_else(|| "unknown".to_owned(), |l| format!("{l}"));
            writeln!(
                f,
                "  {}: {} charged over {} request(s), {} left, {} refused",
                b.actor, b.total_charged, b.charged_requests, left, b.refused
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(a: &str, b: &str) -> Option<NarrowDifference> {
        narrow_difference(&tokenize(a), &tokenize(b)).map(|(d, _)| d)
    }

    #[test]
    fn normalisation_ignores_case_spacing_comments() {
        assert_eq!(
            normalise_sql("SELECT  count(*) -- n\nFROM brp WHERE Leeftijd>30;"),
            normalise_sql("select count( * ) from BRP /* x */ where leeftijd > 30")
        );
        assert_ne!(normalise_sql("select 'A'"), normalise_sql("select 'a'"));
    }

    #[test]
    fn narrow_differences() {
        let base = "select count(*) from brp where leeftijd > 30 and buurt = 'BU1'";
        assert_eq!(
            diff(
                base,
                "select count(*) from brp where leeftijd > 31 and buurt = 'BU1'"
            ),
            Some(NarrowDifference::Literal)
        );
        assert_eq!(
            diff(
                base,
                "select count(*) from brp where leeftijd >= 30 and buurt = 'BU1'"
            ),
            Some(NarrowDifference::Comparison)
        );
        assert_eq!(
            diff(
                base,
                "select count(*) from brp where leeftijd > 30 and buurt = 'BU1' and geslacht = 'V'"
            ),
            Some(NarrowDifference::ExtraCondition)
        );
        assert_eq!(
            diff(
                base,
                "select sum(x) from brp where leeftijd > 31 and buurt = 'BU1'"
            ),
            None
        );
        assert_eq!(
            diff(
                base,
                "select count(*) from brp where leeftijd > 31 and buurt = 'BU2'"
            ),
            None
        );
        assert_eq!(diff(base, base), None);
    }
}
