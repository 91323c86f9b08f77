//! Image identifiers (spec §3, *Image identifiers*).
//!
//! ```text
//! id   = [ dir ":" ] name
//! dir  = 1*32( %x61-7A / DIGIT / "_" / "-" )        ; lowercase
//! name = 1*64( ALPHA / DIGIT / "_" / "-" )
//! ```

use core::fmt;

/// Longest `dir` prefix, in bytes (spec §3, ID-1).
pub const MAX_DIR_LEN: usize = 32;
/// Longest `name`, in bytes (spec §3, ID-1).
pub const MAX_NAME_LEN: usize = 64;
/// Longest id: `MAX_DIR_LEN + 1 + MAX_NAME_LEN` (spec §3, ID-1).
pub const MAX_ID_LEN: usize = MAX_DIR_LEN + 1 + MAX_NAME_LEN;

/// Why a string is not a valid image id.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdError {
    /// The id is empty.
    Empty,
    /// The id is longer than [`MAX_ID_LEN`], or its dir or name part is longer than allowed.
    TooLong,
    /// The id has more than one `:`, or an empty dir or name around it.
    BadSeparator,
    /// A byte outside the allowed alphabet (dir: `a-z 0-9 _ -`; name: `A-Z a-z 0-9 _ -`).
    InvalidCharacter,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "image id is empty: pass the id of an ImageRecord",
            Self::TooLong => "image id is too long: at most 32 bytes of dir, 64 of name (spec §3)",
            Self::BadSeparator => "image id has an empty part or more than one ':': use [dir:]name (spec §3)",
            Self::InvalidCharacter => {
                "image id has a character outside [a-z0-9_-] (dir) or [A-Za-z0-9_-] (name) (spec §3)"
            }
        })
    }
}

impl core::error::Error for IdError {}

fn is_dir_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Checks `id` against the grammar.
///
/// ID-1: `id = [ dir ":" ] name`, dir 1..=32 bytes of `a-z 0-9 _ -`, name 1..=64 bytes of
/// `A-Z a-z 0-9 _ -`. Everything a backend does with an id from outside starts here (ID-4).
pub fn validate(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    let (dir, name) = match id.split_once(':') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, id),
    };
    if let Some(dir) = dir {
        if dir.is_empty() || name.is_empty() || name.contains(':') {
            return Err(IdError::BadSeparator);
        }
        if dir.len() > MAX_DIR_LEN {
            return Err(IdError::TooLong);
        }
        if !dir.bytes().all(is_dir_byte) {
            return Err(IdError::InvalidCharacter);
        }
    }
    if name.len() > MAX_NAME_LEN {
        return Err(IdError::TooLong);
    }
    if !name.bytes().all(is_name_byte) {
        return Err(IdError::InvalidCharacter);
    }
    Ok(())
}

/// Validates `id` and splits it into its `dir` prefix and `name` (ID-1, ID-4).
///
/// Neither part can be empty, `.`/`..`, or hold `/`, `\\`, NUL or `:`, so a store can build
/// paths from them without leaving its root. For an injective mapping keep the two kinds of id
/// apart (e.g. `root/n/<name>` and `root/d/<dir>/<name>`: a plain `root/<name>` file would clash
/// with a `root/<dir>/` folder of the same text), and remember that names are case-sensitive:
/// on a case-insensitive file system encode them (spec §3.3).
pub fn split(id: &str) -> Result<(Option<&str>, &str), IdError> {
    validate(id)?;
    Ok(match id.split_once(':') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, id),
    })
}

/// Sanitises a caller's `dir` prefix as pixstore 3.2.1 does (ID-3): Unicode lowercase, then keep
/// only `a-z 0-9 _ -`. `Ok(None)` for the empty string ("no prefix", as 3.2.1's `if (dir)`).
///
/// A non-empty prefix that is empty after sanitising, or longer than [`MAX_DIR_LEN`], is an
/// error (3.2.1 would produce an id starting with `:`, or a longer dir).
pub fn sanitize_dir(dir: &str) -> Result<Option<alloc::string::String>, IdError> {
    if dir.is_empty() {
        return Ok(None);
    }
    let clean: alloc::string::String = dir
        .chars()
        .flat_map(char::to_lowercase)
        .filter(|c| u8::try_from(u32::from(*c)).is_ok_and(is_dir_byte))
        .collect();
    if clean.is_empty() {
        return Err(IdError::Empty);
    }
    if clean.len() > MAX_DIR_LEN {
        return Err(IdError::TooLong);
    }
    Ok(Some(clean))
}

/// Builds a new id from a random name: 16 bytes from the caller's CSPRNG, encoded as 22
/// characters of unpadded base64url (ID-2: at least 96 random bits, no time inside). `dir` is
/// an already sanitised prefix ([`sanitize_dir`]); one that breaks the grammar is an error.
pub fn from_random(dir: Option<&str>, random: &[u8; 16]) -> Result<alloc::string::String, IdError> {
    use base64::Engine as _;
    let name = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
    let id = match dir {
        Some(dir) => alloc::format!("{dir}:{name}"),
        None => name,
    };
    validate(&id)?;
    Ok(id)
}

#[cfg(test)]
#[path = "tests/id.rs"]
mod tests;
