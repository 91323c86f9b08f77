//! The Pixstore reference client. Not yet implemented: this crate is a placeholder in the
//! workspace until its own issue ("reference-client") lands. It depends on `pixstore-proto`,
//! whose `client` module already holds the cache and payload rules of spec §11.

pub use proto;
