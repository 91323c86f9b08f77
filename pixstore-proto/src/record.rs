//! The image record (spec §7, *Image record (JSON)*).
//!
//! ```json
//! {
//!   "id": "avatars:Q2l0eSBvZiBsaWdodHM",
//!   "token": 1732752000123,
//!   "meta": { "key": "<base64, 32 bytes>", "iv": "<base64, 12 bytes>", "tag": "<base64, 16 bytes>" },
//!   "statelessProof": "<opaque string>"
//! }
//! ```
//!
//! REC-7: a record carries the image key. Deliver it only to parties allowed to see the image,
//! over a confidential channel; never let a shared cache keep it.
//!
//! The JSON form needs feature `json` (`ImageRecord::from_json`, `ImageRecord::to_json`, with the
//! spec's error kinds); `serde` alone gives `Serialize`/`Deserialize` for other formats. Without
//! either, [`ImageRecord::from_parts`] builds a record from its members.
//!
//! ## Example: reading and writing record JSON
//!
//! ```
//! # #[cfg(feature = "json")] {
//! use pixstore_proto::record::ImageRecord;
//!
//! let text = br#"{"id":"avatars:abc","token":1732752000123,
//!   "meta":{"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","iv":"AAAAAAAAAAAAAAAA","tag":"AAAAAAAAAAAAAAAAAAAAAA=="},
//!   "statelessProof":"p"}"#;
//! let record = ImageRecord::from_json(text)?;
//! assert_eq!((record.id.as_str(), record.token.get()), ("avatars:abc", 1_732_752_000_123));
//! assert_eq!(ImageRecord::from_json(record.to_json().as_bytes())?, record);
//!
//! // REC-6: a member given twice is refused (two readers must never see two records).
//! let twice = br#"{"id":"a","id":"b","token":1,"meta":{},"statelessProof":""}"#;
//! assert_eq!(ImageRecord::from_json(twice).map_err(|e| e.kind()), Err("DuplicateField"));
//! # }
//! # Ok::<(), pixstore_proto::record::RecordError>(())
//! ```

use alloc::string::String;
use core::fmt;

use base64::Engine as _;

use crate::envelope::{Meta, IV_LEN, KEY_LEN, TAG_LEN};
use crate::token::Token;

/// What the backend hands the app, and the app hands the client (REC-1).
#[derive(Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// The image id (ID-1, REC-4).
    pub id: String,
    /// The token of the version this record describes (TOKEN-1, REC-3).
    pub token: Token,
    /// Key, iv and tag of that version (REC-2).
    pub meta: Meta,
    /// The stateless proof, opaque to clients (PROOF-1, REC-5).
    pub stateless_proof: String,
}

impl fmt::Debug for ImageRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither the key nor the full proof (a bearer credential) is printed (PROOF-13).
        f.debug_struct("ImageRecord")
            .field("id", &self.id)
            .field("token", &self.token.get())
            .field("meta", &self.meta)
            .field("stateless_proof_len", &self.stateless_proof.len())
            .finish()
    }
}

/// Why JSON is not a valid image record (REC-6).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// Not JSON, or not a JSON object.
    Syntax,
    /// A required member is absent.
    MissingField(&'static str),
    /// A member appears twice.
    DuplicateField,
    /// A member has the wrong JSON type.
    WrongType(&'static str),
    /// REC-2: meta.key/iv/tag is not canonical standard base64 with padding.
    InvalidBase64(&'static str),
    /// REC-2: meta.key/iv/tag decodes to the wrong number of bytes.
    InvalidLength(&'static str),
    /// REC-3: token is not an integer in 1..=2^53-1.
    InvalidToken,
    /// REC-4: id does not match the id grammar.
    InvalidId,
}

impl RecordError {
    /// The spec's name of the error kind, as used by `spec/vectors/record_json.json`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Syntax => "Syntax",
            Self::MissingField(_) => "MissingField",
            Self::DuplicateField => "DuplicateField",
            Self::WrongType(_) => "WrongType",
            Self::InvalidBase64(_) => "InvalidBase64",
            Self::InvalidLength(_) => "InvalidLength",
            Self::InvalidToken => "InvalidToken",
            Self::InvalidId => "InvalidId",
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax => f.write_str("image record is not a JSON object (spec §7)"),
            Self::MissingField(m) => write!(f, "image record has no `{m}` member (spec §7, REC-6)"),
            Self::DuplicateField => f.write_str("image record has a member twice (spec §7, REC-6)"),
            Self::WrongType(m) => write!(f, "image record member `{m}` has the wrong JSON type (spec §7, REC-1)"),
            Self::InvalidBase64(m) => {
                write!(f, "image record `{m}` is not canonical standard base64 with padding (spec §7, REC-2)")
            }
            Self::InvalidLength(m) => {
                write!(f, "image record `{m}` has the wrong length: key 32, iv 12, tag 16 bytes (spec §7, REC-2)")
            }
            Self::InvalidToken => {
                f.write_str("image record token must be an integer from 1 to 2^53-1 (spec §7, REC-3)")
            }
            Self::InvalidId => f.write_str("image record id does not match [dir:]name (spec §3, REC-4)"),
        }
    }
}

impl core::error::Error for RecordError {}

/// REC-2: canonical standard base64 with padding, of exactly `N` bytes.
pub fn decode_meta_field<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], RecordError> {
    // The STANDARD engine requires canonical padding and rejects nonzero pad bits and whitespace.
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| RecordError::InvalidBase64(field))?;
    bytes.try_into().map_err(|_| RecordError::InvalidLength(field))
}

/// Standard base64 with padding (REC-2).
pub fn encode_meta_field(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl ImageRecord {
    /// Builds a record from its text parts, checking REC-2 to REC-4.
    pub fn from_parts(id: &str, token: u64, key: &str, iv: &str, tag: &str, proof: &str) -> Result<Self, RecordError> {
        crate::id::validate(id).map_err(|_| RecordError::InvalidId)?;
        let token = Token::new(token).map_err(|_| RecordError::InvalidToken)?;
        let meta = Meta {
            key: decode_meta_field::<KEY_LEN>("meta.key", key)?,
            iv: decode_meta_field::<IV_LEN>("meta.iv", iv)?,
            tag: decode_meta_field::<TAG_LEN>("meta.tag", tag)?,
        };
        Ok(ImageRecord { id: id.into(), token, meta, stateless_proof: proof.into() })
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::*;
    use serde::de::Error as _;
    use serde::ser::SerializeStruct as _;

    impl serde::Serialize for ImageRecord {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            struct M<'a>(&'a Meta);
            impl serde::Serialize for M<'_> {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    let mut m = s.serialize_struct("Meta", 3)?;
                    m.serialize_field("key", &encode_meta_field(&self.0.key))?;
                    m.serialize_field("iv", &encode_meta_field(&self.0.iv))?;
                    m.serialize_field("tag", &encode_meta_field(&self.0.tag))?;
                    m.end()
                }
            }
            let mut r = s.serialize_struct("ImageRecord", 4)?;
            r.serialize_field("id", &self.id)?;
            r.serialize_field("token", &self.token.get())?;
            r.serialize_field("meta", &M(&self.meta))?;
            r.serialize_field("statelessProof", &self.stateless_proof)?;
            r.end()
        }
    }

    /// A JSON-object-only visitor (derived structs would also accept an array, REC-6).
    struct RecordVisitor;

    struct MetaVisitor;

    struct MetaText {
        key: String,
        iv: String,
        tag: String,
    }

    fn put<T, E: serde::de::Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
        if slot.replace(value).is_some() {
            return Err(E::duplicate_field(name));
        }
        Ok(())
    }

    impl<'de> serde::de::Visitor<'de> for MetaVisitor {
        type Value = MetaText;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object with key, iv and tag")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<MetaText, A::Error> {
            let (mut key, mut iv, mut tag) = (None, None, None);
            while let Some(name) = map.next_key::<alloc::borrow::Cow<'de, str>>()? {
                match name.as_ref() {
                    "key" => put(&mut key, map.next_value::<String>()?, "key")?,
                    "iv" => put(&mut iv, map.next_value::<String>()?, "iv")?,
                    "tag" => put(&mut tag, map.next_value::<String>()?, "tag")?,
                    _ => {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
            }
            Ok(MetaText {
                key: key.ok_or_else(|| A::Error::missing_field("key"))?,
                iv: iv.ok_or_else(|| A::Error::missing_field("iv"))?,
                tag: tag.ok_or_else(|| A::Error::missing_field("tag"))?,
            })
        }
    }

    struct MetaSeed;

    impl<'de> serde::de::DeserializeSeed<'de> for MetaSeed {
        type Value = MetaText;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<MetaText, D::Error> {
            d.deserialize_map(MetaVisitor)
        }
    }

    impl<'de> serde::de::Visitor<'de> for RecordVisitor {
        type Value = ImageRecord;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an image record object (spec §7)")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ImageRecord, A::Error> {
            let (mut id, mut token, mut meta, mut proof) = (None, None, None, None);
            while let Some(name) = map.next_key::<alloc::borrow::Cow<'de, str>>()? {
                match name.as_ref() {
                    "id" => put(&mut id, map.next_value::<String>()?, "id")?,
                    "token" => put(&mut token, map.next_value::<u64>()?, "token")?,
                    "meta" => put(&mut meta, map.next_value_seed(MetaSeed)?, "meta")?,
                    "statelessProof" => put(&mut proof, map.next_value::<String>()?, "statelessProof")?,
                    _ => {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
            }
            let id = id.ok_or_else(|| A::Error::missing_field("id"))?;
            let token = token.ok_or_else(|| A::Error::missing_field("token"))?;
            let meta = meta.ok_or_else(|| A::Error::missing_field("meta"))?;
            let proof = proof.ok_or_else(|| A::Error::missing_field("statelessProof"))?;
            ImageRecord::from_parts(&id, token, &meta.key, &meta.iv, &meta.tag, &proof).map_err(A::Error::custom)
        }
    }

    impl<'de> serde::Deserialize<'de> for ImageRecord {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(RecordVisitor)
        }
    }
}

#[cfg(feature = "json")]
mod json_impl {
    use super::*;
    use serde::Deserialize as _;
    use serde_json::Value;

    /// REC-6: any JSON value, failing on a member name that appears twice in one object, at any
    /// depth (unknown members included: two readers must never see two different records).
    struct NoDuplicates;

    impl<'de> serde::de::DeserializeSeed<'de> for NoDuplicates {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> serde::de::Visitor<'de> for NoDuplicates {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(NoDuplicates)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut keys = alloc::collections::BTreeSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !keys.insert(key) {
                    return Err(serde::de::Error::custom("duplicate field"));
                }
                map.next_value_seed(NoDuplicates)?;
            }
            Ok(())
        }
    }

    fn string<'v>(v: &'v Value, name: &'static str) -> Result<&'v str, RecordError> {
        v.as_str().ok_or(RecordError::WrongType(name))
    }

    impl ImageRecord {
        /// Parses a record's JSON text with the precise error kinds of REC-6 (precedence:
        /// syntax, structure, then member values in the order id, token, meta.key, meta.iv,
        /// meta.tag). Unknown members are ignored.
        pub fn from_json(text: &[u8]) -> Result<ImageRecord, RecordError> {
            // Syntax first: one JSON value and nothing after it.
            let mut de = serde_json::Deserializer::from_slice(text);
            serde::de::IgnoredAny::deserialize(&mut de).map_err(|_| RecordError::Syntax)?;
            de.end().map_err(|_| RecordError::Syntax)?;
            // REC-6: no member name twice in any object.
            serde::de::DeserializeSeed::deserialize(NoDuplicates, &mut serde_json::Deserializer::from_slice(text))
                .map_err(|_| RecordError::DuplicateField)?;
            // Duplicates are excluded, so a `Value` now holds exactly what the text says.
            let value: Value = serde_json::from_slice(text).map_err(|_| RecordError::Syntax)?;
            let Value::Object(top) = value else { return Err(RecordError::Syntax) };
            // Then structure: every member present (MissingField), before any type (WrongType).
            for name in ["id", "token", "meta", "statelessProof"] {
                if !top.contains_key(name) {
                    return Err(RecordError::MissingField(name));
                }
            }
            // A `meta` that is not an object is WrongType; its members are not examined.
            let Some(Value::Object(meta)) = top.get("meta") else { return Err(RecordError::WrongType("meta")) };
            for (name, full) in [("key", "meta.key"), ("iv", "meta.iv"), ("tag", "meta.tag")] {
                if !meta.contains_key(name) {
                    return Err(RecordError::MissingField(full));
                }
            }
            let field =
                |map: &serde_json::Map<String, Value>, name: &str| map.get(name).cloned().unwrap_or(Value::Null);
            let (id_v, token_v, proof_v) = (field(&top, "id"), field(&top, "token"), field(&top, "statelessProof"));
            let (key_v, iv_v, tag_v) = (field(meta, "key"), field(meta, "iv"), field(meta, "tag"));
            let id = string(&id_v, "id")?;
            let Value::Number(token) = &token_v else { return Err(RecordError::WrongType("token")) };
            let key = string(&key_v, "meta.key")?;
            let iv = string(&iv_v, "meta.iv")?;
            let tag = string(&tag_v, "meta.tag")?;
            let proof = string(&proof_v, "statelessProof")?;
            crate::id::validate(id).map_err(|_| RecordError::InvalidId)?;
            // TOKEN-4: an integer without fraction or exponent. serde_json reads `1.0` and
            // `1e3` as floats, so `as_u64` refuses them.
            let token = token.as_u64().ok_or(RecordError::InvalidToken)?;
            ImageRecord::from_parts(id, token, key, iv, tag, proof)
        }

        /// The record as JSON text (REC-1).
        pub fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

#[cfg(all(test, feature = "json"))]
#[path = "tests/record.rs"]
mod tests;
