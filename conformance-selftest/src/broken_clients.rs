//! The broken-client self-test: the client checks against every bug of
//! [`crate::broken_client`]. The client without a bug must pass every check, MUST and SHOULD,
//! through the default endpoint and through the custom route; then each bug must be caught by at
//! least one check. For speed the checks expected to catch a bug run first and the run stops at
//! the first failure; a bug they miss meets every other check before it counts as surviving.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use conformance::client::adapter::{Adapter, Mode};
use conformance::client::{self, ClientCtx, ClientOptions};
use conformance::{run_one, Outcome};

use crate::broken_client::{Bug, BUGS};

/// The result for one bug.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The bug.
    pub bug: Bug,
    /// The check that caught it, if one did.
    pub caught_by: Option<&'static str>,
    /// Whether that check is one of the expected ones.
    pub expected: bool,
    /// What the check said (first line).
    pub message: String,
}

/// The client adapter command of the broken client with `bug` (`none`: no bug).
pub fn command(bin: &Path, bug: &str) -> Vec<String> {
    vec![bin.display().to_string(), "--bug".into(), bug.into()]
}

async fn context(bin: &Path, bug: &str, via_template: bool) -> Result<ClientCtx, String> {
    let adapter = Adapter::new(command(bin, bug), Mode::PerStep, Duration::from_secs(60))?;
    ClientCtx::connect(adapter, ClientOptions { via_template, ..ClientOptions::default() }).await
}

/// The client without a bug against every check: the failures (empty: all passed).
pub async fn baseline(bin: &Path) -> Result<Vec<String>, String> {
    let mut failures = Vec::new();
    for via_template in [false, true] {
        let ctx = context(bin, "none", via_template).await?;
        for check in client::all() {
            let report = run_one(&check, &ctx).await;
            match report.outcome {
                Outcome::Pass => {}
                Outcome::Fail(f) => {
                    failures.push(format!("{} (template: {via_template}): [{}] {}", check.id, f.code, f.message))
                }
                Outcome::Skip(why) => {
                    failures.push(format!("{} (template: {via_template}) was skipped: {why}", check.id))
                }
            }
        }
    }
    Ok(failures)
}

/// Runs the checks against the client with `bug`, expected catchers first, until one fails.
pub async fn run_bug(bin: &Path, bug: Bug) -> Result<Verdict, String> {
    let ctx = context(bin, bug.name, false).await?;
    let all = client::all();
    let (first, rest): (Vec<_>, Vec<_>) = all.iter().partition(|c| bug.caught_by.contains(&c.id));
    for check in first.into_iter().chain(rest) {
        if let Outcome::Fail(f) = run_one(check, &ctx).await.outcome {
            return Ok(Verdict {
                bug,
                caught_by: Some(check.id),
                expected: bug.caught_by.contains(&check.id),
                message: format!("[{}] {}", f.code, f.message.lines().next().unwrap_or("")),
            });
        }
    }
    Ok(Verdict { bug, caught_by: None, expected: false, message: String::new() })
}

/// The broken-client binary next to the running one (cargo puts both in one folder).
pub fn sibling_binary() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = me.parent().ok_or("no folder")?;
    // Tests run from target/<profile>/deps; binaries are one level up.
    for d in [dir, dir.parent().unwrap_or(dir)] {
        let candidate = d.join(format!("pixstore-broken-client{}", std::env::consts::EXE_SUFFIX));
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!("pixstore-broken-client is not built next to {}: cargo build -p conformance-selftest --bin pixstore-broken-client", me.display()))
}

/// The whole self-test; prints the table. `Ok(false)`: the baseline failed or a bug survived.
pub async fn run_all(bin: &Path, filter: Option<&str>) -> Result<bool, String> {
    let started = Instant::now();
    let mut ok = true;
    if filter.is_none() {
        let failures = baseline(bin).await?;
        for f in &failures {
            println!("BASELINE FAIL {f}");
        }
        ok &= failures.is_empty();
        let verdict =
            if failures.is_empty() { "passes all".to_owned() } else { format!("FAILS {} of", failures.len()) };
        println!(
            "baseline: the client without a bug {verdict} {} client checks, through the default endpoint and the custom route ({:.1} s)",
            client::all().len(),
            started.elapsed().as_secs_f64()
        );
    }
    println!("\n{:<30} {:<10} caught by", "bug", "breaks");
    let mut caught = 0;
    let mut total = 0;
    for bug in BUGS.iter().filter(|b| filter.is_none_or(|f| b.name.contains(f))) {
        total += 1;
        let v = run_bug(bin, *bug).await?;
        let by = match (v.caught_by, v.expected) {
            (Some(c), true) => c.to_owned(),
            (Some(c), false) => format!("{c} (not the expected {})", bug.caught_by.join(", ")),
            (None, _) => "SURVIVED".to_owned(),
        };
        println!("{:<30} {:<10} {by}", bug.name, bug.breaks);
        if std::env::var_os("PIXSTORE_MUTATION_VERBOSE").is_some() {
            println!("    {}: {}", bug.what, v.message.chars().take(200).collect::<String>());
        }
        if v.caught_by.is_some() {
            caught += 1;
        } else {
            ok = false;
        }
    }
    println!("\nbroken clients caught: {caught}/{total} in {:.1} s", started.elapsed().as_secs_f64());
    Ok(ok)
}
