//! `pixstore-server`: run the reference server and manage its images and keys.

// The workspace's core/alloc lints serve the no_std protocol crate; this crate is std-only.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pixstore_server::config::{Config, FileConfig, StoreConfig};
use pixstore_server::store::{Store as _, StoreBackend};

// jemalloc rather than glibc's malloc: a Success response makes about 12 allocations (hyper's
// request head, header maps, our futures); jemalloc takes about 3.8 % fewer instructions per
// response for them (callgrind, bench/profile.sh) for about 2 MiB more resident memory (19.1
// MiB warm and 20.7 with 50 stalled readers of an 8 MiB image, against 17.2 and 18.6), which it
// keeps flat after a load as glibc does. mimalloc was as fast and held 10 MiB more. Measured in
// docs/server-benchmarks.md, "The allocator".
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The Pixstore reference server.
#[derive(Debug, Parser)]
#[command(name = "pixstore-server", version, about)]
struct Cli {
    /// TOML configuration file (keys as in the seed docs: defaultEndpointListenPort, ...).
    #[arg(long, global = true, env = "PIXSTORE_CONFIG")]
    config: Option<PathBuf>,
    /// Log lines on stderr: `text` for people, `json` (one object per line) for log shippers and
    /// scripts. Levels and targets come from PIXSTORE_LOG (e.g. `debug` logs every request).
    #[arg(long, global = true, env = "PIXSTORE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Every server option (flag, PIXSTORE_* variable and TOML key are defined once, in
    /// `pixstore_server::config::FileConfig`).
    #[command(flatten)]
    options: FileConfig,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// An image id, as a positional argument or as `--id ID`. Ids may begin with `-` (one in 64
/// generated ids does): both forms take it as printed by `put`, no `--` needed.
#[derive(Debug, Args)]
struct IdArg {
    /// The image id.
    #[arg(value_name = "ID", allow_hyphen_values = true, required_unless_present = "id_option")]
    id: Option<String>,
    /// The image id (the same, as an option).
    #[arg(long = "id", value_name = "ID", allow_hyphen_values = true, conflicts_with = "id")]
    id_option: Option<String>,
}

impl IdArg {
    fn get(self) -> String {
        self.id.or(self.id_option).unwrap_or_default()
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the default endpoint (and the control interface with --control, the ops listener
    /// unless --ops false).
    Serve(ServeArgs),
    /// Store an image file; prints its ImageRecord JSON.
    Put {
        /// The image file.
        file: PathBuf,
        /// Optional id prefix (dir:).
        #[arg(long)]
        dir: Option<String>,
    },
    /// Replace an image; prints the new ImageRecord JSON.
    Update {
        #[command(flatten)]
        id: IdArg,
        /// The new image file.
        #[arg(long = "file", value_name = "FILE")]
        file_option: Option<PathBuf>,
        /// The new image file (positional, after ID).
        #[arg(value_name = "FILE", required_unless_present = "file_option")]
        file: Option<PathBuf>,
    },
    /// Delete an image.
    Delete {
        #[command(flatten)]
        id: IdArg,
    },
    /// Print an image's current ImageRecord JSON with a fresh proof.
    Record {
        #[command(flatten)]
        id: IdArg,
    },
    /// Manage proof keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the key-encryption keys that seal image keys at rest.
    Kek {
        #[command(subcommand)]
        command: KekCommand,
    },
    /// Seal every stored version that is not under the current key-encryption key (plaintext
    /// ones included) under it; safe beside running servers (compare-and-swap).
    Rewrap,
}

#[derive(Debug, Subcommand)]
enum KekCommand {
    /// Create the KEK file with a first key (for an S3 store: once, then give the file to every
    /// instance; for an existing data folder: the first step of its migration, then `rewrap`).
    Init,
    /// Add a new current KEK; older ones keep opening what they sealed (run `rewrap` to move
    /// everything to the new one).
    Rotate,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create the first key of a data folder that has no key file (after a lost key file: with
    /// a key id above every one issued before; outstanding proofs do not verify).
    Init,
    /// Add a new signing key; older keys keep verifying (the newest 3 are kept).
    Rotate,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Print the bound addresses as one JSON line on stdout once listening (for scripts and tests).
    #[arg(long)]
    print_addresses: bool,
}

fn config(cli: &Cli) -> Result<Config, String> {
    let base = match &cli.config {
        Some(path) => FileConfig::read(path).map_err(|e| e.to_string())?,
        None => FileConfig::default(),
    };
    let options = cli.options.clone();
    Config::resolve(base.overlay(options)).map_err(|e| e.to_string())
}

/// SIGTERM or Ctrl-C. The handlers are installed when this is called (before the server
/// starts), so a signal that comes right after the addresses are printed is not lost.
/// SIGTERM or SIGINT. SIGHUP never ends the server (its default action would): with TLS it
/// reloads the certificate ([`pixstore_server::tls`]), without TLS it is logged and ignored, as
/// operators and log rotators send it to every daemon.
fn shutdown_signal(tls: bool) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    #[cfg(unix)]
    let int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    #[cfg(unix)]
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    async move {
        #[cfg(unix)]
        match (term, int, hup) {
            (Ok(mut term), Ok(mut int), Ok(mut hup)) => loop {
                tokio::select! {
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                    Some(()) = hup.recv() => if !tls {
                        tracing::info!("SIGHUP: nothing to reload (no TLS certificate configured); still serving");
                    },
                }
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tls;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn print_record(r: &proto::record::ImageRecord) {
    println!("{}", r.to_json());
}

/// The service of a command that touches the store; the store is checked first, so a missing
/// bucket is reported as such.
async fn open(config: &Config) -> Result<pixstore_server::service::ImageService<StoreBackend>, String> {
    let service = pixstore_server::open_service(config).map_err(|e| e.to_string())?;
    service.store().check().await.map_err(|e| format!("the store is not usable: {e}"))?;
    Ok(service)
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = config(&cli)?;
    let service = || open(&config);
    match cli.command {
        Command::Serve(args) => {
            let config = with_test_faults(config.clone())?;
            let signal = shutdown_signal(config.tls.is_some());
            let running = pixstore_server::start(config).await.map_err(|e| e.to_string())?;
            if args.print_addresses {
                println!(
                    "{}",
                    serde_json::json!({
                        "endpoint": running.endpoint.map(|a| a.to_string()),
                        "control": running.control.map(|a| a.to_string()),
                        "ops": running.ops.map(|a| a.to_string()),
                        "tls": running.tls.is_some(),
                    })
                );
            }
            signal.await;
            tracing::info!("shutting down: finishing requests in flight");
            running.shutdown().await;
            Ok(())
        }
        Command::Put { file, dir } => {
            print_record(&service().await?.save_file(&file, dir.as_deref()).await.map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Update { id, file, file_option } => {
            let file = file.or(file_option).unwrap_or_default();
            print_record(&service().await?.update_file(&id.get(), &file).await.map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Delete { id } => {
            let id = id.get();
            if service().await?.delete(&id).await.map_err(|e| e.to_string())? {
                Ok(())
            } else {
                Err(format!("no image with id {id:?}"))
            }
        }
        Command::Record { id } => {
            let id = id.get();
            match service().await?.record(&id).await.map_err(|e| e.to_string())? {
                Some(r) => {
                    print_record(&r);
                    Ok(())
                }
                None => Err(format!("no image with id {id:?}")),
            }
        }
        Command::Keys { command: KeysCommand::Init } => {
            let kid =
                pixstore_server::keys::init(&config.proof_keys_file, &config.data_dir).map_err(|e| e.to_string())?;
            eprintln!("new signing key {kid} in {}", config.proof_keys_file.display());
            Ok(())
        }
        Command::Keys { command: KeysCommand::Rotate } => {
            let kid = pixstore_server::keys::rotate(
                &config.proof_keys_file,
                Some(&config.data_dir),
                config.allow_insecure_key_file,
            )
            .map_err(|e| e.to_string())?;
            eprintln!("new signing key {kid} in {}; older keys keep verifying", config.proof_keys_file.display());
            Ok(())
        }
        Command::Kek { command } => {
            // The data folder keeps the record of issued KEK ids (never reused) for a
            // filesystem store, and for an S3 store when the KEK file lives in it.
            let data_dir = match config.store {
                StoreConfig::S3(_) if !config.kek_file.starts_with(&config.data_dir) => None,
                _ => Some(config.data_dir.as_path()),
            };
            let path = &config.kek_file;
            let kid = match command {
                KekCommand::Init => pixstore_server::kek::init(path, data_dir),
                KekCommand::Rotate => pixstore_server::kek::rotate(path, data_dir, config.allow_insecure_key_file),
            }
            .map_err(|e| e.to_string())?;
            eprintln!(
                "key-encryption key {kid} is current in {}; new versions are sealed under it (run `pixstore-server rewrap` to move older ones)",
                path.display()
            );
            Ok(())
        }
        Command::Rewrap => {
            let service = service().await?;
            let kek = service.wrapping_kek().ok_or(
                "no key-encryption key to seal under: run `pixstore-server kek init` first (with wrapKeys not false)",
            )?;
            eprintln!("rewrap: sealing every version under key-encryption key {kek}");
            let report = service
                .rewrap(|r| {
                    eprintln!(
                        "rewrap: {} ids seen, {} sealed anew, {} already current",
                        r.scanned, r.rewrapped, r.current
                    )
                })
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::json!({
                    "kek": kek,
                    "scanned": report.scanned,
                    "rewrapped": report.rewrapped,
                    "alreadyCurrent": report.current,
                    "gone": report.gone,
                })
            );
            Ok(())
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PIXSTORE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().init(),
        // Colours only for a terminal: escape codes in a log file or pipe are noise.
        LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
    }
}

/// `PIXSTORE_TEST_FAULTS` (only in builds with the `test-faults` feature): deliberate protocol
/// faults, so tests outside this crate can show that they catch a broken server.
#[cfg(feature = "test-faults")]
fn with_test_faults(config: Config) -> Result<Config, String> {
    match std::env::var("PIXSTORE_TEST_FAULTS") {
        Ok(names) if !names.is_empty() => {
            let faults = pixstore_server::faults::Faults::from_names(&names)?;
            tracing::warn!(faults = names, "PIXSTORE_TEST_FAULTS: serving deliberately BROKEN answers");
            Ok(config.with_faults(faults))
        }
        _ => Ok(config),
    }
}

#[cfg(not(feature = "test-faults"))]
fn with_test_faults(config: Config) -> Result<Config, String> {
    if std::env::var_os("PIXSTORE_TEST_FAULTS").is_some_and(|v| !v.is_empty()) {
        return Err("PIXSTORE_TEST_FAULTS is set, but this build has no test-faults feature".to_owned());
    }
    Ok(config)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pixstore-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pixstore-server: {e}");
            ExitCode::FAILURE
        }
    }
}
