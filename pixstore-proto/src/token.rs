//! Image version tokens (spec §5, *Token*).
//!
//! A [`Token`] names one stored version of one image: an integer in `1..=MAX_TOKEN`. The value 0
//! means "no token" and is represented here as `Option<Token>::None`.
//!
//! Text form (the `x-pixstore-token` header and the `token` query parameter, TOKEN-5):
//!
//! ```text
//! token-text = "0" / ( %x31-39 *15DIGIT )     ; value <= MAX_TOKEN
//! ```

use core::fmt;
use core::num::NonZeroU64;

/// The largest token: 2^53 - 1, the largest integer a JavaScript number holds exactly (TOKEN-3).
pub const MAX_TOKEN: u64 = (1 << 53) - 1;

/// Longest token text: `MAX_TOKEN` has 16 decimal digits (TOKEN-5).
pub const MAX_TOKEN_TEXT_LEN: usize = 16;

/// One stored version of one image: an integer in `1..=MAX_TOKEN` (TOKEN-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(NonZeroU64);

/// Why a token value or token text was rejected.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// The text is empty.
    Empty,
    /// A character other than an ASCII digit (sign, space, `x`, `e`, `.`, ...).
    InvalidCharacter,
    /// A multi-digit text starting with `0`.
    LeadingZero,
    /// The value is 0 where a token is required, or above [`MAX_TOKEN`].
    OutOfRange,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "token text is empty: send decimal digits, or omit the header",
            Self::InvalidCharacter => {
                "token text has a character other than 0-9 (no sign, spaces, hex, exponent or decimal point)"
            }
            Self::LeadingZero => "token text has a leading zero: send the canonical decimal form",
            Self::OutOfRange => "token is out of range: tokens are integers from 1 to 2^53-1 (0 means none)",
        })
    }
}

impl core::error::Error for TokenError {}

impl Token {
    /// The smallest token.
    pub const MIN: Token = Token(NonZeroU64::MIN);

    /// A token from its value; 0 and values above [`MAX_TOKEN`] are [`TokenError::OutOfRange`]
    /// (TOKEN-1, TOKEN-3).
    pub const fn new(value: u64) -> Result<Token, TokenError> {
        if value > MAX_TOKEN {
            return Err(TokenError::OutOfRange);
        }
        match NonZeroU64::new(value) {
            Some(v) => Ok(Token(v)),
            None => Err(TokenError::OutOfRange),
        }
    }

    /// The token's value.
    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// The token of the next write to an image whose current token is `prev`, at `now_ms`.
    ///
    /// TOKEN-2: `next = max(prev + 1, now_ms)`: strictly increasing per image even for two writes
    /// in one millisecond or after the clock steps back, and still close to a millisecond
    /// timestamp as 3.2.1's tokens were. TOKEN-3: fails instead of passing [`MAX_TOKEN`].
    pub fn next(prev: Option<Token>, now_ms: u64) -> Result<Token, TokenError> {
        let after_prev = prev.map_or(1, |p| p.get().saturating_add(1));
        Token::new(after_prev.max(now_ms).max(1))
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<Token> for u64 {
    fn from(t: Token) -> u64 {
        t.get()
    }
}

/// Parses token text (TOKEN-5). `Ok(None)` is the text `"0"`: the client holds no version.
pub fn parse_text(text: &[u8]) -> Result<Option<Token>, TokenError> {
    if text.is_empty() {
        return Err(TokenError::Empty);
    }
    // A non-digit anywhere decides first, whatever the length.
    if !text.iter().all(u8::is_ascii_digit) {
        return Err(TokenError::InvalidCharacter);
    }
    if text.len() > 1 && text.first() == Some(&b'0') {
        return Err(TokenError::LeadingZero);
    }
    if text.len() > MAX_TOKEN_TEXT_LEN {
        return Err(TokenError::OutOfRange);
    }
    let value = text.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    if value == 0 {
        return Ok(None);
    }
    Token::new(value).map(Some)
}

/// The client token a server uses for a request (TOKEN-6, TOKEN-7).
///
/// `header` yields every value of `x-pixstore-token` in the request, `query` every value of the
/// `token` query parameter. The header wins when present; a header or parameter given more than
/// once, or text that does not parse, counts as "no token", so the answer is Updated (full
/// metadata), never the reserved InvalidToken state.
pub fn client_token<H: AsRef<[u8]>, Q: AsRef<[u8]>>(
    header: impl IntoIterator<Item = H>,
    query: impl IntoIterator<Item = Q>,
) -> Option<Token> {
    fn only<T>(values: impl IntoIterator<Item = T>) -> Result<Option<T>, ()> {
        let mut it = values.into_iter();
        match (it.next(), it.next()) {
            (None, _) => Ok(None),
            (Some(one), None) => Ok(Some(one)),
            (Some(_), Some(_)) => Err(()),
        }
    }
    match only(header).ok()? {
        Some(text) => parse_text(text.as_ref()).ok().flatten(),
        None => parse_text(only(query).ok()??.as_ref()).ok().flatten(),
    }
}

/// Writes the token text of `token` (0 for `None`) into `buf`; returns the used part.
pub fn write_text(token: Option<Token>, buf: &mut [u8; MAX_TOKEN_TEXT_LEN]) -> &str {
    let mut v = token.map_or(0, Token::get);
    let mut at = MAX_TOKEN_TEXT_LEN;
    loop {
        at -= 1;
        // `v % 10` is below 10, so the cast is exact; `at` stays in bounds because MAX_TOKEN
        // has at most MAX_TOKEN_TEXT_LEN digits.
        if let Some(slot) = buf.get_mut(at) {
            *slot = b'0' + u8::try_from(v % 10).unwrap_or(0);
        }
        v /= 10;
        if v == 0 || at == 0 {
            break;
        }
    }
    let digits = buf.get(at..).unwrap_or_default();
    core::str::from_utf8(digits).unwrap_or("0")
}

#[cfg(test)]
#[path = "tests/token.rs"]
mod tests;
