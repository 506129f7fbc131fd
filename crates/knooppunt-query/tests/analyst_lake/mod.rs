//! Hand-made lakes for the analyst SQL tests, shared by `analyst.rs` and
//! `analyst_slt.rs`.
//!
//! The base fixture's `buurten.geojson` (BU99990001 and BU99990002 in
//! WK999900, GM9999), `bag_verblijfsobjecten.csv` (A1, A2 in BU99990001;
//! A3 in BU99990002; A4, A5 outside every buurt), `handhaving_zaken.csv`
//! and `energie_verbruik.csv`, with our own BRP and sales:
//!
//! | person | address | soort | born | rows |
//! |---|---|---|---|---|
//! | P1–P3 | A1 (BU…01) | W | 1980 | 1 each, since 2010 |
//! | P4, P5 | A2 (BU…01) | W | 1990 | 1 each, since 2015 |
//! | P6 | A3 (BU…02) | B | 2001 | 1, since 2020 |
//! | P7 | A4 (onbekend) | W | 1970 | 1, since 2010 (out of every scope) |
//! | F (optional) | A1/A2 | W | 1975 | 60 historic rows, 1961–2020, the last current |
//!
//! Sales: T-0001 A1 2023-03-01 350,000 natuurlijk persoon; T-0002 A1
//! 2023-12-01 495,000 rechtspersoon; T-0003 A3 2024-01-15 3,000,000
//! natuurlijk persoon (above the 2,000,000 clamp).

#![allow(dead_code, clippy::unwrap_used, missing_docs, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use knooppunt_core::SystemClock;
use knooppunt_ingest::{IngestOptions, NoProgress, PseudonymKey, ingest};
use knooppunt_query::{Engine, EngineOptions};

pub const GM: &str = "GM9999";
pub const BU1: &str = "BU99990001";
pub const BU2: &str = "BU99990002";

pub fn peildatum() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 8, 1).unwrap()
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-data/fixtures/base")
}

/// The `n`-th valid test BSN (9 digits, passes the 11-check).
pub fn bsn(n: u32) -> String {
    let mut k = 0;
    let mut base = 99_000_000 + n * 7;
    loop {
        let digits: Vec<u32> = format!("{base:08}")
            .chars()
            .map(|c| c.to_digit(10).unwrap())
            .collect();
        let s: u32 = digits.iter().zip((2..=9).rev()).map(|(d, w)| d * w).sum();
        let check = s % 11;
        if check < 10 {
            if k == 0 {
                return format!("{base:08}{check}");
            }
            k -= 1;
        }
        base += 1;
    }
}

const A1: &str = "0999010000000001";
const A2: &str = "0999010000000002";
const A3: &str = "0999010000000003";
const A4: &str = "0999010000000004";

/// BRP rows; with `fanout`, person F has 60 registrations.
pub fn brp_csv(fanout: bool, extra: &[(u32, &str, u32)]) -> String {
    let mut s = String::from(
        "bsn;geboortejaar;adresseerbaarobject_id;soort_adres;datum_inschrijving;datum_uitschrijving\n",
    );
    for p in 1..=3 {
        s += &format!("{};1980;{A1};W;01-01-2010;\n", bsn(p));
    }
    for p in 4..=5 {
        s += &format!("{};1990;{A2};W;01-01-2015;\n", bsn(p));
    }
    s += &format!("{};2001;{A3};B;01-01-2020;\n", bsn(6));
    s += &format!("{};1970;{A4};W;01-01-2010;\n", bsn(7));
    for (p, addr, year) in extra {
        let addr = match *addr {
            "A1" => A1,
            "A2" => A2,
            "A3" => A3,
            _ => A4,
        };
        s += &format!("{};{year};{addr};W;01-01-2010;\n", bsn(*p));
    }
    if fanout {
        let f = bsn(100);
        for i in 0..60 {
            let addr = if i % 2 == 0 { A1 } else { A2 };
            let start = 1961 + i;
            let end = if i == 59 {
                String::new()
            } else {
                format!("01-01-{}", start + 1)
            };
            s += &format!("{f};1975;{addr};W;02-01-{start};{end}\n");
        }
    }
    s
}

pub const VASTGOED: &str =
    "transactie_id;adresseerbaarobject_id;transactiedatum;koopsom;koper_type;koper_kvk
T-0001;0999010000000001;01-03-2023;350.000,00;natuurlijk persoon;
T-0002;0999010000000001;01-12-2023;495.000,00;rechtspersoon;12345678
T-0003;0999010000000003;15-01-2024;3.000.000,00;natuurlijk persoon;
";

/// Exports and lake in a temporary directory.
pub struct Lake {
    pub dir: tempfile::TempDir,
}

impl Lake {
    /// The hand-made lake, with `brp` as the BRP export.
    pub fn with_brp(brp: &str) -> Lake {
        let dir = tempfile::tempdir().unwrap();
        let exports = dir.path().join("exports");
        std::fs::create_dir_all(&exports).unwrap();
        for name in [
            "buurten.geojson",
            "bag_verblijfsobjecten.csv",
            "handhaving_zaken.csv",
            "energie_verbruik.csv",
            "kvk_vestigingen.csv",
        ] {
            std::fs::copy(fixtures().join(name), exports.join(name)).unwrap();
        }
        std::fs::write(exports.join("brp_inschrijvingen.csv"), brp).unwrap();
        std::fs::write(exports.join("vastgoedtransacties.csv"), VASTGOED).unwrap();
        Lake::ingest(dir, exports)
    }

    /// The hand-made lake (person F optional).
    pub fn small(fanout: bool) -> Lake {
        Lake::with_brp(&brp_csv(fanout, &[]))
    }

    /// Ingests `exports` into `dir/lake`.
    pub fn ingest(dir: tempfile::TempDir, exports: PathBuf) -> Lake {
        let opts = IngestOptions {
            exports,
            lake: dir.path().join("lake"),
            key: PseudonymKey::from_secret(b"an analyst integration-test key, 32+ bytes").unwrap(),
            clock: Arc::new(SystemClock),
        };
        ingest(&opts, &NoProgress).unwrap();
        Lake { dir }
    }

    pub fn engine(&self) -> Engine {
        let options = EngineOptions {
            memory_limit: 256 * 1024 * 1024,
            spill_dir: Some(self.dir.path().to_path_buf()),
            threads: Some(2),
            ..EngineOptions::default()
        };
        Engine::open(self.dir.path().join("lake"), options).unwrap()
    }
}
