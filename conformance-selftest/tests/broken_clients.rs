//! `cargo test -p conformance-selftest --test broken_clients`: the broken-client self-test (see
//! `conformance_selftest::broken_clients`). Prints the table; fails if the client without a bug
//! fails a client check or a bug survives. `PIXSTORE_BROKEN_CLIENTS=FILTER` runs only bugs whose
//! name contains it (and no baseline).
#![allow(missing_docs)]

fn main() -> std::process::ExitCode {
    test_support::single_test_main("broken_clients", || async {
        let filter = std::env::var("PIXSTORE_BROKEN_CLIENTS").ok().filter(|f| !f.is_empty());
        let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_pixstore-broken-client"));
        conformance_selftest::broken_clients::run_all(&bin, filter.as_deref()).await
    })
}
