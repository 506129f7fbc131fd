//! Reading the lake: the manifest names each source's current snapshot and
//! its data files; each source becomes one table with its contract schema.
//!
//! Only the manifest decides what is read. Directories are never listed or
//! globbed, so a snapshot being written (`.staging-…`), an old snapshot or a
//! stray file can never leak into a query.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use knooppunt_core::Source;
use serde::Deserialize;

use crate::error::QueryError;

/// File name of the manifest inside the lake (written by ingest).
const MANIFEST: &str = "manifest.json";

/// The part of ingest's manifest the query layer reads.
#[derive(Debug, Deserialize)]
struct ManifestFile {
    sources: BTreeMap<String, SourceEntry>,
}

#[derive(Debug, Deserialize)]
struct SourceEntry {
    current: String,
    snapshots: Vec<SnapshotEntry>,
}

#[derive(Debug, Deserialize)]
struct SnapshotEntry {
    id: String,
    files: Vec<String>,
}

/// The current snapshot of one source: its id and absolute data files.
#[derive(Debug, Clone)]
pub(crate) struct CurrentSnapshot {
    pub(crate) id: String,
    pub(crate) files: Vec<PathBuf>,
}

/// Reads `lake/manifest.json` and resolves each known source's current
/// snapshot. Sources without a snapshot are absent from the map; names the
/// contract does not know are ignored.
pub(crate) fn current_snapshots(
    lake: &Path,
) -> Result<BTreeMap<Source, CurrentSnapshot>, QueryError> {
    let path = lake.join(MANIFEST);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(QueryError::LakeNotFound {
                lake: lake.to_path_buf(),
            });
        }
        Err(source) => return Err(QueryError::Io { path, source }),
    };
    let manifest: ManifestFile =
        serde_json::from_slice(&bytes).map_err(|e| QueryError::Manifest {
            path: path.clone(),
            reason: format!("invalid JSON at line {} column {}", e.line(), e.column()),
        })?;
    let mut out = BTreeMap::new();
    for (name, entry) in manifest.sources {
        let Some(source) = Source::from_name(&name) else {
            continue;
        };
        if entry.current.is_empty() {
            continue;
        }
        let snapshot = entry
            .snapshots
            .iter()
            .find(|s| s.id == entry.current)
            .ok_or_else(|| QueryError::Manifest {
                path: path.clone(),
                reason: format!("current snapshot of {name} is not among its snapshots"),
            })?;
        if !plain_relative(Path::new(&snapshot.id)) || snapshot.id.contains('/') {
            return Err(QueryError::Manifest {
                path: path.clone(),
                reason: format!("snapshot id of {name} is not a plain directory name"),
            });
        }
        let dir = lake.join(source.name()).join(&snapshot.id);
        let mut files = Vec::with_capacity(snapshot.files.len());
        for file in &snapshot.files {
            let bad = || QueryError::SnapshotFile {
                source_name: source.name(),
                snapshot: snapshot.id.clone(),
                file: file.clone(),
            };
            if !plain_relative(Path::new(file)) {
                return Err(bad());
            }
            // Data files are Parquet; anything else a future ingest might
            // list (a GeoJSON copy, say) is not part of the table.
            if Path::new(file).extension().is_none_or(|e| e != "parquet") {
                continue;
            }
            let full = dir.join(file);
            if !full.is_file() {
                return Err(bad());
            }
            files.push(full);
        }
        out.insert(
            source,
            CurrentSnapshot {
                id: snapshot.id.clone(),
                files,
            },
        );
    }
    Ok(out)
}

/// True for a relative path of normal components only (no `..`, no root).
fn plain_relative(path: &Path) -> bool {
    !path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// The table of one source: its current snapshot's Parquet files read with
/// the contract schema, or an empty table with that schema when the source
/// has no snapshot (so every query still plans).
pub(crate) fn table(
    source: Source,
    snapshot: Option<&CurrentSnapshot>,
) -> Result<Arc<dyn TableProvider>, QueryError> {
    let schema = knooppunt_core::schema(source);
    let setup = |e: datafusion::error::DataFusionError| QueryError::Setup {
        reason: format!("table {}: {e}", source.name()),
    };
    let files = snapshot.map(|s| s.files.as_slice()).unwrap_or_default();
    if files.is_empty() {
        let empty = MemTable::try_new(schema, vec![vec![]]).map_err(setup)?;
        return Ok(Arc::new(empty));
    }
    let mut urls = Vec::with_capacity(files.len());
    for file in files {
        // A file URL, not a path string: `ListingTableUrl::parse` would read
        // `*`, `?` or `[` in a path as a glob.
        let absolute = std::path::absolute(file).map_err(|source| QueryError::Io {
            path: file.clone(),
            source,
        })?;
        let url = url::Url::from_file_path(&absolute).map_err(|()| QueryError::Setup {
            reason: format!("{} cannot be written as a file URL", absolute.display()),
        })?;
        urls.push(ListingTableUrl::try_new(url, None).map_err(setup)?);
    }
    // An empty extension filter: the manifest, not the file name, says what
    // belongs to the table.
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension("");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    let table = ListingTable::try_new(config).map_err(setup)?;
    Ok(Arc::new(table))
}
