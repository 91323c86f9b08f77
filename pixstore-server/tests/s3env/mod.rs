//! The S3 service of the tests: found through the variables `.ci/ceph.sh start` writes
//! (`PIXSTORE_TEST_S3_ENDPOINT`, `PIXSTORE_TEST_S3_BUCKET`, the AWS credentials). Absent, the
//! tests that need it say so loudly on stderr and return; with `PIXSTORE_REQUIRE_S3=1` (set by
//! CI) they fail instead, so a CI run can never pass by skipping them.
#![allow(dead_code, unreachable_pub, clippy::panic, clippy::unwrap_used)]

use pixstore_server::s3::{AwsCredentials, S3Location, S3Store};

/// Where the test bucket is.
#[derive(Debug, Clone)]
pub struct S3Env {
    pub endpoint: String,
    pub bucket: String,
    /// `rgw` when the service is Ceph's RADOS Gateway (its quirks are asserted then).
    pub engine: String,
}

impl S3Env {
    /// The service, or `None` after a loud skip message (a failure with PIXSTORE_REQUIRE_S3=1).
    pub fn get(test: &str) -> Option<S3Env> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        match (var("PIXSTORE_TEST_S3_ENDPOINT"), var("PIXSTORE_TEST_S3_BUCKET")) {
            (Some(endpoint), Some(bucket)) => {
                Some(S3Env { endpoint, bucket, engine: var("PIXSTORE_TEST_S3_ENGINE").unwrap_or_default() })
            }
            _ => {
                let message = format!(
                    "{test}: SKIPPED, no S3 service: run `bash .ci/ceph.sh start && . target/ceph/env` first (PIXSTORE_TEST_S3_ENDPOINT and PIXSTORE_TEST_S3_BUCKET are unset)"
                );
                if var("PIXSTORE_REQUIRE_S3").as_deref() == Some("1") {
                    panic!("{message}; PIXSTORE_REQUIRE_S3=1 makes this a failure");
                }
                // Straight to the stderr handle: libtest captures eprintln!, and a skip must show.
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "\n!!!!!!!! {message} !!!!!!!!\n");
                None
            }
        }
    }

    /// A prefix no other test (or earlier run) uses.
    pub fn fresh_prefix(&self, what: &str) -> String {
        let mut r = [0u8; 6];
        getrandom::fill(&mut r).unwrap();
        let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
        format!("t-{what}-{hex}")
    }

    /// `s3://bucket/prefix`.
    pub fn store_url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// A store under `prefix` with its own client and cache (as another instance has).
    pub fn store(&self, prefix: &str) -> S3Store {
        let location =
            S3Location::parse(&self.store_url(prefix)).unwrap().with_service(Some(self.endpoint.clone()), None, true);
        S3Store::new(location, &AwsCredentials::from_environment().unwrap(), 8 << 20, 16 << 20).unwrap()
    }

    /// The `FileConfig` fields of a server over `prefix`.
    pub fn file_config(
        &self,
        prefix: &str,
        f: pixstore_server::config::FileConfig,
    ) -> pixstore_server::config::FileConfig {
        pixstore_server::config::FileConfig {
            store: Some(self.store_url(prefix)),
            s3_endpoint: Some(self.endpoint.clone()),
            s3_path_style: Some(true),
            ..f
        }
    }
}
