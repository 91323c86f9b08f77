//! The implementation under test: its endpoint and, when it has one, its control interface
//! (spec Appendix A).

use proto::record::ImageRecord;
use serde::Deserialize;

use crate::http::{self, Exchange, Url};

/// `GET {control}/info` (CTRL-1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// `"1"`.
    pub spec_version: String,
    /// The default endpoint's route URL.
    pub endpoint: String,
    /// W, or -1.
    pub window_ms: i64,
    /// Name and version.
    pub implementation: String,
    /// Optional abilities.
    #[serde(default)]
    pub features: Vec<String>,
    /// The verifier's clock skew, when reported (optional in CTRL-1).
    #[serde(default)]
    pub skew_ms: Option<u64>,
}

/// A control interface.
#[derive(Debug, Clone)]
pub struct Control {
    url: Url,
}

fn encode(id: &str) -> String {
    proto::client::request_target("", id).trim_start_matches('/').to_owned()
}

impl Control {
    /// The control interface at `url` (`http://host:port`).
    pub fn new(url: &str) -> Result<Control, String> {
        Ok(Control { url: Url::parse(url)? })
    }

    async fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<Exchange, String> {
        http::send(&self.url.authority, method, &format!("{}{path}", self.url.path), &[], body).await
    }

    fn record(ex: &Exchange, want: u16, what: &str) -> Result<ImageRecord, String> {
        if ex.status != want {
            return Err(format!(
                "control {what}: status {} (expected {want}): {}",
                ex.status,
                String::from_utf8_lossy(&ex.body)
            ));
        }
        ImageRecord::from_json(&ex.body)
            .map_err(|e| format!("control {what}: the answer is not a valid ImageRecord: {e}"))
    }

    /// CTRL-1.
    pub async fn info(&self) -> Result<Info, String> {
        let ex = self.call("GET", "/info", b"").await?;
        if ex.status != 200 {
            return Err(format!("control /info: status {}", ex.status));
        }
        serde_json::from_slice(&ex.body)
            .map_err(|e| format!("control /info: not the info document of spec Appendix A: {e}"))
    }

    /// CTRL-2: stores an image; its record.
    pub async fn create(&self, image: &[u8], dir: Option<&str>) -> Result<ImageRecord, String> {
        let path = match dir {
            Some(d) => format!("/images?dir={}", encode(d)),
            None => "/images".into(),
        };
        Self::record(&self.call("POST", &path, image).await?, 201, "create")
    }

    /// CTRL-2 (raw): the exchange, for checks about refusals.
    pub async fn create_raw(&self, image: &[u8]) -> Result<Exchange, String> {
        self.call("POST", "/images", image).await
    }

    /// CTRL-2 with a dir prefix (raw): the exchange.
    pub async fn create_raw_with_dir(&self, image: &[u8], dir: &str) -> Result<Exchange, String> {
        self.call("POST", &format!("/images?dir={}", encode(dir)), image).await
    }

    /// CTRL-3.
    pub async fn update(&self, id: &str, image: &[u8]) -> Result<ImageRecord, String> {
        Self::record(&self.call("PUT", &format!("/images/{}", encode(id)), image).await?, 200, "update")
    }

    /// CTRL-4.
    pub async fn delete(&self, id: &str) -> Result<(), String> {
        let ex = self.call("DELETE", &format!("/images/{}", encode(id)), b"").await?;
        if ex.status != 204 {
            return Err(format!("control delete: status {} (expected 204)", ex.status));
        }
        Ok(())
    }

    /// CTRL-5.
    pub async fn fresh_record(&self, id: &str) -> Result<ImageRecord, String> {
        Self::record(&self.call("GET", &format!("/images/{}/record", encode(id)), b"").await?, 200, "record")
    }
}

/// What the suite runs against.
#[derive(Debug, Clone)]
pub struct Target {
    /// The default endpoint's route URL.
    pub endpoint: Url,
    /// The control interface, if any.
    pub control: Option<Control>,
    /// Its info document, if it has a control interface.
    pub info: Option<Info>,
    /// Records given as files (for running without a control interface).
    pub records: Vec<ImageRecord>,
}

impl Target {
    /// Connects: reads the info document from `control` (if given); the endpoint is `endpoint`
    /// or, when absent, the info document's.
    pub async fn connect(
        endpoint: Option<&str>,
        control: Option<&str>,
        records: Vec<ImageRecord>,
    ) -> Result<Target, String> {
        let control = control.map(Control::new).transpose()?;
        let info = match &control {
            Some(c) => Some(c.info().await?),
            None => None,
        };
        let endpoint =
            match (endpoint, &info) {
                (Some(e), _) => e.to_owned(),
                (None, Some(i)) if !i.endpoint.is_empty() => i.endpoint.clone(),
                _ => return Err(
                    "no endpoint: pass --endpoint (PIXSTORE_ENDPOINT), or a control interface whose /info names one"
                        .into(),
                ),
            };
        Ok(Target { endpoint: Url::parse(&endpoint)?, control, info, records })
    }

    /// The window W the implementation reports (CTRL-1), if known.
    pub fn window_ms(&self) -> Option<i64> {
        self.info.as_ref().map(|i| i.window_ms)
    }
}
