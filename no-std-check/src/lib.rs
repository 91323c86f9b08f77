//! Links pixstore-proto in a `#![no_std]` staticlib (see Cargo.toml).
#![no_std]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};

use pixstore_proto::{envelope, format::Format, proof, token::Token, wire};

/// A global allocator is required by `alloc`; this one never succeeds, which is enough for
/// a link test.
struct NoAlloc;

unsafe impl GlobalAlloc for NoAlloc {
    unsafe fn alloc(&self, _: Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}

#[global_allocator]
static ALLOC: NoAlloc = NoAlloc;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

/// Uses every module so that all of it is linked.
///
/// # Safety
/// `input` must point to `len` readable bytes. (A link test: nothing calls it.)
#[no_mangle]
pub unsafe extern "C" fn pixstore_no_std_check(input: *const u8, len: usize) -> u32 {
    // SAFETY: the caller's contract above.
    let bytes = unsafe { core::slice::from_raw_parts(input, len) };
    let mut score = 0;
    if let Ok(p) = wire::PayloadRef::decode(bytes) {
        let mut out = alloc::vec::Vec::new();
        p.encode(&mut out);
        score += 1;
    }
    if envelope::open(&envelope::RustCrypto, &[0; 32], &[0; 12], &[0; 16], bytes).map(|o| o.format()) == Ok(Format::Png)
    {
        score += 2;
    }
    let mut ring = proof::Keyring::new();
    if ring.insert(1, [0u8; 32]).is_ok() && proof::mint(&ring, "a", 0, proof::Window::default()).is_ok() {
        score += 4;
    }
    if Token::new(u64::try_from(len).unwrap_or(0)).is_ok() {
        score += 8;
    }
    if pixstore_proto::record::ImageRecord::from_json(bytes).is_ok() {
        score += 16;
    }
    score
}
