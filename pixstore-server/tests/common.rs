//! Shared helpers of the server's integration tests, from the `test-support` crate (written
//! once for the server's, client's and suite's tests): a server on 127.0.0.1:0 with a temporary
//! data folder, images, and a client that decodes and decrypts what it gets.
#![allow(unused_imports, unreachable_pub)]

pub use test_support::{file_config, files as snapshot, open, png, raw_get, TestServer};
