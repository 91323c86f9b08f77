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
    /// Flip the last ciphertext byte of every Success and Updated payload on the way out, so no
    /// client can authenticate it (breaks ENV-4; the browser interop test's negative run).
    pub flip_ciphertext_byte: bool,
    /// Encrypt an update with the key and IV of the version it replaces (breaks ENV-3).
    pub reuse_key_on_update: bool,
}

impl Faults {
    /// Whether any fault is on.
    pub fn any(&self) -> bool {
        *self != Faults::default()
    }

    /// The faults named in a comma-separated list (`flip-ciphertext-byte,drop-cors`), as the
    /// `pixstore-server` binary reads them from `PIXSTORE_TEST_FAULTS` when built with the
    /// `test-faults` feature. Names are the field names with `-` for `_`.
    pub fn from_names(names: &str) -> Result<Faults, String> {
        let mut f = Faults::default();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let flag = match name {
                "accept-expired-proofs" => &mut f.accept_expired_proofs,
                "accept-bad-tags" => &mut f.accept_bad_tags,
                "reuse-token-on-update" => &mut f.reuse_token_on_update,
                "not-found-before-proof" => &mut f.not_found_before_proof,
                "mix-versions" => &mut f.mix_versions,
                "drop-no-store" => &mut f.drop_no_store,
                "drop-cors" => &mut f.drop_cors,
                "mislabel-missing-proof" => &mut f.mislabel_missing_proof,
                "pad-one-byte-states" => &mut f.pad_one_byte_states,
                "flip-ciphertext-byte" => &mut f.flip_ciphertext_byte,
                "reuse-key-on-update" => &mut f.reuse_key_on_update,
                other => return Err(format!("unknown fault {other:?}: see pixstore_server::faults::Faults")),
            };
            *flag = true;
        }
        Ok(f)
    }
}
