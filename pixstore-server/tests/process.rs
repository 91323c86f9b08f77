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

const BIN: &str = env!("CARGO_BIN_EXE_pixstore-server");

struct Server {
    child: Child,
    endpoint: SocketAddr,
    control: SocketAddr,
}

/// The (endpoint, control) addresses a `serve --print-addresses` child prints once listening.
fn addresses(child: &mut Child) -> (SocketAddr, Option<SocketAddr>) {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("server did not start: {e}: {line:?}"));
    (v["endpoint"].as_str().unwrap().parse().unwrap(), v["control"].as_str().map(|c| c.parse().unwrap()))
}

fn spawn(data: &Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["--data-dir"])
        .arg(data)
        .args([
            "serve",
            "--listen-host",
            "127.0.0.1",
            "--port",
            "0",
            "--control",
            "--control-listen",
            "127.0.0.1:0",
            "--ops-listen",
            "127.0.0.1:0",
            "--print-addresses",
        ])
        .env("PIXSTORE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (endpoint, control) = addresses(&mut child);
    Server { child, endpoint, control: control.unwrap() }
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
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "server still running 10 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
        .args(["serve", "--listen-host", "127.0.0.1", "--port", "0", "--ops", "false", "--print-addresses"])
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
            "--ops",
            "false",
            "--access-log",
            "false",
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
