//! The framework-agnostic custom endpoint helper (3.2.1's `customEndpointHelper`): give it the
//! image id, the client's token text and the proof however your transport carries them, send
//! back the bytes it returns. Here the "transport" is a line-based TCP protocol:
//! `<image id> <token> <proof>\n` in, the wire payload out.
//!
//! `cargo run -p pixstore-server --example custom_endpoint_helper`
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::sync::Arc;

use pixstore_server::config::{Config, FileConfig};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = tempfile::tempdir()?;
    let config = Config::resolve(FileConfig {
        data_dir: Some(data.path().to_path_buf()),
        default_endpoint_enabled: Some(false),
        ..FileConfig::default()
    })?;
    let service = Arc::new(pixstore_server::open_service(&config)?);
    let record = service.save(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR example image", None).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = service.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = server.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                if BufReader::new(read).read_line(&mut line).await.is_err() {
                    return;
                }
                let mut parts = line.split_whitespace();
                let (id, token, proof) = (parts.next().unwrap_or(""), parts.next(), parts.next());
                let payload = service.custom_endpoint_helper(id, token, proof).await;
                let _ = write.write_all(&payload).await;
            });
        }
    });

    for (label, token) in [("current token", record.token.to_string()), ("no token", "0".to_owned())] {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(format!("{} {token} {}\n", record.id, record.stateless_proof).as_bytes()).await?;
        let mut payload = Vec::new();
        stream.read_to_end(&mut payload).await?;
        let decoded = proto::wire::PayloadRef::decode(&payload)?;
        println!("{label}: {} bytes, {}", payload.len(), decoded.state());
    }
    Ok(())
}
