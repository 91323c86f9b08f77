//! The Pixstore reference server (warp). Not yet implemented: this crate is a placeholder in the
//! workspace until its own issue ("reference-server") lands. It depends on `pixstore-proto`,
//! whose `serve` and `http` modules already hold the transport-independent endpoint logic.

pub use proto;
