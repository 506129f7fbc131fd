//! Property tests: arbitrary bytes fed to the CSV and xlsx readers produce
//! rows or quarantine entries (or a file-level error), never a panic, and
//! every row read is accounted for.

use knooppunt_core::Source;
use knooppunt_ingest::Status;
use proptest::prelude::*;

use crate::support::TestLake;

const BRP_HEADER: &[u8] =
    b"bsn;geboortejaar;adresseerbaarobject_id;soort_adres;datum_inschrijving;datum_uitschrijving\n";

fn check_accounted(t: &TestLake, source: Source) {
    let summary = t.ingest();
    let report = summary.source(source).unwrap();
    match &report.status {
        Status::Written { .. } => {
            let c = &report.counts;
            assert_eq!(c.rows_read, c.rows_written + c.quarantined_total());
        }
        Status::Failed { reason } => assert!(reason.contains(source.file_name()), "{reason}"),
        Status::Unchanged { .. } | Status::Absent => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let t = TestLake::base();
        let mut bytes = BRP_HEADER.to_vec();
        bytes.extend_from_slice(&body);
        std::fs::write(t.exports().join("brp_inschrijvingen.csv"), bytes).unwrap();
        check_accounted(&t, Source::Brp);
    }

    #[test]
    fn csv_like_noise_never_panics(rows in proptest::collection::vec(proptest::collection::vec("[0-9a-zA-Z;\" \\-,.\r\n]{0,12}", 0..8), 0..20)) {
        let t = TestLake::base();
        let mut text = String::from_utf8_lossy(BRP_HEADER).to_string();
        for r in rows {
            text.push_str(&r.join(";"));
            text.push('\n');
        }
        std::fs::write(t.exports().join("brp_inschrijvingen.csv"), text).unwrap();
        check_accounted(&t, Source::Brp);
    }

    #[test]
    fn arbitrary_or_damaged_xlsx_never_panics(noise in proptest::collection::vec(any::<u8>(), 0..400), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6)) {
        let t = TestLake::base();
        let path = t.exports().join("meldingen.xlsx");
        let mut bytes = std::fs::read(&path).unwrap();
        if flips.is_empty() {
            bytes = noise;
        } else {
            for (i, b) in flips {
                let at = i.index(bytes.len());
                bytes[at] ^= b | 1;
            }
        }
        std::fs::write(&path, bytes).unwrap();
        check_accounted(&t, Source::Meldingen);
    }
}
