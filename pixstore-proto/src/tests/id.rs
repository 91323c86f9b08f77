//! Unit tests of `id.rs`, kept apart so that spec-trace counts their requirement IDs as tests.
use super::*;

// ID-1
#[test]
fn grammar_accepts_and_rejects() {
    for ok in ["a", "abc_DEF-09", "avatars:lq3k2x9a1b2c", "a-b_c:X", "lq3k2x9aab12cd34"] {
        assert_eq!(validate(ok), Ok(()), "{ok}");
    }
    let long_name = "n".repeat(MAX_NAME_LEN);
    let long_dir = "d".repeat(MAX_DIR_LEN);
    assert_eq!(validate(&alloc::format!("{long_dir}:{long_name}")), Ok(()));
    assert_eq!(validate(&alloc::format!("{long_name}n")), Err(IdError::TooLong));
    assert_eq!(validate(&alloc::format!("{long_dir}d:x")), Err(IdError::TooLong));
    assert_eq!(validate(""), Err(IdError::Empty));
    assert_eq!(validate(":x"), Err(IdError::BadSeparator));
    assert_eq!(validate("x:"), Err(IdError::BadSeparator));
    assert_eq!(validate("a:b:c"), Err(IdError::BadSeparator));
    assert_eq!(validate("A:b"), Err(IdError::InvalidCharacter));
    assert_eq!(validate("../etc"), Err(IdError::InvalidCharacter));
    assert_eq!(validate("a/b"), Err(IdError::InvalidCharacter));
    assert_eq!(validate("a\0b"), Err(IdError::InvalidCharacter));
    assert_eq!(validate("é"), Err(IdError::InvalidCharacter));
    assert_eq!(validate(&"x".repeat(10_000)), Err(IdError::TooLong));
}

// ID-3
#[test]
fn dir_is_sanitised_like_3_2_1_but_never_empty() {
    let ok = |d: &str| sanitize_dir(d).unwrap().unwrap();
    assert_eq!(ok("  My Avatars!  "), "myavatars");
    assert_eq!(ok("a_b-c"), "a_b-c");
    assert_eq!(ok("\u{c9}lan"), "lan");
    assert_eq!(ok("\u{212a}9"), "k9"); // KELVIN SIGN lowercases to k
    assert_eq!(sanitize_dir(""), Ok(None));
    assert_eq!(sanitize_dir("!!!"), Err(IdError::Empty));
    assert_eq!(sanitize_dir(&"a".repeat(33)), Err(IdError::TooLong));
    assert_eq!(sanitize_dir(&"a".repeat(32)).unwrap().map(|d| d.len()), Some(32));
}

// ID-2
#[test]
fn random_ids_are_valid_and_carry_the_random_bytes() {
    let a = from_random(None, &[0u8; 16]).unwrap();
    let b = from_random(Some("dir"), &[0xff; 16]).unwrap();
    assert_eq!(from_random(Some("A/.."), &[0; 16]), Err(IdError::InvalidCharacter));
    assert_eq!(a.len(), 22);
    assert_eq!(validate(&a), Ok(()));
    assert_eq!(validate(&b), Ok(()));
    assert!(b.starts_with("dir:"));
    assert_ne!(from_random(None, &[1; 16]), from_random(None, &[2; 16]));
}

// ID-4: the split used for storage paths is injective and cannot leave the store.
#[test]
fn split_is_injective_and_stays_inside() {
    let ids = ["a", "a_b", "ab", "a:b", "b:a", "aa:b", "a:bb", "A", "x-y:Z_9"];
    let mut seen = alloc::vec::Vec::new();
    for id in ids {
        let (dir, name) = split(id).unwrap();
        for part in dir.into_iter().chain([name]) {
            assert!(!part.is_empty() && part != "." && part != "..");
            assert!(!part.contains(['/', '\\', '\0', ':']));
        }
        assert!(!seen.contains(&(dir, name)), "{id} collides");
        seen.push((dir, name));
    }
    for bad in ["..", "../a", "a/..", "a\\b", ".:x", "a:..", "%2e%2e"] {
        assert!(split(bad).is_err(), "{bad}");
    }
}
