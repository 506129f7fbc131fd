//! Runs every `.slt` file of a directory with the `sqllogictest` runner:
//! shared by the trusted (`it/slt.rs`) and the analyst (`analyst_slt.rs`)
//! test targets, which differ only in their connection type.

use std::path::{Path, PathBuf};

use sqllogictest::{AsyncDB, Runner};

/// The `.slt` files directly in `dir`, sorted.
fn slt_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

/// Runs each `.slt` file of `dir` on a fresh connection from `connect`;
/// panics with the file and the runner's message on the first failure.
/// Returns the number of files run.
pub async fn run_slt_dir<D, F>(dir: &Path, connect: F) -> usize
where
    D: AsyncDB + 'static,
    F: Fn() -> D + Clone + Send + 'static,
{
    let files = slt_files(dir);
    for file in &files {
        let connect = connect.clone();
        let mut runner = Runner::new(move || {
            let db = connect();
            async move { Ok::<D, D::Error>(db) }
        });
        if let Err(e) = runner.run_file_async(file).await {
            panic!("{}: {}", file.display(), e.display(false));
        }
    }
    files.len()
}
