//! Unit tests of `http.rs`, kept apart so that spec-trace counts their requirement IDs as tests.
use super::*;

fn header<'h>(h: &'h [(&'static str, Cow<'_, str>)], name: &str) -> Option<&'h str> {
    h.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_ref())
}

// HTTP-1, HTTP-3, HTTP-10
#[test]
fn targets() {
    let r = DEFAULT_ROUTE;
    assert_eq!(classify(r, "GET", "/pixstore-image/abc"), Action::Serve(Id::Text("abc".into())));
    assert_eq!(classify(r, "GET", "/pixstore-image/a%3Ab"), Action::Serve(Id::Text("a:b".into())));
    assert_eq!(classify(r, "GET", "/pixstore-image"), Action::Serve(Id::Absent));
    assert_eq!(classify(r, "GET", "/pixstore-image/"), Action::Serve(Id::Absent));
    assert_eq!(classify(r, "GET", "/pixstore-image/a/b"), Action::NotFound);
    assert_eq!(classify(r, "GET", "/pixstore-imagex/a"), Action::NotFound);
    assert_eq!(classify(r, "GET", "/other"), Action::NotFound);
    assert_eq!(classify("/img/", "GET", "/img/x"), Action::Serve(Id::Text("x".into())));
}

// HTTP-2
#[test]
fn malformed_escapes_are_undecodable_not_fatal() {
    for bad in ["%", "%4", "%zz", "%E0%A4%A", "%ff"] {
        let path = alloc::format!("/pixstore-image/{bad}");
        assert_eq!(classify(DEFAULT_ROUTE, "GET", &path), Action::Serve(Id::Undecodable), "{bad}");
    }
    assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
    assert_eq!(Id::Text("".into()).as_request_id(), RequestId::Absent);
}

// HTTP-7, HTTP-8
#[test]
fn methods() {
    assert_eq!(classify(DEFAULT_ROUTE, "OPTIONS", "/pixstore-image/x"), Action::Preflight);
    for m in ["POST", "PUT", "DELETE", "PATCH", "HEAD"] {
        assert_eq!(classify(DEFAULT_ROUTE, m, "/pixstore-image/x"), Action::MethodNotAllowed);
    }
    let h = headers(Response::MethodNotAllowed, "*");
    assert_eq!(header(&h, "allow"), Some("GET, OPTIONS"));
    assert_eq!(Response::MethodNotAllowed.status(), 405);
    let h = headers(Response::Preflight, "*");
    assert_eq!(Response::Preflight.status(), 204);
    assert_eq!(header(&h, "access-control-max-age"), Some("600"));
    let allowed = header(&h, "access-control-allow-headers").unwrap();
    assert!(allowed.contains("x-pixstore-proof") && allowed.contains("x-pixstore-token"));
}

// HTTP-4, HTTP-5, HTTP-6
#[test]
fn payload_headers() {
    let h = headers(Response::Payload(70), "https://app.example");
    assert_eq!(Response::Payload(70).status(), 200);
    assert_eq!(header(&h, "content-type"), Some(CONTENT_TYPE));
    assert_eq!(header(&h, "content-length"), Some("70"));
    assert_eq!(header(&h, "access-control-allow-origin"), Some("https://app.example"));
    assert_eq!(header(&h, "vary"), Some("Origin"));
    for r in [Response::Payload(1), Response::Preflight, Response::MethodNotAllowed, Response::NotFound] {
        assert_eq!(header(&headers(r, "*"), "cache-control"), Some("no-store"));
        assert_eq!(header(&headers(r, "*"), "vary"), None);
    }
}

// HTTP-11, HTTP-12
#[test]
fn duplicate_proofs_and_long_targets() {
    assert_eq!(proof_header(core::iter::empty()), None);
    assert_eq!(proof_header(["p"].into_iter()), Some("p"));
    assert_eq!(proof_header(["p", "p"].into_iter()), Some(DUPLICATE_PROOF));
    let ring = crate::proof::Keyring::new();
    let v = crate::proof::Verifier::new(&ring, crate::proof::Window::default());
    assert_eq!(v.verify("x", Some(DUPLICATE_PROOF), 0), Err(crate::proof::ProofError::Malformed));
    assert!(!target_too_long(&"a".repeat(MAX_TARGET_LEN)));
    assert!(target_too_long(&"a".repeat(MAX_TARGET_LEN + 1)));
}

// HTTP-9, TOKEN-7
#[test]
fn query() {
    let values = |q| query_values(q, TOKEN_QUERY).map(|c| c.into_owned()).collect::<alloc::vec::Vec<_>>();
    assert_eq!(values("v=1&token=42"), ["42"]);
    assert!(values("tokens=1").is_empty());
    assert_eq!(values("token=1&token=2"), ["1", "2"]);
    // application/x-www-form-urlencoded: escapes in names and values, `+` is a space.
    assert_eq!(values("tok%65n=%31%32"), ["12"]);
    assert_eq!(values("token=1+2"), ["1 2"]);
    assert_eq!(values("token=%zz"), ["\u{fffd}"]);
    let token = |q| {
        crate::token::client_token(None::<&[u8]>, query_values(q, TOKEN_QUERY).map(|c| c.into_owned()))
            .map(crate::token::Token::get)
    };
    assert_eq!(token("token=1&token=1"), None);
    assert_eq!(token("token=%31%32"), Some(12));
    // HTTP-9: a query string in the target is not part of the id.
    assert_eq!(classify(DEFAULT_ROUTE, "GET", "/pixstore-image/abc?v=1"), Action::Serve(Id::Text("abc".into())));
    assert_eq!(classify("/", "GET", "/abc"), Action::NotFound);
    assert_eq!(classify(DEFAULT_ROUTE, "GET", "/pixstore-image/abc"), Action::Serve(Id::Text("abc".into())));
}
