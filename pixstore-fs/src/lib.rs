#![doc = include_str!("../README.md")]
// This crate is std-only; the workspace's core/alloc lints serve the no_std protocol crate.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Every temporary file this crate creates starts with this (then random characters).
const TEMP_PREFIX: &str = ".pixstore-tmp-";
/// Random characters after [`TEMP_PREFIX`] (62^10 names: a planted name is hit by chance never).
const TEMP_RANDOM_LEN: usize = 10;

/// Replaces `path` with `contents`, atomically and durably (file and folder fsynced).
///
/// Readers see the old content or the new one, never part of either; on any error the old
/// content stays. Shorthand for `AtomicWrite::new().write(path, contents)`.
pub fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Result<(), Error> {
    AtomicWrite::new().write(path, contents)
}

/// Creates `path` with `contents`, atomically and durably, only if nothing exists there yet.
///
/// An existing file (or symlink, or folder) at `path` is left as it was, and the error's
/// [`Error::kind`] is [`io::ErrorKind::AlreadyExists`]. Shorthand for
/// `AtomicWrite::new().replace(false).write(path, contents)`.
pub fn write_new(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Result<(), Error> {
    AtomicWrite::new().replace(false).write(path, contents)
}

/// Whether a file name is one of this crate's temporary files (`.pixstore-tmp-` and random
/// characters), so that a folder's owner can sweep what a killed writer left behind.
pub fn is_temporary(name: &OsStr) -> bool {
    name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)).is_some_and(|rest| rest.len() == TEMP_RANDOM_LEN)
}

/// How to write one file: durable or not, replacing or not, and (Unix) its mode.
///
/// The default ([`AtomicWrite::new`]) is durable, replacing, mode `0o600`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtomicWrite {
    durable: bool,
    replace: bool,
    mode: Option<u32>,
}

impl Default for AtomicWrite {
    fn default() -> Self {
        Self::new()
    }
}

impl AtomicWrite {
    /// Durable, replacing an existing file, mode `0o600` on Unix.
    pub const fn new() -> Self {
        AtomicWrite { durable: true, replace: true, mode: None }
    }

    /// `true` (the default): `sync_all` on the file before the rename and on its folder after
    /// it, so that content and name survive a power cut. `false` skips both (a cache whose
    /// entries can be fetched again); the write is still atomic for readers.
    pub const fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// `true` (the default): an existing file at the path is replaced. `false`: the commit fails
    /// with [`io::ErrorKind::AlreadyExists`] and the existing file is left as it was.
    pub const fn replace(mut self, replace: bool) -> Self {
        self.replace = replace;
        self
    }

    /// The Unix mode of the new file, limited by the process's umask like any `open(2)`.
    /// Default `0o600`; `0o666` gives what `std::fs::write` gives. Ignored on other systems.
    pub const fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Writes `contents` to `path` as configured (create, write, commit).
    pub fn write(&self, path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Result<(), Error> {
        let mut pending = self.create(path)?;
        let contents = contents.as_ref();
        if let Err(e) = pending.temp.as_file_mut().write_all(contents) {
            return Err(Error::new(Op::Write, pending.target, e));
        }
        pending.commit().map(drop)
    }

    /// Creates the temporary file for `path`, in `path`'s folder. Write to the returned
    /// [`PendingFile`] (it is [`Write`]), then [`PendingFile::commit`] it; dropping it instead
    /// removes the temporary file and leaves `path` untouched.
    pub fn create(&self, path: impl AsRef<Path>) -> Result<PendingFile, Error> {
        let target = path.as_ref().to_path_buf();
        let folder = folder_of(&target);
        let mut builder = tempfile::Builder::new();
        builder.prefix(TEMP_PREFIX).rand_bytes(TEMP_RANDOM_LEN);
        #[cfg(unix)]
        if let Some(mode) = self.mode {
            use std::os::unix::fs::PermissionsExt as _;
            builder.permissions(std::fs::Permissions::from_mode(mode));
        }
        // `tempfile` opens with O_CREAT | O_EXCL (create_new) under a random name and retries
        // on a name that exists: it never opens, and so never follows, anything planted there.
        let temp = builder.tempfile_in(&folder).map_err(|e| Error::new(Op::CreateTemporary, folder.clone(), e))?;
        Ok(PendingFile { temp, target, folder, options: *self })
    }
}

/// A file being written: a temporary file in the target's folder. [`commit`](Self::commit)
/// moves it into place; dropping it removes it.
#[derive(Debug)]
pub struct PendingFile {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
    folder: PathBuf,
    options: AtomicWrite,
}

impl PendingFile {
    /// The path the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file's current path.
    pub fn temporary_path(&self) -> &Path {
        self.temp.path()
    }

    /// The open temporary file (to set its times or permissions, or to read it back).
    pub fn as_file(&self) -> &File {
        self.temp.as_file()
    }

    /// Flushes the file if durable, renames it to the target (or fails if the target exists and
    /// replacing is off), then flushes the folder if durable. Returns the open file, now at the
    /// target's name. On an error before the rename the temporary file is removed and the target
    /// is as it was; an error after it ([`Op::SyncFolder`]) means the new file is in place but
    /// its name may not survive a power cut.
    pub fn commit(self) -> Result<File, Error> {
        let PendingFile { temp, target, folder, options } = self;
        if options.durable {
            if let Err(e) = temp.as_file().sync_all() {
                return Err(Error::new(Op::Sync, target, e));
            }
        }
        let persisted = if options.replace { temp.persist(&target) } else { temp.persist_noclobber(&target) };
        // On failure, dropping the returned NamedTempFile removes the temporary file.
        let file = persisted.map_err(|e| Error::new(Op::Persist, target.clone(), e.error))?;
        if options.durable {
            sync_folder(&folder).map_err(|e| Error::new(Op::SyncFolder, target, e))?;
        }
        Ok(file)
    }
}

impl Write for PendingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.as_file_mut().write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.temp.as_file_mut().write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.as_file_mut().flush()
    }
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(unix)]
fn sync_folder(folder: &Path) -> io::Result<()> {
    File::open(folder)?.sync_all()
}

/// Windows has no portable way to flush a folder (it needs `FILE_FLAG_BACKUP_SEMANTICS`); NTFS
/// journals the rename itself.
#[cfg(not(unix))]
fn sync_folder(_folder: &Path) -> io::Result<()> {
    Ok(())
}

/// The step of an atomic write that failed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Creating the temporary file in the target's folder.
    CreateTemporary,
    /// Writing the content into the temporary file.
    Write,
    /// Flushing the temporary file to disk.
    Sync,
    /// Renaming the temporary file to the target.
    Persist,
    /// Flushing the folder after the rename (the new file is already in place).
    SyncFolder,
}

/// Why an atomic write failed: the step, the path, and the system's error as
/// [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct Error {
    op: Op,
    path: PathBuf,
    source: io::Error,
}

impl Error {
    fn new(op: Op, path: PathBuf, source: io::Error) -> Error {
        Error { op, path, source }
    }

    /// The step that failed.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The target file, or the folder for [`Op::CreateTemporary`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The system error's kind ([`io::ErrorKind::AlreadyExists`] when `replace(false)` met a
    /// file).
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }

    /// The system's error.
    pub fn into_io(self) -> io::Error {
        self.source
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.op {
            Op::CreateTemporary => {
                write!(f, "cannot create a temporary file in {path}: check that the folder exists and is writable")
            }
            Op::Write => write!(f, "cannot write the new content of {path} (nothing was changed): check free space"),
            Op::Sync => write!(f, "cannot flush the new content of {path} to disk (nothing was changed)"),
            Op::Persist if self.source.kind() == io::ErrorKind::AlreadyExists => {
                write!(f, "{path} already exists and was left as it is: remove it or choose another name")
            }
            Op::Persist => write!(f, "cannot move the new file into place at {path} (nothing was changed)"),
            Op::SyncFolder => write!(
                f,
                "{path} was written, but its folder could not be flushed to disk: the new file may be lost on a \
                 power cut"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_file_name_is_in_the_current_folder() {
        assert_eq!(folder_of(Path::new("photo.png")), Path::new("."));
        assert_eq!(folder_of(Path::new("out/photo.png")), Path::new("out"));
        assert_eq!(folder_of(Path::new("/photo.png")), Path::new("/"));
    }
}
