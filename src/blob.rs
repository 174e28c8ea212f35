//! The content-addressed blob store (SPEC 3.11). Bytes live here; the log
//! and kv hold only refs `{cid, size, mime}`.
//!
//! A cid is CIDv1, codec raw (0x55), multihash sha2-256 (0x12, 32 bytes),
//! multibase base32 lower-case without padding (`b`): what IPFS prints for a
//! single raw block.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// version 1, codec raw, sha2-256, 32 bytes.
const CID_PREFIX: [u8; 4] = [0x01, 0x55, 0x12, 0x20];

/// What `put` returns and events carry instead of bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// The CIDv1 of the bytes (raw, sha2-256, base32).
    pub cid: String,
    /// Their length in bytes.
    pub size: u64,
    /// The media type given to `put`.
    pub mime: String,
}

fn base32() -> data_encoding::Encoding {
    let mut spec = data_encoding::Specification::new();
    spec.symbols.push_str("abcdefghijklmnopqrstuvwxyz234567");
    spec.encoding().expect("a valid base32 alphabet")
}

/// The cid of `bytes`.
pub fn cid(bytes: &[u8]) -> String {
    cid_of_digest(&Sha256::digest(bytes).into())
}

fn cid_of_digest(digest: &[u8; 32]) -> String {
    let mut raw = CID_PREFIX.to_vec();
    raw.extend_from_slice(digest);
    format!("b{}", base32().encode(&raw))
}

/// The sha2-256 digest a cid names; an error unless `cid` has exactly the
/// form `cid()` produces.
pub fn parse_cid(cid: &str) -> Result<[u8; 32]> {
    let bad = |msg: &str| Error::Blob {
        cid: cid.to_string(),
        msg: format!("not a CIDv1 raw sha2-256 base32 cid: {msg}"),
    };
    let body = cid
        .strip_prefix('b')
        .ok_or_else(|| bad("must start with 'b'"))?;
    let raw = base32()
        .decode(body.as_bytes())
        .map_err(|_| bad("not lower-case base32"))?;
    if raw.len() != 36 || raw[..4] != CID_PREFIX {
        return Err(bad("wrong version, codec or hash"));
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&raw[4..]);
    // Reject non-canonical spellings (e.g. trailing bits set).
    if cid_of_digest(&digest) != cid {
        return Err(bad("not in canonical form"));
    }
    Ok(digest)
}

/// Checks bytes read back against the cid they were stored under.
fn verify(cid: &str, digest: &[u8; 32], bytes: Vec<u8>) -> Result<Vec<u8>> {
    let actual: [u8; 32] = Sha256::digest(&bytes).into();
    if &actual != digest {
        return Err(Error::Blob {
            cid: cid.to_string(),
            msg: format!(
                "stored bytes ({} bytes) no longer hash to this cid: the blob is damaged",
                bytes.len()
            ),
        });
    }
    Ok(bytes)
}

/// A content-addressed store: bytes are kept under the cid of their
/// content, so the same bytes are stored once.
pub trait ContentStore {
    /// Stores `bytes` once, however often they are put; returns the ref.
    fn put(&self, bytes: &[u8], mime: &str) -> Result<BlobRef>;
    /// The bytes, checked against the cid; an error if absent or damaged.
    fn get(&self, cid: &str) -> Result<Vec<u8>>;
    /// Whether the bytes of `cid` are stored.
    fn has(&self, cid: &str) -> Result<bool>;
    /// Number of distinct blobs stored.
    fn len(&self) -> Result<usize>;
    /// Whether nothing is stored.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

fn absent(cid: &str) -> Error {
    Error::Blob {
        cid: cid.to_string(),
        msg: "not in the content store".into(),
    }
}

/// An in-memory content store.
#[derive(Debug, Default)]
pub struct MemContent {
    blobs: Mutex<BTreeMap<[u8; 32], Vec<u8>>>,
}

impl MemContent {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<[u8; 32], Vec<u8>>> {
        self.blobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ContentStore for MemContent {
    fn put(&self, bytes: &[u8], mime: &str) -> Result<BlobRef> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        self.lock().entry(digest).or_insert_with(|| bytes.to_vec());
        Ok(BlobRef {
            cid: cid_of_digest(&digest),
            size: bytes.len() as u64,
            mime: mime.to_string(),
        })
    }

    fn get(&self, cid: &str) -> Result<Vec<u8>> {
        let digest = parse_cid(cid)?;
        let bytes = self
            .lock()
            .get(&digest)
            .cloned()
            .ok_or_else(|| absent(cid))?;
        verify(cid, &digest, bytes)
    }

    fn has(&self, cid: &str) -> Result<bool> {
        let digest = parse_cid(cid)?;
        Ok(self.lock().contains_key(&digest))
    }

    fn len(&self) -> Result<usize> {
        Ok(self.lock().len())
    }
}

/// An on-disk content store: `dir/<first digest byte in hex>/<cid>`.
///
/// Sharding is on the digest, not on the cid text (whose first characters
/// are always `bafkrei`). A put writes a temp file in `dir/tmp`, fsyncs it,
/// links it into place without clobbering (`hard_link` fails if the name
/// exists: another writer stored the same bytes first, which is fine), and
/// fsyncs the shard directory, so a blob is either wholly there or absent.
#[derive(Debug)]
pub struct DirContent {
    dir: PathBuf,
}

impl DirContent {
    /// The store in `dir`, created if missing.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let tmp = dir.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, "create content store", e))?;
        // Leftovers of interrupted puts: never linked, safe to remove.
        if let Ok(entries) = fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(DirContent { dir })
    }

    fn path_of(&self, cid: &str, digest: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{:02x}", digest[0])).join(cid)
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, "fsync directory", e))
}

impl ContentStore for DirContent {
    fn put(&self, bytes: &[u8], mime: &str) -> Result<BlobRef> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let cid = cid_of_digest(&digest);
        let blob_ref = BlobRef {
            cid: cid.clone(),
            size: bytes.len() as u64,
            mime: mime.to_string(),
        };
        let path = self.path_of(&cid, &digest);
        if path.exists() {
            return Ok(blob_ref);
        }
        let shard = path.parent().unwrap_or(&self.dir).to_path_buf();
        let new_shard = !shard.exists();
        fs::create_dir_all(&shard).map_err(|e| Error::io(&shard, "create shard", e))?;
        if new_shard {
            sync_dir(&self.dir)?;
        }
        let tmp_dir = self.dir.join("tmp");
        let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
            .map_err(|e| Error::io(&tmp_dir, "create temp file", e))?;
        tmp.write_all(bytes)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| Error::io(tmp.path(), "write blob", e))?;
        match fs::hard_link(tmp.path(), &path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&path, "link blob into place", e)),
        }
        drop(tmp); // unlinks the temp name
        sync_dir(&shard)?;
        Ok(blob_ref)
    }

    fn get(&self, cid: &str) -> Result<Vec<u8>> {
        let digest = parse_cid(cid)?;
        let path = self.path_of(cid, &digest);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(absent(cid)),
            Err(e) => return Err(Error::io(&path, "read blob", e)),
        };
        verify(cid, &digest, bytes)
    }

    fn has(&self, cid: &str) -> Result<bool> {
        let digest = parse_cid(cid)?;
        Ok(self.path_of(cid, &digest).exists())
    }

    fn len(&self) -> Result<usize> {
        let mut n = 0;
        for shard in 0..=255u8 {
            let dir = self.dir.join(format!("{shard:02x}"));
            match fs::read_dir(&dir) {
                Ok(entries) => n += entries.count(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&dir, "list shard", e)),
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cids_match_what_ipfs_prints() {
        assert_eq!(
            cid(b""),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
        assert_eq!(
            cid(b"hello world"),
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
        );
    }

    #[test]
    fn malformed_cids_are_refused() {
        let good = cid(b"x");
        for bad in [
            "",
            "b",
            "Bafkrei",
            &good.to_uppercase(),
            &good[1..],
            &format!("{good}a"),
        ] {
            assert!(parse_cid(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_cid(&good).is_ok());
    }

    fn roundtrip(c: &dyn ContentStore) {
        let r = c.put(b"hello world", "text/plain").unwrap();
        assert_eq!(r.size, 11);
        assert_eq!(c.put(b"hello world", "text/other").unwrap().cid, r.cid);
        assert_eq!(c.len().unwrap(), 1);
        assert_eq!(c.get(&r.cid).unwrap(), b"hello world");
        assert!(c.has(&r.cid).unwrap());
        assert!(!c.has(&cid(b"nope")).unwrap());
        assert!(
            c.get(&cid(b"nope"))
                .unwrap_err()
                .to_string()
                .contains("not in the content store")
        );
    }

    #[test]
    fn memory_store_dedups_and_round_trips() {
        roundtrip(&MemContent::new());
    }

    #[test]
    fn dir_store_dedups_round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let c = DirContent::open(dir.path()).unwrap();
        roundtrip(&c);
        let r = c.put(b"precious", "application/octet-stream").unwrap();
        let digest = parse_cid(&r.cid).unwrap();
        let path = c.path_of(&r.cid, &digest);
        fs::write(&path, b"precioux").unwrap();
        let err = c.get(&r.cid).unwrap_err().to_string();
        assert!(err.contains(&r.cid) && err.contains("damaged"), "{err}");
        let again = DirContent::open(dir.path()).unwrap();
        assert_eq!(again.len().unwrap(), 2);
    }

    #[test]
    fn concurrent_writers_store_the_same_bytes_once() {
        let dir = tempfile::tempdir().unwrap();
        let c = DirContent::open(dir.path()).unwrap();
        std::thread::scope(|t| {
            for _ in 0..4 {
                t.spawn(|| c.put(b"same bytes", "text/plain").unwrap());
            }
        });
        assert_eq!(c.len().unwrap(), 1);
        assert_eq!(c.get(&cid(b"same bytes")).unwrap(), b"same bytes");
    }
}
