//! Image fixtures: bytes with a format's magic numbers and deterministic noise after them
//! (servers and clients validate by magic bytes, so the rest need not decode), different for
//! each seed so that versions differ.

/// A PNG-signed image of `len` bytes (at least 17) derived from `seed`.
pub fn png(len: usize, seed: u64) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x.to_le_bytes()[0]);
    }
    v.truncate(len.max(17));
    v
}

/// A JPEG (JFIF) image of `len` bytes derived from `seed`.
pub fn jpeg(len: usize, seed: u64) -> Vec<u8> {
    with_magic(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0], len, seed)
}

/// A WebP (RIFF, lossy) image of `len` bytes derived from `seed`.
pub fn webp(len: usize, seed: u64) -> Vec<u8> {
    with_magic(b"RIFF\0\0\0\0WEBPVP8 ", len, seed)
}

fn with_magic(magic: &[u8], len: usize, seed: u64) -> Vec<u8> {
    let mut v = magic.to_vec();
    v.extend(png(len, seed).into_iter().skip(16));
    v.truncate(len);
    v
}
