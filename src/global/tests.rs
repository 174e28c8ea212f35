//! The global log index: pages, ids, and loading orders.

use super::*;

fn poss(locs: &[Loc]) -> Vec<u64> {
    locs.iter().map(|l| l.pos).collect()
}

#[test]
fn pages_by_pos_over_all_and_categories() {
    let mut g = GlobalLog::default();
    for (i, s) in ["user-1", "order-1", "user-2", "user-1", "user"]
        .iter()
        .enumerate()
    {
        g.insert(s, 1, i as u64 + 1, None).unwrap();
    }
    assert_eq!(g.last_pos(), 5);
    assert_eq!(poss(&g.page_all(0, 10)), [1, 2, 3, 4, 5]);
    assert_eq!(poss(&g.page_all(2, 2)), [3, 4]);
    assert_eq!(poss(&g.page_category("user", 1, 10)), [3, 4, 5]);
    assert_eq!(poss(&g.page_category("order", 0, 10)), [2]);
    assert!(g.page_category("nope", 0, 10).is_empty());
    g.remove(3);
    assert_eq!(poss(&g.page_category("user", 0, 10)), [1, 4, 5]);
    assert_eq!(g.last_pos(), 5);
    assert!(g.insert("x", 1, 4, None).unwrap_err().contains("pos 4"));
}

/// Runs above every pos are appended in one pass; a run that is not
/// (it starts below or at a pos taken, or passes the largest pos) gives
/// the same log, or the same error, as inserting its records one at a
/// time.
#[test]
fn extend_in_equals_inserting_one_at_a_time() {
    let runs: [&[u64]; 5] = [
        &[5, 6, 9],
        &[10, 12],
        &[3, 11],
        &[12, 13],
        &[14, MAX_POS + 1],
    ];
    let (mut bulk, mut single) = (GlobalLog::default(), GlobalLog::default());
    for (k, run) in runs.iter().enumerate() {
        let stream = ["a-1", "b-1"][k % 2];
        let n = bulk.number(stream);
        let seq = 1 + 10 * k as u64;
        let ends = (run[0], run[run.len() - 1]);
        let got = bulk.extend_in(n, seq, run.iter().copied(), ends);
        let mut want = Ok(());
        for (i, &pos) in run.iter().enumerate() {
            want = want.and_then(|()| single.insert(stream, seq + i as u64, pos, None).map(drop));
        }
        assert_eq!(got, want, "run {run:?}");
        assert_eq!(bulk, single, "after run {run:?}");
        assert_eq!(
            bulk.page_category("a", 0, 99),
            single.page_category("a", 0, 99)
        );
    }
    assert_eq!(poss(&bulk.page_all(0, 99)), [3, 5, 6, 9, 10, 11, 12, 14]);
}

#[test]
fn ids_belong_to_one_stream() {
    let mut g = GlobalLog::default();
    assert!(matches!(g.check_once("a", "k"), Ok(Once::New(_))));
    g.add_id("k", "a", 3).unwrap();
    assert_eq!(g.check_once("a", "k"), Ok(Once::Appended(3)));
    let e = g.check_once("b", "k").unwrap_err();
    assert!(e.contains("\"a\"") && e.contains("\"b\""), "{e}");
    g.add_id("k", "a", 3).unwrap();
    assert!(g.add_id("k", "a", 4).is_err());
    assert_eq!(g.ids_page("", 5)[0].stream, "a");
    let slot = g.insert("a", 4, 1, Some("j")).unwrap();
    assert_eq!(slot.map(|s| g.id_text(s)), Some("j"));
    assert_eq!(g.insert("a", 5, 2, None), Ok(None));
    let a = g.number_of("a").unwrap();
    assert_eq!(g.remove(1), Some((a, 4)));
    assert_eq!(g.remove(1), None, "already gone");
    assert_eq!(g.check_once("a", "j"), Ok(Once::Appended(4)), "still used");
    let but_j = g.id_entries_but(|s| Some(s) == slot);
    assert_eq!(
        but_j.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["k"]
    );
}

/// A fresh append's id is found like any other.
#[test]
fn ids_of_fresh_appends_are_found() {
    let mut g = GlobalLog::default();
    let Ok(Once::New(hash)) = g.check_once("a", "k") else {
        panic!("k is new");
    };
    g.insert_new("a", 1, 1, Some(("k", hash)));
    g.insert("a", 2, 2, Some("j")).unwrap();
    assert_eq!(g.check_once("a", "k"), Ok(Once::Appended(1)));
    assert_eq!(g.check_once("a", "j"), Ok(Once::Appended(2)));
    assert!(g.check_once("b", "j").is_err());
    g.remove(1);
    assert_eq!(g.check_once("a", "k"), Ok(Once::Appended(1)), "still used");
}

/// A restore adds streams one after another, so their positions
/// interleave (most land below the tail): the index must equal the one
/// built in pos order, through overflow merges and removals.
#[test]
fn stream_by_stream_loading_equals_pos_order_loading() {
    let streams = ["a-1", "b-1", "a-2", "c"];
    let record = |pos: u64| (streams[(pos % 4) as usize], pos / 4 + 1);
    let mut ordered = GlobalLog::default();
    for pos in 1..=20_000 {
        let (s, seq) = record(pos);
        ordered.insert(s, seq, pos, None).unwrap();
    }
    let mut by_stream = GlobalLog::default();
    for k in 0..4 {
        let (s, _) = record(k);
        let positions = (1..=20_000).filter(|p| p % 4 == k);
        for pos in positions {
            by_stream.insert(s, record(pos).1, pos, None).unwrap();
        }
    }
    assert_eq!(by_stream, ordered);
    for pos in (1..=20_000).step_by(3) {
        ordered.remove(pos);
        by_stream.remove(pos);
    }
    by_stream.settle();
    assert_eq!(by_stream, ordered);
    assert_eq!(
        by_stream.page_category("a", 100, 5),
        ordered.page_category("a", 100, 5)
    );
    let a = ordered.page_category("a", 0, usize::MAX);
    assert!(a.iter().all(|l| category_of(&l.stream) == "a"));
    let kept = (1..=20_000u64).filter(|p| p % 2 == 0 && p % 3 != 1);
    assert_eq!(a.len(), kept.count());
}
