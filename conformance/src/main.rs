//! `pixstore-conformance`: run the conformance suite against an endpoint, or run a decoder over
//! the golden vectors. With no target it starts a reference server and checks that (feature
//! `reference`, on by default).
//!
//! Exit codes: 0 every counted check passed (and the known-failing list matched); 1 failures;
//! 2 could not test (bad arguments, unreachable target, unreadable files).
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use conformance::cli::TargetArgs;
use conformance::known_failing::KnownFailing;
use conformance::report::RunInfo;
use conformance::{checks, report, run_one, select, Ctx};

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
        /// The adapter command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Junit,
    Html,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    target: TargetArgs,
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

async fn run(args: RunArgs) -> Result<bool, String> {
    let all = checks::all();
    let selected = select(&all, &args.only, &args.skip);
    if args.list {
        for c in &selected {
            let profile = match c.profile {
                conformance::Profile::AnyEndpoint => "any",
                conformance::Profile::DefaultEndpoint => "default",
            };
            println!("{:<48} {:<6} {:<8} {:<24} {}", c.id, c.level.label(), profile, c.requirements.join(","), c.title);
        }
        return Ok(true);
    }
    let known = load_known(args.known_failing.as_ref(), !args.write_known_failing)?;
    // With --only/--skip, only the selected checks are compared with the list.
    let selected_ids: Vec<&str> = selected.iter().map(|c| c.id).collect();
    let known = if args.only.is_empty() && args.skip.is_empty() { known } else { known.restricted_to(&selected_ids) };
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
        strict: args.strict,
    };
    let ctx = Ctx { target };
    let bar = indicatif::ProgressBar::new(u64::try_from(selected.len()).unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut reports = Vec::new();
    for check in selected {
        bar.set_message(check.id);
        reports.push(run_one(check, &ctx).await);
        bar.inc(1);
    }
    bar.finish_and_clear();
    #[cfg(feature = "reference")]
    if let Some(r) = reference {
        r.shutdown().await;
    }
    #[cfg(not(feature = "reference"))]
    let _ = reference;

    if args.write_known_failing {
        let path = args.known_failing.as_ref().ok_or("--write-known-failing needs --known-failing FILE")?;
        std::fs::write(path, known.regenerate(&reports)).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    let text = match args.format {
        Format::Text => report::text(&reports, &known, &run_info),
        Format::Json => report::json(&reports, &known, &run_info),
        Format::Junit => report::junit(&reports, &known, &run_info),
        Format::Html => report::html(&reports, &known, &run_info),
    };
    match &args.output {
        Some(path) => std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    let summary = report::summarize(&reports, &known, args.strict);
    let problems = if args.write_known_failing { Vec::new() } else { known.compare(&reports) };
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

async fn decoder(
    known_failing: Option<PathBuf>,
    vectors: Option<PathBuf>,
    command: Vec<String>,
) -> Result<bool, String> {
    let wire = match vectors {
        Some(dir) => conformance::vectors::load_wire(&dir)?,
        None => conformance::vectors::compiled_wire()?,
    };
    let known = load_known(known_failing.as_ref(), true)?;
    let results = conformance::vectors::run_decoder(&command, &wire).await?;
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
            Some(Command::Decoder { known_failing, vectors, command }) => {
                decoder(known_failing, vectors, command).await
            }
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
