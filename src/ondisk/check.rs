//! Checking the checksum of every frame a hint covers (SPEC 5: damage
//! anywhere stops the open, also after a clean close), on a helper thread
//! while the opening thread reads and decodes the hint, so a reopen costs
//! about one read and checksum of the log spread over two cores.
//!
//! The work is a queue of pieces of about `PIECE` bytes. A hint that
//! matches names every sealed segment with exactly its length, so their
//! pieces are known before the hint is read: they are queued at once and
//! the helper starts on them while the hint file is still being read. The
//! active segment's pieces end where the hint says, so they are queued
//! once the hint's head is read (`add`; the helper waits for them, so a
//! store of one segment is checked on both threads too). The opening
//! thread joins the checking when the index is decoded (`finish`); pieces
//! this small leave neither thread idle for long at the end. A hint that
//! is set aside stops the checking (`stop`): the replay then reads the log
//! alone.
//!
//! A piece is a stretch `lo..hi` of nominal offsets. Its checker finds the
//! first whole valid frame at or after `lo` (`segment::next_frame`; the
//! first piece starts at the header's end) and follows the frame chain
//! from there until it reaches `hi` or beyond. The guessed start is proven
//! only when the piece before it ends exactly there: `finish` checks that
//! every piece ends where the next one starts and the last at the end, so
//! the pieces together are the one chain a plain scan follows, each frame
//! checked once. A mismatch (a payload that looked like a frame, or
//! damage) sets the hint aside like a bad frame.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::recover::Seg;
use super::segment::{self, HEADER_LEN};
use crate::{Error, Result};

/// Nominal bytes per piece: small against a segment (64 MiB by default),
/// large against the search for its first frame (about half a frame).
pub(crate) const PIECE: u64 = 8 << 20;

/// Frames of segment `id` starting in `lo..hi`; the segment's checked
/// frames end at `end`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Piece {
    id: u64,
    lo: u64,
    hi: u64,
    end: u64,
}

/// What checking a piece found: where its frame chain started and ended,
/// or its first bad frame (offset, why); `Err` when it could not be read.
type Found = Result<Result<(u64, u64), (u64, String)>>;

#[derive(Default)]
struct State {
    /// Pieces not yet taken, by ascending segment and offset.
    queue: VecDeque<Piece>,
    /// Every piece queued, in order, for the check of the joints.
    planned: Vec<Piece>,
    /// Checked pieces: (id, lo) -> where their chain started and ended.
    spans: BTreeMap<(u64, u64), (u64, u64)>,
    /// Pieces being checked now.
    busy: usize,
    /// More pieces may still be queued: the helper waits for them.
    more: bool,
    /// The earliest bad frame found so far: (id, offset, description).
    bad: Option<(u64, u64, String)>,
    /// The first segment that could not be read.
    err: Option<Error>,
}

impl State {
    fn push(&mut self, id: u64, end: u64, piece: u64) {
        let mut lo = HEADER_LEN;
        while lo < end {
            let hi = (lo / piece + 1).saturating_mul(piece).min(end);
            let p = Piece { id, lo, hi, end };
            self.queue.push_back(p);
            self.planned.push(p);
            lo = hi;
        }
    }

    fn found_bad(&mut self, id: u64, off: u64, msg: String) {
        if self.bad.as_ref().is_none_or(|b| (id, off) < (b.0, b.1)) {
            self.bad = Some((id, off, msg));
        }
        self.queue.clear();
    }
}

/// The frame checks of one open.
pub(crate) struct Checker<'a> {
    segs: &'a BTreeMap<u64, Seg>,
    piece: u64,
    state: Mutex<State>,
    /// Told when pieces are queued, `more` ends or `busy` drops to zero.
    changed: Condvar,
}

impl<'a> Checker<'a> {
    /// Queues every segment of `segs` but the last (the active one) whole,
    /// in pieces of about `piece` bytes.
    pub fn new(segs: &'a BTreeMap<u64, Seg>, piece: u64) -> Self {
        let mut state = State {
            more: true,
            ..State::default()
        };
        let sealed = segs.len().saturating_sub(1);
        for (&id, s) in segs.iter().take(sealed) {
            state.push(id, s.r.len, piece.max(1));
        }
        Checker {
            segs,
            piece: piece.max(1),
            state: Mutex::new(state),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues the frames of segment `id` up to `end`: the active segment,
    /// as far as the hint covers it (the rest is replayed).
    pub fn add(&self, id: u64, end: u64) {
        let mut s = self.lock();
        if s.bad.is_none() && s.err.is_none() {
            s.push(id, end, self.piece);
        }
        self.changed.notify_all();
    }

    /// Drops what is still queued and lets the helper go; pieces being
    /// checked run to their end.
    pub fn stop(&self) {
        let mut s = self.lock();
        s.queue.clear();
        s.more = false;
        self.changed.notify_all();
    }

    fn wait<'g>(&self, s: MutexGuard<'g, State>) -> MutexGuard<'g, State> {
        self.changed.wait(s).unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks queued pieces until none is left and none will be.
    fn work(&self) {
        loop {
            let piece = {
                let mut s = self.lock();
                loop {
                    if let Some(p) = s.queue.pop_front() {
                        s.busy += 1;
                        break p;
                    }
                    if !s.more {
                        return;
                    }
                    s = self.wait(s);
                }
            };
            let mut taken = Taken {
                c: self,
                piece,
                found: None,
            };
            taken.found = Some(self.check(piece));
        }
    }

    /// Follows the frame chain of one piece: `Ok(Ok((start, end)))` when
    /// every frame on it is valid, else the first invalid one.
    fn check(&self, p: Piece) -> Found {
        let Some(seg) = self.segs.get(&p.id) else {
            return Ok(Ok((p.lo, p.lo)));
        };
        let (file, path) = (&*seg.r.file, &*seg.r.path);
        // The frame chain starts at `start`; the scan at `from`, past the
        // first frame when finding it checked it already and it is this
        // piece's (it starts before `hi`).
        let (start, from) = match p.lo {
            HEADER_LEN => (HEADER_LEN, HEADER_LEN),
            lo => match segment::next_frame(file, path, lo, p.end)? {
                Some((off, len)) if off < p.hi => (off, off + len),
                Some((off, _)) => (off, off),
                None => (p.end, p.end),
            },
        };
        let stop = p.hi.max(start);
        Ok(
            match segment::scan_until(file, path, from, stop, p.end, |_, _| Ok(()))? {
                Ok(reached) => Ok((start, reached)),
                Err(bad) => Err((bad.off, bad.msg)),
            },
        )
    }

    /// Records what checking `p` found.
    fn record(&self, p: Piece, found: Found) {
        let mut s = self.lock();
        s.busy -= 1;
        match found {
            Ok(Ok(span)) => {
                s.spans.insert((p.id, p.lo), span);
            }
            Ok(Err((off, msg))) => s.found_bad(p.id, off, msg),
            Err(e) => {
                s.err.get_or_insert(e);
                s.queue.clear();
            }
        }
        if s.busy == 0 {
            self.changed.notify_all();
        }
    }

    /// Joins the checking until every queued piece is checked. `Err` when
    /// a segment could not be read; else, described, the earliest bad
    /// frame (or joint) whichever thread found it: the hint is then set
    /// aside, and the replay decides from the log alone whether it is a
    /// torn tail or corruption, so the answer never depends on the hint.
    pub fn finish(&self) -> Result<Option<String>> {
        self.lock().more = false;
        self.changed.notify_all();
        self.work();
        let mut s = self.lock();
        while s.busy > 0 {
            s = self.wait(s);
        }
        if let Some(e) = s.err.take() {
            return Err(e);
        }
        joints(&mut s);
        Ok(s.bad.take().map(|(id, off, msg)| {
            let path = self.segs.get(&id).map(|g| g.r.path.display().to_string());
            let path = path.unwrap_or_else(|| format!("segment {id}"));
            format!("{path}: offset {off}: {msg} under the hint")
        }))
    }
}

/// Whether the checked pieces make one chain per segment: each ends where
/// the next begins (the first begins after the header, the last ends at
/// the end, as their scans ensure). Records the first place they do not:
/// a damaged frame is skipped by the search for a piece's first frame, so
/// it shows here, where the piece before stops at it. Pieces left
/// unchecked after a bad frame end the walk.
fn joints(s: &mut State) {
    let planned = std::mem::take(&mut s.planned);
    for (a, b) in planned.iter().zip(planned.iter().skip(1)) {
        if a.id != b.id {
            continue;
        }
        let (Some(&(_, ended)), Some(&(began, _))) =
            (s.spans.get(&(a.id, a.lo)), s.spans.get(&(b.id, b.lo)))
        else {
            if s.bad.is_none() {
                s.found_bad(a.id, a.lo, "frames were not all checked".into());
            }
            break;
        };
        if ended != began {
            let msg = format!(
                "the frame chain reaches offset {ended}, the next frame found is at {began}"
            );
            s.found_bad(a.id, ended.min(began), msg);
            break;
        }
    }
    s.planned = planned;
}

/// A piece being checked. Dropped when the check ends, also by a panic:
/// `finish` must never wait for a piece nobody checks any more.
struct Taken<'c, 'a> {
    c: &'c Checker<'a>,
    piece: Piece,
    found: Option<Found>,
}

impl Drop for Taken<'_, '_> {
    fn drop(&mut self) {
        let found = self.found.take().unwrap_or_else(|| {
            let msg = "checking stopped".to_string();
            Ok(Err((self.piece.lo, msg)))
        });
        self.c.record(self.piece, found);
    }
}

/// Runs `f`; with a `checker` and `early`, a helper thread checks its
/// queue meanwhile (else `finish` does all the checking on this thread).
/// What is still queued when `f` returns (or panics) is dropped, and the
/// helper is joined before this returns.
pub(crate) fn alongside<R>(checker: Option<&Checker<'_>>, early: bool, f: impl FnOnce() -> R) -> R {
    let Some(c) = checker.filter(|_| early) else {
        return f();
    };
    std::thread::scope(|scope| {
        scope.spawn(|| c.work());
        // Also when `f` panics: the scope joins the helper before the
        // panic goes on, and the helper waits until told to stop.
        let _stop = Stop(c);
        f()
    })
}

/// Stops a checker when dropped.
struct Stop<'c, 'a>(&'c Checker<'a>);

impl Drop for Stop<'_, '_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::ondisk::frame;
    use crate::ondisk::read::SegRef;

    fn sealed(payload: &[u8]) -> Vec<u8> {
        let mut f = frame::begin();
        f.extend_from_slice(payload);
        frame::seal(&mut f, 0);
        f
    }

    /// Segment `id` in `dir` holding these frames; with its frame starts.
    fn segment_of(dir: &Path, id: u64, frames: &[Vec<u8>]) -> (Seg, Vec<u64>) {
        let path = dir.join(segment::file_name(id));
        let mut bytes = segment::encode_header(id, 7).to_vec();
        let mut starts = Vec::new();
        for f in frames {
            starts.push(bytes.len() as u64);
            bytes.extend_from_slice(f);
        }
        std::fs::write(&path, &bytes).expect("write segment");
        let r = SegRef {
            file: Arc::new(segment::open(&path).expect("open")),
            path: Arc::new(path),
            len: bytes.len() as u64,
        };
        (Seg { r, nonce: 7 }, starts)
    }

    /// Frames of many sizes, some longer than the pieces the tests use.
    fn frames(n: usize, seed: u8) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let len = 1 + (i * 37 + usize::from(seed)) % 150;
                sealed(&vec![b'a' + (i % 26) as u8; len])
            })
            .collect()
    }

    /// Two sealed segments and an active one, whose last frame the hint
    /// does not cover.
    fn store(dir: &Path) -> (BTreeMap<u64, Seg>, u64) {
        let mut segs = BTreeMap::new();
        for id in 1..=3 {
            let (s, _) = segment_of(dir, id, &frames(20, id as u8));
            segs.insert(id, s);
        }
        let active = &segs[&3];
        let last = active.r.len - frames(20, 3)[19].len() as u64;
        (segs, last)
    }

    /// Runs every check of `segs` (the active one up to `covered`) with
    /// the helper thread, in pieces of `piece` bytes.
    fn run(segs: &BTreeMap<u64, Seg>, covered: u64, piece: u64) -> Result<Option<String>> {
        let c = Checker::new(segs, piece);
        alongside(Some(&c), true, || {
            c.add(3, covered);
            c.finish()
        })
    }

    #[test]
    fn pieces_of_any_size_pass_a_sound_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (segs, covered) = store(dir.path());
        for piece in [1, 7, 64, 100, 333, 1000, 1 << 20] {
            let found = run(&segs, covered, piece).expect("read");
            assert_eq!(found, None, "pieces of {piece} bytes");
        }
        let c = Checker::new(&segs, 100);
        c.add(3, covered);
        assert!(c.lock().planned.len() > 50, "the segments were split");
    }

    /// Every byte flipped, in any segment, whichever piece and thread
    /// checks it (piece boundaries fall inside frames and on them): the
    /// checks find it. Past what the hint covers, nothing is checked.
    #[test]
    fn a_flip_anywhere_under_the_hint_is_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (segs, covered) = store(dir.path());
        for (&id, s) in &segs {
            let end = if id == 3 { covered } else { s.r.len };
            for off in 0..s.r.len {
                let mut b = [0u8];
                s.r.file.read_exact_at(&mut b, off).expect("read");
                s.r.file.write_all_at(&[b[0] ^ 0x10], off).expect("flip");
                let piece = [50, 128][off as usize % 2];
                let found = run(&segs, covered, piece).expect("read");
                match off {
                    // The segment header is checked when it is opened.
                    ..HEADER_LEN => assert_eq!(found, None),
                    _ if off < end => assert!(found.is_some(), "flip at {id}:{off}"),
                    _ => assert_eq!(found, None, "flip at {id}:{off}"),
                }
                s.r.file.write_all_at(&b, off).expect("restore");
            }
        }
    }

    /// The earliest damage is the one described, also when a later piece
    /// or segment is found bad first.
    #[test]
    fn the_earliest_bad_frame_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (segs, covered) = store(dir.path());
        let flip = |id: u64, off: u64| {
            let f = &segs[&id].r.file;
            let mut b = [0u8];
            f.read_exact_at(&mut b, off).expect("read");
            f.write_all_at(&[b[0] ^ 1], off).expect("flip");
        };
        let s2 = &segs[&2];
        let (_, starts) = {
            let mut starts = Vec::new();
            let file = &s2.r.file;
            segment::scan(file, &s2.r.path, HEADER_LEN, s2.r.len, |off, _| {
                starts.push(off);
                Ok(())
            })
            .expect("scan");
            ((), starts)
        };
        // A payload byte of segment 2's 16th frame and of segment 3.
        flip(2, starts[15] + frame::HEADER as u64);
        flip(3, HEADER_LEN + frame::HEADER as u64);
        for piece in [40, 200, 1 << 20] {
            let msg = run(&segs, covered, piece).expect("read").expect("bad");
            let want = format!("{}: offset {}:", s2.r.path.display(), starts[15]);
            assert!(msg.starts_with(&want), "pieces of {piece}: {msg}");
        }
    }

    #[test]
    fn next_frame_finds_the_first_frame_at_or_after_an_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (s, starts) = segment_of(dir.path(), 1, &frames(40, 5));
        let (file, path) = (&*s.r.file, &*s.r.path);
        for from in HEADER_LEN..=s.r.len {
            let want = starts.iter().copied().find(|&o| o >= from);
            let got = segment::next_frame(file, path, from, s.r.len).expect("read");
            let got = got.map(|(off, len)| {
                let i = starts.iter().position(|&o| o == off).expect("a start");
                let next = starts.get(i + 1).copied().unwrap_or(s.r.len);
                assert_eq!(off + len, next, "length of the frame at {off}");
                off
            });
            assert_eq!(got, want, "from {from}");
        }
    }

    /// A payload holding a whole valid frame: a piece starting inside it
    /// takes the inner frame for a frame start, and the chain from the
    /// piece before does not meet it. The hint is set aside (the replay,
    /// which follows the one chain, finds the log sound).
    #[test]
    fn a_frame_inside_a_payload_does_not_pass_as_a_joint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner = sealed(b"looks like a frame");
        let mut outer = vec![b'x'; 40];
        outer.extend_from_slice(&inner);
        outer.extend_from_slice(&[b'y'; 40]);
        let fs = vec![sealed(b"first"), sealed(&outer), sealed(b"last")];
        let (s, starts) = segment_of(dir.path(), 1, &fs);
        let (active, _) = segment_of(dir.path(), 2, &[]);
        let segs = BTreeMap::from([(1, s), (2, active)]);
        let hidden = starts[1] + frame::HEADER as u64 + 40;
        assert_eq!(
            segment::next_frame(
                &segs[&1].r.file,
                &segs[&1].r.path,
                starts[1] + 1,
                segs[&1].r.len
            )
            .expect("read"),
            Some((hidden, inner.len() as u64))
        );
        let sound = segment::scan(
            &segs[&1].r.file,
            &segs[&1].r.path,
            HEADER_LEN,
            segs[&1].r.len,
            |_, _| Ok(()),
        );
        assert!(sound.expect("scan").is_none());
        // A piece boundary inside the outer frame, before the inner one.
        let c = Checker::new(&segs, starts[1] + 10);
        let msg = alongside(Some(&c), true, || c.finish())
            .expect("read")
            .expect("refused");
        assert!(msg.contains("frame chain reaches"), "{msg}");
        // Pieces whose boundaries miss it pass.
        let c = Checker::new(&segs, 1 << 20);
        assert_eq!(
            alongside(Some(&c), true, || c.finish()).expect("read"),
            None
        );
    }
    /// A store of one segment: its pieces are queued only after the hint's
    /// head, while the helper already waits for them.
    #[test]
    fn the_active_segment_alone_is_checked_in_pieces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (s, starts) = segment_of(dir.path(), 1, &frames(30, 9));
        let segs = BTreeMap::from([(1, s)]);
        let c = Checker::new(&segs, 64);
        assert!(c.lock().queue.is_empty());
        let found = alongside(Some(&c), true, || {
            c.add(1, starts[29]);
            c.finish()
        });
        assert_eq!(found.expect("read"), None);
        assert!(c.lock().planned.len() > 10);
        let file = &segs[&1].r.file;
        file.write_all_at(b"!", starts[12] + frame::HEADER as u64)
            .expect("flip");
        let c = Checker::new(&segs, 64);
        let found = alongside(Some(&c), true, || {
            c.add(1, starts[29]);
            c.finish()
        });
        let msg = found.expect("read").expect("found");
        assert!(msg.contains(&format!("offset {}:", starts[12])), "{msg}");
    }

    /// A panic on the opening thread stops the helper, which would
    /// otherwise wait for more pieces: the panic comes through.
    #[test]
    fn a_panic_while_checking_does_not_hang() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (segs, _) = store(dir.path());
        let c = Checker::new(&segs, 64);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            alongside(Some(&c), true, || panic!("decode failed"))
        }));
        assert!(r.is_err());
    }
}
