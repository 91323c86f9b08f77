//! Keys wrapped at rest (spec §12.6) with the filesystem store: new data folders seal every
//! version's key, iv and tag under a key-encryption key; rotation; `rewrap` (compare-and-swap,
//! beside a writer in another service); the migration of a folder with plaintext images; a sealed
//! header moved to another id does not open.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::as_conversions)]

mod common;

use std::path::{Path, PathBuf};

use common::{file_config, open, png, TestServer};
use pixstore_server::config::Config;
use pixstore_server::store::{WRAPPED_HEADER_LEN, WRAPPED_MAGIC};
use proto::record::ImageRecord;

fn stored_path(s: &TestServer, id: &str) -> PathBuf {
    s.running.as_ref().unwrap().service.store().fs().unwrap().path_of(id).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The KEK id in a wrapped file's header (`None`: layout 0, plaintext).
fn kek_of(file: &[u8]) -> Option<u32> {
    if !file.starts_with(&WRAPPED_MAGIC) {
        assert_eq!(file[0], 1, "layout 0 is an Updated payload");
        return None;
    }
    assert_eq!(file[3], 1, "layout version");
    Some(u32::from_le_bytes(file[4..8].try_into().unwrap()))
}

/// The image is served (Updated, with the unsealed key) and decrypts to `image`.
async fn serves(s: &TestServer, record: &ImageRecord, image: &[u8]) {
    let body = s.fetch(record, None).await.bytes().await.unwrap();
    assert_eq!(open(record, &body).unwrap(), (image.to_vec(), record.token.get()));
}

fn kek_path(dir: &Path) -> PathBuf {
    dir.join("kek.json")
}

// §12.6: a new data folder gets a KEK (owner-only) and no key, iv or tag is stored in plaintext.
#[tokio::test]
async fn new_data_folders_seal_keys_at_rest() {
    let s = TestServer::start().await;
    let image = png(1200, 1);
    let record = s.create(&image).await;
    let file = std::fs::read(stored_path(&s, &record.id)).unwrap();
    assert_eq!(kek_of(&file), Some(1));
    for secret in [&record.meta.key[..], &record.meta.iv[..], &record.meta.tag[..]] {
        assert!(!contains(&file, secret), "a plaintext key, iv or tag in the stored file");
    }
    // The header is 104 bytes; the ciphertext (format byte + image) follows it unchanged.
    assert_eq!(file.len(), WRAPPED_HEADER_LEN + 1 + image.len());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(kek_path(&s.data())).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    serves(&s, &record, &image).await;
    let fresh = s.fresh_record(&record.id).await;
    assert_eq!((fresh.token, fresh.meta), (record.token, record.meta));
    // An update is sealed too, under a fresh key (ENV-3).
    let new_image = png(1300, 2);
    let r = s.update(&record.id, &new_image).await;
    assert_eq!(r.status(), 200);
    let updated = ImageRecord::from_json(&r.bytes().await.unwrap()).unwrap();
    let file = std::fs::read(stored_path(&s, &updated.id)).unwrap();
    assert!(!contains(&file, &updated.meta.key));
    serves(&s, &updated, &new_image).await;
    s.shutdown().await;
}

// A sealed header is bound to its id (associated data): copied over another id's file it does
// not open, so the server answers InternalError instead of serving one image's key for another.
#[tokio::test]
async fn a_sealed_header_moved_to_another_id_does_not_open() {
    let s = TestServer::start().await;
    let a = s.create(&png(900, 3)).await;
    let b = s.create(&png(900, 4)).await;
    std::fs::copy(stored_path(&s, &a.id), stored_path(&s, &b.id)).unwrap();
    let body = s.fetch(&b, None).await.bytes().await.unwrap();
    assert_eq!(body.as_ref(), [6], "InternalError");
    let url = format!("http://{}/images/{}/record", s.control, b.id.replace(':', "%3A"));
    assert_eq!(s.client.get(url).send().await.unwrap().status(), 500);
    s.shutdown().await;
}

// Rotation: new writes use the newest KEK, older versions still open; `rewrap` moves them to
// the newest, after which the old KEK can be dropped.
#[tokio::test]
async fn rotation_then_rewrap_then_dropping_the_old_kek() {
    let s = TestServer::start().await;
    let (img_a, img_b) = (png(1000, 5), png(1000, 6));
    let a = s.create(&img_a).await;
    let dir = s.shutdown().await;
    assert_eq!(pixstore_server::kek::rotate(&kek_path(dir.path()), Some(dir.path()), false).unwrap(), 2);
    let s = TestServer::start_in(dir, |f| f).await;
    let b = s.create(&img_b).await;
    assert_eq!(kek_of(&std::fs::read(stored_path(&s, &a.id)).unwrap()), Some(1));
    assert_eq!(kek_of(&std::fs::read(stored_path(&s, &b.id)).unwrap()), Some(2));
    serves(&s, &a, &img_a).await;
    serves(&s, &b, &img_b).await;

    let service = s.running.as_ref().unwrap().service.clone();
    let report = service.rewrap(|_| {}).await.unwrap();
    assert_eq!((report.scanned, report.rewrapped, report.current, report.gone), (2, 1, 1, 0));
    assert_eq!(kek_of(&std::fs::read(stored_path(&s, &a.id)).unwrap()), Some(2));
    // Same version: same token and key (the record the app holds stays valid: Success).
    let fresh = s.fresh_record(&a.id).await;
    assert_eq!((fresh.token, fresh.meta), (a.token, a.meta));
    let body = s.fetch(&a, Some(a.token.get())).await.bytes().await.unwrap();
    assert_eq!(body[0], 0, "Success: the client's version is still current");
    assert_eq!(service.rewrap(|_| {}).await.unwrap().rewrapped, 0, "a second run has nothing to do");
    let dir = s.shutdown().await;

    // Drop KEK 1 from the file: everything still serves.
    let path = kek_path(dir.path());
    let mut file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    file["keys"].as_array_mut().unwrap().retain(|k| k["kid"] != 1);
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    let s = TestServer::start_in(dir, |f| f).await;
    serves(&s, &a, &img_a).await;
    serves(&s, &b, &img_b).await;
    s.shutdown().await;
}

// The documented migration (docs/keys-at-rest.md) of a data folder with plaintext images:
// it keeps working unchanged (with a warning) until `kek init`; then new versions are sealed, and
// `rewrap` seals the old ones; records held by apps stay valid throughout.
#[tokio::test]
async fn migration_of_a_folder_with_plaintext_images() {
    // A folder as older servers wrote it: layout 0, no KEK.
    let s = TestServer::start_with(|f| pixstore_server::config::FileConfig { wrap_keys: Some(false), ..f }).await;
    let old_image = png(800, 7);
    let old = s.create(&old_image).await;
    let file = std::fs::read(stored_path(&s, &old.id)).unwrap();
    assert_eq!(kek_of(&file), None);
    assert!(contains(&file, &old.meta.key), "layout 0 keeps the key in plaintext");
    assert!(!kek_path(&s.data()).exists());
    let dir = s.shutdown().await;

    // Restarted with the defaults: no KEK is made for a folder that holds images; still plain.
    let s = TestServer::start_in(dir, |f| f).await;
    assert!(!kek_path(&s.data()).exists());
    let plain = s.create(&png(800, 8)).await;
    assert_eq!(kek_of(&std::fs::read(stored_path(&s, &plain.id)).unwrap()), None);
    let dir = s.shutdown().await;

    // Step 1: `kek init`, restart. New versions are sealed; old ones still serve.
    assert_eq!(pixstore_server::kek::init(&kek_path(dir.path()), Some(dir.path())).unwrap(), 1);
    let s = TestServer::start_in(dir, |f| f).await;
    let new_image = png(800, 9);
    let new = s.create(&new_image).await;
    assert_eq!(kek_of(&std::fs::read(stored_path(&s, &new.id)).unwrap()), Some(1));
    serves(&s, &old, &old_image).await;

    // Step 2: `rewrap`. Nothing is left in plaintext; the records stay valid.
    let report = s.running.as_ref().unwrap().service.rewrap(|_| {}).await.unwrap();
    assert_eq!((report.scanned, report.rewrapped, report.current), (3, 2, 1));
    for (id, key) in [(&old.id, old.meta.key), (&plain.id, plain.meta.key)] {
        let file = std::fs::read(stored_path(&s, id)).unwrap();
        assert_eq!(kek_of(&file), Some(1));
        assert!(!contains(&file, &key));
    }
    serves(&s, &old, &old_image).await;
    serves(&s, &new, &new_image).await;
    let body = s.fetch(&old, Some(old.token.get())).await.bytes().await.unwrap();
    assert_eq!(body[0], 0, "Success: rewrap keeps the version (token, key) the app holds");
    let dir = s.shutdown().await;

    // A folder that has held KEKs and lost the file is refused (its images would not serve).
    std::fs::remove_file(kek_path(dir.path())).unwrap();
    let config = Config::resolve(file_config(dir.path())).unwrap();
    let Err(err) = pixstore_server::start(config).await else { panic!("started") };
    let err = err.to_string();
    assert!(err.contains("kek.json") && err.contains("backup"), "{err}");
}

// `rewrap` is safe beside a writer in another process: each version it seals is written by
// compare-and-swap, so an update that lands between its read and its write wins, and no
// acknowledged update is lost. (Two services over one folder: no shared in-process lock.)
#[tokio::test]
async fn rewrap_beside_a_concurrent_writer_loses_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::resolve(file_config(dir.path())).unwrap();
    let writer = std::sync::Arc::new(pixstore_server::open_service(&config).unwrap());
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(writer.save(&png(700, 100 + i), None).await.unwrap().id);
    }
    pixstore_server::kek::rotate(&kek_path(dir.path()), Some(dir.path()), false).unwrap();
    // The writer still seals under KEK 1 (it loaded the file before the rotation): every one of
    // its updates is work for rewrap, and a race for the CAS.
    let rewrapper = pixstore_server::open_service(&config).unwrap();
    let updates = {
        let (writer, ids) = (writer.clone(), ids.clone());
        tokio::spawn(async move {
            let mut last = Vec::new();
            for round in 0..6u64 {
                for (n, id) in ids.iter().enumerate() {
                    let r = writer.update(id, &png(700, 1000 * round + n as u64)).await.unwrap();
                    if round == 5 {
                        last.push(r);
                    }
                }
            }
            last
        })
    };
    let mut rewrapped = 0;
    while !updates.is_finished() {
        rewrapped += rewrapper.rewrap(|_| {}).await.unwrap().rewrapped;
    }
    let last = updates.await.unwrap();
    rewrapped += rewrapper.rewrap(|_| {}).await.unwrap().rewrapped;
    assert!(rewrapped >= 8, "rewrap sealed {rewrapped} versions");
    for (n, record) in last.iter().enumerate() {
        // The last acknowledged update of each id is what is stored, now under KEK 2.
        let current = rewrapper.record(&record.id).await.unwrap().unwrap();
        assert_eq!((current.token, current.meta), (record.token, record.meta), "id {n}");
        let path = rewrapper.store().fs().unwrap().path_of(&record.id).unwrap();
        assert_eq!(kek_of(&std::fs::read(path).unwrap()), Some(2));
    }
}
