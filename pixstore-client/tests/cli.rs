//! The `pixstore-client` binary against a reference server: `get` writes a file identical to the
//! image stored with the server's `save_file` (what `pixstore-server put` runs), from a record
//! file, standard input or a record URL; `cache ls|rm|clear`; errors exit non-zero with advice.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::as_conversions
)]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{png, TestServer};
use warp::Filter;

struct Cli {
    host_port: (String, u16),
    cache_dir: std::path::PathBuf,
}

impl Cli {
    async fn run(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pixstore-client"));
        cmd.arg("--host")
            .arg(&self.host_port.0)
            .arg("--port")
            .arg(self.host_port.1.to_string())
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .args(args)
            .env_remove("PIXSTORE_CLIENT_CONFIG")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().unwrap();
            if let Some(input) = stdin {
                child.stdin.take().unwrap().write_all(&input).unwrap();
            }
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "exit {:?}: {}", o.status, stderr(o));
    stderr(o)
}

// The "done when": `pixstore-client get` writes a file identical to the stored original
// (CLIENT-1, CLIENT-4, FMT-3 in the summary line).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_writes_the_original_bytes() {
    let s = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let original = png(1_500_000, 7);
    let src = work.path().join("photo.png");
    std::fs::write(&src, &original).unwrap();
    // What `pixstore-server put photo.png > record.json` does.
    let service = &s.running.as_ref().unwrap().service;
    let record = service.save_file(&src, None).await.unwrap();
    let record_path = work.path().join("record.json");
    std::fs::write(&record_path, record.to_json()).unwrap();
    let cli = Cli { host_port: ("127.0.0.1".into(), s.endpoint.port()), cache_dir: work.path().join("cache") };

    let out = work.path().join("out.png");
    let log =
        ok(&cli.run(&["get", "--record", record_path.to_str().unwrap(), "--out", out.to_str().unwrap()], None).await);
    assert_eq!(std::fs::read(&out).unwrap(), original);
    assert!(log.contains("image/png") && log.contains("fetched (Success)"), "{log}");

    // Again, from standard input: the cache answers.
    let out2 = work.path().join("out2.png");
    let log = ok(&cli
        .run(&["get", "--record", "-", "--out", out2.to_str().unwrap()], Some(record.to_json().into_bytes()))
        .await);
    assert_eq!(std::fs::read(&out2).unwrap(), original);
    assert!(log.contains("from the cache"), "{log}");

    // To standard output.
    let o = cli.run(&["get", "--record", record_path.to_str().unwrap(), "--out", "-"], None).await;
    ok(&o);
    assert_eq!(o.stdout, original);

    // cache ls shows the entry; rm removes it (and says so twice differently); clear empties.
    let o = cli.run(&["cache", "ls"], None).await;
    ok(&o);
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(table.contains(&record.id) && table.contains(&record.token.to_string()), "{table}");
    assert!(table.contains(&(original.len() + 1).to_string()), "ciphertext length: {table}");
    let o = cli.run(&["cache", "ls", "--json"], None).await;
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json[0]["id"], record.id.as_str());
    assert!(ok(&cli.run(&["cache", "rm", &record.id], None).await).contains("removed"));
    assert!(ok(&cli.run(&["cache", "rm", &record.id], None).await).contains("not cached"));
    // An existing --out is never replaced without --force (it may be the image stored), before
    // anything is fetched; with --force it is.
    std::fs::write(&out, b"keep me").unwrap();
    let o = cli.run(&["get", "--record", record_path.to_str().unwrap(), "--out", out.to_str().unwrap()], None).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists") && stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let get_force = ["get", "--force", "--record", record_path.to_str().unwrap(), "--out", out.to_str().unwrap()];
    ok(&cli.run(&get_force, None).await);
    assert_eq!(std::fs::read(&out).unwrap(), original);
    assert!(ok(&cli.run(&["cache", "clear"], None).await).contains("removed 1 entries"));
    s.shutdown().await;
}

// --record-url: the record comes from an app API that wants an Authorization header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_with_record_url() {
    let s = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let original = png(4000, 8);
    let record = s.create(&original).await;
    let json = record.to_json();
    let api = warp::path!("api" / "avatar").and(warp::header::optional::<String>("authorization")).map(
        move |auth: Option<String>| {
            if auth.as_deref() == Some("Bearer app-session") {
                warp::reply::with_status(json.clone(), warp::http::StatusCode::OK)
            } else {
                warp::reply::with_status(String::new(), warp::http::StatusCode::UNAUTHORIZED)
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(api).incoming(listener).run());
    let cli = Cli { host_port: ("http://127.0.0.1".into(), s.endpoint.port()), cache_dir: work.path().join("cache") };
    let url = format!("http://{api_addr}/api/avatar");
    let out = work.path().join("a.png");
    let args = ["get", "--record-url", &url, "--record-header", "Authorization: Bearer app-session", "--out"];
    let mut full: Vec<&str> = args.to_vec();
    full.push(out.to_str().unwrap());
    ok(&cli.run(&full, None).await);
    assert_eq!(std::fs::read(&out).unwrap(), original);
    let refused = work.path().join("b.png");
    let o = cli.run(&["get", "--record-url", &url, "--out", refused.to_str().unwrap()], None).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("401"), "{}", stderr(&o));
    assert!(!refused.exists());
    s.shutdown().await;
}

// Failures exit non-zero with the typed error's advice, and leave no partial output file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_failures_explain_themselves() {
    let s = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let cli = Cli { host_port: ("127.0.0.1".into(), s.endpoint.port()), cache_dir: work.path().join("cache") };
    let out = work.path().join("never.png");
    let record = s.create(&png(1000, 9)).await;
    let mut no_proof = record.clone();
    no_proof.stateless_proof.clear();
    let o =
        cli.run(&["get", "--record", "-", "--out", out.to_str().unwrap()], Some(no_proof.to_json().into_bytes())).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("MissingProof (4)") && stderr(&o).contains("fresh record"), "{}", stderr(&o));
    let o = cli.run(&["get", "--record", "-", "--out", out.to_str().unwrap()], Some(b"{\"id\":".to_vec())).await;
    assert!(stderr(&o).contains("invalid image record"), "{}", stderr(&o));
    assert!(!Path::new(&out).exists());
    // Configuration errors name the option.
    let o = cli.run(&["--cache-limit", "10", "--cleanup-batch", "10", "cache", "ls"], None).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("frontendCleanupBatch"), "{}", stderr(&o));
    let ftp = Cli { host_port: ("ftp://x".into(), 1), cache_dir: work.path().join("cache") };
    let o = ftp.run(&["get", "--record", "-", "--out", "-"], Some(record.to_json().into_bytes())).await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("defaultEndpointConnectHost"), "{}", stderr(&o));
    s.shutdown().await;
}
