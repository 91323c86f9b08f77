//! `pixstore-broken-client --bug NAME [--lines]`: the self-tests' client behind the client
//! adapter protocol (spec Appendix C), with one rule broken (`--bug none`: none; the list is in
//! `conformance_selftest::broken_client::BUGS`). One request on stdin, or one per line with
//! `--lines`.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::io::{BufRead as _, Read as _, Write as _};
use std::process::ExitCode;

use conformance_selftest::broken_client;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lines = args.iter().any(|a| a == "--lines");
    let name = args.iter().position(|a| a == "--bug").and_then(|i| args.get(i + 1)).map_or("none", String::as_str);
    let bug = match broken_client::bug(name) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("pixstore-broken-client: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pixstore-broken-client: {e}");
            return ExitCode::from(2);
        }
    };
    let answer = |text: &[u8]| {
        let req: serde_json::Value = serde_json::from_slice(text).unwrap_or_default();
        let out = runtime.block_on(broken_client::answer(&req, bug));
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{out}").and_then(|()| stdout.flush()).is_ok()
    };
    if lines {
        for line in std::io::stdin().lock().split(b'\n') {
            let Ok(line) = line else { break };
            if !line.iter().all(u8::is_ascii_whitespace) && !answer(&line) {
                return ExitCode::FAILURE;
            }
        }
        return ExitCode::SUCCESS;
    }
    let mut input = Vec::new();
    if std::io::stdin().read_to_end(&mut input).is_err() || !answer(&input) {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
