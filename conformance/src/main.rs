//! `pixstore-conformance`: run the conformance suite against an endpoint, the client checks
//! against a client adapter (`client`), a decoder over the golden vectors (`decoder`), or the
//! differential decoder fuzzer (`fuzz-decoder`). With no target it starts a reference server and
//! checks that (feature `reference`, on by default).
//!
//! Exit codes: 0 every counted check passed (and the known-failing list matched); 1 failures;
//! 2 could not test (bad arguments, unreachable target, unreadable files).
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use conformance::cli::TargetArgs;
use conformance::client::adapter::{Adapter, Mode};
use conformance::client::{ClientCtx, ClientOptions};
use conformance::known_failing::KnownFailing;
use conformance::report::RunInfo;
use conformance::{checks, report, run_one, select, Check, Context, Ctx};

/// The Pixstore conformance suite (spec v1).
#[derive(Debug, Parser)]
#[command(name = "pixstore-conformance", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a decoder adapter over the wire vectors: `decoder -- node adapter.mjs`.
    Decoder {
        /// Known-failing list of vector ids (`<vector id> decoder  # why`).
        #[arg(long)]
        known_failing: Option<PathBuf>,
        /// A vector folder to use instead of the compiled-in spec/vectors.
        #[arg(long)]
        vectors: Option<PathBuf>,
        /// The adapter speaks the line mode of spec Appendix D (one process, hex in, JSON out).
        #[arg(long)]
        lines: bool,
        /// The adapter command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Run the client checks against a client adapter (spec Appendix C): `client -- CMD ARGS`.
    Client(ClientArgs),
    /// Differential fuzzing of a decoder adapter (spec Appendix D) against pixstore-proto:
    /// `fuzz-decoder --seconds 20 --lines -- CMD ARGS`. The first disagreement of an unknown
    /// class is minimised and written as a vector file (schema of spec/vectors/wire_decode.json).
    FuzzDecoder(FuzzArgs),
    /// pixstore-proto's decoder behind the decoder adapter protocol (spec Appendix D): the
    /// payload on stdin, its description on stdout; with --lines, hex payloads one per line.
    /// What a correct adapter prints, and the reference for `fuzz-decoder`'s own tests.
    DecoderAdapter {
        /// One hex payload per line until stdin closes, one description per line.
        #[arg(long)]
        lines: bool,
    },
}

#[derive(Debug, clap::Args)]
struct FuzzArgs {
    /// How long to generate inputs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// At most this many inputs (with --seed, the same inputs on every machine).
    #[arg(long)]
    cases: Option<u64>,
    /// The seed of the input generator (ChaCha8: the same inputs with every version).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The adapter speaks the line mode of spec Appendix D (one process; much faster).
    #[arg(long)]
    lines: bool,
    /// The decoder's known-failing list (`<vector id> decoder  # why`): the disagreement classes
    /// of its listed vectors are expected, and only other classes fail the run.
    #[arg(long)]
    known_failing: Option<PathBuf>,
    /// Where to write the minimised disagreement as a vector file.
    #[arg(long, default_value = "fuzz-decoder-finding.json")]
    out: PathBuf,
    /// Keep fuzzing after the first unknown disagreement (to see every class).
    #[arg(long)]
    keep_going: bool,
    /// The adapter command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct ClientArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// The adapter is one long-lived process speaking JSON lines (Appendix C.1), e.g. a
    /// browser that keeps its IndexedDB between steps. Default: one process per step.
    #[arg(long)]
    lines: bool,
    /// Send every check through the custom route and the adapter's custom fetcher
    /// (`endpointTemplate`, Appendix C.5) instead of the default endpoint.
    #[arg(long)]
    via_template: bool,
    /// How long the suite waits for one adapter outcome before it reports the adapter as silent
    /// and kills it (ms).
    #[arg(long, default_value_t = 60_000)]
    adapter_timeout_ms: u64,
    /// The fetch bound given to the client (`timeoutMs`) in every check but the hang check (ms).
    #[arg(long, default_value_t = 10_000)]
    fetch_timeout_ms: u64,
    /// The adapter command and its arguments.
    #[arg(last = true, required_unless_present = "list")]
    command: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Junit,
    Html,
}

/// What to run and how to report it (endpoint and client runs alike).
#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// SHOULD failures fail the run too.
    #[arg(long)]
    strict: bool,
    /// Run only checks matching these globs or id prefixes (e.g. PXS-8 or 'PXS-10.*').
    #[arg(long)]
    only: Vec<String>,
    /// Skip checks matching these globs or id prefixes.
    #[arg(long)]
    skip: Vec<String>,
    /// Known-failing list: listed checks must fail with the listed code.
    #[arg(long)]
    known_failing: Option<PathBuf>,
    /// Rewrite the --known-failing file from this run's failures instead of comparing.
    #[arg(long, requires = "known_failing")]
    write_known_failing: bool,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write the report here instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
    /// List the checks and exit.
    #[arg(long)]
    list: bool,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    report: ReportArgs,
}

fn load_known(path: Option<&PathBuf>, must_exist: bool) -> Result<KnownFailing, String> {
    match path {
        None => Ok(KnownFailing::default()),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(text) => KnownFailing::parse(&text).map_err(|e| format!("{}: {e}", p.display())),
            Err(_) if !must_exist => Ok(KnownFailing::default()),
            Err(e) => Err(format!("{}: {e}", p.display())),
        },
    }
}

fn list<C>(selected: &[&Check<C>]) {
    for c in selected {
        let profile = match c.profile {
            conformance::Profile::AnyEndpoint => "any",
            conformance::Profile::DefaultEndpoint => "default",
            conformance::Profile::Client => "client",
        };
        println!("{:<48} {:<6} {:<8} {:<24} {}", c.id, c.level.label(), profile, c.requirements.join(","), c.title);
    }
}

/// The known-failing list for a run of `selected` (with --only/--skip, only the selected
/// checks are compared with the list).
fn known_for<C>(args: &ReportArgs, selected: &[&Check<C>]) -> Result<KnownFailing, String> {
    let known = load_known(args.known_failing.as_ref(), !args.write_known_failing)?;
    let selected_ids: Vec<&str> = selected.iter().map(|c| c.id).collect();
    Ok(if args.only.is_empty() && args.skip.is_empty() { known } else { known.restricted_to(&selected_ids) })
}

/// Runs `selected` in `ctx` one after the other, with a progress bar.
async fn run_checks<C: Context>(selected: &[&Check<C>], ctx: &C) -> Vec<conformance::Report> {
    let bar = indicatif::ProgressBar::new(u64::try_from(selected.len()).unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut reports = Vec::new();
    for check in selected {
        bar.set_message(check.id);
        reports.push(run_one(check, ctx).await);
        bar.inc(1);
    }
    bar.finish_and_clear();
    reports
}

/// Writes the report, compares with the known-failing list; whether the run passed.
fn finish(
    reports: &[conformance::Report],
    known: &KnownFailing,
    args: &ReportArgs,
    run_info: &RunInfo,
) -> Result<bool, String> {
    if args.write_known_failing {
        let path = args.known_failing.as_ref().ok_or("--write-known-failing needs --known-failing FILE")?;
        std::fs::write(path, known.regenerate(reports)).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    let text = match args.format {
        Format::Text => report::text(reports, known, run_info),
        Format::Json => report::json(reports, known, run_info),
        Format::Junit => report::junit(reports, known, run_info),
        Format::Html => report::html(reports, known, run_info),
    };
    match &args.output {
        Some(path) => std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    let summary = report::summarize(reports, known, args.strict);
    let problems = if args.write_known_failing { Vec::new() } else { known.compare(reports) };
    for p in &problems {
        eprintln!("known-failing: {p}");
    }
    if !matches!(args.format, Format::Text) || args.output.is_some() {
        for w in &run_info.warnings {
            eprintln!("WARNING: {w}");
        }
        eprintln!("{} passed, {} failed, {} skipped", summary.passed, summary.failed, summary.skipped);
    }
    Ok(summary.failed == 0 && problems.is_empty())
}

async fn run(args: RunArgs) -> Result<bool, String> {
    let all = checks::all();
    let selected = select(&all, &args.report.only, &args.report.skip);
    if args.report.list {
        list(&selected);
        return Ok(true);
    }
    let known = known_for(&args.report, &selected)?;
    let (target, reference) = conformance::cli::connect(&args.target).await?;
    for w in &target.warnings {
        eprintln!("WARNING: {w}");
    }
    if target.control.is_none() {
        eprintln!("no control interface: checks that store images are skipped");
    }
    let run_info = RunInfo {
        target: target.endpoint.label(),
        control: target.control.as_ref().map(|c| c.url().to_string()),
        implementation: target.info.as_ref().and_then(|i| i.implementation.clone()),
        protocol: target.protocol.label().to_owned(),
        warnings: target.warnings.clone(),
        strict: args.report.strict,
    };
    let ctx = Ctx { target };
    let reports = run_checks(&selected, &ctx).await;
    #[cfg(feature = "reference")]
    if let Some(r) = reference {
        r.shutdown().await;
    }
    #[cfg(not(feature = "reference"))]
    let _ = reference;
    finish(&reports, &known, &args.report, &run_info)
}

async fn client(args: ClientArgs) -> Result<bool, String> {
    let all = conformance::client::all();
    let selected = select(&all, &args.report.only, &args.report.skip);
    if args.report.list {
        list(&selected);
        return Ok(true);
    }
    let known = known_for(&args.report, &selected)?;
    let mode = if args.lines { Mode::Lines } else { Mode::PerStep };
    let adapter = Adapter::new(args.command.clone(), mode, Duration::from_millis(args.adapter_timeout_ms))?;
    let options = ClientOptions { via_template: args.via_template, fetch_timeout_ms: args.fetch_timeout_ms };
    let ctx = ClientCtx::connect(adapter, options).await?;
    let run_info = RunInfo {
        target: format!("client adapter `{}`", args.command.join(" ")),
        control: None,
        implementation: Some(ctx.info.name.clone()),
        protocol: format!(
            "client adapter protocol v1, {}, {}",
            mode.label(),
            if args.via_template { "custom route (endpointTemplate)" } else { "default endpoint" }
        ),
        warnings: Vec::new(),
        strict: args.report.strict,
    };
    let reports = run_checks(&selected, &ctx).await;
    ctx.adapter.shutdown().await;
    finish(&reports, &known, &args.report, &run_info)
}

async fn decoder(
    known_failing: Option<PathBuf>,
    vectors: Option<PathBuf>,
    lines: bool,
    command: Vec<String>,
) -> Result<bool, String> {
    let wire = match vectors {
        Some(dir) => conformance::vectors::load_wire(&dir)?,
        None => conformance::vectors::compiled_wire()?,
    };
    let known = load_known(known_failing.as_ref(), true)?;
    let results = conformance::vectors::run_decoder(&command, lines, &wire).await?;
    let (mut passed, mut failed, mut expected) = (0, 0, 0);
    let mut problems = Vec::new();
    for (id, result) in &results {
        match (result, known.contains(id)) {
            (Ok(()), false) => passed += 1,
            (Ok(()), true) => problems.push(format!("{id} is listed as known-failing but passes")),
            (Err(e), true) => {
                expected += 1;
                println!("  xfail {id}: {e}");
            }
            (Err(e), false) => {
                failed += 1;
                println!("  FAIL  {id}: {e}");
            }
        }
    }
    for id in known.entries.keys() {
        if !results.iter().any(|(r, _)| r == id) {
            problems.push(format!("{id} is listed as known-failing but is no vector"));
        }
    }
    for p in &problems {
        eprintln!("known-failing: {p}");
    }
    println!("{expected} expected failures (known-failing list)");
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0 && problems.is_empty())
}

fn decoder_adapter(lines: bool) -> Result<bool, String> {
    use std::io::{BufRead as _, Read as _, Write as _};
    let mut out = std::io::stdout().lock();
    let mut say = |input: &[u8]| {
        writeln!(out, "{}", conformance::vectors::describe(input))
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))
    };
    if !lines {
        let mut input = Vec::new();
        std::io::stdin().read_to_end(&mut input).map_err(|e| format!("stdin: {e}"))?;
        say(&input)?;
        return Ok(true);
    }
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let input = conformance::vectors::hex(line.trim()).map_err(|e| format!("not a hex payload: {e}"))?;
        say(&input)?;
    }
    Ok(true)
}

async fn fuzz_decoder(args: FuzzArgs) -> Result<bool, String> {
    use conformance::fuzz;
    let mut decoder = conformance::vectors::Decoder::new(&args.command, args.lines)?;
    let wire = conformance::vectors::compiled_wire()?;
    let listed = load_known(args.known_failing.as_ref(), true)?;
    let known = fuzz::known_classes(&mut decoder, &listed, &wire).await?;
    if !known.is_empty() {
        println!("known disagreement classes (from {} listed vectors):", listed.entries.len());
        for (class, id) in &known {
            println!("  {class}  (e.g. {id})");
        }
    }
    let options = fuzz::FuzzOptions {
        seed: args.seed,
        duration: Duration::from_secs(args.seconds),
        max_cases: args.cases,
        known: known.clone(),
        stop_at_first: !args.keep_going,
    };
    let report = fuzz::run(&mut decoder, &options).await?;
    decoder.close().await;
    let secs = report.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        format!("{:.0}", f64::from(u32::try_from(report.cases).unwrap_or(u32::MAX)) / secs)
    } else {
        "-".into()
    };
    println!(
        "fuzz-decoder: seed {}, {} inputs in {secs:.1} s ({rate}/s), {} decoder process(es)",
        args.seed, report.cases, report.starts
    );
    for (class, (n, d)) in &report.classes {
        let mark = if known.contains_key(class) { "known" } else { "NEW" };
        println!(
            "  {mark:<5} {class}: {n} input(s); first at case {} after {:.2} s, minimised {} -> {} bytes ({} steps): {}",
            d.case,
            d.after.as_secs_f64(),
            d.input.len(),
            d.minimised.len(),
            d.steps,
            conformance::vectors::to_hex(&d.minimised)
        );
    }
    let Some(first) = &report.first_unknown else {
        println!("no disagreement outside the known classes");
        return Ok(true);
    };
    let file = fuzz::vector_file(first, args.seed);
    let text = serde_json::to_string_pretty(&file).unwrap_or_default() + "\n";
    std::fs::write(&args.out, text).map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!(
        "DISAGREEMENT {}: case {} after {:.2} s, minimised from {} to {} bytes; written to {} (a wire_decode vector: add it to your tests)",
        first.class,
        first.case,
        first.after.as_secs_f64(),
        first.input.len(),
        first.minimised.len(),
        args.out.display()
    );
    Ok(false)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pixstore-conformance: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Some(Command::Decoder { known_failing, vectors, lines, command }) => {
                decoder(known_failing, vectors, lines, command).await
            }
            Some(Command::Client(args)) => client(args).await,
            Some(Command::FuzzDecoder(args)) => fuzz_decoder(args).await,
            Some(Command::DecoderAdapter { lines }) => decoder_adapter(lines),
            None => run(cli.run).await,
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("pixstore-conformance: could not test: {e}");
            ExitCode::from(2)
        }
    }
}
