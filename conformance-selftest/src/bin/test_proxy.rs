//! `pixstore-test-proxy --endpoint HOST:PORT --control HOST:PORT --ca-out FILE`: TLS and HTTP/2
//! in front of a plain reference server, for running the conformance suite over https (h2 and
//! http/1.1 by ALPN) and h2c until the server has its own TLS listener. Test-only: the CA is
//! generated at start and written to FILE (`--ca-cert` for the suite).
//!
//! Prints one JSON line once listening, then serves until killed:
//! `{"tls": URL, "tlsControl": URL, "tlsH1": URL, "tlsH1Control": URL, "h2c": URL, "h2cControl": URL}`
//! (each endpoint URL with the control interface whose /info names it).
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::process::ExitCode;

use conformance_selftest::mutants::P;
use conformance_selftest::mutation::front_of;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

async fn run() -> Result<(), String> {
    let usage = "usage: pixstore-test-proxy --endpoint HOST:PORT --control HOST:PORT --ca-out FILE";
    let parse = |name: &str| -> Result<std::net::SocketAddr, String> {
        arg(name).ok_or(usage)?.parse().map_err(|e| format!("{name}: {e}"))
    };
    let (endpoint, control) = (parse("--endpoint")?, parse("--control")?);
    let ca_out = arg("--ca-out").ok_or(usage)?;
    let pki = conformance_selftest::tls::generate()?;
    std::fs::write(&ca_out, &pki.ca_pem).map_err(|e| format!("{ca_out}: {e}"))?;
    // The transparent proxy never judges proofs: the keyring and window are not used.
    let ring = conformance_selftest::server::test_keyring()?;
    let window = proto::proof::Window::default();
    let both = pki.server_config(&[b"h2", b"http/1.1"])?;
    let h1 = pki.server_config(&[b"http/1.1"])?;
    let tls = front_of(P::Transparent, endpoint, control, ring.clone(), window, 0, Some(both)).await?;
    let tls_h1 = front_of(P::Transparent, endpoint, control, ring.clone(), window, 0, Some(h1)).await?;
    let h2c = front_of(P::Transparent, endpoint, control, ring, window, 0, None).await?;
    println!(
        "{}",
        serde_json::json!({
            "tls": tls.endpoint, "tlsControl": tls.control,
            "tlsH1": tls_h1.endpoint, "tlsH1Control": tls_h1.control,
            "h2c": h2c.endpoint, "h2cControl": h2c.control,
        })
    );
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pixstore-test-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pixstore-test-proxy: {e}");
            ExitCode::from(2)
        }
    }
}
