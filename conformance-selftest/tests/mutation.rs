//! `cargo test -p conformance-selftest --test mutation`: the mutation self-test (see
//! `conformance_selftest::mutation`). Prints the table and the score per spec section; fails if a
//! listed mutant survives. `PIXSTORE_MUTANTS=FILTER` runs only mutants whose id contains it.
#![allow(missing_docs)]

fn main() -> std::process::ExitCode {
    test_support::single_test_main("mutation", || async {
        let filter = std::env::var("PIXSTORE_MUTANTS").ok().filter(|f| !f.is_empty());
        conformance_selftest::mutation::run_all(filter.as_deref()).await
    })
}
