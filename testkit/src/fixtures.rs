//! Where the tests' input files are. The project's own fixtures live with the engine, in
//! `engine/tests/fixtures/`, because the engine's unit tests read them too and cannot use this
//! crate; every other test reaches them through here. The shared corpus beside the repository
//! (`../shared/corpus`) is never read unless `ADSHARD_CORPUS_DIR` names it: the tests must
//! pass on a fresh clone with nothing beside it, and `scripts/acceptance` sets the variable to
//! run the differential checks over the whole corpus.

use std::path::{Path, PathBuf};

/// The environment variable naming a corpus directory laid out like `../shared/corpus`
/// (`iab-examples/`, `prebid-sample-requests/`), absolute or relative to the test's package.
pub const CORPUS_DIR_VAR: &str = "ADSHARD_CORPUS_DIR";

/// `engine/tests/fixtures/`.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/fixtures")
}

/// The bytes of `relative` under [`dir`]; a missing fixture fails the test that wanted it.
pub fn read(relative: &str) -> Vec<u8> {
    let path = dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// The `*.json` files directly in `relative` under [`dir`], in name order.
pub fn json_files(relative: &str) -> Vec<PathBuf> {
    json_files_in(&dir().join(relative))
}

/// The `*.json` files directly in `dir`, in name order.
pub fn json_files_in(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("listing {}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
}

/// The corpus named by [`CORPUS_DIR_VAR`], or `None` when it is unset. Set but missing is a
/// failure, not a skip: a typo must not turn the differential checks into no checks.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os(CORPUS_DIR_VAR)?);
    assert!(
        dir.is_dir(),
        "{CORPUS_DIR_VAR} is {}, which is not a directory",
        dir.display()
    );
    Some(dir)
}
