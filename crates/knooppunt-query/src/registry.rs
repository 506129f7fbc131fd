//! The indicator registry: one SQL file per indicator, with a header that
//! says what it counts.
//!
//! ```sql
//! -- id: I12
//! -- title: mailbox addresses
//! -- numerator: current briefadres (B) registrations
//! -- denominator: current registrations (W and B)
//! -- sources: brp, bag
//! -- privacy_unit: person
//! --
//! -- Free comments follow after an empty `--` line.
//! WITH ... SELECT level, code, wijkcode, gemeentecode, numerator, ...
//! ```
//!
//! The query returns one row per (level, code) holding records (the
//! engine adds a row of zeros for every other area of the buurten table)
//! with the columns `level`
//! (`buurt`, `wijk`, `gemeente`), `code`, `wijkcode`, `gemeentecode`,
//! `numerator`, `denominator`, `numerator_support`, `denominator_support`
//! and, for an indicator that is to be released, `numerator_key` and
//! `denominator_key`: the sum of the `record_key` of the records counted
//! (the input of cell-key perturbation).
//!
//! The header is the leading block of `-- key: value` lines; a line
//! starting with `--` and three or more spaces continues the previous value;
//! an empty `--` line or the first SQL line ends it. The twelve indicators of
//! the catalogue (`queries/` in the repository) are compiled into the binary;
//! a municipality can point the engine at a directory of its own `*.sql`
//! files instead, without recompiling.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Months, NaiveDate};
use knooppunt_core::{PrivacyUnit, Source};

use crate::error::{QueryError, QueryFileProblem};

/// The catalogue's indicator files, compiled in. A unit test checks that
/// this list and the files in `queries/` match one to one.
const BUILTIN: [(&str, &str); 12] = [
    (
        "i01_cash_intensive.sql",
        include_str!("../../../queries/i01_cash_intensive.sql"),
    ),
    (
        "i02_registration_hotspots.sql",
        include_str!("../../../queries/i02_registration_hotspots.sql"),
    ),
    (
        "i03_business_churn.sql",
        include_str!("../../../queries/i03_business_churn.sql"),
    ),
    (
        "i04_short_registrations.sql",
        include_str!("../../../queries/i04_short_registrations.sql"),
    ),
    (
        "i05_overcrowding.sql",
        include_str!("../../../queries/i05_overcrowding.sql"),
    ),
    (
        "i06_energy_anomalies.sql",
        include_str!("../../../queries/i06_energy_anomalies.sql"),
    ),
    (
        "i07_drug_nuisance.sql",
        include_str!("../../../queries/i07_drug_nuisance.sql"),
    ),
    (
        "i08_quick_resales.sql",
        include_str!("../../../queries/i08_quick_resales.sql"),
    ),
    (
        "i09_young_company_buyers.sql",
        include_str!("../../../queries/i09_young_company_buyers.sql"),
    ),
    (
        "i10_enforcement.sql",
        include_str!("../../../queries/i10_enforcement.sql"),
    ),
    (
        "i11_vacancy.sql",
        include_str!("../../../queries/i11_vacancy.sql"),
    ),
    (
        "i12_mailbox_addresses.sql",
        include_str!("../../../queries/i12_mailbox_addresses.sql"),
    ),
];

/// The derived views every indicator may use, in creation order (a view
/// may use the ones before it). Each is a `CREATE VIEW` statement from
/// `queries/views/`, registered per peildatum.
pub(crate) const VIEWS: [(&str, &str); 5] = [
    (
        "views/gebieden.sql",
        include_str!("../../../queries/views/gebieden.sql"),
    ),
    (
        "views/adressen.sql",
        include_str!("../../../queries/views/adressen.sql"),
    ),
    (
        "views/actuele_inschrijvingen.sql",
        include_str!("../../../queries/views/actuele_inschrijvingen.sql"),
    ),
    (
        "views/inwoners.sql",
        include_str!("../../../queries/views/inwoners.sql"),
    ),
    (
        "views/actieve_vestigingen.sql",
        include_str!("../../../queries/views/actieve_vestigingen.sql"),
    ),
];

/// Header keys, in the order they are documented.
const KEYS: [&str; 7] = [
    "id",
    "title",
    "numerator",
    "denominator",
    "sources",
    "privacy_unit",
    "denominator_unit",
];

/// Placeholders the SQL may use; each becomes a `DATE 'yyyy-mm-dd'` literal.
const PLACEHOLDERS: [&str; 2] = ["peildatum", "window_start"];

/// One indicator: its header and its SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorQuery {
    /// `I01` … `I12`, or a municipality's own id.
    pub id: String,
    /// Short name.
    pub title: String,
    /// What the numerator counts.
    pub numerator: String,
    /// What the denominator counts.
    pub denominator: String,
    /// Sources the query reads.
    pub sources: Vec<Source>,
    /// The privacy unit the numerator support counts.
    pub privacy_unit: PrivacyUnit,
    /// The privacy unit the denominator support counts (header key
    /// `denominator_unit`; default: `privacy_unit`).
    pub denominator_unit: PrivacyUnit,
    /// The file the query came from (file name only).
    pub file: String,
    /// The full text of the file, placeholders included.
    pub text: String,
}

impl IndicatorQuery {
    /// Parses and validates one indicator file.
    pub fn parse(file: &str, text: &str) -> Result<IndicatorQuery, QueryError> {
        let fail = |problem| QueryError::QueryFile {
            file: file.to_string(),
            problem,
        };
        let mut values: BTreeMap<&'static str, String> = BTreeMap::new();
        let mut last_key: Option<&'static str> = None;
        let mut header_lines = 0usize;
        let mut body_has_sql = false;
        let mut in_header = true;
        for line in text.lines() {
            let trimmed = line.trim();
            if in_header {
                if let Some(comment) = trimmed.strip_prefix("--") {
                    if comment.trim().is_empty() {
                        in_header = false;
                        continue;
                    }
                    header_lines += 1;
                    if comment.starts_with("   ") {
                        let key =
                            last_key.ok_or_else(|| fail(QueryFileProblem::MalformedHeaderLine))?;
                        if let Some(v) = values.get_mut(key) {
                            v.push(' ');
                            v.push_str(comment.trim());
                        }
                        continue;
                    }
                    let (key, value) = comment
                        .split_once(':')
                        .ok_or_else(|| fail(QueryFileProblem::MalformedHeaderLine))?;
                    let key = key.trim();
                    if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                        return Err(fail(QueryFileProblem::MalformedHeaderLine));
                    }
                    let known = KEYS
                        .iter()
                        .find(|k| **k == key)
                        .ok_or_else(|| fail(QueryFileProblem::UnknownKey(key.to_string())))?;
                    if values.insert(known, value.trim().to_string()).is_some() {
                        return Err(fail(QueryFileProblem::DuplicateKey(key.to_string())));
                    }
                    last_key = Some(known);
                    continue;
                }
                if trimmed.is_empty() && header_lines == 0 {
                    continue;
                }
                in_header = false;
            }
            if !trimmed.is_empty() && !trimmed.starts_with("--") {
                body_has_sql = true;
            }
        }
        if header_lines == 0 {
            return Err(fail(QueryFileProblem::NoHeader));
        }
        let mut take = |key: &'static str| match values.remove(key) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(fail(QueryFileProblem::MissingKey(key))),
        };
        let id = take("id")?;
        let title = take("title")?;
        let numerator = take("numerator")?;
        let denominator = take("denominator")?;
        let sources = take("sources")?;
        let privacy_unit = take("privacy_unit")?;
        if !valid_id(&id) {
            return Err(fail(QueryFileProblem::InvalidId));
        }
        let unit = |name: &str| match name {
            "person" => Ok(PrivacyUnit::Person),
            "address" => Ok(PrivacyUnit::Address),
            "company" => Ok(PrivacyUnit::Company),
            "report" => Ok(PrivacyUnit::Report),
            "sale" => Ok(PrivacyUnit::Sale),
            _ => Err(fail(QueryFileProblem::UnknownPrivacyUnit)),
        };
        let privacy_unit = unit(&privacy_unit)?;
        let denominator_unit = match values.remove("denominator_unit") {
            Some(name) => unit(&name)?,
            None => privacy_unit,
        };
        let sources = sources
            .split(',')
            .map(|s| {
                Source::from_name(s.trim()).ok_or_else(|| fail(QueryFileProblem::UnknownSource))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !body_has_sql {
            return Err(fail(QueryFileProblem::EmptyQuery));
        }
        check_placeholders(text).map_err(fail)?;
        Ok(IndicatorQuery {
            id,
            title,
            numerator,
            denominator,
            sources,
            privacy_unit,
            denominator_unit,
            file: file.to_string(),
            text: text.to_string(),
        })
    }

    /// The SQL with its placeholders replaced by date literals for
    /// `peildatum`.
    pub fn render(&self, peildatum: NaiveDate) -> Result<String, QueryError> {
        render(&self.text, peildatum)
    }
}

/// `I` + digits, or a custom id: an upper-case ASCII letter followed by up
/// to 31 upper-case letters, digits, `_` or `-`.
fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_uppercase());
    first_ok
        && id.len() <= 32
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Every `{{` must open a known placeholder.
fn check_placeholders(text: &str) -> Result<(), QueryFileProblem> {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or(QueryFileProblem::UnknownPlaceholder)?;
        if !PLACEHOLDERS.contains(&&after[..end]) {
            return Err(QueryFileProblem::UnknownPlaceholder);
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

/// The start of the window "last 12 months", `(start, peildatum]`: the same
/// day twelve calendar months earlier, clamped to the month's last day (so
/// 29 February gives 28 February).
pub(crate) fn window_start(peildatum: NaiveDate) -> Result<NaiveDate, QueryError> {
    peildatum
        .checked_sub_months(Months::new(12))
        .ok_or(QueryError::PeildatumOutOfRange)
}

/// A SQL date literal. The value always comes from a parsed `NaiveDate`,
/// never from user text, and its year must have four digits so the literal
/// is well-formed.
fn date_literal(date: NaiveDate) -> Result<String, QueryError> {
    use chrono::Datelike;
    if !(1..=9999).contains(&date.year()) {
        return Err(QueryError::PeildatumOutOfRange);
    }
    Ok(format!("DATE '{}'", date.format("%Y-%m-%d")))
}

/// Replaces `{{peildatum}}` and `{{window_start}}` by date literals.
pub(crate) fn render(text: &str, peildatum: NaiveDate) -> Result<String, QueryError> {
    let start = window_start(peildatum)?;
    Ok(text
        .replace("{{peildatum}}", &date_literal(peildatum)?)
        .replace("{{window_start}}", &date_literal(start)?))
}

/// An ordered set of indicators with unique ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    queries: Vec<IndicatorQuery>,
}

impl Registry {
    /// The twelve indicators of the catalogue, compiled into the binary.
    pub fn builtin() -> Result<Registry, QueryError> {
        Registry::from_files(BUILTIN.iter().map(|(f, t)| (f.to_string(), t.to_string())))
    }

    /// Every `*.sql` file directly inside `dir` (subdirectories are not
    /// read), as the whole catalogue: copy `queries/` and add your own
    /// files to extend the built-in one.
    pub fn from_dir(dir: &Path) -> Result<Registry, QueryError> {
        let io = |source| QueryError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if !path.is_file() || path.extension().is_none_or(|e| e != "sql") {
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(&path).map_err(|source| QueryError::Io {
                path: path.clone(),
                source,
            })?;
            let text = String::from_utf8(bytes).map_err(|_| QueryError::QueryFile {
                file: name.clone(),
                problem: QueryFileProblem::NotUtf8,
            })?;
            files.push((name, text));
        }
        files.sort();
        Registry::from_files(files)
    }

    /// Parses `(file name, text)` pairs; ids must be unique.
    pub fn from_files(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Registry, QueryError> {
        let mut queries: Vec<IndicatorQuery> = Vec::new();
        for (file, text) in files {
            let query = IndicatorQuery::parse(&file, &text)?;
            if let Some(first) = queries.iter().find(|q| q.id == query.id) {
                return Err(QueryError::DuplicateIndicator {
                    id: query.id,
                    first: first.file.clone(),
                    second: file,
                });
            }
            queries.push(query);
        }
        queries.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Registry { queries })
    }

    /// The indicators, sorted by id.
    pub fn queries(&self) -> &[IndicatorQuery] {
        &self.queries
    }

    /// The indicator with this id.
    pub fn get(&self, id: &str) -> Option<&IndicatorQuery> {
        self.queries.iter().find(|q| q.id == id)
    }

    /// Number of indicators.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// True when there are no indicators.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn queries_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../queries")
    }

    #[test]
    fn embedded_files_and_queries_dir_match_one_to_one() {
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(queries_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
        on_disk.sort();
        let mut embedded: Vec<(String, String)> = BUILTIN
            .iter()
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);

        let builtin = Registry::builtin().unwrap();
        let from_dir = Registry::from_dir(&queries_dir()).unwrap();
        assert_eq!(builtin, from_dir);
        let ids: Vec<&str> = builtin.queries().iter().map(|q| q.id.as_str()).collect();
        let expected: Vec<String> = (1..=12).map(|i| format!("I{i:02}")).collect();
        assert_eq!(ids, expected);
        for q in builtin.queries() {
            let prefix = format!("{}_", q.id.to_lowercase());
            assert!(q.file.starts_with(&prefix), "{} has id {}", q.file, q.id);
        }
    }

    #[test]
    fn embedded_views_match_the_views_dir() {
        let dir = queries_dir().join("views");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| format!("views/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = VIEWS.iter().map(|(f, _)| f.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
        for (file, text) in VIEWS {
            let disk = std::fs::read_to_string(queries_dir().join(file)).unwrap();
            assert_eq!(disk, text, "{file}");
        }
    }

    #[test]
    fn header_is_parsed_with_continuation_lines() {
        let q = Registry::builtin().unwrap();
        let i01 = q.get("I01").unwrap();
        assert_eq!(i01.title, "cash-intensive businesses");
        assert!(i01.numerator.ends_with("6612 4941"), "{}", i01.numerator);
        assert_eq!(i01.sources, vec![Source::Kvk, Source::Bag]);
        assert_eq!(i01.privacy_unit, PrivacyUnit::Company);
    }

    const GOOD: &str = "-- id: GM9999_TEST\n-- title: t\n-- numerator: n\n-- denominator: d\n-- sources: bag\n-- privacy_unit: address\nSELECT 1\n";

    fn problem(text: &str) -> QueryFileProblem {
        match IndicatorQuery::parse("x.sql", text) {
            Err(QueryError::QueryFile { file, problem }) => {
                assert_eq!(file, "x.sql");
                problem
            }
            other => panic!("expected a query file error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_headers_are_named() {
        assert!(IndicatorQuery::parse("x.sql", GOOD).is_ok());
        assert_eq!(problem("SELECT 1"), QueryFileProblem::NoHeader);
        assert_eq!(
            problem(&GOOD.replace("-- title: t\n", "")),
            QueryFileProblem::MissingKey("title")
        );
        assert_eq!(
            problem(&GOOD.replace("-- title: t\n", "-- owner: me\n")),
            QueryFileProblem::UnknownKey("owner".into())
        );
        assert_eq!(
            problem(&GOOD.replace("-- title: t\n", "-- title: t\n-- title: u\n")),
            QueryFileProblem::DuplicateKey("title".into())
        );
        assert_eq!(
            problem(&GOOD.replace("-- title: t\n", "-- just words\n")),
            QueryFileProblem::MalformedHeaderLine
        );
        assert_eq!(
            problem(&GOOD.replace("GM9999_TEST", "i13")),
            QueryFileProblem::InvalidId
        );
        assert_eq!(
            problem(&GOOD.replace("address", "area")),
            QueryFileProblem::UnknownPrivacyUnit
        );
        assert_eq!(
            problem(&GOOD.replace("sources: bag", "sources: bag, cadastre")),
            QueryFileProblem::UnknownSource
        );
        assert_eq!(
            problem(&GOOD.replace("SELECT 1", "SELECT {{today}}")),
            QueryFileProblem::UnknownPlaceholder
        );
        assert_eq!(
            problem(&GOOD.replace("SELECT 1", "--\n-- nothing")),
            QueryFileProblem::EmptyQuery
        );
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let err = Registry::from_files([
            ("a.sql".to_string(), GOOD.to_string()),
            ("b.sql".to_string(), GOOD.to_string()),
        ])
        .unwrap_err();
        assert!(matches!(err, QueryError::DuplicateIndicator { .. }));
        assert!(err.to_string().contains("a.sql") && err.to_string().contains("b.sql"));
    }

    #[test]
    fn placeholders_become_date_literals_and_february_clamps() {
        let p = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let sql = render("x > {{window_start}} AND x <= {{peildatum}}", p).unwrap();
        assert_eq!(sql, "x > DATE '2023-02-28' AND x <= DATE '2024-02-29'");
        let far = NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap();
        assert!(matches!(
            render("{{peildatum}}", far),
            Err(QueryError::PeildatumOutOfRange)
        ));
    }
}
