//! `cargo test -p conformance-selftest --test broken_clients`: the broken-client self-test (see
//! `conformance_selftest::broken_clients`). Prints the table; fails if the client without a bug
//! fails a client check or a bug survives. `PIXSTORE_BROKEN_CLIENTS=FILTER` runs only bugs whose
//! name contains it (and no baseline).
#![allow(missing_docs, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--list") {
        println!("broken_clients: test\n\n1 test, 0 benchmarks");
        return ExitCode::SUCCESS;
    }
    let filter = std::env::var("PIXSTORE_BROKEN_CLIENTS").ok().filter(|f| !f.is_empty());
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_pixstore-broken-client"));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("broken_clients: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(conformance_selftest::broken_clients::run_all(&bin, filter.as_deref())) {
        Ok(true) => {
            println!("1 passed, 0 failed");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("0 passed, 1 failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("broken_clients: could not run: {e}");
            ExitCode::FAILURE
        }
    }
}
