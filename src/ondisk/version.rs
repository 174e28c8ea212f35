//! Format versions of the on-disk files, and the newer-format policy
//! (docs/design.md, "Versions").
//!
//! Every file kind starts with an 8-byte magic: a 7-byte name and a version
//! byte, `b'0' + version` (`PRSTSEG1` is segment version 1). A file whose
//! name matches but whose version is above what this build reads was
//! written by a newer persist: that is `Error::NewerFormat`, not damage.
//! The version byte is believed only once the file's checksum passes, so a
//! damaged byte is still reported as damage.

use std::path::Path;

use crate::Error;

/// The on-disk file kinds that carry a format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Segment,
    Manifest,
    Hint,
    Marker,
}

impl Kind {
    /// The file's name in messages.
    pub fn what(self) -> &'static str {
        match self {
            Kind::Segment => "segment",
            Kind::Manifest => "manifest",
            Kind::Hint => "hint",
            Kind::Marker => "compaction marker",
        }
    }

    fn name(self) -> &'static [u8; 7] {
        match self {
            Kind::Segment => b"PRSTSEG",
            Kind::Manifest => b"PRSTMAN",
            Kind::Hint => b"PRSTHNT",
            Kind::Marker => b"PRSTCMP",
        }
    }

    /// The newest version this build reads (and the one it writes).
    pub fn reads(self) -> u8 {
        match self {
            Kind::Segment | Kind::Manifest | Kind::Marker => 1,
            // Version 2 added global positions; a version 1 hint is set
            // aside like any unusable one.
            Kind::Hint => 2,
        }
    }

    /// The magic this build writes.
    pub fn magic(self) -> [u8; 8] {
        let mut m = [0u8; 8];
        m[..7].copy_from_slice(self.name());
        m[7] = b'0' + self.reads();
        m
    }

    /// Whether the file's own checksum holds: the segment header's over its
    /// first 24 bytes, the other files' trailing crc32c over the rest.
    fn checksum_holds(self, b: &[u8]) -> bool {
        let (body, crc) = match self {
            Kind::Segment => match (b.get(..24), b.get(24..28)) {
                (Some(body), Some(crc)) => (body, crc),
                _ => return false,
            },
            _ => match b.split_at_checked(b.len().saturating_sub(4)) {
                Some((body, crc)) if crc.len() == 4 => (body, crc),
                _ => return false,
            },
        };
        crc == crc32c::crc32c(body).to_le_bytes()
    }
}

/// Why a checksummed file's magic is not the one this build writes.
pub(crate) fn mismatch(kind: Kind, magic: &[u8]) -> String {
    match version_of(kind, magic) {
        Some(v) if v > kind.reads() => newer_msg(kind, v),
        Some(v) if v != kind.reads() => format!(
            "{} format version {v} is older than this build reads",
            kind.what()
        ),
        _ => format!("not a persist {} (bad magic)", kind.what()),
    }
}

fn newer_msg(kind: Kind, v: u8) -> String {
    format!(
        "{} written by a newer persist (format version {v}; this build reads up to {})",
        kind.what(),
        kind.reads()
    )
}

/// The version a magic names, when its 7-byte name is `kind`'s.
fn version_of(kind: Kind, magic: &[u8]) -> Option<u8> {
    match magic {
        [name @ .., v] if name == kind.name() && *v > b'0' => Some(v - b'0'),
        _ => None,
    }
}

/// `Some(NewerFormat)` when the file bytes `b` at `path` pass their
/// checksum and name a version above what this build reads. Called when
/// decoding `b` failed, so the common path pays nothing for it.
pub(crate) fn newer(kind: Kind, path: &Path, b: &[u8]) -> Option<Error> {
    let found = version_of(kind, b.get(..8)?)?;
    (found > kind.reads() && kind.checksum_holds(b)).then(|| Error::NewerFormat {
        path: path.to_path_buf(),
        what: kind.what(),
        found: u32::from(found),
        reads: u32::from(kind.reads()),
    })
}

/// A failed decode of `b` as the error to report: `NewerFormat` when a
/// newer persist wrote it, else `Corrupt` at `offset` with `msg`.
pub(crate) fn corrupt_or_newer(kind: Kind, path: &Path, b: &[u8], msg: String) -> Error {
    newer(kind, path, b).unwrap_or_else(|| Error::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        msg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [Kind; 4] = [Kind::Segment, Kind::Manifest, Kind::Hint, Kind::Marker];

    /// A file of `kind` with `magic`, resealed: a segment header, or a
    /// body with its trailing crc.
    fn sealed(kind: Kind, magic: [u8; 8]) -> Vec<u8> {
        let mut b = magic.to_vec();
        b.extend_from_slice(&[7u8; 16]);
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        if kind == Kind::Segment {
            b.extend_from_slice(&[0; 4]);
        }
        b
    }

    #[test]
    fn only_a_sealed_newer_version_is_newer() {
        let path = Path::new("f");
        for kind in KINDS {
            let mut m = kind.magic();
            assert_eq!(version_of(kind, &m), Some(kind.reads()));
            assert!(newer(kind, path, &sealed(kind, m)).is_none(), "{kind:?}");
            m[7] += 1;
            let e = newer(kind, path, &sealed(kind, m)).expect("newer");
            let want = format!(
                "format version {}; this build reads up to {}",
                kind.reads() + 1,
                kind.reads()
            );
            assert!(e.to_string().contains(&want), "{e}");
            let mut damaged = sealed(kind, m);
            damaged[9] ^= 1;
            let e = corrupt_or_newer(kind, path, &damaged, "bad".into());
            assert!(matches!(e, Error::Corrupt { .. }), "{e}");
            assert!(newer(kind, path, &m[..5]).is_none());
        }
    }

    /// docs/design.md shows each file's current magic: bumping a version
    /// without its history entry and layout fails here.
    #[test]
    fn design_doc_shows_the_current_versions() {
        let doc = include_str!("../../docs/design.md");
        for kind in KINDS {
            let magic = String::from_utf8(kind.magic().to_vec()).expect("ascii");
            assert!(
                doc.contains(&format!("`{magic}`")),
                "design.md lacks {magic}"
            );
            let row = format!("| {} | {} |", kind.what(), kind.reads());
            assert!(doc.contains(&row), "design.md's history lacks {row:?}");
        }
    }

    #[test]
    fn mismatch_names_newer_older_and_foreign_files() {
        let mut m = Kind::Hint.magic();
        m[7] = b'9';
        assert!(mismatch(Kind::Hint, &m).contains("newer persist (format version 9"));
        m[7] = b'1';
        assert!(mismatch(Kind::Hint, &m).contains("older"));
        assert!(mismatch(Kind::Hint, &Kind::Segment.magic()).contains("bad magic"));
        assert!(mismatch(Kind::Manifest, b"PRSTMAN0").contains("bad magic"));
    }
}
