//! `cargo test -p conformance`: every check is its own test, filterable by id
//! (`cargo test -p conformance -- PXS-8`), and every wire vector too (`-- VEC-`).
//!
//! Target: `PIXSTORE_CONTROL` (and `PIXSTORE_ENDPOINT`, default: the control interface's
//! /info) name the implementation; with neither, a reference server is started on 127.0.0.1:0.
//! `PIXSTORE_KNOWN_FAILING=FILE`: listed checks must fail with the listed code (and fail the
//! test if they pass). `PIXSTORE_STRICT=1`: SHOULD failures fail too. A check that cannot run
//! (no control interface, validation disabled) passes and says "skipped" in its output.
//! Checks run one at a time unless `--test-threads` says otherwise.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc
)]

use std::sync::{Arc, OnceLock};

use conformance::known_failing::KnownFailing;
use conformance::{checks, run_one, Ctx, Level, Outcome, Target};
use libtest_mimic::{Arguments, Failed, Trial};

struct World {
    runtime: tokio::runtime::Runtime,
    ctx: Ctx,
    known: KnownFailing,
    strict: bool,
    _reference: Option<conformance::reference::Reference>,
}

fn world() -> Result<&'static World, String> {
    static WORLD: OnceLock<Result<World, String>> = OnceLock::new();
    WORLD
        .get_or_init(|| {
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            let (endpoint, control) = (env("PIXSTORE_ENDPOINT"), env("PIXSTORE_CONTROL"));
            let (ctx, reference) = runtime.block_on(async {
                let reference = if endpoint.is_none() && control.is_none() {
                    Some(conformance::reference::start().await?)
                } else {
                    None
                };
                let (e, c) = match &reference {
                    Some(r) => (Some(r.endpoint.clone()), Some(r.control.clone())),
                    None => (endpoint, control),
                };
                let target = Target::connect(e.as_deref(), c.as_deref(), Vec::new()).await?;
                Ok::<_, String>((Ctx { target }, reference))
            })?;
            let known = match env("PIXSTORE_KNOWN_FAILING") {
                Some(path) => {
                    KnownFailing::parse(&std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?)?
                }
                None => KnownFailing::default(),
            };
            Ok(World { runtime, ctx, known, strict: env("PIXSTORE_STRICT").is_some(), _reference: reference })
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn check_trial(check: conformance::Check) -> Trial {
    let name = check.id;
    Trial::test(name, move || {
        let w = world().map_err(|e| Failed::from(format!("cannot reach the implementation: {e}")))?;
        let report = w.runtime.block_on(run_one(&check, &w.ctx));
        let listed = w.known.entries.get(check.id);
        match (&report.outcome, listed) {
            (Outcome::Pass, None) => Ok(()),
            (Outcome::Skip(why), None) => {
                println!("skipped: {why}");
                Ok(())
            }
            (Outcome::Fail(f), Some(entry)) if f.code == entry.code => {
                println!("known failure [{}]: {}", f.code, f.message);
                Ok(())
            }
            (Outcome::Fail(f), None) if check.level == Level::Should && !w.strict => {
                println!("SHOULD not met [{}]: {}", f.code, f.message);
                Ok(())
            }
            (Outcome::Fail(f), _) => {
                let evidence = f.exchange.as_deref().map(conformance::hexdump::evidence).unwrap_or_default();
                let expected = listed.map(|e| format!(" (known-failing lists code `{}`)", e.code)).unwrap_or_default();
                Err(format!(
                    "[{}] {}{expected}\n  requirements: {}\n{evidence}",
                    f.code,
                    f.message,
                    check.requirements.join(", ")
                )
                .into())
            }
            (Outcome::Pass, Some(entry)) => {
                Err(format!("listed as known-failing (`{}`) but passes: remove it from the list", entry.code).into())
            }
            (Outcome::Skip(why), Some(_)) => Err(format!("listed as known-failing but skipped: {why}").into()),
        }
    })
}

fn main() {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(1);
    }
    let mut trials: Vec<Trial> = checks::all().into_iter().map(check_trial).collect();
    // The golden wire vectors against pixstore-proto (the same vectors an adapter checks): the
    // decoder's requirements WIRE-1 and WIRE-5 to WIRE-12, one test per vector.
    let vectors = Arc::new(
        conformance::vectors::load_wire(&conformance::vectors::default_dir())
            .unwrap_or_else(|e| panic!("golden vectors: {e}")),
    );
    for v in vectors.iter() {
        let v = v.clone();
        trials.push(Trial::test(format!("VEC-{}", v.id), move || {
            conformance::vectors::compare(&v, &conformance::vectors::describe(&v.input)).map_err(Failed::from)
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}
