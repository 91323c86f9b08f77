//! The `pixstore-server` binary as a process: the CLI, and a crash test that kills the server
//! with SIGKILL at random moments during updates (spec SERVE-3: a reader sees a whole version;
//! the store's writes are atomic and durable).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::as_conversions)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{open, png};
use proto::record::ImageRecord;
use test_support::process::{addresses, ServerProcess};
use test_support::{eventually, eventually_async};

const BIN: &str = env!("CARGO_BIN_EXE_pixstore-server");

/// A `serve` child with the control interface on (test-support's [`ServerProcess`]).
type Server = ServerProcess;

fn spawn(data: &Path) -> Server {
    ServerProcess::spawn(BIN, data, &[])
}

fn encoded(id: &str) -> String {
    proto::client::request_target("", id).trim_start_matches('/').to_owned()
}

async fn fetch(client: &reqwest::Client, endpoint: SocketAddr, record: &ImageRecord) -> Vec<u8> {
    let url = format!("http://{endpoint}{}", proto::client::request_target("/pixstore-image", &record.id));
    client
        .get(url)
        .header("x-pixstore-proof", &record.stateless_proof)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

// The README's promise: `put` an image with the CLI, serve, fetch it, get the same bytes.
#[tokio::test]
async fn cli_put_then_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.png");
    let image = png(5000, 1);
    std::fs::write(&file, &image).unwrap();
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("put")
        .arg(&file)
        .args(["--dir", "cli"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record = ImageRecord::from_json(&out.stdout).unwrap();
    assert!(record.id.starts_with("cli:"));
    let mut server = spawn(&dir.path().join("data"));
    let body = fetch(&reqwest::Client::new(), server.endpoint, &record).await;
    assert_eq!(open(&record, &body).unwrap().0, image);
    // `record` and `update` and `delete` by the CLI beside the running server.
    let new_image = png(6000, 2);
    std::fs::write(&file, &new_image).unwrap();
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("update")
        .arg(&record.id)
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let updated = ImageRecord::from_json(&out.stdout).unwrap();
    assert!(updated.token > record.token);
    let body = fetch(&reqwest::Client::new(), server.endpoint, &record).await;
    assert_eq!(open(&record, &body).unwrap(), (new_image, updated.token.get()));
    let out =
        Command::new(BIN).arg("--data-dir").arg(dir.path().join("data")).arg("delete").arg("nosuch").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no image with id"));
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--window-ms", "0", "record"])
        .arg(&record.id)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("statelessKeyWindowLength"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

/// A small deterministic generator for kill delays.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

// SERVE-3, TOKEN-2: SIGKILL at random moments while 4 images are updated continuously. After
// each restart every image decrypts to one of the versions written to it, its token is at least
// that of the last update the server acknowledged, stale temporary files are removed at start,
// and the proofs minted before the first start still verify. (A killed process leaves the page
// cache intact, so this shows atomicity, not that the fsyncs reach the disk.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_updates_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    let mut server = spawn(&data);
    let mut sent: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    let mut acked: HashMap<String, u64> = HashMap::new();
    let mut records = Vec::new();
    for i in 0..4 {
        let image = png(30_000 + i * 1000, i as u64);
        let r = client.post(format!("http://{}/images", server.control)).body(image.clone()).send().await.unwrap();
        let record = ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap();
        sent.insert(record.id.clone(), vec![image]);
        acked.insert(record.id.clone(), record.token.get());
        records.push(record);
    }
    let mut rng = XorShift(0x5eed_1234_abcd_0001 ^ u64::from(std::process::id()));
    let started = Instant::now();
    for round in 0..6 {
        // Writers: each updates its image in a loop until the server dies.
        let mut tasks = Vec::new();
        for (w, record) in records.iter().enumerate() {
            let (client, control, id) = (client.clone(), server.control, record.id.clone());
            let seed = rng.next();
            tasks.push(tokio::spawn(async move {
                let mut attempts = Vec::new();
                let mut acks = Vec::new();
                for n in 0u64.. {
                    let image = png(20_000 + (n as usize % 7) * 3000, seed ^ n ^ (w as u64) << 32);
                    attempts.push(image.clone());
                    let url = format!("http://{control}/images/{}", encoded(&id));
                    match client.put(url).body(image).send().await {
                        Ok(r) if r.status() == 200 => match r.bytes().await {
                            Ok(b) => acks.push(ImageRecord::from_json(&b).unwrap().token.get()),
                            Err(_) => break,
                        },
                        _ => break,
                    }
                }
                (id, attempts, acks)
            }));
        }
        let delay = 50 + rng.next() % 400;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        for t in tasks {
            let (id, attempts, acks) = t.await.unwrap();
            sent.get_mut(&id).unwrap().extend(attempts);
            if let Some(last) = acks.last() {
                acked.insert(id, *last);
            }
        }
        // Temporary files of the killed writes are removed at start once they are old (a young
        // one might belong to a live writer in another process): age them, and they go.
        let temporaries = |data: &Path| -> Vec<std::path::PathBuf> {
            common::snapshot(&data.join("images"))
                .into_iter()
                .map(|(p, _)| p)
                .filter(|p| p.to_string_lossy().ends_with(".tmp"))
                .collect()
        };
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        for t in temporaries(&data) {
            std::fs::File::options().write(true).open(&t).unwrap().set_modified(old).unwrap();
        }
        server = spawn(&data);
        assert!(temporaries(&data).is_empty(), "round {round}: stale temporary files survived the start");
        for record in &records {
            // The proof minted before the first start still verifies (keys persisted).
            let body = fetch(&client, server.endpoint, record).await;
            let (image, token) =
                open(record, &body).unwrap_or_else(|e| panic!("round {round}: {} does not decrypt: {e}", record.id));
            assert!(sent[&record.id].contains(&image), "round {round}: {} holds bytes never written", record.id);
            assert!(
                token >= acked[&record.id],
                "round {round}: {} lost an acknowledged update ({token} < {})",
                record.id,
                acked[&record.id]
            );
        }
        eprintln!(
            "round {round}: killed after {delay} ms; {} versions written so far",
            sent.values().map(Vec::len).sum::<usize>()
        );
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    eprintln!("crash test took {:?}", started.elapsed());
}

// Graceful shutdown: SIGTERM stops the server with exit status 0.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn(&dir.path().join("data"));
    let status = Command::new("kill").arg("-TERM").arg(server.child.id().to_string()).status().unwrap();
    assert!(status.success());
    eventually(10, "the server to exit after SIGTERM", || server.child.try_wait().unwrap().is_some());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

// PROOF-5: keys given in the environment (PIXSTORE_PROOF_KEYS) are used and no key file is
// written; two processes with the same keys accept each other's proofs.
#[tokio::test]
async fn keys_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let keys = r#"{"signing":7,"keys":[{"kid":7,"secret":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}]}"#;
    let file = dir.path().join("a.png");
    std::fs::write(&file, png(800, 3)).unwrap();
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("put")
        .arg(&file)
        .env("PIXSTORE_PROOF_KEYS", keys)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record = ImageRecord::from_json(&out.stdout).unwrap();
    assert!(!dir.path().join("data/proof-keys.json").exists());
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["serve", "--listen-host", "127.0.0.1", "--port", "0", "--ops=false", "--print-addresses"])
        .env("PIXSTORE_PROOF_KEYS", keys)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let endpoint = addresses(&mut child).0;
    let body = fetch(&reqwest::Client::new(), endpoint, &record).await;
    assert_eq!(body[0], proto::wire::State::Updated.byte());
    child.kill().unwrap();
    child.wait().unwrap();
    let bad = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("record")
        .arg(&record.id)
        .env("PIXSTORE_PROOF_KEYS", "{\"signing\":1,\"keys\":[]}")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("PIXSTORE_PROOF_KEYS"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

// `--log-format json` with PIXSTORE_LOG=debug: one JSON object per line on stderr, one event per
// request with the id and the state served (what the browser interop test counts requests by),
// and never the proof (PROOF-13).
#[tokio::test]
async fn json_logs_name_every_request_and_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("a.png");
    std::fs::write(&file, png(800, 3)).unwrap();
    let out = Command::new(BIN).arg("--data-dir").arg(&data).arg("put").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record = ImageRecord::from_json(&out.stdout).unwrap();
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen-host",
            "127.0.0.1",
            "--port",
            "0",
            "--ops=false",
            "--access-log=false",
            "--print-addresses",
        ])
        .env("PIXSTORE_LOG", "info,pixstore_server=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let endpoint = addresses(&mut child).0;
    let client = reqwest::Client::new();
    fetch(&client, endpoint, &record).await;
    let url = format!("http://{endpoint}{}", proto::client::request_target("/pixstore-image", &record.id));
    client.request(reqwest::Method::OPTIONS, &url).send().await.unwrap();
    client.get(&url).header("x-pixstore-proof", "short").send().await.unwrap();
    // SIGTERM: the server logs its shutdown and exits, which closes stderr.
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let events = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(|l| {
            let l = l.unwrap();
            serde_json::from_str::<serde_json::Value>(&l).unwrap_or_else(|e| panic!("not a JSON line: {e}: {l}"))
        })
        .collect::<Vec<_>>();
    child.wait().unwrap();
    let of = |message: &str| events.iter().filter(|e| e["fields"]["message"] == message).collect::<Vec<_>>();
    let requests = of("image request");
    assert_eq!(requests.len(), 2, "{events:#?}");
    assert!(requests.iter().all(|e| e["fields"]["id"] == record.id.as_str()));
    assert_eq!(requests[0]["fields"]["state"], "Updated");
    assert_eq!(requests[1]["fields"]["state"], "InvalidProof");
    assert_eq!(requests[1]["fields"]["proof_error"], "Malformed");
    assert_eq!(of("preflight").len(), 1, "{events:#?}");
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&record.stateless_proof), "a proof reached the log");
}

/// `pixstore-server ARGS` (with `--data-dir data`); status, stdout, stderr.
fn cli(data: &Path, args: &[&str]) -> (bool, String, String) {
    test_support::process::cli(BIN, data, args)
}

fn put(data: &Path, dir: &Path, seed: u64) -> ImageRecord {
    let file = dir.join(format!("{seed}.png"));
    std::fs::write(&file, png(900, seed)).unwrap();
    let (ok, out, err) = cli(data, &["put", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    ImageRecord::from_json(out.as_bytes()).unwrap()
}

fn kid_of(record: &ImageRecord) -> u32 {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&record.stateless_proof).unwrap();
    u32::from_be_bytes([b[2], b[3], b[4], b[5]])
}

// PROOF-5: a deleted key file is never re-created silently in a folder that holds images (no
// command, not `keys rotate`, not `serve`); the error says how to restore or start over;
// `keys init` starts over with a key id never issued before.
#[test]
fn a_deleted_key_file_is_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = put(&data, dir.path(), 1);
    assert_eq!(kid_of(&first), 1);
    let (ok, _, err) = cli(&data, &["keys", "rotate"]);
    assert!(ok, "{err}");
    let keys = data.join("proof-keys.json");
    std::fs::remove_file(&keys).unwrap();
    for args in [
        vec!["record", first.id.as_str()],
        vec!["keys", "rotate"],
        vec!["put", dir.path().join("1.png").to_str().unwrap()],
        vec!["serve", "--listen-host", "127.0.0.1", "--port", "0", "--ops=false"],
    ] {
        let (ok, _, err) = cli(&data, &args);
        assert!(!ok, "{args:?} succeeded without the key file");
        assert!(err.contains("is missing") && err.contains("Restore") && err.contains("keys init"), "{args:?}: {err}");
        assert!(!keys.exists(), "{args:?} created a key file");
    }
    let (ok, _, err) = cli(&data, &["keys", "init"]);
    assert!(ok, "{err}");
    let (ok, _, err) = cli(&data, &["keys", "init"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, out, err) = cli(&data, &["record", first.id.as_str()]);
    assert!(ok, "{err}");
    assert_eq!(kid_of(&ImageRecord::from_json(out.as_bytes()).unwrap()), 3, "key ids 1 and 2 were issued before");
    // The same with the images gone too: the folder has held keys.
    std::fs::remove_file(&keys).unwrap();
    std::fs::remove_dir_all(data.join("images")).unwrap();
    let (ok, _, err) = cli(&data, &["record", first.id.as_str()]);
    assert!(!ok && err.contains("has held proof keys"), "{err}");
}

// A key file readable by group or others is refused with a clear error, unless allowed.
#[cfg(unix)]
#[test]
fn a_key_file_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let record = put(&data, dir.path(), 2);
    let keys = data.join("proof-keys.json");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, _, err) = cli(&data, &["record", record.id.as_str()]);
    assert!(!ok && err.contains("readable by group or others") && err.contains("chmod 600"), "{err}");
    let (ok, _, err) = cli(&data, &["--allow-insecure-key-file", "record", record.id.as_str()]);
    assert!(ok, "{err}");
}

// Ids that begin with `-` (one generated id in 64) work as `put` prints them, positional or
// with --id, without `--`.
#[tokio::test]
async fn ids_that_begin_with_a_dash() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = pixstore_server::config::Config::builder().data_dir(&data).ops(None).build().unwrap();
    let service = pixstore_server::open_service(&config).unwrap();
    let image = png(700, 3);
    let mut record = None;
    for _ in 0..5000 {
        let r = service.save(&image, None).await.unwrap();
        if r.id.starts_with('-') {
            record = Some(r);
            break;
        }
        service.delete(&r.id).await.unwrap();
    }
    let record = record.expect("no id with a leading - in 5000 saves");
    let file = dir.path().join("new.png");
    std::fs::write(&file, png(800, 4)).unwrap();
    let id = record.id.as_str();
    let (ok, out, err) = cli(&data, &["record", id]);
    assert!(ok, "record {id}: {err}");
    assert_eq!(ImageRecord::from_json(out.as_bytes()).unwrap().id, id);
    let (ok, _, err) = cli(&data, &["update", id, file.to_str().unwrap()]);
    assert!(ok, "update {id}: {err}");
    let (ok, _, err) = cli(&data, &["record", "--id", id]);
    assert!(ok, "record --id {id}: {err}");
    let (ok, _, err) = cli(&data, &["delete", id]);
    assert!(ok, "delete {id}: {err}");
    let (ok, _, err) = cli(&data, &["delete", "--id", id]);
    assert!(!ok && err.contains("no image with id"), "{err}");
}

/// Resident memory of a process, in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

// Memory: 50 clients that request an 8 MiB image and never read cost socket buffers, not 50
// copies (the audit measured 532 MB on the old server); after a load of such responses that
// are read, resident memory is back near where it was. Printed figures go to docs/.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_readers_cost_no_copies_and_memory_returns() {
    use tokio::io::AsyncWriteExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("big.png");
    std::fs::write(&file, png(8 << 20, 7)).unwrap();
    let (ok, out, err) = cli(&data, &["--max-image-bytes", "16777216", "put", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    let record = ImageRecord::from_json(out.as_bytes()).unwrap();
    let mut server = spawn(&data);
    let pid = server.child.id();
    let client = reqwest::Client::new();
    // Warm: the version is in memory once.
    assert!(fetch(&client, server.endpoint, &record).await.len() > 8 << 20);
    let baseline = rss_kib(pid);
    let target = proto::client::request_target("/pixstore-image", &record.id);
    let mut stalled = Vec::new();
    for _ in 0..50 {
        let mut s = tokio::net::TcpStream::connect(server.endpoint).await.unwrap();
        let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nx-pixstore-proof: {}\r\n\r\n", record.stateless_proof);
        s.write_all(req.as_bytes()).await.unwrap();
        stalled.push(s);
    }
    // Let every response get as far as the socket buffers take it.
    let mut last = 0;
    let mut steady = 0;
    eventually(30, "resident memory to settle", || {
        let now = rss_kib(pid);
        steady = if now.abs_diff(last) < 512 { steady + 1 } else { 0 };
        last = now;
        steady >= 10
    });
    let with_stalled = rss_kib(pid);
    eprintln!("RSS: {baseline} KiB warm, {with_stalled} KiB with 50 stalled readers of an 8 MiB image");
    assert!(
        with_stalled < baseline + 64 * 1024,
        "50 stalled readers cost {} KiB (50 copies would be {} KiB)",
        with_stalled - baseline,
        50 * 8 * 1024
    );
    drop(stalled);
    // A load of read responses, then back near the baseline.
    for _ in 0..8 {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (client, endpoint, record) = (client.clone(), server.endpoint, record.clone());
            tasks.push(tokio::spawn(async move { fetch(&client, endpoint, &record).await.len() }));
        }
        for t in tasks {
            assert!(t.await.unwrap() > 8 << 20);
        }
    }
    let mut after = rss_kib(pid);
    eventually(30, "resident memory to return near its baseline", || {
        after = rss_kib(pid);
        after < baseline + 32 * 1024
    });
    eprintln!("RSS: {after} KiB after 64 responses of 8 MiB read by 8 clients at a time");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

// The `sendfile` option: on (the default) a large cached version keeps its stored file open and
// the plain listener sends it from there; off, it is served from memory and no stored file stays
// open (docs/server-operations.md: for hosts where sendfile costs more than the copy).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn sendfile_off_serves_from_memory_and_holds_no_stored_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("large.png");
    let image = png(300_000, 9);
    std::fs::write(&file, &image).unwrap();
    let (ok, out, err) = cli(&data, &["put", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    let record = ImageRecord::from_json(out.as_bytes()).unwrap();
    // The stored versions (`images/.../<name>.pxs`) among the process's open descriptors.
    let held = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|p| p.extension().is_some_and(|x| x == "pxs"))
            .count()
    };
    let client = reqwest::Client::new();
    for (extra, want) in [(&[][..], 1), (&["--sendfile=false"][..], 0)] {
        let server = ServerProcess::spawn(BIN, &data, extra);
        let body = fetch(&client, server.endpoint, &record).await;
        assert_eq!(open(&record, &body).unwrap().0, image, "{extra:?}");
        assert_eq!(held(server.child.id()), want, "stored files held open with {extra:?}");
    }
}

// EMFILE: with few file descriptors, connections beyond them make accept fail; the listener
// logs it, backs off and keeps going, and serves again once descriptors are free (the old
// server closed its listener for good at the first EMFILE).
#[cfg(unix)]
#[tokio::test]
async fn out_of_file_descriptors_is_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let record = put(&data, dir.path(), 8);
    let log = dir.path().join("server.log");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 40 && exec \"$0\" \"$@\"")
        .arg(BIN)
        .arg("--data-dir")
        .arg(&data)
        // Proof validation off (PROOF-14): the waits below may outlast a proof on a loaded machine.
        .arg("--window-ms=-1")
        .args(["serve", "--listen-host", "127.0.0.1", "--port", "0", "--ops=false", "--access-log=false"])
        .args(["--header-read-timeout-ms", "600000", "--idle-timeout-ms", "600000", "--print-addresses"])
        .env("PIXSTORE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let endpoint = addresses(&mut child).0;
    // Hold more connections than the server has descriptors (the kernel completes them in the
    // accept queue; the server's accept fails with EMFILE).
    let mut held = Vec::new();
    for _ in 0..80 {
        held.push(tokio::net::TcpStream::connect(endpoint).await.unwrap());
    }
    eventually(30, "the server to log its failed accepts", || {
        std::fs::read_to_string(&log).unwrap().contains("Too many open files")
    });
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    drop(held);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let url = format!("http://{endpoint}{}", proto::client::request_target("/pixstore-image", &record.id));
    // Until the server has seen the held connections close, it may still be short of
    // descriptors: a request accepted then may find none left to open the image with and is
    // answered InternalError (a correct answer). What must come, within a generous bound, is a
    // full answer again.
    let state = eventually_async(60, "a full answer after descriptors were freed", || async {
        let r = client.get(&url).header("x-pixstore-proof", &record.stateless_proof).send().await;
        match r {
            Ok(r) if r.status() == 200 => {
                let body = r.bytes().await.map_err(|e| e.to_string())?;
                body.first()
                    .copied()
                    .filter(|b| *b == proto::wire::State::Updated.byte())
                    .ok_or(format!("state {body:?}"))
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(state, proto::wire::State::Updated.byte());
    child.kill().unwrap();
    child.wait().unwrap();
}

// One meaning per variable: the suite's PIXSTORE_CONTROL (a URL) does not reach the server,
// whose boolean is PIXSTORE_CONTROL_ENABLED. The access log has one line per request.
#[tokio::test]
async fn the_suites_variables_do_not_break_serve_and_requests_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let record = put(&data, dir.path(), 9);
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["--log-format", "json", "serve", "--listen-host", "127.0.0.1", "--port", "0", "--print-addresses"])
        .args(["--ops-listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0"])
        .env("PIXSTORE_CONTROL", "http://127.0.0.1:7483")
        .env("PIXSTORE_ENDPOINT", "http://127.0.0.1:7482/pixstore-image")
        .env("PIXSTORE_CONTROL_ENABLED", "true")
        .env("PIXSTORE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (endpoint, control) = addresses(&mut child);
    assert!(control.is_some(), "PIXSTORE_CONTROL_ENABLED=true turns the control interface on");
    let body = fetch(&reqwest::Client::new(), endpoint, &record).await;
    assert_eq!(body[0], proto::wire::State::Updated.byte());
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines().map(Result::unwrap).collect::<Vec<_>>();
    assert!(child.wait().unwrap().success());
    let access = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["target"] == "pixstore_server::access")
        .collect::<Vec<_>>();
    assert_eq!(access.len(), 1, "{lines:#?}");
    let f = &access[0]["fields"];
    assert_eq!(
        (f["method"].as_str(), f["status"].as_u64(), f["state"].as_str()),
        (Some("GET"), Some(200), Some("Updated"))
    );
    assert_eq!(f["bytes"].as_u64(), Some(body.len() as u64));
    assert!(f["peer"].as_str().unwrap().starts_with("127.0.0.1:") && f["duration_us"].is_u64(), "{f}");
    assert!(!lines.join("\n").contains(&record.stateless_proof), "a proof reached the log");
}

/// A self-signed ECDSA certificate for `localhost` whose two PEM files have exactly `sizes`
/// bytes (when given): ECDSA signatures vary in length, so a few tries give a second
/// certificate the same sizes as a first.
fn cert_of_sizes(sizes: Option<(usize, usize)>) -> (String, String) {
    for _ in 0..200 {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (crt, key) = (c.cert.pem(), c.key_pair.serialize_pem());
        if sizes.is_none_or(|s| s == (crt.len(), key.len())) {
            return (crt, key);
        }
    }
    panic!("no certificate of sizes {sizes:?} in 200 tries");
}

fn trusting(crt: &str, endpoint: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(crt.as_bytes()).unwrap())
        .resolve("localhost", endpoint)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

// SIGHUP never ends the server: without TLS it is logged and ignored; with TLS it reloads the
// certificate. The new certificate is written with the old files' sizes and times, so the
// once-a-second file check cannot see it: only the signal can make it the one served.
#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_certificate_and_never_stops_the_server() {
    let hup = |child: &Child| {
        assert!(Command::new("kill").arg("-HUP").arg(child.id().to_string()).status().unwrap().success());
    };
    // Without TLS.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let record = put(&data, dir.path(), 10);
    let log = dir.path().join("plain.log");
    let serve = |tls: &[&Path], log: &Path| {
        let mut c = Command::new(BIN);
        c.arg("--data-dir").arg(&data);
        c.args(["--window-ms=-1", "serve", "--listen-host", "127.0.0.1", "--port", "0", "--ops=false"]);
        c.args(["--access-log=false", "--print-addresses"]);
        if let [crt, key] = tls {
            c.arg("--tls-cert").arg(crt).arg("--tls-key").arg(key);
        }
        c.env("PIXSTORE_LOG", "info").stdout(Stdio::piped()).stderr(std::fs::File::create(log).unwrap());
        c.spawn().unwrap()
    };
    let mut child = serve(&[], &log);
    let endpoint = addresses(&mut child).0;
    hup(&child);
    eventually(30, "the server to log the SIGHUP", || {
        std::fs::read_to_string(&log).unwrap().contains("SIGHUP: nothing to reload")
    });
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP ended the server");
    assert_eq!(fetch(&reqwest::Client::new(), endpoint, &record).await[0], proto::wire::State::Updated.byte());
    child.kill().unwrap();
    child.wait().unwrap();

    // With TLS.
    let (crt, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let first = cert_of_sizes(None);
    std::fs::write(&crt, &first.0).unwrap();
    std::fs::write(&key, &first.1).unwrap();
    let times = [&crt, &key].map(|p| std::fs::metadata(p).unwrap().modified().unwrap());
    let log = dir.path().join("tls.log");
    let mut child = serve(&[&crt, &key], &log);
    let endpoint = addresses(&mut child).0;
    let url = format!(
        "https://localhost:{}{}",
        endpoint.port(),
        proto::client::request_target("/pixstore-image", &record.id)
    );
    let get = |client: reqwest::Client| {
        let url = url.clone();
        let proof = record.stateless_proof.clone();
        async move { client.get(&url).header("x-pixstore-proof", proof).send().await }
    };
    assert_eq!(get(trusting(&first.0, endpoint)).await.unwrap().status(), 200);
    let second = cert_of_sizes(Some((first.0.len(), first.1.len())));
    for (path, pem, time) in [(&crt, &second.0, times[0]), (&key, &second.1, times[1])] {
        std::fs::write(path, pem).unwrap();
        std::fs::File::options().write(true).open(path).unwrap().set_modified(time).unwrap();
    }
    // Three file checks pass without a reload (same sizes, same times).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(get(trusting(&second.0, endpoint)).await.is_err(), "the file check saw a change it cannot see");
    hup(&child);
    let r =
        eventually_async(30, "the new certificate served after SIGHUP", || get(trusting(&second.0, endpoint))).await;
    assert_eq!(r.status(), 200);
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP ended the server");
    eventually(30, "the server to log the reload", || {
        std::fs::read_to_string(&log).unwrap().contains("TLS certificate reloaded")
    });
    child.kill().unwrap();
    child.wait().unwrap();
}
