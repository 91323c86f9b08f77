//! The Pixstore reference client: fetch, authenticate, decrypt and cache Pixstore images
//! (spec §11, *Client behaviour*, of the *Pixstore Protocol, version 1*, which ships with
//! [`proto`] in its package as `spec/pixstore.md`), for Rust programs (a desktop app, a
//! service, a CLI, a test harness) that consume a Pixstore backend.
//!
//! ```no_run
//! # async fn demo(record_json: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use pixstore_client::{config::ClientOptions, Client};
//!
//! let config = ClientOptions {
//!     default_endpoint_connect_host: Some("https://images.example.com".into()),
//!     default_endpoint_connect_port: Some(443),
//!     ..ClientOptions::default()
//! }
//! .resolve()?;
//! let client = Client::new(config)?; // persistent cache in ~/.cache/pixstore-client
//! let image = client.get_image_json(record_json, &()).await?;
//! println!("{} bytes of {}", image.bytes().len(), image.mime());
//! # Ok(()) }
//! ```
//!
//! | module | what |
//! |---|---|
//! | [`Client`] | `get_image(record, context)`, `delete_cached_image`, `cached_image_exists` (the seed's frontend API) |
//! | [`config`] | the seed's frontend options (`defaultEndpointConnectHost`, `frontendImageCacheLimit`, ...), validated |
//! | [`fetcher`] | the [`fetcher::Fetcher`] trait with a caller context, and the default [`fetcher::HttpFetcher`] (HTTP and HTTPS) |
//! | [`cache`] | the [`cache::Cache`] trait, the persistent [`cache::DirCache`] and the [`cache::MemoryCache`] |
//! | [`open`] | decoding and decrypting without I/O: [`open::open_payload`], [`open::open_cached`] |
//! | [`error`] | typed errors whose messages say what to do |
//!
//! ## What it does differently from 3.2.1's frontend
//!
//! - It authenticates (decrypts) before it caches: a bad answer leaves the cache as it was
//!   (CLIENT-3). 3.2.1 cached first, so one bad response poisoned the cache.
//! - The cache holds exactly the ciphertext, in a buffer of its own, never the Updated payload
//!   it came in (CLIENT-2). 3.2.1 stored a view of the whole payload, AES key included.
//! - `https://` in `defaultEndpointConnectHost` means HTTPS (CLIENT-8); 3.2.1 requested
//!   `http://https://...`.
//! - Eviction cannot wedge (CLIENT-6): there is no flag or lock that an error leaves behind.
//! - A cache hit updates the last use only, never the entry (CLIENT-7), and an entry that no
//!   longer decrypts is discarded and refetched (CLIENT-1).
//! - Every error state is a typed [`GetImageError`] that names the state and says what to do
//!   (CLIENT-5); JPEG is `image/jpeg` (FMT-3).
//!
//! ## The persistent cache: a directory, not an embedded database
//!
//! [`cache::DirCache`] keeps one file per entry (`<hex id>.pxc`: a small header with the token
//! and id, then exactly the ciphertext) and uses the file's modification time as the last use.
//! An embedded database such as redb was the alternative; the directory won because:
//!
//! - **Several processes share it.** redb takes an exclusive lock on its file, so the
//!   `pixstore-client cache ls` CLI could not read the cache of a running app, and two
//!   processes could not use one cache. Files written under a temporary name and renamed into
//!   place are safe for any number of readers and writers, in one process or many.
//! - **Nothing can wedge it.** There is no index, lock file or "cleanup running" flag to go
//!   stale after a crash or an error (3.2.1's IndexedDB cleanup could switch itself off for
//!   good). Every `put` counts the directory afresh and evicts; a damaged file is a miss.
//! - **A hit is one file read into a buffer decrypted in place**, with no copy out of a
//!   database page, and a touch changes a timestamp, never the entry (CLIENT-7).
//! - **It can be inspected and checked.** The test that scans the cache for key, IV and tag
//!   bytes reads plain files; `rm -r` is a valid way to clear it.
//!
//! The cost is that eviction lists the directory on every `put` (a `put` follows a network
//! fetch, so this is small next to it; 1000 entries list in well under a millisecond) and that
//! entries are not fsynced (a lost or damaged entry costs a refetch, never a wrong image: every
//! cached ciphertext is authenticated with the record's tag, CLIENT-1).
//!
//! ## The CLI
//!
//! `pixstore-client get --record record.json --out image.png` (or `--record -`, or
//! `--record-url URL` for an app API that returns ImageRecord JSON), `pixstore-client cache
//! ls|rm|clear`; `pixstore-client --help` lists the options.

// The workspace's core/alloc lints serve the no_std protocol crate; this crate is std-only.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
// docs.rs passes `--cfg docsrs`: items behind a feature get its mark.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cache;
mod client;
pub mod config;
pub mod error;
pub mod fetcher;
pub mod open;

pub use client::{system_clock, BuildError, Client, ClientBuilder, Clock, DefaultCache};
pub use error::{CacheError, FetchError, GetImageError};
pub use open::{Image, Source};
pub use proto;
pub use reqwest;
