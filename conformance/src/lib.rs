//! The Pixstore conformance suite: checks an endpoint against spec v1, requirement by
//! requirement.
//!
//! Each [`Check`] has a stable id tied to a spec section (`PXS-9.1-missing-proof`), the
//! requirement IDs it covers and a [`Level`]. [`run`] executes checks against a [`Target`] and
//! returns [`Report`]s; [`known_failing`] compares them with a list of expected failures;
//! [`report`] renders text, JSON and JUnit XML. The golden vectors of `spec/vectors/` run against
//! pixstore-proto as checks too ([`vectors`]), and [`vectors::run_decoder`] runs an external
//! decoder process over them.
// The workspace's core/alloc lints serve the no_std protocol crate; this crate is std-only.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

pub mod checks;
pub mod hexdump;
pub mod http;
pub mod known_failing;
pub mod reference;
pub mod report;
pub mod target;
pub mod vectors;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

pub use proto;
pub use target::Target;

use crate::http::Exchange;

/// How strongly the spec requires what a check checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Level {
    /// A MUST: a failure fails the run.
    Must,
    /// A SHOULD: a failure fails the run only with `--strict`.
    Should,
}

/// Why a check did not pass.
#[derive(Debug, Clone)]
pub struct Failure {
    /// A short stable reason code (`state`, `header`, `decrypt`, ...), matched by the
    /// known-failing list so that a check failing for another reason is noticed.
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// The exchange that showed it.
    pub exchange: Option<Box<Exchange>>,
}

/// How a check ended early.
#[derive(Debug, Clone)]
pub enum Stop {
    /// It failed.
    Fail(Failure),
    /// It could not run (no control interface, validation disabled, ...).
    Skip(String),
}

/// The result type of a check body.
pub type CheckResult = Result<(), Stop>;

/// A check's body.
pub type CheckFn = for<'a> fn(&'a Ctx) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>>;

/// One check of the suite.
#[derive(Clone, Copy)]
pub struct Check {
    /// Stable id: `PXS-<spec section>-<slug>`. Never reused for another meaning.
    pub id: &'static str,
    /// The spec section.
    pub section: &'static str,
    /// Requirement IDs covered.
    pub requirements: &'static [&'static str],
    /// MUST or SHOULD.
    pub level: Level,
    /// What it checks, one line.
    pub title: &'static str,
    /// The body.
    pub run: CheckFn,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("id", &self.id).finish()
    }
}

/// What every check gets: the target and helpers.
#[derive(Debug)]
pub struct Ctx {
    /// The implementation under test.
    pub target: Target,
}

/// A failure with a code and a message.
pub fn fail(code: &'static str, message: impl Into<String>) -> Stop {
    Stop::Fail(Failure { code, message: message.into(), exchange: None })
}

/// A failure with the exchange that shows it.
pub fn fail_with(code: &'static str, message: impl Into<String>, ex: &Exchange) -> Stop {
    Stop::Fail(Failure { code, message: message.into(), exchange: Some(Box::new(ex.clone())) })
}

/// An error of the harness or the transport (the implementation did not answer).
pub fn transport(e: String) -> Stop {
    fail("transport", e)
}

/// The outcome of one check.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// It passed.
    Pass,
    /// It failed.
    Fail(Failure),
    /// It could not run, and why.
    Skip(String),
}

/// One check's outcome with what the report needs.
#[derive(Debug, Clone)]
pub struct Report {
    /// The check's id.
    pub id: &'static str,
    /// Its section.
    pub section: &'static str,
    /// Its requirements.
    pub requirements: &'static [&'static str],
    /// Its level.
    pub level: Level,
    /// Its title.
    pub title: &'static str,
    /// What happened.
    pub outcome: Outcome,
    /// How long it took.
    pub duration: Duration,
}

/// Runs one check.
pub async fn run_one(check: &Check, ctx: &Ctx) -> Report {
    let started = Instant::now();
    let outcome = match (check.run)(ctx).await {
        Ok(()) => Outcome::Pass,
        Err(Stop::Fail(f)) => Outcome::Fail(f),
        Err(Stop::Skip(why)) => Outcome::Skip(why),
    };
    Report {
        id: check.id,
        section: check.section,
        requirements: check.requirements,
        level: check.level,
        title: check.title,
        outcome,
        duration: started.elapsed(),
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p.get(pi) == t.get(ti) || p.get(pi) == Some(&'?')) {
            pi += 1;
            ti += 1;
        } else if p.get(pi) == Some(&'*') {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while p.get(pi) == Some(&'*') {
        pi += 1;
    }
    pi == p.len()
}

/// Selects checks: `only` globs (any matches; all checks when empty), minus `skip` globs.
/// A bare prefix such as `PXS-8` also selects every id starting with it.
pub fn select<'c>(checks: &'c [Check], only: &[String], skip: &[String]) -> Vec<&'c Check> {
    let matches = |pattern: &String, id: &str| glob(pattern, id) || id.starts_with(pattern.as_str());
    checks
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|p| matches(p, c.id)))
        .filter(|c| !skip.iter().any(|p| matches(p, c.id)))
        .collect()
}
