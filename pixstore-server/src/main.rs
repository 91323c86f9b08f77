//! `pixstore-server`: run the reference server and manage its images and keys.

// The workspace's core/alloc lints serve the no_std protocol crate; this crate is std-only.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pixstore_server::config::{Config, FileConfig};

/// The Pixstore reference server.
#[derive(Debug, Parser)]
#[command(name = "pixstore-server", version, about)]
struct Cli {
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every command (flags win over PIXSTORE_* variables, which win over --config).
#[derive(Debug, Args)]
struct Options {
    /// TOML configuration file (keys as in the seed docs: defaultEndpointListenPort, ...).
    #[arg(long, global = true, env = "PIXSTORE_CONFIG")]
    config: Option<PathBuf>,
    /// Folder for images and proof keys [default: ./pixstore-data].
    #[arg(long, global = true, env = "PIXSTORE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Proof keyring file [default: DATA_DIR/proof-keys.json].
    #[arg(long, global = true, env = "PIXSTORE_PROOF_KEYS_FILE")]
    proof_keys: Option<PathBuf>,
    /// statelessKeyWindowLength in ms; -1 disables proof validation [default: 20000].
    #[arg(long, global = true, env = "PIXSTORE_WINDOW_MS", allow_hyphen_values = true)]
    window_ms: Option<i64>,
    /// Accepted formats, comma-separated [default: png,webp,jpg,jpeg].
    #[arg(long, global = true, env = "PIXSTORE_IMAGE_FORMATS", value_delimiter = ',')]
    image_formats: Option<Vec<String>>,
    /// Largest accepted image in bytes [default: 33554432].
    #[arg(long, global = true, env = "PIXSTORE_MAX_IMAGE_BYTES")]
    max_image_bytes: Option<u64>,
    /// Log lines on stderr: `text` for people, `json` (one object per line) for log shippers and
    /// scripts. Levels and targets come from PIXSTORE_LOG (e.g. `debug` logs every request).
    #[arg(long, global = true, env = "PIXSTORE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the default endpoint (and the control interface with --control).
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
        /// The image id.
        id: String,
        /// The new image file.
        file: PathBuf,
    },
    /// Delete an image.
    Delete {
        /// The image id.
        id: String,
    },
    /// Print an image's current ImageRecord JSON with a fresh proof.
    Record {
        /// The image id.
        id: String,
    },
    /// Manage proof keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a new signing key; older keys keep verifying (the newest 3 are kept).
    Rotate,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// defaultEndpointListenHost [default: 0.0.0.0].
    #[arg(long, env = "PIXSTORE_LISTEN_HOST")]
    listen_host: Option<String>,
    /// defaultEndpointListenPort [default: 7482; 0 picks a free port].
    #[arg(long, env = "PIXSTORE_PORT")]
    port: Option<i64>,
    /// defaultEndpointRoute [default: /pixstore-image].
    #[arg(long, env = "PIXSTORE_ROUTE")]
    route: Option<String>,
    /// accessControlAllowOrigin [default: *].
    #[arg(long, env = "PIXSTORE_ALLOW_ORIGIN")]
    allow_origin: Option<String>,
    /// Turn the default endpoint off (defaultEndpointEnabled = false).
    #[arg(long)]
    no_default_endpoint: bool,
    /// Allowed proof clock skew in ms (0..=60000) [default: 5000].
    #[arg(long, env = "PIXSTORE_SKEW_MS")]
    skew_ms: Option<u64>,
    /// Memory for stored images kept ready to serve, in bytes [default: 268435456].
    #[arg(long, env = "PIXSTORE_CACHE_BYTES")]
    cache_bytes: Option<u64>,
    /// Serve the control interface (spec Appendix A).
    #[arg(long, env = "PIXSTORE_CONTROL")]
    control: bool,
    /// Control interface address [default: 127.0.0.1:7483].
    #[arg(long, env = "PIXSTORE_CONTROL_LISTEN")]
    control_listen: Option<String>,
    /// Allow a control address that is not loopback.
    #[arg(long)]
    control_public: bool,
    /// Print the bound addresses as one JSON line on stdout once listening (for scripts and tests).
    #[arg(long)]
    print_addresses: bool,
}

fn file_config(options: &Options, serve: Option<&ServeArgs>) -> Result<Config, String> {
    let base = match &options.config {
        Some(path) => FileConfig::read(path).map_err(|e| e.to_string())?,
        None => FileConfig::default(),
    };
    let mut flags = FileConfig {
        data_dir: options.data_dir.clone(),
        proof_keys_file: options.proof_keys.clone(),
        proof_keys: std::env::var("PIXSTORE_PROOF_KEYS").ok().filter(|k| !k.is_empty()),
        stateless_key_window_length: options.window_ms,
        image_formats: options.image_formats.clone(),
        max_image_bytes: options.max_image_bytes,
        ..FileConfig::default()
    };
    if let Some(s) = serve {
        flags.default_endpoint_listen_host = s.listen_host.clone();
        flags.default_endpoint_listen_port = s.port;
        flags.default_endpoint_route = s.route.clone();
        flags.access_control_allow_origin = s.allow_origin.clone();
        flags.default_endpoint_enabled = s.no_default_endpoint.then_some(false);
        flags.proof_skew_ms = s.skew_ms;
        flags.cache_bytes = s.cache_bytes;
        flags.control = s.control.then_some(true);
        flags.control_listen = s.control_listen.clone();
        flags.control_public = s.control_public.then_some(true);
    }
    Config::resolve(base.overlay(flags)).map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn print_record(r: &proto::record::ImageRecord) {
    println!("{}", r.to_json());
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve(args) => {
            let config = with_test_faults(file_config(&cli.options, Some(&args))?)?;
            let running = pixstore_server::start(config).await.map_err(|e| e.to_string())?;
            if args.print_addresses {
                println!(
                    "{}",
                    serde_json::json!({
                        "endpoint": running.endpoint.map(|a| a.to_string()),
                        "control": running.control.map(|a| a.to_string()),
                    })
                );
            }
            shutdown_signal().await;
            tracing::info!("shutting down: finishing requests in flight");
            running.shutdown().await;
            Ok(())
        }
        Command::Put { file, dir } => {
            let service =
                pixstore_server::open_service(&file_config(&cli.options, None)?).map_err(|e| e.to_string())?;
            print_record(&service.save_file(&file, dir.as_deref()).await.map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Update { id, file } => {
            let service =
                pixstore_server::open_service(&file_config(&cli.options, None)?).map_err(|e| e.to_string())?;
            print_record(&service.update_file(&id, &file).await.map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Delete { id } => {
            let service =
                pixstore_server::open_service(&file_config(&cli.options, None)?).map_err(|e| e.to_string())?;
            if service.delete(&id).await.map_err(|e| e.to_string())? {
                Ok(())
            } else {
                Err(format!("no image with id {id:?}"))
            }
        }
        Command::Record { id } => {
            let service =
                pixstore_server::open_service(&file_config(&cli.options, None)?).map_err(|e| e.to_string())?;
            match service.record(&id).await.map_err(|e| e.to_string())? {
                Some(r) => {
                    print_record(&r);
                    Ok(())
                }
                None => Err(format!("no image with id {id:?}")),
            }
        }
        Command::Keys { command: KeysCommand::Rotate } => {
            let config = file_config(&cli.options, None)?;
            let kid = pixstore_server::keys::rotate(&config.proof_keys_file).map_err(|e| e.to_string())?;
            eprintln!("new signing key {kid} in {}; older keys keep verifying", config.proof_keys_file.display());
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
    init_logging(cli.options.log_format);
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
