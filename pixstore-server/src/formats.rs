//! Which format an uploaded image is, by its content (magic bytes), never by a file name.

use proto::format::Format;

/// The registry format of `bytes`, detected by content with the `infer` crate; `None` when the
/// bytes are not an image of a registered format. JPEG is always `jpg` (byte 3, FMT-4).
pub fn detect(bytes: &[u8]) -> Option<Format> {
    let kind = infer::get(bytes)?;
    Some(match kind.mime_type() {
        "image/png" => Format::Png,
        "image/webp" => Format::Webp,
        "image/jpeg" => Format::Jpg,
        "image/gif" => Format::Gif,
        "image/bmp" => Format::Bmp,
        "image/tiff" => Format::Tiff,
        "image/vnd.microsoft.icon" | "image/x-icon" => Format::Ico,
        "image/heif" | "image/heic" => Format::Heic,
        "image/avif" => Format::Avif,
        _ => return None,
    })
}

/// Whether `accepted` allows `detected` (`jpeg` in the configuration also accepts JPEGs, which
/// are always detected as `jpg`).
pub fn allowed(accepted: &[Format], detected: Format) -> bool {
    accepted.contains(&detected) || (detected == Format::Jpg && accepted.contains(&Format::Jpeg))
}
