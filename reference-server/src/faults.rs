//! Deliberate protocol faults, for proving that the conformance suite catches broken servers
//! (`conformance/tests/broken.rs`). They can only be switched on with the `test-faults` cargo
//! feature; without it [`Faults`] is always all-off.

/// Which faults are on. All off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Faults {
    /// Accept proofs that expired (breaks PROOF-9).
    pub accept_expired_proofs: bool,
    /// Accept proofs whose tag does not verify, e.g. minted for another id (breaks PROOF-12).
    pub accept_bad_tags: bool,
    /// Give an update the same token as the version it replaces (breaks TOKEN-2).
    pub reuse_token_on_update: bool,
    /// Answer NotFound before checking the proof (breaks SERVE-1).
    pub not_found_before_proof: bool,
    /// Serve an Updated ciphertext with the previous version's key, iv and tag (breaks SERVE-3).
    pub mix_versions: bool,
    /// Leave out `Cache-Control: no-store` (breaks HTTP-5).
    pub drop_no_store: bool,
    /// Leave out the CORS headers (breaks HTTP-6, HTTP-7).
    pub drop_cors: bool,
    /// Send MissingProof as InvalidProof (breaks SERVE-1 / WIRE-1).
    pub mislabel_missing_proof: bool,
    /// Pad one-byte states with a trailing zero byte (breaks WIRE-4).
    pub pad_one_byte_states: bool,
}

impl Faults {
    /// Whether any fault is on.
    pub fn any(&self) -> bool {
        *self != Faults::default()
    }
}
