//! The format-byte registry (spec §6.3, *Format registry*).
//!
//! FMT-1: the registry is fixed. A format's byte never depends on configuration or on the
//! order of a list (3.2.1 numbered its configured list, so two differently configured peers
//! mislabelled images); bytes are never reused, and new formats take the next free byte.

use core::fmt;

/// An image format of the registry. The discriminant is the format byte.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Format {
    /// `png`, byte 1, `image/png`.
    Png = 1,
    /// `webp`, byte 2, `image/webp`.
    Webp = 2,
    /// `jpg`, byte 3, `image/jpeg`. Writers label JPEG with this byte (FMT-4).
    Jpg = 3,
    /// `jpeg`, byte 4, `image/jpeg`. Read for compatibility; 3.2.1 never wrote it.
    Jpeg = 4,
    /// `gif`, byte 5, `image/gif`.
    Gif = 5,
    /// `bmp`, byte 6, `image/bmp`.
    Bmp = 6,
    /// `tiff`, byte 7, `image/tiff`.
    Tiff = 7,
    /// `ico`, byte 8, `image/vnd.microsoft.icon`.
    Ico = 8,
    /// `heic`, byte 9, `image/heic`.
    Heic = 9,
    /// `avif`, byte 10, `image/avif`.
    Avif = 10,
}

/// Every registered format, in byte order.
pub const ALL: [Format; 10] = [
    Format::Png,
    Format::Webp,
    Format::Jpg,
    Format::Jpeg,
    Format::Gif,
    Format::Bmp,
    Format::Tiff,
    Format::Ico,
    Format::Heic,
    Format::Avif,
];

/// A format byte that is not in the registry (0 is reserved, 11..=255 are unassigned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownFormat(pub u8);

impl fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown image format byte {}: the image was stored by a newer or non-conforming backend (spec §6, FMT-2)",
            self.0
        )
    }
}

impl core::error::Error for UnknownFormat {}

impl Format {
    /// FMT-2: the format of a byte; 0 and unregistered bytes are [`UnknownFormat`].
    pub const fn from_byte(byte: u8) -> Result<Format, UnknownFormat> {
        Ok(match byte {
            1 => Format::Png,
            2 => Format::Webp,
            3 => Format::Jpg,
            4 => Format::Jpeg,
            5 => Format::Gif,
            6 => Format::Bmp,
            7 => Format::Tiff,
            8 => Format::Ico,
            9 => Format::Heic,
            10 => Format::Avif,
            other => return Err(UnknownFormat(other)),
        })
    }

    /// The format byte (FMT-1).
    pub const fn byte(self) -> u8 {
        // A fieldless `repr(u8)` enum: this reads the discriminant, it cannot truncate.
        #[allow(clippy::as_conversions)]
        let b = self as u8;
        b
    }

    /// The registry name (`"png"`, `"jpg"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Jpg => "jpg",
            Format::Jpeg => "jpeg",
            Format::Gif => "gif",
            Format::Bmp => "bmp",
            Format::Tiff => "tiff",
            Format::Ico => "ico",
            Format::Heic => "heic",
            Format::Avif => "avif",
        }
    }

    /// FMT-3: the MIME type given to apps (`image/jpeg` for both `jpg` and `jpeg`).
    pub const fn mime(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Jpg | Format::Jpeg => "image/jpeg",
            Format::Gif => "image/gif",
            Format::Bmp => "image/bmp",
            Format::Tiff => "image/tiff",
            Format::Ico => "image/vnd.microsoft.icon",
            Format::Heic => "image/heic",
            Format::Avif => "image/avif",
        }
    }

    /// The format with registry name `name` (exact, lowercase).
    pub fn from_name(name: &str) -> Option<Format> {
        ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
#[path = "tests/format.rs"]
mod tests;
