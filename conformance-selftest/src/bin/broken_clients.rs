//! `pixstore-broken-clients [FILTER]`: the client checks against the broken clients of the
//! self-test (`conformance_selftest::broken_client`); prints which check caught each; exit 1 if
//! the client without a bug fails a check or a bug survives, 2 if the run could not start.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let filter = std::env::args().nth(1);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pixstore-broken-clients: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let bin = conformance_selftest::broken_clients::sibling_binary()?;
        conformance_selftest::broken_clients::run_all(&bin, filter.as_deref()).await
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("pixstore-broken-clients: could not run: {e}");
            ExitCode::from(2)
        }
    }
}
