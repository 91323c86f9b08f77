//! The `pixstore-server` binary as a process: `serve --print-addresses` on 127.0.0.1:0, and its
//! other commands (`put`, `record`, `keys init`, ...). The binary's path comes from the
//! test (`env!("CARGO_BIN_EXE_pixstore-server")` in the server's own tests).

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A `pixstore-server serve` child process; killed when dropped.
pub struct ServerProcess {
    /// The process.
    pub child: Child,
    /// The default endpoint's address.
    pub endpoint: SocketAddr,
    /// The control interface's address.
    pub control: SocketAddr,
}

/// The serve options of every test process: endpoint, control interface and ops listener on
/// 127.0.0.1:0, the addresses printed once listening.
pub const SERVE_ARGS: [&str; 11] = [
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
];

impl ServerProcess {
    /// `bin --data-dir data` + [`SERVE_ARGS`] + `extra`, logging warnings only (stderr
    /// discarded); returns once it listens. A test that needs its own command line (other
    /// listeners, its log) spawns it and reads [`addresses`].
    pub fn spawn(bin: &str, data: &Path, extra: &[&str]) -> ServerProcess {
        let mut child = Command::new(bin)
            .arg("--data-dir")
            .arg(data)
            .args(SERVE_ARGS)
            .args(extra)
            .env("PIXSTORE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (endpoint, control) = addresses(&mut child);
        ServerProcess { child, endpoint, control: control.expect("serve --control prints the control address") }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Already stopped (the test killed it, or waited for its exit) is fine.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The (endpoint, control) addresses a `serve --print-addresses` child prints once listening.
pub fn addresses(child: &mut Child) -> (SocketAddr, Option<SocketAddr>) {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout piped")).read_line(&mut line).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("server did not start: {e}: {line:?}"));
    (v["endpoint"].as_str().unwrap().parse().unwrap(), v["control"].as_str().map(|c| c.parse().unwrap()))
}

/// `bin --data-dir data ARGS...`: whether it succeeded, its stdout and its stderr.
pub fn cli(bin: &str, data: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin).arg("--data-dir").arg(data).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
