//! `pixstore-client`: fetch Pixstore images into files, and manage the client's cache.

// The workspace's core/alloc lints serve the no_std protocol crate; this crate is std-only.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

mod adapter;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pixstore_client::cache::{Cache, DirCache, MemoryCache};
use pixstore_client::config::{ClientConfig, ClientOptions};
use pixstore_client::fetcher::{HttpFetcher, Progress, ProgressFn};
use pixstore_client::proto::record::ImageRecord;
use pixstore_client::{Client, Source};

/// The Pixstore reference client.
#[derive(Debug, Parser)]
#[command(name = "pixstore-client", version, about)]
struct Cli {
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every command (flags win over PIXSTORE_* variables, which win over --config).
#[derive(Debug, Args)]
struct Options {
    /// TOML configuration file with the seed's names (defaultEndpointConnectHost = "https://...", ...).
    #[arg(long, global = true, env = "PIXSTORE_CLIENT_CONFIG")]
    config: Option<PathBuf>,
    /// defaultEndpointConnectHost: host or IP, with https:// for TLS (no prefix = http).
    #[arg(long, global = true, env = "PIXSTORE_CONNECT_HOST")]
    host: Option<String>,
    /// defaultEndpointConnectPort [default: 7482].
    #[arg(long, global = true, env = "PIXSTORE_CONNECT_PORT")]
    port: Option<i64>,
    /// defaultEndpointRoute [default: /pixstore-image].
    #[arg(long, global = true, env = "PIXSTORE_ROUTE")]
    route: Option<String>,
    /// Cache directory [default: $XDG_CACHE_HOME/pixstore-client or ~/.cache/pixstore-client].
    #[arg(long, global = true, env = "PIXSTORE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// frontendImageCacheLimit: entries kept [default: 1000].
    #[arg(long, global = true, env = "PIXSTORE_CACHE_LIMIT", allow_hyphen_values = true)]
    cache_limit: Option<i64>,
    /// frontendCleanupBatch: extra entries evicted when over the limit [default: 50].
    #[arg(long, global = true, env = "PIXSTORE_CLEANUP_BATCH", allow_hyphen_values = true)]
    cleanup_batch: Option<i64>,
    /// Timeout of a whole request in ms [default: 300000].
    #[arg(long, global = true, env = "PIXSTORE_TIMEOUT_MS")]
    timeout_ms: Option<u64>,
    /// Also trust this PEM root certificate (private CA, self-signed endpoint).
    #[arg(long, global = true, env = "PIXSTORE_CA_CERT")]
    ca_cert: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fetch, verify and decrypt one image into a file.
    Get(GetArgs),
    /// Inspect or empty the cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Speak the client adapter protocol (spec Appendix C) on stdin/stdout, for
    /// `pixstore-conformance client -- pixstore-client adapter`. The requests carry the whole
    /// configuration; the options above are not used.
    Adapter {
        /// One request per line until stdin closes (the protocol's lines mode), instead of one
        /// request per process.
        #[arg(long)]
        lines: bool,
    },
}

#[derive(Debug, Args)]
struct GetArgs {
    /// ImageRecord JSON file, or - for standard input.
    #[arg(long, conflicts_with = "record_url", required_unless_present = "record_url")]
    record: Option<PathBuf>,
    /// URL that answers ImageRecord JSON (your app's API).
    #[arg(long)]
    record_url: Option<String>,
    /// Header for --record-url, as "Name: value" (repeatable), e.g. "Authorization: Bearer ...".
    #[arg(long, requires = "record_url")]
    record_header: Vec<String>,
    /// Where to write the image, or - for standard output. An existing file is never replaced
    /// unless --force is given (it may be the image you stored).
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing --out file (atomically: readers see the old file or the new one).
    #[arg(long)]
    force: bool,
    /// Use an in-memory cache (nothing read from or written to the cache directory).
    #[arg(long)]
    no_cache: bool,
    /// Never draw a progress bar (it is drawn only on a terminal, for answers of 1 MiB or more).
    #[arg(long)]
    no_progress: bool,
}

#[derive(Debug, Subcommand)]
enum CacheCommand {
    /// List the cached entries, least recently used first.
    Ls {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove entries by id.
    Rm {
        /// Image ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Remove every entry.
    Clear,
}

/// Progress bars start at this size (smaller downloads finish before a bar would help).
const PROGRESS_FROM: u64 = 1 << 20;

fn options(o: &Options) -> Result<ClientConfig, String> {
    let base = match &o.config {
        Some(path) => ClientOptions::read(path).map_err(|e| report(&e))?,
        None => ClientOptions::default(),
    };
    let flags = ClientOptions {
        default_endpoint_connect_host: o.host.clone(),
        default_endpoint_connect_port: o.port,
        default_endpoint_route: o.route.clone(),
        frontend_image_cache_limit: o.cache_limit,
        frontend_cleanup_batch: o.cleanup_batch,
        cache_dir: o.cache_dir.clone(),
        request_timeout_ms: o.timeout_ms,
        ..ClientOptions::default()
    };
    base.overlay(flags).resolve().map_err(|e| report(&e))
}

fn open_dir_cache(config: &ClientConfig) -> Result<DirCache, String> {
    let dir =
        config.cache_dir().ok_or("no cache directory: pass --cache-dir or set PIXSTORE_CACHE_DIR (HOME is not set)")?;
    DirCache::open(dir).map_err(|e| report(&e))
}

fn progress_reporter() -> ProgressFn {
    let bar: Arc<Mutex<Option<ProgressBar>>> = Arc::new(Mutex::new(None));
    Arc::new(move |p: Progress<'_>| {
        let mut slot = bar.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() && p.total.unwrap_or(p.received) >= PROGRESS_FROM {
            let pb = match p.total {
                Some(total) => {
                    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                    if let Ok(style) = ProgressStyle::with_template(
                        "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}",
                    ) {
                        pb.set_style(style.progress_chars("=> "));
                    }
                    pb
                }
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            pb.set_message(p.id.to_owned());
            *slot = Some(pb);
        }
        if let Some(pb) = slot.as_ref() {
            pb.set_position(p.received);
            if p.total.is_some_and(|t| p.received >= t) {
                pb.finish_and_clear();
            }
        }
    })
}

async fn read_record(args: &GetArgs, config: &ClientConfig, ca: Option<&[u8]>) -> Result<ImageRecord, String> {
    let bytes = match (&args.record, &args.record_url) {
        (Some(path), _) if path.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map_err(|e| format!("cannot read the record from stdin: {e}"))?;
            buf
        }
        (Some(path), _) => {
            std::fs::read(path).map_err(|e| format!("cannot read the record {}: {e}", path.display()))?
        }
        (None, Some(url)) => {
            let mut b = reqwest_client_builder(config);
            if let Some(pem) = ca {
                b = b.add_root_certificate(
                    pixstore_client::reqwest::Certificate::from_pem(pem).map_err(|e| format!("--ca-cert: {e}"))?,
                );
            }
            let http = b.build().map_err(|e| report(&e))?;
            let mut req = http.get(url);
            for h in &args.record_header {
                let (name, value) =
                    h.split_once(':').ok_or_else(|| format!("--record-header {h:?}: expected \"Name: value\""))?;
                req = req.header(name.trim(), value.trim());
            }
            let r = req.send().await.map_err(|e| format!("cannot fetch the record from {url}: {e}"))?;
            if !r.status().is_success() {
                return Err(format!("{url} answered HTTP {} instead of an ImageRecord", r.status()));
            }
            r.bytes().await.map_err(|e| format!("cannot read the record from {url}: {e}"))?.to_vec()
        }
        (None, None) => return Err("give --record FILE (or -) or --record-url URL".into()),
    };
    ImageRecord::from_json(&bytes).map_err(|e| format!("invalid image record: {e}"))
}

fn reqwest_client_builder(config: &ClientConfig) -> pixstore_client::reqwest::ClientBuilder {
    pixstore_client::reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(config.timeouts.connect)
        .timeout(config.timeouts.request)
}

/// Writes `bytes` to `out` atomically (pixstore-fs): a new temporary file under a random name in
/// the same folder, flushed, then renamed to `out`. A failed run never leaves a partial image
/// under the final name, and nothing planted in the folder is followed: not a symlink at a
/// temporary name, and not one at `out` itself. Without `force`, whatever exists at `out` (a
/// file, a symlink) is left as it was and the write fails (the check is the rename itself,
/// `persist_noclobber`, so a file created meanwhile is not replaced either); with `force` it is
/// replaced, never written through.
fn write_out(out: &Path, bytes: &[u8], force: bool) -> Result<(), String> {
    if out.as_os_str() == "-" {
        let mut stdout = std::io::stdout().lock();
        return stdout.write_all(bytes).and_then(|()| stdout.flush()).map_err(|e| format!("cannot write stdout: {e}"));
    }
    if out.file_name().is_none() {
        return Err(format!("--out {}: not a file name", out.display()));
    }
    // 0o666 before the umask, as `std::fs::write` and shell redirection create files.
    match pixstore_fs::AtomicWrite::new().mode(0o666).replace(force).write(out, bytes) {
        Err(e) if !force && e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists(out)),
        r => r.map_err(|e| report(&e)),
    }
}

/// The error for an `--out` that exists (without `--force`).
fn exists(out: &Path) -> String {
    format!("--out {} already exists; choose another name, or --force to replace it", out.display())
}

/// An error and its causes, each printed once: `message: cause: cause of the cause`.
fn report(e: &(dyn std::error::Error + 'static)) -> String {
    pixstore_client::error::Report(e).to_string()
}

async fn get(options_: &Options, args: GetArgs) -> Result<(), String> {
    let config = options(options_)?;
    let ca = match &options_.ca_cert {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("cannot read --ca-cert {}: {e}", p.display()))?),
        None => None,
    };
    // Before any request: an existing --out is refused at once (write_out checks it again,
    // atomically, at the rename).
    if !args.force && args.out.as_os_str() != "-" && std::fs::symlink_metadata(&args.out).is_ok() {
        return Err(exists(&args.out));
    }
    let record = read_record(&args, &config, ca.as_deref()).await?;
    let mut fetcher = HttpFetcher::builder(&config).map_err(|e| report(&e))?;
    if let Some(pem) = &ca {
        fetcher = fetcher.add_root_certificate_pem(pem).map_err(|e| report(&e))?;
    }
    if !args.no_progress {
        fetcher = fetcher.progress(progress_reporter());
    }
    let fetcher = fetcher.build().map_err(|e| report(&e))?;
    let builder = Client::builder().config(config.clone()).fetcher(fetcher);
    let builder =
        if args.no_cache { builder.cache(MemoryCache::new()) } else { builder.cache(open_dir_cache(&config)?) };
    let client = builder.build().map_err(|e| report(&e))?;
    let image = client.get_image(&record, &()).await.map_err(|e| report(&e))?;
    write_out(&args.out, image.bytes(), args.force)?;
    let source = match image.source() {
        Source::Cache => "from the cache".to_owned(),
        Source::Network(state) if image.token() != record.token => {
            format!("fetched ({}: version {} is newer than the record's {})", state.name(), image.token(), record.token)
        }
        Source::Network(state) => format!("fetched ({})", state.name()),
    };
    eprintln!(
        "{}: {} bytes, {}, {source} -> {}",
        record.id,
        image.bytes().len(),
        image.mime(),
        if args.out.as_os_str() == "-" { "stdout".into() } else { args.out.display().to_string() }
    );
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for Unix ms (civil-from-days, proleptic Gregorian).
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms % 1000)
}

async fn cache(options_: &Options, command: CacheCommand) -> Result<(), String> {
    let config = options(options_)?;
    let cache = open_dir_cache(&config)?;
    match command {
        CacheCommand::Ls { json } => {
            let entries = cache.list().await.map_err(|e| report(&e))?;
            let mut out = std::io::stdout().lock();
            let result = if json {
                let list: Vec<_> = entries
                    .iter()
                    .map(|e| {
                        serde_json::json!({"id": e.id, "token": e.token.get(), "bytes": e.len, "lastUsedMs": e.last_used_ms})
                    })
                    .collect();
                writeln!(out, "{}", serde_json::Value::Array(list))
            } else {
                let mut r = writeln!(out, "ID\tTOKEN\tBYTES\tLAST USED");
                for e in &entries {
                    r = r.and_then(|()| writeln!(out, "{}\t{}\t{}\t{}", e.id, e.token, e.len, rfc3339(e.last_used_ms)));
                }
                r
            };
            result.map_err(|e| format!("cannot write stdout: {e}"))?;
            eprintln!("{} entries in {}", entries.len(), cache.root().display());
            Ok(())
        }
        CacheCommand::Rm { ids } => {
            for id in ids {
                if cache.delete(&id).await.map_err(|e| report(&e))? {
                    eprintln!("removed {id}");
                } else {
                    eprintln!("not cached: {id}");
                }
            }
            Ok(())
        }
        CacheCommand::Clear => {
            let n = cache.clear().await.map_err(|e| report(&e))?;
            eprintln!("removed {n} entries from {}", cache.root().display());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PIXSTORE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pixstore-client: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Get(args) => get(&cli.options, args).await,
            Command::Cache { command } => cache(&cli.options, command).await,
            Command::Adapter { lines } => adapter::run(lines).await,
        }
    });
    // Blocking cache tasks are short; do not wait for a stuck one.
    runtime.shutdown_timeout(Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pixstore-client: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::{report, rfc3339};

    #[test]
    fn report_prints_each_cause_once() {
        let e = pixstore_client::GetImageError::Decode {
            id: "a".into(),
            source: pixstore_client::proto::wire::DecodeError::Empty,
        };
        let text = report(&e);
        assert!(text.starts_with("image a: the endpoint's answer is not a Pixstore payload: "), "{text}");
        assert_eq!(text.matches("wire payload is empty").count(), 1, "{text}");
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_732_752_012_345), "2024-11-28T00:00:12.345Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}

#[cfg(all(test, unix))]
mod write_out_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::os::unix::fs::symlink;

    use super::write_out;

    /// `--out` into a folder where someone planted symlinks: at the temporary name the client
    /// used before (`.<name>.pixstore-<pid>`, predictable) and at the output name. No write goes
    /// through either; the output is a new regular file.
    #[test]
    fn a_planted_symlink_is_never_followed() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let planted = dir.path().join(format!(".photo.png.pixstore-{}", std::process::id()));
        symlink(&victim, &planted).unwrap();
        let out = dir.path().join("photo.png");
        write_out(&out, b"image bytes", false).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(std::fs::symlink_metadata(&planted).unwrap().file_type().is_symlink(), "left as it was");
        assert!(std::fs::symlink_metadata(&out).unwrap().file_type().is_file());
        assert_eq!(std::fs::read(&out).unwrap(), b"image bytes");

        // A symlink at the output name: refused without --force, left as it was; replaced with
        // it, never written through.
        let out2 = dir.path().join("second.png");
        symlink(&victim, &out2).unwrap();
        let err = write_out(&out2, b"second image", false).unwrap_err();
        assert!(err.contains("already exists") && err.contains("--force"), "{err}");
        assert!(std::fs::symlink_metadata(&out2).unwrap().file_type().is_symlink());
        write_out(&out2, b"second image", true).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(std::fs::symlink_metadata(&out2).unwrap().file_type().is_file());
        assert_eq!(std::fs::read(&out2).unwrap(), b"second image");
    }

    /// A failed write leaves nothing: no output, no temporary file.
    #[test]
    fn a_failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_out(&dir.path().join("missing/photo.png"), b"x", false).unwrap_err();
        assert!(err.contains("cannot create a temporary file in") && err.contains("missing"), "{err}");
        // The target is a folder: the rename fails, and the temporary file is removed.
        let taken = dir.path().join("taken.png");
        std::fs::create_dir(&taken).unwrap();
        std::fs::write(taken.join("inside"), b"x").unwrap();
        assert!(write_out(&taken, b"x", true).unwrap_err().contains("cannot move the new file into place"));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["taken.png"]);
    }
}
