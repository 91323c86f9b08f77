//! The implementation under test: its endpoint (the default one, or a custom one given as a URL
//! template), the headers to send, and, when it has one, its control interface (spec
//! Appendix A).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use proto::record::ImageRecord;
use serde_json::Value;

use crate::http::{self, Exchange, Protocol, Transport, Url};
use crate::{fail, fail_with, Stop};

/// `GET {control}/info` (CTRL-1), read leniently: `PXS-A-info` judges the member types, the
/// rest of the suite uses what it can read.
#[derive(Debug, Clone, Default)]
pub struct Info {
    /// The document as sent.
    pub raw: Value,
    /// `specVersion`.
    pub spec_version: Option<String>,
    /// The default endpoint's route URL (`""` when none).
    pub endpoint: Option<String>,
    /// W, or -1.
    pub window_ms: Option<i64>,
    /// Name and version.
    pub implementation: Option<String>,
    /// Optional abilities (names of the CTRL-1 registry; unknown names are ignored).
    pub features: Vec<String>,
    /// The verifier's clock skew, when reported (optional in CTRL-1).
    pub skew_ms: Option<u64>,
    /// The configured `Access-Control-Allow-Origin`, when reported (optional in CTRL-1).
    pub allow_origin: Option<String>,
}

impl Info {
    fn from_value(raw: Value) -> Result<Info, String> {
        let object = raw.as_object().ok_or("control /info: not a JSON object (spec Appendix A, CTRL-1)")?;
        let text = |k: &str| object.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(Info {
            spec_version: text("specVersion"),
            endpoint: text("endpoint"),
            window_ms: object.get("windowMs").and_then(Value::as_i64),
            implementation: text("implementation"),
            features: object
                .get("features")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            skew_ms: object.get("skewMs").and_then(Value::as_u64),
            allow_origin: text("allowOrigin"),
            raw,
        })
    }

    /// Whether `features` names `name`.
    pub fn has_feature(&self, name: &str) -> bool {
        self.features.iter().any(|f| f == name)
    }
}

/// `PUT {control}/clock` (CTRL-8): how the implementation's clock runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSetting {
    /// The system clock.
    System,
    /// The system clock plus this many ms (may be negative).
    Offset(i64),
    /// Stands still at this Unix ms.
    Frozen(u64),
}

/// A control interface.
#[derive(Debug, Clone)]
pub struct Control {
    url: Url,
    headers: Vec<(String, String)>,
    transport: Transport,
}

/// The percent-encoded form of `id` (CLIENT-8: all but `A-Z a-z 0-9 - _ . ~`).
pub fn encode(id: &str) -> String {
    proto::client::request_target("", id).trim_start_matches('/').to_owned()
}

/// A REC-6 error to the requirement most likely broken.
fn record_requirement(e: &proto::record::RecordError) -> &'static str {
    use proto::record::RecordError as E;
    match e {
        E::WrongType("token") | E::InvalidToken => "REC-3",
        E::InvalidBase64(_) | E::InvalidLength(_) => "REC-2",
        E::InvalidId => "REC-4",
        E::WrongType(_) | E::MissingField(_) => "REC-1",
        _ => "REC-6",
    }
}

impl Control {
    /// The control interface at `url` (`http(s)://host:port[/prefix]`), sending `headers` with
    /// every request.
    pub fn new(url: &str, headers: Vec<(String, String)>, transport: Transport) -> Result<Control, String> {
        Ok(Control { url: Url::parse(url)?, headers, transport })
    }

    /// The base URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// One request to `{control}{path}`; transport errors become failures.
    pub async fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<Exchange, Stop> {
        self.transport
            .send(&self.url, method, &format!("{}{path}", self.url.path), &self.headers, body)
            .await
            .map_err(|e| fail("transport", format!("control interface: {e}")))
    }

    fn record(ex: &Exchange, want: u16, what: &str, requirement: &'static str) -> Result<ImageRecord, Stop> {
        if ex.status != want {
            return Err(fail_with(
                "control",
                format!("control {what}: status {} (expected {want}): {}", ex.status, http::preview(&ex.body)),
                ex,
            )
            .caused_by(requirement, format!("control {what} answers {} instead of {want}", ex.status)));
        }
        ImageRecord::from_json(&ex.body).map_err(|e| {
            fail_with("control", format!("control {what}: the answer is not a valid ImageRecord: {e}"), ex).caused_by(
                record_requirement(&e),
                format!("the control interface answers records that fail spec §7 ({}: {e})", e.kind()),
            )
        })
    }

    /// CTRL-1.
    pub async fn info(&self) -> Result<Info, String> {
        let ex = self.call("GET", "/info", b"").await.map_err(stop_text)?;
        if ex.status != 200 {
            return Err(format!("control /info: status {} (expected 200): {}", ex.status, http::preview(&ex.body)));
        }
        let raw: Value = serde_json::from_slice(&ex.body)
            .map_err(|e| format!("control /info: not JSON ({e}): {}", http::preview(&ex.body)))?;
        Info::from_value(raw)
    }

    /// CTRL-2: stores an image; its record.
    pub async fn create(&self, image: &[u8], dir: Option<&str>) -> Result<ImageRecord, Stop> {
        let path = match dir {
            Some(d) => format!("/images?dir={}", encode(d)),
            None => "/images".into(),
        };
        Self::record(&self.call("POST", &path, image).await?, 201, "create", "CTRL-2")
    }

    /// CTRL-2 (raw): the exchange, for checks about refusals.
    pub async fn create_raw(&self, image: &[u8]) -> Result<Exchange, Stop> {
        self.call("POST", "/images", image).await
    }

    /// CTRL-2 with a dir prefix (raw): the exchange.
    pub async fn create_raw_with_dir(&self, image: &[u8], dir: &str) -> Result<Exchange, Stop> {
        self.call("POST", &format!("/images?dir={}", encode(dir)), image).await
    }

    /// CTRL-3.
    pub async fn update(&self, id: &str, image: &[u8]) -> Result<ImageRecord, Stop> {
        Self::record(&self.call("PUT", &format!("/images/{}", encode(id)), image).await?, 200, "update", "CTRL-3")
    }

    /// CTRL-4.
    pub async fn delete(&self, id: &str) -> Result<(), Stop> {
        let ex = self.call("DELETE", &format!("/images/{}", encode(id)), b"").await?;
        if ex.status != 204 {
            return Err(fail_with("control", format!("control delete: status {} (expected 204)", ex.status), &ex)
                .caused_by("CTRL-4", format!("control delete answers {} instead of 204", ex.status)));
        }
        Ok(())
    }

    /// CTRL-5.
    pub async fn fresh_record(&self, id: &str) -> Result<ImageRecord, Stop> {
        Self::record(&self.call("GET", &format!("/images/{}/record", encode(id)), b"").await?, 200, "record", "CTRL-5")
    }

    /// CTRL-8: sets the clock; the implementation's time after the change (Unix ms).
    pub async fn set_clock(&self, setting: ClockSetting) -> Result<u64, Stop> {
        let body = match setting {
            ClockSetting::System => serde_json::json!({}),
            ClockSetting::Offset(ms) => serde_json::json!({ "offsetMs": ms }),
            ClockSetting::Frozen(at) => serde_json::json!({ "frozenAtMs": at }),
        };
        let ex = self.call("PUT", "/clock", body.to_string().as_bytes()).await?;
        Self::now_of(&ex)
    }

    /// CTRL-8: the implementation's time (Unix ms).
    pub async fn now(&self) -> Result<u64, Stop> {
        Self::now_of(&self.call("GET", "/clock", b"").await?)
    }

    fn now_of(ex: &Exchange) -> Result<u64, Stop> {
        if ex.status != 200 {
            return Err(fail_with("control", format!("control clock: status {} (expected 200)", ex.status), ex)
                .caused_by("CTRL-8", "the control interface lists the clock feature but its /clock fails"));
        }
        serde_json::from_slice::<Value>(&ex.body).ok().and_then(|v| v.get("nowMs").and_then(Value::as_u64)).ok_or_else(
            || {
                fail_with("control", "control clock: the answer has no nowMs number", ex)
                    .caused_by("CTRL-8", "the control interface's /clock answer has no nowMs")
            },
        )
    }
}

fn stop_text(s: Stop) -> String {
    match s {
        Stop::Fail(f) => f.message,
        Stop::Skip(why) => why,
    }
}

/// Where image requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// The default endpoint: `{route}/{id}` (spec §10).
    Default,
    /// A custom endpoint: the template's target with `{id}` replaced (`before` and `after` it).
    Template {
        /// The target before `{id}`, e.g. `/player-image/42/`.
        before: String,
        /// The target after `{id}`, e.g. `` or `?size=large`.
        after: String,
    },
}

/// The endpoint under test.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Scheme, host and port; for the default endpoint the route as the path.
    pub base: Url,
    /// Default or custom.
    pub shape: Shape,
}

impl Endpoint {
    /// The default endpoint at its route URL.
    pub fn default_route(url: &str) -> Result<Endpoint, String> {
        Ok(Endpoint { base: Url::parse(url)?, shape: Shape::Default })
    }

    /// A custom endpoint from a URL template with `{id}` once, e.g.
    /// `https://api.example/player-image/42/{id}`.
    pub fn template(template: &str) -> Result<Endpoint, String> {
        let (base, target) = Url::parse_keeping_path(template)?;
        let (before, after) = target
            .split_once("{id}")
            .ok_or_else(|| format!("--endpoint-template {template:?}: needs {{id}} where the image id goes"))?;
        if after.contains("{id}") {
            return Err(format!("--endpoint-template {template:?}: {{id}} may appear only once"));
        }
        if !before.starts_with('/') {
            return Err(format!("--endpoint-template {template:?}: {{id}} must be inside the path"));
        }
        Ok(Endpoint { base, shape: Shape::Template { before: before.to_owned(), after: after.to_owned() } })
    }

    /// Whether this is the default endpoint (§10's route shape applies).
    pub fn is_default(&self) -> bool {
        self.shape == Shape::Default
    }

    /// The default endpoint's route (empty for a custom endpoint).
    pub fn route(&self) -> &str {
        match self.shape {
            Shape::Default => &self.base.path,
            Shape::Template { .. } => "",
        }
    }

    /// The request target for `id`, percent-encoded as CLIENT-8 says.
    pub fn target(&self, id: &str) -> String {
        self.target_raw(&encode(id))
    }

    /// The request target with `segment` where the id goes, exactly as written.
    pub fn target_raw(&self, segment: &str) -> String {
        match &self.shape {
            Shape::Default => format!("{}/{segment}", self.base.path),
            Shape::Template { before, after } => format!("{before}{segment}{after}"),
        }
    }

    /// A label for reports: the route URL or the template.
    pub fn label(&self) -> String {
        match &self.shape {
            Shape::Default => self.base.to_string(),
            Shape::Template { before, after } => format!("{}{before}{{id}}{after}", self.base.origin()),
        }
    }
}

/// `target` with `param` added to its query.
pub fn with_query(target: &str, param: &str) -> String {
    if target.contains('?') {
        format!("{target}&{param}")
    } else {
        format!("{target}?{param}")
    }
}

/// Parses `Name: value` (repeatable `--header` / `--control-header`).
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once(':').ok_or_else(|| format!("header {text:?}: expected 'Name: value'"))?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(format!("header {text:?}: {name:?} is not a header name"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// What to connect to.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// The default endpoint's route URL (`--endpoint`).
    pub endpoint: Option<String>,
    /// A custom endpoint's URL template (`--endpoint-template`).
    pub endpoint_template: Option<String>,
    /// The control interface (`--control`).
    pub control: Option<String>,
    /// Headers for every endpoint request (`--header`).
    pub headers: Vec<(String, String)>,
    /// Headers for every control request (`--control-header`).
    pub control_headers: Vec<(String, String)>,
    /// TLS and HTTP/2 settings.
    pub transport: http::TransportOptions,
    /// Records given as files (for running without a control interface).
    pub records: Vec<ImageRecord>,
}

/// What the suite runs against.
#[derive(Debug)]
pub struct Target {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Headers sent with every endpoint request (`--header`).
    pub headers: Vec<(String, String)>,
    /// The client.
    pub transport: Transport,
    /// The protocol the endpoint speaks with this client.
    pub protocol: Protocol,
    /// The control interface, if any.
    pub control: Option<Control>,
    /// Its info document, if it has a control interface.
    pub info: Option<Info>,
    /// Records given as files (for running without a control interface).
    pub records: Vec<ImageRecord>,
    /// Whether the clock of CTRL-8 may be used: /info lists `clock` and the endpoint is the one
    /// /info names (a custom endpoint may run in another process with its own clock).
    pub clock_usable: bool,
    /// Warnings every report repeats (`--insecure`).
    pub warnings: Vec<String>,
    clock_changed: Arc<AtomicBool>,
}

impl Target {
    /// Connects: reads the info document from the control interface (if given); the endpoint is
    /// the template, the given route URL or, when neither, the info document's. The endpoint is
    /// probed once, so an unreachable target is an error here (exit code 2), not 40 failures.
    pub async fn connect(options: TargetOptions) -> Result<Target, String> {
        let transport = Transport::new(&options.transport)?;
        // h2c prior knowledge is about the endpoint; the control interface is spoken to as its
        // URL says (over TLS, ALPN still offers h2).
        let control_transport =
            Transport::new(&http::TransportOptions { http2_prior_knowledge: false, ..options.transport.clone() })?;
        let control = options
            .control
            .as_deref()
            .map(|c| Control::new(c, options.control_headers.clone(), control_transport.clone()))
            .transpose()?;
        let info = match &control {
            Some(c) => Some(c.info().await?),
            None => None,
        };
        let info_endpoint = info.as_ref().and_then(|i| i.endpoint.clone()).filter(|e| !e.is_empty());
        let endpoint = match (&options.endpoint_template, &options.endpoint, &info_endpoint) {
            (Some(t), _, _) => Endpoint::template(t)?,
            (None, Some(e), _) => Endpoint::default_route(e)?,
            (None, None, Some(e)) => Endpoint::default_route(e)
                .map_err(|err| format!("the control interface's /info names an unusable endpoint: {err}"))?,
            _ => {
                return Err(
                    "no endpoint: pass --endpoint (PIXSTORE_ENDPOINT) or --endpoint-template, or a control interface whose /info names one"
                        .into(),
                )
            }
        };
        let protocol = transport
            .negotiate(&endpoint.base)
            .await
            .map_err(|e| format!("the endpoint {} cannot be reached: {e}", endpoint.label()))?;
        let same_as_info = match (&info_endpoint, &endpoint.shape) {
            (Some(e), Shape::Default) => Url::parse(e).is_ok_and(|u| u == endpoint.base),
            _ => false,
        };
        let clock_usable = same_as_info && info.as_ref().is_some_and(|i| i.has_feature("clock"));
        let mut warnings = Vec::new();
        if transport.insecure() {
            warnings.push(http::INSECURE_WARNING.to_owned());
        }
        Ok(Target {
            endpoint,
            headers: options.headers,
            transport,
            protocol,
            control,
            info,
            records: options.records,
            clock_usable,
            warnings,
            clock_changed: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The window W the implementation reports (CTRL-1), if known.
    pub fn window_ms(&self) -> Option<i64> {
        self.info.as_ref().and_then(|i| i.window_ms)
    }

    /// Whether proof validation is disabled (W = -1 in /info).
    pub fn validation_disabled(&self) -> bool {
        self.window_ms() == Some(-1)
    }

    /// The control interface's clock (CTRL-8) when it can be used for this endpoint.
    pub fn clock(&self) -> Option<&Control> {
        if self.clock_usable {
            self.control.as_ref()
        } else {
            None
        }
    }

    /// Sets the clock (and remembers to restore it after the check).
    pub async fn set_clock(&self, setting: ClockSetting) -> Result<u64, Stop> {
        let c = self.clock().ok_or_else(|| Stop::Skip("needs the control interface's clock feature".into()))?;
        self.clock_changed.store(true, Ordering::SeqCst);
        c.set_clock(setting).await
    }

    /// Puts a clock a check changed back to the system clock.
    pub async fn restore_clock(&self) {
        if self.clock_changed.swap(false, Ordering::SeqCst) {
            if let Some(c) = self.clock() {
                let _ = c.set_clock(ClockSetting::System).await;
            }
        }
    }

    /// One endpoint request, with the `--header`s (when `with_headers`).
    pub async fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        with_headers: bool,
    ) -> Result<Exchange, String> {
        let mut all: Vec<(String, String)> = if with_headers { self.headers.clone() } else { Vec::new() };
        all.extend(headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self.transport.send(&self.endpoint.base, method, target, &all, b"").await
    }
}
