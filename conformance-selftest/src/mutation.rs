//! The mutation self-test: every mutant of [`crate::mutants`] must fail at least one check.
//! For speed, the checks expected to kill a mutant run first and the run stops at the first
//! kill; only a mutant that survives them meets the whole suite. Before the mutants, the
//! unmutated server (directly and through the proxy, with W = 20000, W = -1 and a configured
//! origin) must pass every MUST check: a suite that fails correct servers kills everything.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use conformance::target::TargetOptions;
use conformance::{checks, run_one, Ctx, Level, Outcome, Target};
use pixstore_server::faults::Faults;

use crate::mutants::{self, Env, How, Mutant, Side, P};
use crate::proxy::{self, Hook, Upstream};
use crate::server::{self, ServerOptions};

/// The result of one mutant.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The mutant.
    pub mutant: Mutant,
    /// The check that killed it, if one did.
    pub killed_by: Option<&'static str>,
    /// Whether that check was one of the expected killers.
    pub expected: bool,
    /// Checks run.
    pub checks_run: usize,
    /// What the killing check said (first line).
    pub message: String,
}

/// A proxy in front of a server's endpoint and control interface: what the suite connects to.
#[derive(Debug)]
pub struct Front {
    /// The endpoint's route URL (`https://` with TLS).
    pub endpoint: String,
    /// The control interface's URL (plain HTTP; its /info names `endpoint`).
    pub control: String,
    /// The listeners (stopped on drop).
    pub listeners: Vec<proxy::Listener>,
}

/// Puts mutant `p` (or [`P::Transparent`]) in front of `server`, the endpoint over TLS when
/// `tls` is given.
pub async fn front(p: P, server: &server::Server, tls: Option<Arc<rustls::ServerConfig>>) -> Result<Front, String> {
    front_of(p, server.endpoint, server.control, server.ring.clone(), server.window, server.skew_ms, tls).await
}

/// [`front`] for any server at these addresses.
pub async fn front_of(
    p: P,
    endpoint: std::net::SocketAddr,
    control: std::net::SocketAddr,
    ring: proto::proof::Keyring,
    window: proto::proof::Window,
    skew_ms: u64,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<Front, String> {
    let dead = Arc::new(AtomicBool::new(false));
    // The listeners exist before the proxy state: /info must name the endpoint listener.
    let slot: Arc<Mutex<Option<Arc<Env>>>> = Arc::new(Mutex::new(None));
    let hook_for = |side: Side, slot: Arc<Mutex<Option<Arc<Env>>>>| -> Hook {
        Arc::new(move |req| {
            let env = slot.lock().ok().and_then(|g| g.clone());
            Box::pin(async move {
                match env {
                    Some(env) => mutants::handle(p, side, req, &env).await,
                    None => None,
                }
            })
        })
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let e = proxy::listen_with(tls, hook_for(Side::Endpoint, slot.clone()), dead.clone()).await?;
    let c = proxy::listen_with(None, hook_for(Side::Control, slot.clone()), Arc::new(AtomicBool::new(false))).await?;
    let own_endpoint = format!("{scheme}://{}/pixstore-image", e.addr);
    let env = Env {
        endpoint: Upstream::new(endpoint)?,
        control: Upstream::new(control)?,
        ring,
        window,
        skew_ms,
        route: "/pixstore-image".into(),
        own_endpoint: own_endpoint.clone(),
        ids: Mutex::new(Vec::new()),
        fake_tokens: Mutex::new(Default::default()),
        records: Mutex::new(Default::default()),
        dead,
    };
    if let Ok(mut s) = slot.lock() {
        *s = Some(Arc::new(env));
    }
    let control = format!("http://{}", c.addr);
    Ok(Front { endpoint: own_endpoint, control, listeners: vec![e, c] })
}

/// A server and the target the suite sees (the server itself, or a mutating proxy before it).
pub struct Setup {
    server: server::Server,
    _listeners: Vec<proxy::Listener>,
    /// The target.
    pub ctx: Ctx,
}

/// Starts a server for `mutant` (`None`: unmutated, directly) and connects the suite to it.
pub async fn setup(window_ms: i64, allow_origin: Option<&str>, how: Option<How>) -> Result<Setup, String> {
    let faults = match how {
        Some(How::Fault(name)) => Faults::from_names(name)?,
        _ => Faults::default(),
    };
    let server = server::start(&ServerOptions {
        window_ms,
        allow_origin: allow_origin.map(str::to_owned),
        faults,
        ..ServerOptions::default()
    })
    .await?;
    let mut listeners = Vec::new();
    let (endpoint, control) = match how {
        Some(How::Proxy(p)) => {
            let f = front(p, &server, None).await?;
            listeners.extend(f.listeners);
            (f.endpoint, f.control)
        }
        _ => (format!("http://{}/pixstore-image", server.endpoint), format!("http://{}", server.control)),
    };
    let target =
        Target::connect(TargetOptions { endpoint: Some(endpoint), control: Some(control), ..TargetOptions::default() })
            .await?;
    Ok(Setup { server, _listeners: listeners, ctx: Ctx { target } })
}

impl Setup {
    /// Stops the server.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Runs `mutant`: its expected killers first, then, if it survives, every other check.
pub async fn run_mutant(mutant: &Mutant) -> Result<Verdict, String> {
    let s = setup(mutant.window_ms, mutant.allow_origin, Some(mutant.how)).await?;
    let all = checks::all();
    let order = mutant
        .killers
        .iter()
        .filter_map(|k| all.iter().find(|c| c.id == *k))
        .chain(all.iter().filter(|c| !mutant.killers.contains(&c.id)));
    let mut verdict =
        Verdict { mutant: *mutant, killed_by: None, expected: false, checks_run: 0, message: String::new() };
    for check in order {
        verdict.checks_run += 1;
        if let Outcome::Fail(f) = run_one(check, &s.ctx).await.outcome {
            verdict.message = format!("[{}] {}", f.code, f.message.lines().next().unwrap_or(""));
            verdict.killed_by = Some(check.id);
            verdict.expected = mutant.killers.contains(&check.id);
            break;
        }
    }
    s.shutdown().await;
    Ok(verdict)
}

/// The MUST failures of the unmutated server in every configuration the mutants use, directly
/// and through the transparent proxy.
pub async fn baseline() -> Result<Vec<String>, String> {
    let mut failures = Vec::new();
    for (window, origin) in [(20_000, None), (-1, None), (20_000, Some("https://app.example"))] {
        for how in [None, Some(How::Proxy(P::Transparent))] {
            let s = setup(window, origin, how).await?;
            for check in checks::all() {
                let report = run_one(&check, &s.ctx).await;
                if let (Outcome::Fail(f), Level::Must) = (&report.outcome, check.level) {
                    let via = if how.is_some() { "through the proxy" } else { "directly" };
                    failures.push(format!(
                        "W = {window}, origin {origin:?}, {via}: {} [{}] {}",
                        check.id, f.code, f.message
                    ));
                }
            }
            s.shutdown().await;
        }
    }
    Ok(failures)
}

/// Runs the baseline and every mutant whose id contains `filter`, prints the table and the score
/// per spec section; whether every mutant was killed (and the baseline passed).
pub async fn run_all(filter: Option<&str>) -> Result<bool, String> {
    let started = Instant::now();
    let base = baseline().await?;
    for f in &base {
        println!("BASELINE FAIL {f}");
    }
    println!(
        "baseline: the unmutated server passes every MUST check ({} failures) in {:.1} s",
        base.len(),
        started.elapsed().as_secs_f64()
    );
    let selected: Vec<Mutant> =
        mutants::all().into_iter().filter(|m| filter.is_none_or(|f| m.id.contains(f))).collect();
    let mut verdicts = Vec::new();
    println!("\n{:<36} {:<5} {:<9} {:<7} killed by", "mutant", "§", "breaks", "how");
    for m in &selected {
        let v = run_mutant(m).await?;
        let how = match m.how {
            How::Fault(_) => "fault",
            How::Proxy(_) => "proxy",
        };
        let killer = match (v.killed_by, v.expected) {
            (Some(k), true) => k.to_owned(),
            (Some(k), false) => format!("{k} (not an expected killer; after {} checks)", v.checks_run),
            (None, _) => format!("SURVIVED ({} checks)", v.checks_run),
        };
        println!("{:<36} {:<5} {:<9} {:<7} {killer}", m.id, m.section, m.requirement, how);
        if std::env::var_os("PIXSTORE_MUTATION_VERBOSE").is_some() {
            println!("    {}: {}", m.what, v.message.chars().take(160).collect::<String>());
        }
        verdicts.push(v);
    }
    let mut by_section: BTreeMap<u32, (String, usize, usize)> = BTreeMap::new();
    for v in &verdicts {
        let key = v.mutant.section.parse::<u32>().unwrap_or(100);
        let e = by_section.entry(key).or_insert_with(|| (v.mutant.section.to_owned(), 0, 0));
        e.2 += 1;
        if v.killed_by.is_some() {
            e.1 += 1;
        }
    }
    println!("\nscore per spec section (killed/total):");
    for (section, killed, total) in by_section.values() {
        println!("  §{section:<4} {killed}/{total}");
    }
    let killed = verdicts.iter().filter(|v| v.killed_by.is_some()).count();
    println!("\nnot run, cannot be observed from outside:");
    for (req, section, why) in mutants::UNOBSERVABLE {
        println!("  §{section:<4} {req:<9} {why}");
    }
    println!(
        "\nmutation score: {killed}/{} killed ({} distinct requirements) in {:.1} s",
        verdicts.len(),
        verdicts.iter().map(|v| v.mutant.requirement).collect::<std::collections::BTreeSet<_>>().len(),
        started.elapsed().as_secs_f64()
    );
    Ok(base.is_empty() && killed == verdicts.len())
}
