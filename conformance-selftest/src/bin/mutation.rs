//! `pixstore-mutation [FILTER]`: the conformance suite against every single-rule mutant of the
//! reference server; prints the table and the score per spec section; exit 1 if a mutant
//! survives or the unmutated server fails a MUST check, 2 if the run could not start.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let filter = std::env::args().nth(1);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pixstore-mutation: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(conformance_selftest::mutation::run_all(filter.as_deref())) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("pixstore-mutation: could not run: {e}");
            ExitCode::from(2)
        }
    }
}
