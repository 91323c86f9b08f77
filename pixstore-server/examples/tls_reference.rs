//! The reference server on its own TLS listener (HTTP/2 and HTTP/1.1 by ALPN), with a
//! certificate generated at start (rcgen), for the conformance suite's TLS runs:
//!
//! ```sh
//! cargo run --release -p pixstore-server --example tls_reference -- [DIR]
//! # prints {"endpoint": "https://127.0.0.1:P/pixstore-image", "control": "https://127.0.0.1:Q", "caCert": "DIR/tls.crt"}
//! pixstore-conformance --control https://127.0.0.1:Q --ca-cert DIR/tls.crt               # h2 by ALPN
//! pixstore-conformance --control https://127.0.0.1:Q --ca-cert DIR/tls.crt --http1-only
//! ```
//!
//! The control interface is on TLS too; the settings are the suite's own reference server's
//! (`conformance/src/reference.rs`). It stops on Ctrl-C or when its standard input closes.
//! `.ci/conformance-transports.sh` runs the suite this way, and over h2c against a plain server.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, missing_docs)]

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temporary = tempfile::tempdir()?;
    let dir = match std::env::args().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => temporary.path().to_path_buf(),
    };
    std::fs::create_dir_all(&dir)?;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let (crt, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&crt, cert.cert.pem())?;
    std::fs::write(&key, cert.key_pair.serialize_pem())?;
    let config = pixstore_server::config::Config::builder()
        .listen("127.0.0.1:0".parse()?)
        .data_dir(dir.join("data"))
        .window_ms(1000)
        .skew_ms(0)
        .max_image_bytes(8 << 20)
        .control("127.0.0.1:0".parse()?)
        .control_tls(true)
        .tls(&crt, &key)
        .ops(None)
        .build()?;
    let running = pixstore_server::start(config).await?;
    let (endpoint, control) = (running.endpoint.ok_or("no endpoint")?, running.control.ok_or("no control")?);
    println!(
        "{}",
        serde_json::json!({
            "endpoint": format!("https://{endpoint}/pixstore-image"),
            "control": format!("https://{control}"),
            "caCert": crt.display().to_string(),
        })
    );
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    });
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = stdin_closed => {}
    }
    running.shutdown().await;
    Ok(())
}
