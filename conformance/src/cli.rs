//! The target options the `pixstore-conformance` runner and `cargo test -p conformance` share:
//! one definition, read from flags and `PIXSTORE_*` variables alike.

use std::path::PathBuf;

use crate::http::TransportOptions;
use crate::target::{parse_header, Target, TargetOptions};

/// Where the implementation under test is and how to reach it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TargetArgs {
    /// The default endpoint's route URL, e.g. `http://127.0.0.1:7482/pixstore-image` or
    /// `https://images.example/pixstore-image` [default: the control interface's /info].
    #[arg(long, env = "PIXSTORE_ENDPOINT", conflicts_with = "endpoint_template")]
    pub endpoint: Option<String>,
    /// A custom endpoint as a URL template with {id} where the (percent-encoded) image id goes,
    /// e.g. `https://api.example/player-image/42/{id}`. The checks of the default endpoint's route
    /// shape (spec §10) are then skipped.
    #[arg(long, env = "PIXSTORE_ENDPOINT_TEMPLATE")]
    pub endpoint_template: Option<String>,
    /// The control interface (spec Appendix A), e.g. `http://127.0.0.1:7483`. Without it only the
    /// checks that need no writes run, on the records given with --record.
    #[arg(long, env = "PIXSTORE_CONTROL")]
    pub control: Option<String>,
    /// A header sent with every endpoint request, 'Name: value' (repeatable; e.g. the
    /// Authorization a custom endpoint requires). PIXSTORE_HEADER: one per line.
    #[arg(long = "header", value_name = "NAME: VALUE", env = "PIXSTORE_HEADER", value_delimiter = '\n')]
    pub headers: Vec<String>,
    /// A header sent with every control interface request, 'Name: value' (repeatable).
    #[arg(
        long = "control-header",
        value_name = "NAME: VALUE",
        env = "PIXSTORE_CONTROL_HEADER",
        value_delimiter = '\n'
    )]
    pub control_headers: Vec<String>,
    /// PEM file of CA certificates to trust for https:// targets (besides the compiled-in
    /// Mozilla roots).
    #[arg(long, env = "PIXSTORE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify server certificates (prints a warning on every run and in every report).
    #[arg(long, env = "PIXSTORE_INSECURE")]
    pub insecure: bool,
    /// Speak HTTP/2 without TLS (h2c with prior knowledge) to http:// targets.
    #[arg(long, env = "PIXSTORE_HTTP2_PRIOR_KNOWLEDGE")]
    pub http2_prior_knowledge: bool,
    /// Offer only HTTP/1.1 by ALPN to https:// targets (default: h2 and http/1.1).
    #[arg(long, env = "PIXSTORE_HTTP1_ONLY", conflicts_with = "http2_prior_knowledge")]
    pub http1_only: bool,
    /// ImageRecord JSON files of images already stored (for running without --control).
    #[arg(long)]
    pub record: Vec<PathBuf>,
}

impl TargetArgs {
    /// Whether any target is named.
    pub fn names_a_target(&self) -> bool {
        self.endpoint.is_some() || self.endpoint_template.is_some() || self.control.is_some()
    }

    /// The options these arguments give.
    pub fn options(&self) -> Result<TargetOptions, String> {
        let headers = |list: &[String]| {
            list.iter().filter(|h| !h.trim().is_empty()).map(|h| parse_header(h)).collect::<Result<Vec<_>, _>>()
        };
        let mut records = Vec::new();
        for path in &self.record {
            let text = std::fs::read(path).map_err(|e| format!("--record {}: {e}", path.display()))?;
            records.push(
                proto::record::ImageRecord::from_json(&text)
                    .map_err(|e| format!("--record {}: {e}", path.display()))?,
            );
        }
        let nonempty = |s: &Option<String>| s.clone().filter(|v| !v.is_empty());
        Ok(TargetOptions {
            endpoint: nonempty(&self.endpoint),
            endpoint_template: nonempty(&self.endpoint_template),
            control: nonempty(&self.control),
            headers: headers(&self.headers)?,
            control_headers: headers(&self.control_headers)?,
            transport: TransportOptions {
                ca_cert: self.ca_cert.clone(),
                insecure: self.insecure,
                http2_prior_knowledge: self.http2_prior_knowledge,
                http1_only: self.http1_only,
            },
            records,
        })
    }
}

/// A built-in reference server the suite started (dropped: stopped).
#[cfg(feature = "reference")]
pub type Started = Option<crate::reference::Reference>;
/// Nothing: built without the `reference` feature.
#[cfg(not(feature = "reference"))]
pub type Started = Option<std::convert::Infallible>;

/// Connects to the named target or, when none is named, starts the built-in reference server
/// (feature `reference`) and connects to it.
pub async fn connect(args: &TargetArgs) -> Result<(Target, Started), String> {
    let mut options = args.options()?;
    if args.names_a_target() {
        return Ok((Target::connect(options).await?, None));
    }
    #[cfg(feature = "reference")]
    {
        let r = crate::reference::start().await?;
        eprintln!(
            "no --endpoint, --endpoint-template or --control: checking a reference server started at {}",
            r.endpoint
        );
        options.endpoint = Some(r.endpoint.clone());
        options.control = Some(r.control.clone());
        Ok((Target::connect(options).await?, Some(r)))
    }
    #[cfg(not(feature = "reference"))]
    {
        let _ = &mut options;
        Err("no target: pass --control URL (PIXSTORE_CONTROL), --endpoint URL or --endpoint-template URL (this build has no built-in reference server: feature `reference`)".into())
    }
}
