//! Unit tests of `token.rs`, kept apart so that spec-trace counts their requirement IDs as tests.
use super::*;

// TOKEN-1, TOKEN-3
#[test]
fn range() {
    assert_eq!(Token::new(0), Err(TokenError::OutOfRange));
    assert_eq!(Token::new(1).map(Token::get), Ok(1));
    assert_eq!(Token::new(MAX_TOKEN).map(Token::get), Ok(MAX_TOKEN));
    assert_eq!(Token::new(MAX_TOKEN + 1), Err(TokenError::OutOfRange));
}

// TOKEN-2, TOKEN-3
#[test]
fn next_is_strictly_increasing_even_in_one_millisecond_and_when_the_clock_steps_back() {
    let t1 = Token::next(None, 1_000).unwrap();
    let t2 = Token::next(Some(t1), 1_000).unwrap();
    let t3 = Token::next(Some(t2), 500).unwrap();
    let t4 = Token::next(Some(t3), 5_000).unwrap();
    assert_eq!([t1.get(), t2.get(), t3.get(), t4.get()], [1_000, 1_001, 1_002, 5_000]);
    assert_eq!(Token::next(None, 0).map(Token::get), Ok(1));
    let max = Token::new(MAX_TOKEN).unwrap();
    assert_eq!(Token::next(Some(max), 0), Err(TokenError::OutOfRange));
    assert_eq!(Token::next(None, u64::MAX), Err(TokenError::OutOfRange));
}

// TOKEN-5
#[test]
fn text_grammar() {
    assert_eq!(parse_text(b"0"), Ok(None));
    assert_eq!(parse_text(b"42").map(|t| t.map(Token::get)), Ok(Some(42)));
    assert_eq!(parse_text(b"9007199254740991").map(|t| t.map(Token::get)), Ok(Some(MAX_TOKEN)));
    assert_eq!(parse_text(b"9007199254740992"), Err(TokenError::OutOfRange));
    assert_eq!(parse_text(b"99999999999999999999"), Err(TokenError::OutOfRange));
    assert_eq!(parse_text(b""), Err(TokenError::Empty));
    for bad in [&b" 1"[..], b"1 ", b"+1", b"-1", b"0x1a", b"1e3", b"1.0", b"NaN", b"99999999999999999999x"] {
        assert_eq!(parse_text(bad), Err(TokenError::InvalidCharacter), "{bad:?}");
    }
    assert_eq!(parse_text(b"007"), Err(TokenError::LeadingZero));
}

// TOKEN-6, TOKEN-7
#[test]
fn client_token_falls_back_to_none() {
    let none: [&[u8]; 0] = [];
    let t = |h: &[&[u8]], q: &[&[u8]]| client_token(h.iter().copied(), q.iter().copied()).map(Token::get);
    assert_eq!(t(&[b"5"], &[]), Some(5));
    assert_eq!(t(&[b"5"], &[b"6"]), Some(5));
    assert_eq!(t(&[], &[b"6"]), Some(6));
    assert_eq!(t(&[b"abc"], &[b"6"]), None);
    assert_eq!(t(&[b"5", b"5"], &[]), None);
    assert_eq!(t(&[], &[b"6", b"6"]), None);
    assert_eq!(t(&[], &[]), None);
    assert_eq!(t(&[b"0"], &[]), None);
    assert_eq!(client_token(none, none), None);
}

#[test]
fn text_round_trip() {
    let mut buf = [0u8; MAX_TOKEN_TEXT_LEN];
    assert_eq!(write_text(None, &mut buf), "0");
    for v in [1, 9, 10, 1_732_752_000_123, MAX_TOKEN] {
        let t = Token::new(v).unwrap();
        let text = write_text(Some(t), &mut buf);
        assert_eq!(parse_text(text.as_bytes()), Ok(Some(t)));
    }
}
