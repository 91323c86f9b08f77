//! The Pixstore conformance suite: checks an endpoint against spec v1, requirement by
//! requirement.
//!
//! Each [`Check`] has a stable id tied to a spec section (`PXS-9.1-missing-proof`), the
//! requirement IDs it covers, a [`Level`] and a [`Profile`]. [`run_one`] executes a check against
//! its context and returns a [`Report`]; [`known_failing`] compares reports with a list of
//! expected failures; [`report`] renders text, JSON, JUnit XML and HTML. The golden vectors of
//! `spec/vectors/` (compiled into the binary) run against pixstore-proto as checks too
//! ([`vectors`]), and [`vectors::run_decoder`] runs an external decoder process over them.
//!
//! The machinery is generic over the context a check runs in: endpoint checks run in [`Ctx`]
//! (a [`Target`]); the client checks of [`client`] run in [`client::ClientCtx`] (an adapter
//! process and a hostile endpoint) and reuse ids, levels, reports, known-failing lists and
//! formats unchanged. [`fuzz`] is the differential decoder fuzzer.
// The workspace's core/alloc lints serve the no_std protocol crate; this crate is std-only.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

pub mod checks;
pub mod cli;
pub mod client;
pub mod fuzz;
pub mod hexdump;
pub mod http;
pub mod known_failing;
pub mod process;
#[cfg(feature = "reference")]
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

/// The version of this tool (reports carry it).
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How strongly the spec requires what a check checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Level {
    /// A MUST: a failure fails the run.
    Must,
    /// A SHOULD: a failure fails the run only with `--strict`.
    Should,
    /// Informative: reported, never fails the run (not a requirement of the protocol).
    Info,
}

impl Level {
    /// `MUST`, `SHOULD` or `INFO`.
    pub fn label(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::Info => "INFO",
        }
    }
}

/// Which targets a check applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Profile {
    /// Any endpoint: the serving logic of §9 and everything below it (states, proofs, tokens,
    /// envelope, records, consistency), the default endpoint or a custom one.
    AnyEndpoint,
    /// Only the default endpoint: the route shape of §10 (bare route, extra segments, 405 on the
    /// route, preflight). Reported as skipped against a custom endpoint.
    DefaultEndpoint,
    /// A client, through the client adapter protocol (spec Appendix C) and the suite's hostile
    /// endpoint ([`client`]).
    Client,
}

/// The requirement a failure most likely breaks, for the root-cause summary: many checks that
/// fail for one reason (a record whose token is a string) are named once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The requirement ID (`REC-3`).
    pub requirement: &'static str,
    /// What is wrong, the same text for every failure with this cause.
    pub summary: String,
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
    /// The requirement most likely broken, when the failure knows better than the check's
    /// first requirement.
    pub cause: Option<Cause>,
}

/// How a check ended early.
#[derive(Debug, Clone)]
pub enum Stop {
    /// It failed.
    Fail(Failure),
    /// It could not run (no control interface, validation disabled, ...).
    Skip(String),
}

impl Stop {
    /// The same failure, attributed to `requirement` in the root-cause summary (kept if it
    /// already has a cause).
    pub fn caused_by(self, requirement: &'static str, summary: impl Into<String>) -> Stop {
        match self {
            Stop::Fail(mut f) => {
                if f.cause.is_none() {
                    f.cause = Some(Cause { requirement, summary: summary.into() });
                }
                Stop::Fail(f)
            }
            skip => skip,
        }
    }

    /// The same failure with another failure code (a check keeps the code it always had, so
    /// known-failing lists stay valid).
    pub fn code(self, code: &'static str) -> Stop {
        match self {
            Stop::Fail(mut f) => {
                f.code = code;
                Stop::Fail(f)
            }
            skip => skip,
        }
    }

    /// The same failure with `context` in front of its message.
    pub fn context(self, context: &str) -> Stop {
        match self {
            Stop::Fail(mut f) => {
                f.message = format!("{context}: {}", f.message);
                Stop::Fail(f)
            }
            skip => skip,
        }
    }
}

/// The result type of a check body.
pub type CheckResult = Result<(), Stop>;

/// A boxed future of a check body.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>>;

/// A check's body, over its context `C`.
pub type CheckFn<C> = for<'a> fn(&'a C) -> CheckFuture<'a>;

/// What a context offers the runner: whether a check applies, and what to undo after one.
pub trait Context: Sync {
    /// Why a check of `profile` cannot run against this context, if it cannot.
    fn skip_reason(&self, profile: Profile) -> Option<String> {
        let _ = profile;
        None
    }

    /// Undoes what a check changed on the target (a frozen clock, say); runs after every check.
    fn cleanup(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}

/// One check of the suite, over its context `C` ([`Ctx`] for endpoint checks).
pub struct Check<C: 'static = Ctx> {
    /// Stable id: `PXS-<spec section>-<slug>`. Never reused for another meaning.
    pub id: &'static str,
    /// The spec section.
    pub section: &'static str,
    /// Requirement IDs covered.
    pub requirements: &'static [&'static str],
    /// MUST, SHOULD or informative.
    pub level: Level,
    /// Which targets it applies to.
    pub profile: Profile,
    /// What it checks, one line.
    pub title: &'static str,
    /// The body.
    pub run: CheckFn<C>,
}

impl<C> Clone for Check<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Check<C> {}

impl<C> std::fmt::Debug for Check<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("id", &self.id).finish()
    }
}

/// What every endpoint check gets: the target.
#[derive(Debug)]
pub struct Ctx {
    /// The implementation under test.
    pub target: Target,
}

impl Context for Ctx {
    fn skip_reason(&self, profile: Profile) -> Option<String> {
        match profile {
            Profile::DefaultEndpoint if !self.target.endpoint.is_default() => Some(
                "assumes the default endpoint's route shape (spec §10); the target is a custom endpoint (--endpoint-template)"
                    .into(),
            ),
            Profile::Client => Some("a client check; this run checks an endpoint (see `pixstore-conformance client`)".into()),
            _ => None,
        }
    }

    fn cleanup(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.target.restore_clock())
    }
}

/// A failure with a code and a message.
pub fn fail(code: &'static str, message: impl Into<String>) -> Stop {
    Stop::Fail(Failure { code, message: message.into(), exchange: None, cause: None })
}

/// A failure with the exchange that shows it.
pub fn fail_with(code: &'static str, message: impl Into<String>, ex: &Exchange) -> Stop {
    Stop::Fail(Failure { code, message: message.into(), exchange: Some(Box::new(ex.clone())), cause: None })
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

/// One check's outcome with what the report needs (independent of the check's context).
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

/// Runs one check in `ctx` (a check whose profile does not apply is skipped with the reason),
/// then lets the context undo what the check changed.
pub async fn run_one<C: Context>(check: &Check<C>, ctx: &C) -> Report {
    let started = Instant::now();
    let outcome = match ctx.skip_reason(check.profile) {
        Some(why) => Outcome::Skip(why),
        None => {
            let result = (check.run)(ctx).await;
            ctx.cleanup().await;
            match result {
                Ok(()) => Outcome::Pass,
                Err(Stop::Fail(f)) => Outcome::Fail(f),
                Err(Stop::Skip(why)) => Outcome::Skip(why),
            }
        }
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
pub fn select<'c, C>(checks: &'c [Check<C>], only: &[String], skip: &[String]) -> Vec<&'c Check<C>> {
    let matches = |pattern: &String, id: &str| glob(pattern, id) || id.starts_with(pattern.as_str());
    checks
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|p| matches(p, c.id)))
        .filter(|c| !skip.iter().any(|p| matches(p, c.id)))
        .collect()
}
