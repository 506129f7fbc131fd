//! Linking records to buurten: points through the buurt polygons, addresses
//! through the current BAG snapshot (by `identificatie`, or for KvK by
//! normalised postcode + huisnummer + huisletter + toevoeging).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int32Type;
use knooppunt_core::ONBEKEND;
use knooppunt_geo::BuurtIndex;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::IngestError;
use crate::parse::postcode_key;

/// The buurt, wijk and gemeente of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Area {
    pub(crate) buurt: Arc<str>,
    pub(crate) wijk: Arc<str>,
    pub(crate) gemeente: Arc<str>,
}

impl Area {
    pub(crate) fn onbekend() -> Area {
        Area {
            buurt: ONBEKEND.into(),
            wijk: ONBEKEND.into(),
            gemeente: ONBEKEND.into(),
        }
    }

    fn of(b: &knooppunt_geo::Buurt) -> Area {
        Area {
            buurt: b.buurtcode.as_str().into(),
            wijk: b.wijkcode.as_str().into(),
            gemeente: b.gemeentecode.as_str().into(),
        }
    }
}

/// One BAG address as needed for KvK linking.
#[derive(Debug)]
struct Unit {
    huisletter: Option<Box<str>>,
    toevoeging: Option<Box<str>>,
    id: u64,
}

/// The current BAG snapshot, compacted: 16-digit ids as `u64`, areas interned.
#[derive(Debug, Default)]
pub(crate) struct AddressIndex {
    areas: Vec<Area>,
    by_id: HashMap<u64, u32>,
    by_postcode: HashMap<u64, Vec<Unit>>,
}

impl AddressIndex {
    /// Loads the address index from the Parquet files of a BAG snapshot.
    pub(crate) fn load(files: &[std::path::PathBuf]) -> Result<AddressIndex, IngestError> {
        let mut index = AddressIndex::default();
        let mut interned: HashMap<(String, String, String), u32> = HashMap::new();
        for path in files {
            let file = File::open(path).map_err(IngestError::io(path))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(IngestError::parquet(path))?;
            let schema = builder.parquet_schema();
            let wanted = [
                "identificatie",
                "postcode",
                "huisnummer",
                "huisletter",
                "huisnummertoevoeging",
                "buurtcode",
                "wijkcode",
                "gemeentecode",
            ];
            let leaves: Vec<usize> = wanted
                .iter()
                .filter_map(|w| (0..schema.num_columns()).find(|i| schema.column(*i).name() == *w))
                .collect();
            if leaves.len() != wanted.len() {
                return Err(IngestError::Parquet {
                    path: path.clone(),
                    message: "BAG snapshot lacks linking columns".into(),
                });
            }
            let mask = ProjectionMask::leaves(schema, leaves);
            let reader = builder
                .with_projection(mask)
                .with_batch_size(64 * 1024)
                .build()
                .map_err(IngestError::parquet(path))?;
            for batch in reader {
                let batch = batch.map_err(|e| IngestError::Parquet {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                let col = |name: &str| {
                    batch
                        .column_by_name(name)
                        .map(|c| c.as_string::<i32>().clone())
                };
                let (
                    Some(ids),
                    Some(pcs),
                    Some(letters),
                    Some(toevs),
                    Some(bu),
                    Some(wk),
                    Some(gm),
                ) = (
                    col("identificatie"),
                    col("postcode"),
                    col("huisletter"),
                    col("huisnummertoevoeging"),
                    col("buurtcode"),
                    col("wijkcode"),
                    col("gemeentecode"),
                )
                else {
                    return Err(IngestError::Parquet {
                        path: path.clone(),
                        message: "unexpected BAG column types".into(),
                    });
                };
                let Some(nrs) = batch
                    .column_by_name("huisnummer")
                    .and_then(|c| c.as_primitive_opt::<Int32Type>())
                    .cloned()
                else {
                    return Err(IngestError::Parquet {
                        path: path.clone(),
                        message: "unexpected BAG column types".into(),
                    });
                };
                for i in 0..batch.num_rows() {
                    let Ok(id) = ids.value(i).parse::<u64>() else {
                        continue;
                    };
                    let area_key = (
                        bu.value(i).to_string(),
                        wk.value(i).to_string(),
                        gm.value(i).to_string(),
                    );
                    let next = index.areas.len() as u32;
                    let area = *interned.entry(area_key.clone()).or_insert_with(|| {
                        index.areas.push(Area {
                            buurt: area_key.0.as_str().into(),
                            wijk: area_key.1.as_str().into(),
                            gemeente: area_key.2.as_str().into(),
                        });
                        next
                    });
                    // Addresses outside every buurt stay in the index: records
                    // at them are linked to the address, with buurt onbekend.
                    index.by_id.insert(id, area);
                    if pcs.is_null(i) {
                        continue;
                    }
                    if let Some(k) = postcode_key(pcs.value(i), nrs.value(i)) {
                        let opt = |a: &arrow::array::StringArray| {
                            (!a.is_null(i)).then(|| Box::from(a.value(i)))
                        };
                        index.by_postcode.entry(k).or_default().push(Unit {
                            huisletter: opt(&letters),
                            toevoeging: opt(&toevs),
                            id,
                        });
                    }
                }
            }
        }
        Ok(index)
    }

    fn area_of(&self, id: u64) -> Option<&Area> {
        self.by_id.get(&id).map(|a| &self.areas[*a as usize])
    }
}

/// Everything a source needs to link its rows.
#[derive(Default)]
pub(crate) struct Linker {
    pub(crate) geo: Option<Arc<BuurtIndex>>,
    /// The area of each buurt of `geo`, by index, shared by every row.
    pub(crate) geo_areas: Vec<Area>,
    pub(crate) addresses: Option<Arc<AddressIndex>>,
    pub(crate) buurtcodes: HashSet<String>,
}

impl Linker {
    /// The buurt of an RD point (None outside every buurt).
    pub(crate) fn locate(&self, x: f64, y: f64) -> Option<Area> {
        let geo = self.geo.as_ref()?;
        if !x.is_finite() || !y.is_finite() {
            return None;
        }
        self.geo_areas.get(geo.locate(x, y)?).cloned()
    }

    /// The buurt of a BAG address; None when the id is not in BAG (an
    /// address outside every buurt gives the `onbekend` area).
    pub(crate) fn address(&self, id: &str) -> Option<Area> {
        let id: u64 = id.parse().ok()?;
        self.addresses.as_ref()?.area_of(id).cloned()
    }

    /// The BAG address of a KvK establishment and its buurt.
    pub(crate) fn kvk_address(
        &self,
        postcode: &str,
        huisnummer: i32,
        huisletter: Option<&str>,
        toevoeging: Option<&str>,
    ) -> Option<(String, Area)> {
        let index = self.addresses.as_ref()?;
        let units = index
            .by_postcode
            .get(&postcode_key(postcode, huisnummer)?)?;
        let unit = units.iter().find(|u| {
            u.huisletter.as_deref() == huisletter && u.toevoeging.as_deref() == toevoeging
        })?;
        let area = index.area_of(unit.id)?.clone();
        let id = format!("{:016}", unit.id);
        Some((id, area))
    }

    /// Whether a buurtcode exists in the current boundaries.
    pub(crate) fn has_buurt(&self, code: &str) -> bool {
        self.buurtcodes.contains(code)
    }

    /// A linker for point sources.
    pub(crate) fn with_geo(geo: Arc<BuurtIndex>) -> Linker {
        let buurtcodes = geo.buurten().iter().map(|b| b.buurtcode.clone()).collect();
        let geo_areas = geo.buurten().iter().map(Area::of).collect();
        Linker {
            geo: Some(geo),
            geo_areas,
            addresses: None,
            buurtcodes,
        }
    }

    /// A linker for address sources.
    pub(crate) fn with_addresses(addresses: Arc<AddressIndex>) -> Linker {
        Linker {
            geo: None,
            geo_areas: Vec::new(),
            addresses: Some(addresses),
            buurtcodes: HashSet::new(),
        }
    }
}

/// Loads buurt polygons from a buurten snapshot directory.
pub(crate) fn load_geo(snapshot_dir: &Path) -> Result<BuurtIndex, IngestError> {
    let path = snapshot_dir.join("buurten.geojson");
    BuurtIndex::from_path(&path).map_err(|source| IngestError::Geo {
        file: path.display().to_string(),
        source,
    })
}
