//! Test lakes built from the hand-made fixtures, and typed column access.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int32Type, Int64Type};
use knooppunt_core::{Source, SystemClock};
use knooppunt_ingest::{
    IngestOptions, IngestSummary, Manifest, NoProgress, PseudonymKey, ingest, snapshot_dir,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-data/fixtures")
}

/// An exports directory and a lake in a temporary directory.
pub struct TestLake {
    dir: tempfile::TempDir,
}

impl TestLake {
    /// The clean base fixture plus a hand-built meldingen workbook.
    pub fn base() -> TestLake {
        let dir = tempfile::tempdir().unwrap();
        let exports = dir.path().join("exports");
        std::fs::create_dir_all(&exports).unwrap();
        for entry in std::fs::read_dir(fixtures().join("base")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), exports.join(entry.file_name())).unwrap();
        }
        write_meldingen(&exports.join("meldingen.xlsx"));
        TestLake { dir }
    }

    pub fn exports(&self) -> PathBuf {
        self.dir.path().join("exports")
    }

    pub fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    /// Puts a quirk fixture in place of an export.
    pub fn replace(&self, target: &str, fixture: &str) {
        std::fs::copy(
            fixtures().join("quirks").join(fixture),
            self.exports().join(target),
        )
        .unwrap();
    }

    pub fn options(&self) -> IngestOptions {
        IngestOptions {
            exports: self.exports(),
            lake: self.lake(),
            key: PseudonymKey::from_secret(b"an integration-test key of 32+ bytes").unwrap(),
            clock: Arc::new(SystemClock),
        }
    }

    pub fn ingest(&self) -> IngestSummary {
        ingest(&self.options(), &NoProgress).unwrap()
    }

    fn current_dir(&self, source: Source) -> PathBuf {
        let manifest = Manifest::load(&self.lake()).unwrap();
        let snap = manifest.current(source).unwrap();
        snapshot_dir(&self.lake(), source, &snap.id)
    }

    pub fn read(&self, source: Source) -> Table {
        Table(read_parquet(
            &self.current_dir(source).join("part-00000.parquet"),
        ))
    }

    pub fn read_quarantine(&self, source: Source) -> Table {
        Table(read_parquet(
            &self.current_dir(source).join("quarantine/rows.parquet"),
        ))
    }

    pub fn quarantine_summary(&self, source: Source) -> String {
        std::fs::read_to_string(self.current_dir(source).join("quarantine/summary.txt")).unwrap()
    }

    pub fn schema_has(&self, source: Source, column: &str) -> bool {
        self.read(source).0.schema().field_with_name(column).is_ok()
    }

    /// Scans every file in the lake: Parquet values (all columns cast to
    /// text) and the raw bytes of every other file.
    pub fn assert_no_raw_bsn(&self, bsns: &[&str]) {
        assert_no_values_in_dir(&self.lake(), bsns);
    }
}

pub fn assert_no_values_in_dir(dir: &Path, values: &[&str]) {
    let mut stack = vec![dir.to_path_buf()];
    let mut parquet_files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for v in values {
                assert!(
                    !text.contains(v),
                    "raw value found in bytes of {}",
                    path.display()
                );
            }
            if path.extension().is_some_and(|e| e == "parquet") {
                parquet_files += 1;
                let batch = read_parquet(&path);
                for col in batch.columns() {
                    let as_text = cast(col, &DataType::Utf8).unwrap();
                    let strings = as_text.as_string::<i32>();
                    for i in 0..strings.len() {
                        if strings.is_valid(i) {
                            for v in values {
                                assert!(
                                    !strings.value(i).contains(v),
                                    "raw value in {}",
                                    path.display()
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        parquet_files > 0,
        "no parquet files scanned in {}",
        dir.display()
    );
}

pub fn read_parquet(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let schema = batches.first().map(|b| b.schema()).unwrap_or_else(|| {
        let file = std::fs::File::open(path).unwrap();
        ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .schema()
            .clone()
    });
    concat_batches(&schema, &batches).unwrap()
}

/// A meldingen workbook: a date cell, a text date with lat/lon, an Excel
/// serial number without location, and a point outside every buurt. The
/// toelichting column names a (fictional) person and must never be stored.
fn write_meldingen(path: &Path) {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet().set_name("Meldingen").unwrap();
    let headers = [
        "melding_id",
        "Datum",
        "categorie",
        "toelichting",
        "x",
        "y",
        "lat",
        "lon",
    ];
    for (c, h) in headers.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let date_format = Format::new().set_num_format("dd-mm-yyyy");
    ws.write_string(1, 0, "M-1").unwrap();
    ws.write_datetime_with_format(
        1,
        1,
        ExcelDateTime::from_ymd(2024, 5, 1).unwrap(),
        &date_format,
    )
    .unwrap();
    ws.write_string(1, 2, "Drugsoverlast").unwrap();
    ws.write_string(1, 3, "Buurman Piet Geheimnaam klaagt")
        .unwrap();
    ws.write_number(1, 4, 150100.0).unwrap();
    ws.write_number(1, 5, 480100.0).unwrap();
    let (lat, lon) = knooppunt_geo::rd_to_wgs84(151500.0, 480200.0);
    ws.write_string(2, 0, "M-2").unwrap();
    ws.write_string(2, 1, "15-06-2024").unwrap();
    ws.write_string(2, 2, "Afval").unwrap();
    ws.write_number(2, 6, lat).unwrap();
    ws.write_number(2, 7, lon).unwrap();
    ws.write_string(3, 0, "M-3").unwrap();
    ws.write_number(3, 1, 45474.0).unwrap();
    ws.write_string(3, 2, "Woonoverlast").unwrap();
    ws.write_string(3, 3, "Geen locatie;\nmeerdere regels")
        .unwrap();
    ws.write_string(4, 0, "M-4").unwrap();
    ws.write_datetime_with_format(
        4,
        1,
        ExcelDateTime::from_ymd(2024, 7, 2).unwrap(),
        &date_format,
    )
    .unwrap();
    ws.write_string(4, 2, "Drugsoverlast").unwrap();
    ws.write_number(4, 4, 160000.0).unwrap();
    ws.write_number(4, 5, 490000.0).unwrap();
    wb.save(path).unwrap();
}

/// A snapshot's rows with typed column access.
pub struct Table(pub RecordBatch);

impl Table {
    fn col(&self, name: &str) -> &arrow::array::ArrayRef {
        self.0
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    pub fn opt_str(&self, name: &str) -> Vec<Option<String>> {
        self.col(name)
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(String::from))
            .collect()
    }

    pub fn str(&self, name: &str) -> Vec<String> {
        self.opt_str(name).into_iter().map(Option::unwrap).collect()
    }

    pub fn f64(&self, name: &str) -> Vec<f64> {
        self.col(name)
            .as_primitive::<Float64Type>()
            .values()
            .to_vec()
    }

    pub fn i32(&self, name: &str) -> Vec<i32> {
        self.col(name).as_primitive::<Int32Type>().values().to_vec()
    }

    pub fn i64(&self, name: &str) -> Vec<i64> {
        self.col(name).as_primitive::<Int64Type>().values().to_vec()
    }

    pub fn bool(&self, name: &str) -> Vec<bool> {
        self.col(name)
            .as_boolean()
            .iter()
            .map(Option::unwrap)
            .collect()
    }

    pub fn opt_date(&self, name: &str) -> Vec<Option<String>> {
        self.col(name)
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| {
                d.map(|d| {
                    (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                        + chrono::Days::new(d as u64))
                    .to_string()
                })
            })
            .collect()
    }

    pub fn date(&self, name: &str) -> Vec<String> {
        self.opt_date(name)
            .into_iter()
            .map(Option::unwrap)
            .collect()
    }

    pub fn decimal(&self, name: &str) -> Vec<String> {
        let text = cast(self.col(name), &DataType::Utf8).unwrap();
        text.as_string::<i32>()
            .iter()
            .map(|v| v.unwrap().to_string())
            .collect()
    }
}
