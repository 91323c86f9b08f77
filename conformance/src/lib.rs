//! The Pixstore conformance suite. Not yet implemented: this crate is a placeholder in the
//! workspace until its own issue ("conformance") lands. The golden vectors of `spec/vectors/`
//! already run against `pixstore-proto` in `pixstore-proto/tests/vectors.rs`.

pub use proto;
