//! A window across a restart: restored, it judges every sequence that was live exactly as the
//! exported window did and refuses the rest; it carries only the live groups; replaying the
//! log's bids continues it where the run left it; a corrupt export is refused.

use super::*;
use crate::tracking::Lane;
use crate::tracking::Seen;

const T0: i64 = 1_700_000_000;

/// Deterministic generator: the seed alone replays a failure.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// What a shard's event log holds of a window: its bids and the events judged.
#[derive(Debug, Clone, Copy)]
enum Record {
    Bid { sequence: u64, at: i64 },
    Event { lane: Lane, sequence: u64 },
}

/// Runs `steps` seconds of bids (up to `2 x rate` a second) and events on recent bids;
/// appends every bid (sequence, the window's clock when issued) to `issued` and every record
/// to `log`, and returns the clock at the end.
fn run(
    window: &mut EventWindow,
    rng: &mut SplitMix64,
    rate: u64,
    from_s: i64,
    steps: i64,
    issued: &mut Vec<(u64, i64)>,
    log: &mut Vec<Record>,
) -> i64 {
    let mut now = from_s;
    for _ in 0..steps {
        now += rng.below(3) as i64;
        for _ in 0..rng.below(2 * rate + 1) {
            if let Some(sequence) = window.issue(now) {
                issued.push((sequence, now));
                log.push(Record::Bid { sequence, at: now });
            }
        }
        for _ in 0..rng.below(4) {
            if issued.is_empty() {
                break;
            }
            let back = rng
                .below(issued.len() as u64)
                .min(rng.below(3 * rate * 100 + 1));
            let (sequence, _) = issued[issued.len() - 1 - back as usize];
            let lane = Lane::ALL[rng.below(4) as usize];
            window.first_seen(lane, sequence);
            log.push(Record::Event { lane, sequence });
        }
    }
    now
}

/// Asks both windows about every lane of every sequence from a little before `base` to a
/// little after the last issued: a sequence the export holds is judged the same, any other
/// is out of reach in the restored window.
fn assert_judged_alike(original: &mut EventWindow, restored: &mut EventWindow, context: &str) {
    let export_first = restored.floor;
    let base = original.base;
    for n in 0..original.n_issued + 70 {
        let sequence = base.wrapping_add(n);
        for lane in Lane::ALL {
            let before = original.first_seen(lane, sequence);
            let after = restored.first_seen(lane, sequence);
            if n >= export_first {
                assert_eq!(after, before, "{context}: sequence +{n} {lane:?}");
            } else {
                assert_eq!(after, Seen::OutOfReach, "{context}: sequence +{n} {lane:?}");
            }
        }
    }
    for back in 1..70u64 {
        let sequence = base.wrapping_sub(back);
        assert_eq!(restored.first_seen(Lane::Win, sequence), Seen::OutOfReach);
    }
}

#[test]
fn a_restored_window_judges_every_live_sequence_as_before() {
    let seed = 0x7e57_0b1d_u64;
    println!("seed {seed}");
    let mut rng = SplitMix64(seed);
    for round in 0..12 {
        let rate = 1 + rng.below(4);
        let hold_s = 5 + rng.below(200) as i64;
        let size = WindowSize::for_rate(rate, hold_s).expect("valid");
        let base = rng.next();
        let mut original = EventWindow::new(size, hold_s, base);
        let mut issued = Vec::new();
        let steps = 50 + rng.below(800) as i64;
        let end = run(
            &mut original,
            &mut rng,
            rate,
            T0,
            steps,
            &mut issued,
            &mut Vec::new(),
        );
        let export = original.export();
        assert_eq!(export.validate(), Ok(()));
        let mut restored = EventWindow::restore(size, hold_s, &export).expect("restores");
        assert_eq!(restored.room(end), original.room(end), "round {round}");
        // Every live token is still judged.
        for &(sequence, at) in &issued {
            if end - at <= hold_s {
                assert!(restored.holds(sequence), "round {round}: live {sequence}");
            }
        }
        assert_judged_alike(&mut original, &mut restored, &format!("round {round}"));
    }
}

#[test]
fn an_export_carries_only_the_live_groups() {
    let hold_s = 120;
    let size = WindowSize::for_rate(1_000, hold_s).expect("valid");
    let mut window = EventWindow::new(size, hold_s, 5);
    for _ in 0..10 {
        window.issue(T0);
    }
    let export = window.export();
    assert_eq!(export.words.len(), LANES, "ten bids: one group");
    // A long run far below the rate: only the last hold's bids are exported.
    for second in 0..10_000 {
        window.issue(T0 + second).expect("room");
    }
    let export = window.export();
    let live = hold_s as usize + 2 * export.granularity_s as usize;
    assert!(
        export.words.len() <= (live / 64 + 2) * LANES,
        "{} words for about {live} live sequences",
        export.words.len()
    );
    assert!(export.first_n > 9_000);
    // A history window holds no more than that.
    let tiny = WindowSize {
        capacity: GROUP_SEQUENCES,
        granularity_s: 1,
    };
    let restored = EventWindow::restore(tiny, hold_s, &export).expect("restores");
    assert!(restored.memory_bytes() < 32 * 1024 + export.words.len() as u64 * 16);
    assert!(restored.capacity() < window.capacity() / 100);
    // Nothing live: no words, and nothing judged.
    window.room(T0 + 20_000);
    let export = window.export();
    assert!(export.words.is_empty() && !export.has_sequences());
    let mut restored = EventWindow::restore(tiny, hold_s, &export).expect("restores");
    assert!(!restored.has_live(T0 + 20_000));
    assert_eq!(restored.first_seen(Lane::Win, 5 + 10_009), Seen::OutOfReach);
}

#[test]
fn replayed_bids_continue_a_restored_window() {
    let mut rng = SplitMix64(0xb1d5);
    let (rate, hold_s) = (3, 90);
    let size = WindowSize::for_rate(rate, hold_s).expect("valid");
    let mut original = EventWindow::new(size, hold_s, u64::MAX - 500);
    let (mut issued, mut log) = (Vec::new(), Vec::new());
    let checkpoint_s = run(
        &mut original,
        &mut rng,
        rate,
        T0,
        300,
        &mut issued,
        &mut log,
    );
    let checkpoint = original.export();
    let (n_at_checkpoint, log_at_checkpoint) = (issued.len(), log.len());
    // The log's tail: more bids and events after the checkpoint, replayed in order.
    let end = run(
        &mut original,
        &mut rng,
        rate,
        checkpoint_s,
        200,
        &mut issued,
        &mut log,
    );
    let mut restored = EventWindow::restore(size, hold_s, &checkpoint).expect("restores");
    for record in &log[log_at_checkpoint..] {
        match *record {
            Record::Bid { sequence, at } => {
                assert_eq!(restored.issue_recovered(sequence, at), Ok(()));
            }
            Record::Event { lane, sequence } => {
                restored.first_seen(lane, sequence);
            }
        }
    }
    assert_eq!(restored.n_issued(), original.n_issued());
    assert_eq!(restored.room(end), original.room(end));
    assert_eq!(restored.export(), original.export());
    assert_judged_alike(&mut original, &mut restored, "after the tail");
    // Records lost in the middle: skipped, their bits zero, and kept live at least as long.
    let lost = issued.len() - 20..issued.len() - 10;
    let mut gappy = EventWindow::restore(size, hold_s, &checkpoint).expect("restores");
    for (idx, &(sequence, at)) in issued.iter().enumerate().skip(n_at_checkpoint) {
        if !lost.contains(&idx) {
            assert_eq!(gappy.issue_recovered(sequence, at), Ok(()));
        }
    }
    assert_eq!(gappy.n_issued(), original.n_issued());
    assert!(gappy.room(end) <= original.room(end));
    let (skipped, skipped_at) = issued[lost.start];
    assert!(end - skipped_at <= hold_s, "a test of a live token");
    assert_eq!(gappy.first_seen(Lane::Click, skipped), Seen::First);
    let (last, last_at) = issued[issued.len() - 1];
    assert_eq!(
        gappy.issue_recovered(skipped, last_at),
        Err(IssueRecoveredError::AlreadyIssued)
    );
    let far = last.wrapping_add(gappy.capacity() + 2);
    assert_eq!(
        gappy.issue_recovered(far, last_at),
        Err(IssueRecoveredError::TooFarAhead)
    );
    assert_eq!(
        gappy.issue_recovered(last.wrapping_add(1_000_000_000), last_at),
        Err(IssueRecoveredError::TooFarAhead),
        "another run's sequence"
    );
}

#[test]
fn a_window_at_the_default_size_restores_at_its_size() {
    let size = WindowSize::for_rate(10_000, 3_660).expect("defaults");
    let mut window = EventWindow::new(size, 3_660, 42);
    for second in 0..30 {
        for _ in 0..10_000 {
            window.issue(T0 + second).expect("room");
        }
    }
    let export = window.export();
    assert_eq!(export.words.len(), (300_000usize).div_ceil(64) * LANES);
    let restored = EventWindow::restore(size, 3_660, &export).expect("restores");
    assert_eq!(restored.capacity(), window.capacity());
}

#[test]
fn corrupt_exports_are_refused() {
    let size = WindowSize::for_rate(2, 60).expect("valid");
    let mut window = EventWindow::new(size, 60, 0);
    for second in 0..70 {
        window.issue(T0 + second);
        window.issue(T0 + second);
    }
    window.first_seen(Lane::Win, 139);
    let good = window.export();
    assert_eq!(good.validate(), Ok(()));
    let cases: Vec<(&str, WindowExport)> = vec![
        (
            "no hold",
            WindowExport {
                hold_s: 0,
                ..good.clone()
            },
        ),
        (
            "hold beyond any config",
            WindowExport {
                hold_s: EXPORT_HOLD_S_MAX + 1,
                ..good.clone()
            },
        ),
        (
            "no granularity",
            WindowExport {
                granularity_s: 0,
                ..good.clone()
            },
        ),
        (
            "first after last",
            WindowExport {
                first_n: good.n_issued + 1,
                ..good.clone()
            },
        ),
        ("a word short", {
            let mut export = good.clone();
            export.words.pop();
            export
        }),
        ("marks out of order", {
            let mut export = good.clone();
            export.marks.swap(0, 1);
            export
        }),
        ("a mark past the end", {
            let mut export = good.clone();
            export.marks.last_mut().unwrap().first_n = good.n_issued + 1;
            export
        }),
        ("too many marks", {
            let mut export = good.clone();
            export.marks = (0..=MARKS_MAX as i64)
                .map(|interval| WindowMark {
                    interval,
                    first_n: 0,
                })
                .collect();
            export
        }),
        ("a bit of a sequence not issued", {
            let mut export = good.clone();
            *export.words.last_mut().unwrap() |= 1 << 63;
            export
        }),
        (
            "more groups than any window",
            WindowExport {
                first_n: 0,
                n_issued: WINDOW_SEQUENCES_CEILING * 2,
                words: Vec::new(),
                marks: Vec::new(),
                ..good.clone()
            },
        ),
    ];
    for (name, export) in cases {
        assert!(
            matches!(export.validate(), Err(RestoreError::Invalid(_))),
            "{name}"
        );
        assert!(EventWindow::restore(size, 60, &export).is_err(), "{name}");
    }
}
