//! `pixstore-buggy-decoder --bug NAME [--lines]`: the fuzzer self-test's decoder behind the
//! decoder adapter protocol (spec Appendix D), with one bug (`--bug none`: none; the list is
//! `conformance_selftest::buggy_decoder::DECODER_BUGS`). A bug that crashes exits with status 3.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::io::{BufRead as _, Read as _, Write as _};
use std::process::ExitCode;

use conformance_selftest::buggy_decoder;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lines = args.iter().any(|a| a == "--lines");
    let name = args.iter().position(|a| a == "--bug").and_then(|i| args.get(i + 1)).map_or("none", String::as_str);
    let bug = match buggy_decoder::decoder_bug(name) {
        Ok(b) => b.map(|b| b.name),
        Err(e) => {
            eprintln!("pixstore-buggy-decoder: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let mut one = |input: &[u8]| match buggy_decoder::describe(input, bug) {
        Some(v) => writeln!(out, "{v}").and_then(|()| out.flush()).is_ok(),
        None => {
            eprintln!("pixstore-buggy-decoder: index out of range (the {name} bug)");
            false
        }
    };
    if lines {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return ExitCode::FAILURE };
            let input: Option<Vec<u8>> = (0..line.trim().len() / 2)
                .map(|i| line.trim().get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
                .collect();
            if !one(&input.unwrap_or_default()) {
                return ExitCode::from(3);
            }
        }
        return ExitCode::SUCCESS;
    }
    let mut input = Vec::new();
    if std::io::stdin().read_to_end(&mut input).is_err() || !one(&input) {
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}
