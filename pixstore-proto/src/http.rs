//! The HTTP binding of the default endpoint (spec §10, *HTTP binding (default endpoint)*).
//!
//! What a server adapter needs beyond [`crate::serve`]: how a method and a path map to an
//! action, how the id is percent-decoded, and which headers every response carries. The
//! reference server is a thin layer over these functions.

use alloc::borrow::Cow;
use alloc::vec::Vec;

use crate::serve::RequestId;

/// The request header carrying the proof (PROOF-1, HTTP-11).
pub const PROOF_HEADER: &str = "x-pixstore-proof";
/// The request header carrying the client token (TOKEN-7).
pub const TOKEN_HEADER: &str = "x-pixstore-token";
/// The query parameter carrying the client token when the header is absent (TOKEN-7).
pub const TOKEN_QUERY: &str = "token";
/// The default route (HTTP-1).
pub const DEFAULT_ROUTE: &str = "/pixstore-image";
/// The default port of the default endpoint.
pub const DEFAULT_PORT: u16 = 7482;
/// HTTP-4: the content type of every wire payload.
pub const CONTENT_TYPE: &str = "application/octet-stream";
/// HTTP-5: every response of the endpoint.
pub const CACHE_CONTROL: &str = "no-store";
/// HTTP-7, HTTP-8: the methods of the route.
pub const ALLOW_METHODS: &str = "GET, OPTIONS";
/// HTTP-7: the request headers a browser may send (3.2.1's list, which custom fetchers rely on).
pub const ALLOW_HEADERS: &str = "Content-Type, Authorization, x-pixstore-proof, x-pixstore-token";
/// HTTP-7: how long a browser may cache a preflight, in seconds.
pub const MAX_AGE_SECS: u32 = 600;
/// REC-7: the `Cache-Control` of any response that carries an image record (it holds the image
/// key): no cache may keep it.
pub const RECORD_CACHE_CONTROL: &str = "no-store";
/// HTTP-12: request targets longer than this may be refused with 414.
pub const MAX_TARGET_LEN: usize = 8192;

/// What a request to the endpoint asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'a> {
    /// HTTP-1, HTTP-3: serve a wire payload for this id ([`RequestId::Absent`] for the bare route).
    Serve(Id<'a>),
    /// HTTP-7: a CORS preflight: 204.
    Preflight,
    /// HTTP-8: a method the route does not allow: 405 with `Allow`.
    MethodNotAllowed,
    /// HTTP-10: not the endpoint's resource: 404.
    NotFound,
}

/// A decoded id, borrowed when it needed no decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id<'a> {
    /// The bare route: no id (HTTP-3).
    Absent,
    /// The percent-decoded id.
    Text(Cow<'a, str>),
    /// A malformed percent-escape or invalid UTF-8 (HTTP-2).
    Undecodable,
}

impl Id<'_> {
    /// The id as [`crate::serve`] takes it.
    pub fn as_request_id(&self) -> RequestId<'_> {
        match self {
            Id::Absent => RequestId::Absent,
            Id::Text(t) if t.is_empty() => RequestId::Absent,
            Id::Text(t) => RequestId::Text(t),
            Id::Undecodable => RequestId::Undecodable,
        }
    }
}

/// Maps a method and a path (without the query string, still percent-encoded) to an action.
///
/// HTTP-1: `GET {route}/{percent-encoded id}`, the id one segment; HTTP-3: the bare route is
/// MissingID; HTTP-10: more segments, or another path, is 404; HTTP-7, HTTP-8: OPTIONS is a
/// preflight, other methods 405.
pub fn classify<'a>(route: &str, method: &str, path: &'a str) -> Action<'a> {
    // HTTP-9: a query string, if the caller passed the whole target, is never part of the id.
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let route = route.trim_end_matches('/');
    if route.is_empty() {
        // HTTP-1: the route is an absolute path other than `/`; a misconfigured route serves nothing.
        return Action::NotFound;
    }
    let Some(rest) = path.strip_prefix(route) else {
        return Action::NotFound;
    };
    let id = match rest {
        "" | "/" => Id::Absent,
        _ => match rest.strip_prefix('/') {
            Some(segment) if !segment.contains('/') => percent_decode(segment).map_or(Id::Undecodable, Id::Text),
            _ => return Action::NotFound,
        },
    };
    match method {
        "GET" => Action::Serve(id),
        "OPTIONS" => Action::Preflight,
        _ => Action::MethodNotAllowed,
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// HTTP-2: strict percent-decoding (RFC 3986 §2.1) to UTF-8. `None` for a malformed escape
/// (`%`, `%4`, `%zz`) or bytes that are not UTF-8.
pub fn percent_decode(segment: &str) -> Option<Cow<'_, str>> {
    if !segment.contains('%') {
        return Some(Cow::Borrowed(segment));
    }
    let mut out = Vec::with_capacity(segment.len());
    let mut bytes = segment.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = bytes.next().and_then(hex_val)?;
            let lo = bytes.next().and_then(hex_val)?;
            out.push(hi << 4 | lo);
        } else {
            out.push(b);
        }
    }
    alloc::string::String::from_utf8(out).ok().map(Cow::Owned)
}

/// `application/x-www-form-urlencoded` decoding of one name or value: `+` is a space, then
/// percent-decoding; `None` for a malformed escape or invalid UTF-8.
fn form_decode(text: &str) -> Option<Cow<'_, str>> {
    if text.contains('+') {
        let spaced = text.replace('+', " ");
        return percent_decode(&spaced).map(|c| Cow::Owned(c.into_owned()));
    }
    percent_decode(text)
}

/// Every value of query parameter `name` in `query` (without the `?`), in order, decoded as
/// `application/x-www-form-urlencoded` (TOKEN-7); an undecodable value is `"\u{fffd}"`, which no
/// parser accepts. HTTP-9: only `token` is read; the query never becomes part of the id.
pub fn query_values<'q>(query: &'q str, name: &'q str) -> impl Iterator<Item = Cow<'q, str>> + 'q {
    query.split('&').filter(|pair| !pair.is_empty()).filter_map(move |pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(k).as_deref() == Some(name)).then(|| form_decode(v).unwrap_or(Cow::Borrowed("\u{fffd}")))
    })
}

/// The value [`proof_header`] returns for a proof header sent more than once: it is not
/// base64url, so it never verifies.
pub const DUPLICATE_PROOF: &str = "<x-pixstore-proof sent more than once>";

/// HTTP-11: the proof of a request from every value of its `x-pixstore-proof` header. A header
/// sent more than once gives [`DUPLICATE_PROOF`] (InvalidProof), never one of the values.
pub fn proof_header<'a>(mut values: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    match (values.next(), values.next()) {
        (None, _) => None,
        (Some(one), None) => Some(one),
        (Some(_), Some(_)) => Some(DUPLICATE_PROOF),
    }
}

/// HTTP-12: whether a request target is long enough that the server may answer 414.
pub fn target_too_long(target: &str) -> bool {
    target.len() > MAX_TARGET_LEN
}

/// The kind of response, for [`headers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// A wire payload of this many bytes: 200 (HTTP-4).
    Payload(usize),
    /// A preflight: 204 (HTTP-7).
    Preflight,
    /// 405 (HTTP-8).
    MethodNotAllowed,
    /// 404 (HTTP-10).
    NotFound,
}

impl Response {
    /// The status code.
    pub fn status(self) -> u16 {
        match self {
            Response::Payload(_) => 200,
            Response::Preflight => 204,
            Response::MethodNotAllowed => 405,
            Response::NotFound => 404,
        }
    }
}

/// Every header of a response, in order (HTTP-4 to HTTP-8). `allow_origin` is the configured
/// `accessControlAllowOrigin`. Content-Length of a payload is included as the exact length.
pub fn headers(response: Response, allow_origin: &str) -> Vec<(&'static str, Cow<'_, str>)> {
    let mut h: Vec<(&'static str, Cow<'_, str>)> = Vec::with_capacity(8);
    // HTTP-5
    h.push(("cache-control", Cow::Borrowed(CACHE_CONTROL)));
    // HTTP-6
    h.push(("access-control-allow-origin", Cow::Borrowed(allow_origin)));
    if allow_origin != "*" {
        h.push(("vary", Cow::Borrowed("Origin")));
    }
    h.push(("access-control-allow-methods", Cow::Borrowed(ALLOW_METHODS)));
    h.push(("access-control-allow-headers", Cow::Borrowed(ALLOW_HEADERS)));
    match response {
        Response::Payload(len) => {
            // HTTP-4
            h.push(("content-type", Cow::Borrowed(CONTENT_TYPE)));
            h.push(("content-length", Cow::Owned(alloc::format!("{len}"))));
        }
        Response::Preflight => {
            // HTTP-7
            h.push(("access-control-max-age", Cow::Owned(alloc::format!("{MAX_AGE_SECS}"))));
        }
        Response::MethodNotAllowed => {
            // HTTP-8
            h.push(("allow", Cow::Borrowed(ALLOW_METHODS)));
        }
        Response::NotFound => {}
    }
    h
}

#[cfg(test)]
#[path = "tests/http.rs"]
mod tests;
