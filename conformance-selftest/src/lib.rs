//! The conformance suite's own tests. A conformance check is only as good as the broken
//! implementation it catches: this crate builds those broken implementations and proves the
//! suite kills them.
//!
//! - [`server`]: the reference server in-process, with inline proof keys the tests know.
//! - [`proxy`]: an HTTP/1.1 and HTTP/2 (TLS by ALPN, or h2c) forwarding proxy that keeps
//!   duplicate headers and raw request targets, with a hook that may rewrite anything.
//! - [`tls`]: a test CA and server certificates generated at run time (rcgen).
//! - [`broken_client`] and [`broken_clients`]: a client with switchable bugs behind the client
//!   adapter protocol, and the runner that proves each client check catches the bug it exists
//!   for (`cargo run -p conformance-selftest --bin pixstore-broken-clients`, and `cargo test -p
//!   conformance-selftest --test broken_clients`).
//! - [`buggy_decoder`]: a wire decoder with switchable bugs behind the decoder adapter protocol,
//!   which `fuzz-decoder` must find and minimise (`cargo test -p conformance-selftest --test
//!   buggy_decoders`).
//! - [`mutants`] and [`mutation`]: single-rule mutants of spec §3 to §10 and Appendix A, and
//!   the runner that scores the suite against them (`cargo run -p conformance-selftest --bin
//!   pixstore-mutation`, and `cargo test -p conformance-selftest --test mutation`).
// The workspace's core/alloc lints serve the no_std protocol crate; this crate is std-only.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

pub mod broken_client;
pub mod broken_clients;
pub mod buggy_decoder;
pub mod mutants;
pub mod mutation;
pub mod proxy;
pub mod server;
pub mod tls;
