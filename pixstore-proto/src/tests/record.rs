//! Unit tests of `record.rs`, kept apart so that spec-trace counts their requirement IDs as tests.
use super::*;

fn json(id: &str, token: &str, key: &str) -> alloc::string::String {
    alloc::format!(
        r#"{{"id":"{id}","token":{token},"meta":{{"key":"{key}","iv":"AAAAAAAAAAAAAAAA","tag":"AAAAAAAAAAAAAAAAAAAAAA=="}},"statelessProof":"p"}}"#
    )
}
const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

// REC-1, REC-2, REC-3, REC-4, REC-5, REC-6
#[test]
fn parse_and_reject() {
    let r = ImageRecord::from_json(json("a:b", "5", KEY).as_bytes()).unwrap();
    assert_eq!(r.token.get(), 5);
    assert_eq!(r.stateless_proof, "p");
    let back = ImageRecord::from_json(r.to_json().as_bytes()).unwrap();
    assert_eq!(back, r);
    let err = |s: &str| ImageRecord::from_json(s.as_bytes()).unwrap_err().kind();
    assert_eq!(err(&json("a:b", "0", KEY)), "InvalidToken");
    assert_eq!(err(&json("a:b", "1.5", KEY)), "InvalidToken");
    assert_eq!(err(&json("a:b", "\"5\"", KEY)), "WrongType");
    assert_eq!(err(&json("../x", "5", KEY)), "InvalidId");
    assert_eq!(err(&json("a", "5", &KEY.replace('=', ""))), "InvalidBase64");
    assert_eq!(err(&json("a", "5", "AAAA")), "InvalidLength");
    assert_eq!(err("[1]"), "Syntax");
    assert_eq!(err("{"), "Syntax");
    assert_eq!(err(r#"{"id":"a"}"#), "MissingField");
    assert_eq!(err(r#"{"id":"a","id":"b"}"#), "DuplicateField");
}

// PROOF-13, REC-7: Debug output (what ends up in logs) shows neither the key nor the proof.
#[test]
fn debug_redacts_key_and_proof() {
    let mut r = ImageRecord::from_json(json("a:b", "5", KEY).as_bytes()).unwrap();
    r.meta.key = [0xab; 32];
    r.stateless_proof = "AQAAAAABAAABk3AR4ECeeVTuCgo9B_sMK7CU_zdA".into();
    let s = alloc::format!("{r:?}");
    assert!(!s.contains("abab") && !s.contains("AQAAAAAB"), "{s}");
    assert_eq!(crate::http::RECORD_CACHE_CONTROL, "no-store");
}

// REC-6: a record and its meta are objects; arrays are refused by both parsers.
#[test]
fn arrays_and_null_meta_are_refused() {
    let with_meta = |meta: &str| alloc::format!(r#"{{"id":"a","token":1,"meta":{meta},"statelessProof":""}}"#);
    let err = |s: &str| ImageRecord::from_json(s.as_bytes()).unwrap_err();
    assert_eq!(err(&with_meta(r#"["AA==","AA==","AA=="]"#)), RecordError::WrongType("meta"));
    assert_eq!(err(&with_meta("null")), RecordError::WrongType("meta"));
    assert_eq!(err(&with_meta(r#"{"key":"","iv":""}"#)), RecordError::MissingField("meta.tag"));
    assert_eq!(err(r#"{"id":5,"token":1,"statelessProof":""}"#), RecordError::MissingField("meta"));
    // The serde impl (without serde_json's error kinds) refuses arrays as well.
    let good = json("a:b", "5", KEY);
    let r: ImageRecord = serde_json::from_str(&good).unwrap();
    assert_eq!(r.token.get(), 5);
    let as_array =
        alloc::format!(r#"["a:b",5,{{"key":"{KEY}","iv":"AAAAAAAAAAAAAAAA","tag":"AAAAAAAAAAAAAAAAAAAAAA=="}},"p"]"#);
    assert!(serde_json::from_str::<ImageRecord>(&as_array).is_err());
    assert!(
        serde_json::from_str::<ImageRecord>(&good.replace("\"id\":\"a:b\"", "\"id\":\"a:b\",\"id\":\"c\"")).is_err()
    );
}

// REC-6: many members cost linear time, not quadratic (a 50 000-member record parses).
#[test]
fn many_unknown_members_are_fine() {
    let mut text = json("a", "5", KEY);
    text.pop();
    for i in 0..50_000 {
        text.push_str(&alloc::format!(r#","x{i}":0"#));
    }
    text.push('}');
    assert!(ImageRecord::from_json(text.as_bytes()).is_ok());
}
