//! `cargo test -p conformance-selftest --test mutation`: the mutation self-test (see
//! `conformance_selftest::mutation`). Prints the table and the score per spec section; fails if a
//! listed mutant survives. `PIXSTORE_MUTANTS=FILTER` runs only mutants whose id contains it.
#![allow(missing_docs, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::process::ExitCode;

fn main() -> ExitCode {
    // libtest's flags (--list for cargo test --workspace listings, filters) are not ours.
    if std::env::args().any(|a| a == "--list") {
        println!("mutation: test\n\n1 test, 0 benchmarks");
        return ExitCode::SUCCESS;
    }
    let filter = std::env::var("PIXSTORE_MUTANTS").ok().filter(|f| !f.is_empty());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mutation: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(conformance_selftest::mutation::run_all(filter.as_deref())) {
        Ok(true) => {
            println!("1 passed, 0 failed");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("0 passed, 1 failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("mutation: could not run: {e}");
            ExitCode::FAILURE
        }
    }
}
