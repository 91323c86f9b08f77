//! `docs/server-options.md` is true to the flags. In the repository only: the package has no
//! `docs/` (`include` in Cargo.toml).
#![cfg(feature = "cli")]
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use pixstore_server::config::FileConfig;

/// The first table of `docs/server-options.md`: one row of four cells per option.
fn options_table(doc: &str) -> Vec<Vec<&str>> {
    doc.lines()
        .skip_while(|l| !l.starts_with("| TOML key |"))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| l.trim().trim_matches('|').split(" | ").map(str::trim).collect())
        .collect()
}

// The options table is true to the flags: every flag has its row, with its own variable, and
// every row has its four cells (a bad edit once merged rows of the variables table into it).
#[test]
fn every_flag_has_its_row_and_variable_in_the_options_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/server-options.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let table = options_table(&doc);
    assert!(table.len() >= 40, "the options table of {path} has {} rows", table.len());
    for row in &table {
        assert_eq!(row.len(), 4, "a row of the options table: {row:?}");
    }
    let cmd = <FileConfig as clap::Args>::augment_args(clap::Command::new("pixstore-server"));
    let mut flags = 0;
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        flags += 1;
        let (plain, with_value) = (format!("--{long}`"), format!("--{long}["));
        let row = table
            .iter()
            .find(|r| r[1].contains(&plain) || r[1].contains(&with_value))
            .unwrap_or_else(|| panic!("--{long} has no row in {path}"));
        let env = arg.get_env().map(|e| format!("`{}`", e.to_string_lossy()));
        assert_eq!(Some(row[2]), env.as_deref(), "the variable of --{long} in {path}");
    }
    assert_eq!(flags, table.len(), "one row per flag in {path}");
}
