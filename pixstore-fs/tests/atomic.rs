//! What pixstore-fs promises: atomic replace, no clobber, no symlink followed, nothing left
//! behind by a failed write.
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::io::{ErrorKind, Write as _};
use std::path::Path;

use pixstore_fs::{AtomicWrite, Op};

/// The folder's entries, sorted (to see that no temporary file was left).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn write_creates_then_replaces_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.bin");
    pixstore_fs::write(&path, b"first").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"first");
    pixstore_fs::write(&path, b"second, longer").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
    AtomicWrite::new().durable(false).write(&path, b"3").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"3");
    assert_eq!(names(dir.path()), ["a.bin"]);
}

#[test]
fn write_new_never_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    pixstore_fs::write_new(&path, b"original").unwrap();
    let err = pixstore_fs::write_new(&path, b"replacement").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(err.op(), Op::Persist);
    assert_eq!(err.path(), path);
    assert!(err.to_string().contains("already exists and was left as it is"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"original");
    // The losing writer's temporary file is gone.
    assert_eq!(names(dir.path()), ["keys.json"]);
}

#[test]
fn a_dropped_pending_file_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.png");
    let mut pending = AtomicWrite::new().create(&path).unwrap();
    pending.write_all(b"half an ima").unwrap();
    let temp = pending.temporary_path().to_path_buf();
    assert!(temp.exists());
    assert_eq!(temp.parent(), Some(dir.path()), "the temporary file is in the target's folder");
    assert!(pixstore_fs::is_temporary(temp.file_name().unwrap()));
    drop(pending);
    assert!(!temp.exists());
    assert!(!path.exists());
    assert!(names(dir.path()).is_empty());

    // Over an existing file, the old content stays.
    pixstore_fs::write(&path, b"old").unwrap();
    let mut pending = AtomicWrite::new().create(&path).unwrap();
    pending.write_all(b"new").unwrap();
    drop(pending);
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    assert_eq!(names(dir.path()), ["image.png"]);
}

#[test]
fn a_failed_rename_leaves_nothing_and_says_which_step() {
    let dir = tempfile::tempdir().unwrap();
    // The target is a non-empty folder: rename(2) cannot replace it.
    let target = dir.path().join("taken");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("inside"), b"x").unwrap();
    let err = pixstore_fs::write(&target, b"data").unwrap_err();
    assert_eq!(err.op(), Op::Persist);
    assert!(target.is_dir());
    assert_eq!(names(dir.path()), ["taken"]);
}

#[test]
fn a_missing_folder_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let err = pixstore_fs::write(dir.path().join("no/such/folder/f"), b"x").unwrap_err();
    assert_eq!(err.op(), Op::CreateTemporary);
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.path(), dir.path().join("no/such/folder"));
    let shown = err.to_string();
    assert!(shown.contains("cannot create a temporary file in") && shown.contains("no/such/folder"), "{shown}");
}

#[test]
fn the_cause_is_printed_once_in_a_source_chain() {
    let dir = tempfile::tempdir().unwrap();
    let err = pixstore_fs::write(dir.path().join("missing/f"), b"x").unwrap_err();
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(!source.is_empty());
    // The message names the step; the system's words come only from `source()`.
    assert!(!err.to_string().contains(&source), "{err} repeats its source {source}");
    // Converted to io::Error, the chain is still message, then cause, once each.
    let as_io = std::io::Error::from(err);
    assert_eq!(as_io.kind(), ErrorKind::NotFound);
    let mut chain = vec![as_io.to_string()];
    let mut next = std::error::Error::source(&as_io);
    while let Some(e) = next {
        chain.push(e.to_string());
        next = e.source();
    }
    assert_eq!(chain.len(), 2, "{chain:?}");
    assert_eq!(chain.iter().filter(|m| m.contains(&source)).count(), 1, "{chain:?}");
}

/// Readers see the old file or the new one, never a mix or a short file.
#[test]
fn readers_never_see_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flip");
    let a = vec![b'a'; 64 * 1024];
    let b = vec![b'b'; 96 * 1024];
    pixstore_fs::write(&path, &a).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut reads = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads == 0 {
                let got = std::fs::read(&path).unwrap();
                assert!(got == a || got == b, "a reader saw {} bytes of a mixed file", got.len());
                reads += 1;
            }
            reads
        });
        for i in 0..200 {
            AtomicWrite::new().durable(false).write(&path, if i % 2 == 0 { &b } else { &a }).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
    assert_eq!(names(dir.path()), ["flip"]);
}

#[test]
fn is_temporary_recognises_only_its_own_names() {
    use std::ffi::OsStr;
    assert!(!pixstore_fs::is_temporary(OsStr::new("photo.png")));
    assert!(!pixstore_fs::is_temporary(OsStr::new(".pixstore-tmp-")));
    assert!(!pixstore_fs::is_temporary(OsStr::new(".pixstore-tmp-abc")));
    assert!(pixstore_fs::is_temporary(OsStr::new(".pixstore-tmp-0123456789")));
}

#[cfg(unix)]
mod unix {
    use std::os::unix::fs::{symlink, PermissionsExt as _};

    use super::*;

    /// A symlink planted at the target's name is replaced, never written through.
    #[test]
    fn a_planted_symlink_at_the_target_is_never_followed() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.png");
        symlink(&victim, &path).unwrap();

        // No clobber: the link stays a link, and its target is untouched.
        let err = pixstore_fs::write_new(&path, b"attacker-chosen write").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");

        // Replace: the link itself is replaced by a regular file.
        pixstore_fs::write(&path, b"image").unwrap();
        assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_file());
        assert_eq!(std::fs::read(&path).unwrap(), b"image");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(names(dir.path()), ["out.png"]);
    }

    /// A dangling symlink at the target: `std::fs::write` would create the file it points to.
    #[test]
    fn a_dangling_symlink_never_creates_its_target() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("created-by-attack");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.png");
        symlink(&victim, &path).unwrap();
        assert_eq!(pixstore_fs::write_new(&path, b"x").unwrap_err().kind(), ErrorKind::AlreadyExists);
        pixstore_fs::write(&path, b"x").unwrap();
        assert!(!victim.exists());
        assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_file());
    }

    /// Symlinks planted under names the writer might pick: the temporary file is always a new
    /// regular file, so none of them is opened.
    #[test]
    fn planted_symlinks_in_the_folder_are_never_opened() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let dir = tempfile::tempdir().unwrap();
        for name in [".out.png.tmp", ".pixstore-tmp-aaaaaaaaaa", ".out.png.pixstore-1", "out.png.tmp"] {
            symlink(&victim, dir.path().join(name)).unwrap();
        }
        for _ in 0..50 {
            let pending = AtomicWrite::new().durable(false).create(dir.path().join("out.png")).unwrap();
            let meta = std::fs::symlink_metadata(pending.temporary_path()).unwrap();
            assert!(meta.file_type().is_file());
            assert_eq!(meta.len(), 0, "a new, empty file");
            pending.commit().unwrap();
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn mode_is_private_by_default_and_settable() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private");
        pixstore_fs::write(&private, b"k").unwrap();
        assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o077, 0);
        let shared = dir.path().join("shared");
        AtomicWrite::new().mode(0o644).write(&shared, b"k").unwrap();
        let mode = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o644, 0, "never more than asked: {mode:o}");
        assert_eq!(mode & 0o600, 0o600, "the owner reads and writes: {mode:o}");
    }
}
