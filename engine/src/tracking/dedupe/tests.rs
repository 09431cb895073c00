//! The event window case by case (size, repeats per lane, sliding, wrap-around, reach, the
//! refusal to slide over live tokens, a clock going back), then a seeded random schedule
//! checked against the rule stated plainly: each event counted at most once, a live token's
//! event always judged, a bid refused only when the window really holds that many live ones.

use std::collections::HashSet;

use super::*;

const T0: i64 = 1_700_000_000;
/// A hold of two minutes at one bid a second: granularity 1 s, 121 live sequences rounded up
/// to a capacity of 128 (two groups, plus the one being recycled).
const HOLD_S: i64 = 120;

fn small_window(base: u64) -> EventWindow {
    let size = WindowSize::for_rate(1, HOLD_S).expect("valid");
    assert_eq!(size.capacity, 128);
    EventWindow::new(size, HOLD_S, base)
}

#[test]
fn size_follows_the_rate_and_the_hold() {
    let cases = [
        // The defaults: 10k bids/s, TTL 3600 s plus 60 s of skew.
        ("defaults", 10_000, 3_660, Some((36_640_000, 4, 18_320_032))),
        (
            "a bid a second over two minutes",
            1,
            120,
            Some((128, 1, 96)),
        ),
        (
            "an hour at one bid a second",
            1,
            3_600,
            Some((3_648, 4, 1_856)),
        ),
        (
            "the rate ceiling over a day",
            BIDS_PER_S_CEILING,
            86_400,
            None,
        ),
        (
            "the sequence ceiling exactly",
            16_384,
            130_943,
            Some((2_147_483_648, 129, 1_073_741_856)),
        ),
        ("one second more", 16_384, 130_944, None),
        ("zero bids", 0, 3_600, None),
        ("over the rate ceiling", BIDS_PER_S_CEILING + 1, 60, None),
        ("no hold", 1, 0, None),
    ];
    for (name, rate, hold_s, expected) in cases {
        let size = WindowSize::for_rate(rate, hold_s);
        assert_eq!(
            size.map(|s| (s.capacity, s.granularity_s, s.memory_bytes())),
            expected,
            "{name}"
        );
    }
}

#[test]
fn each_lane_of_a_bid_counts_once() {
    let mut window = small_window(7);
    let first = window.issue(T0).expect("room");
    let second = window.issue(T0).expect("room");
    assert_eq!((first, second), (7, 8));
    for lane in Lane::ALL {
        assert_eq!(window.first_seen(lane, first), Seen::First, "{lane:?}");
    }
    for lane in Lane::ALL {
        assert_eq!(window.first_seen(lane, first), Seen::Repeat, "{lane:?}");
    }
    // The other bid's bits are its own.
    assert_eq!(window.first_seen(Lane::Billing, second), Seen::First);
    assert_eq!(window.first_seen(Lane::Impression, second), Seen::First);
    assert_eq!(window.first_seen(Lane::Impression, second), Seen::Repeat);
}

#[test]
fn lanes_are_listed_in_index_order() {
    for (idx, lane) in Lane::ALL.into_iter().enumerate() {
        assert_eq!(lane.idx(), idx, "{lane:?}");
    }
    assert_eq!(LANES, 4, "4 bits per bid, the loss has no lane of its own");
}

/// Shorthands for the verdict table.
const F: Seen = Seen::First;
const R: Seen = Seen::Repeat;
const W: EventKind = EventKind::Win;
const B: EventKind = EventKind::Billing;
const I: EventKind = EventKind::Impression;
const C: EventKind = EventKind::Click;
const L: EventKind = EventKind::Loss;

/// The campaign's spend lane, events of one bid in order, and the verdict on each as
/// (own, impression).
type JudgeCase = (Lane, &'static [EventKind], &'static [(Seen, Seen)]);

#[test]
fn a_bid_is_resolved_once_by_its_spend_event_or_its_loss() {
    #[rustfmt::skip]
    let cases: [JudgeCase; 12] = [
        // The loss first: the spend event after it is a repeat (not charged), also repeated.
        (Lane::Win, &[L, W, W], &[(F, R), (R, R), (R, R)]),
        (Lane::Billing, &[L, B, B], &[(F, R), (R, R), (R, R)]),
        // The spend event first: the loss after it is a repeat (changes nothing).
        (Lane::Win, &[W, L, L], &[(F, R), (R, R), (R, R)]),
        (Lane::Billing, &[B, L], &[(F, F), (R, R)]),
        // A loss repeated counts once.
        (Lane::Win, &[L, L], &[(F, R), (R, R)]),
        // The other events keep their own lanes: a win-spender's billing notice after a loss
        // still reports the impression; an impression-spender's win notice is still a win.
        (Lane::Win, &[L, B, I, C], &[(F, R), (F, F), (R, R), (F, R)]),
        (Lane::Billing, &[L, W, I, C], &[(F, R), (F, R), (F, F), (F, R)]),
        // An impression-spender's loss after the pixel: the bid was not billed, so released.
        (Lane::Billing, &[I, L, B], &[(F, F), (F, R), (R, R)]),
        // The pixel then the billing notice: one impression, one charge.
        (Lane::Billing, &[I, B, B], &[(F, F), (F, R), (R, R)]),
        (Lane::Billing, &[B, I], &[(F, F), (R, R)]),
        (Lane::Win, &[W, W, C, C], &[(F, R), (R, R), (F, R), (R, R)]),
        (Lane::Win, &[I, I], &[(F, F), (R, R)]),
    ];
    for (spend_lane, events, want) in cases {
        let mut window = small_window(0);
        let bid = window.issue(T0).expect("room");
        let got: Vec<(Seen, Seen)> = events
            .iter()
            .map(|kind| {
                let verdict = window.judge(*kind, spend_lane, bid);
                (verdict.own, verdict.impression)
            })
            .collect();
        assert_eq!(got, want, "{spend_lane:?} {events:?}");
    }
    // A sequence the window cannot vouch for is out of reach whatever the event.
    let mut window = small_window(0);
    for kind in EventKind::ALL {
        assert_eq!(
            window.judge(kind, Lane::Win, 5).own,
            Seen::OutOfReach,
            "{kind:?}"
        );
    }
}

#[test]
fn out_of_reach_sequences_are_never_judged() {
    let base = 1_000;
    let mut window = small_window(base);
    assert_eq!(
        window.first_seen(Lane::Win, base),
        Seen::OutOfReach,
        "none issued"
    );
    let issued = window.issue(T0).expect("room");
    assert_eq!(
        window.first_seen(Lane::Win, issued + 1),
        Seen::OutOfReach,
        "not yet"
    );
    assert_eq!(
        window.first_seen(Lane::Win, base - 1),
        Seen::OutOfReach,
        "before the run"
    );
    assert_eq!(
        window.first_seen(Lane::Win, u64::MAX),
        Seen::OutOfReach,
        "another run"
    );
    assert_eq!(window.first_seen(Lane::Win, issued), Seen::First);
}

#[test]
fn window_refuses_to_slide_over_live_tokens() {
    let mut window = small_window(0);
    for n in 0..128 {
        assert_eq!(window.issue(T0), Some(n));
    }
    assert_eq!(window.room(T0), 0);
    assert_eq!(window.issue(T0), None, "the 129th live bid");
    assert_eq!(window.n_refused(), 1);
    // Every live bid is still judged.
    for n in 0..128 {
        assert_eq!(window.first_seen(Lane::Impression, n), Seen::First);
    }
    // Still live at the end of the hold (tokens of T0 verify until T0 + hold).
    assert_eq!(window.issue(T0 + HOLD_S), None);
    assert_eq!(window.n_refused(), 2);
    // One second later the whole T0 interval is dead: room for a full window again.
    assert_eq!(window.room(T0 + HOLD_S + 1), 128);
    assert_eq!(window.issue(T0 + HOLD_S + 1), Some(128));
}

#[test]
fn window_slides_over_dead_sequences_only() {
    let mut window = small_window(0);
    // One bid a second: the rate the window is sized for, never refused.
    for second in 0..1_000 {
        let now = T0 + second;
        let sequence = window.issue(now).expect("within the rate");
        assert_eq!(sequence, second as u64);
        assert_eq!(window.first_seen(Lane::Win, sequence), Seen::First);
        // Every sequence of the last hold is still judged, and was seen.
        for age_s in 0..=HOLD_S.min(second) {
            let live = sequence - age_s as u64;
            assert_eq!(
                window.first_seen(Lane::Win, live),
                Seen::Repeat,
                "{second}/{age_s}"
            );
        }
    }
    assert_eq!(window.n_refused(), 0);
    // Long dead: out of reach, not counted again.
    assert_eq!(window.first_seen(Lane::Win, 0), Seen::OutOfReach);
    assert_eq!(window.first_seen(Lane::Win, 999 - 200), Seen::OutOfReach);
}

#[test]
fn sequences_wrap_around_the_integer_and_the_ring() {
    let base = u64::MAX - 100;
    let mut window = small_window(base);
    let mut issued = Vec::new();
    // Ten windows' worth, a bid a second, across u64::MAX and around the ring many times.
    for second in 0..1_280 {
        let sequence = window.issue(T0 + second).expect("within the rate");
        assert_eq!(sequence, base.wrapping_add(second as u64));
        assert_eq!(window.first_seen(Lane::Click, sequence), Seen::First);
        issued.push(sequence);
    }
    assert!(issued.contains(&u64::MAX) && issued.contains(&0));
    let last = issued.len() - 1;
    for (idx, sequence) in issued.iter().enumerate() {
        let seen = window.first_seen(Lane::Click, *sequence);
        if last - idx <= HOLD_S as usize {
            assert_eq!(seen, Seen::Repeat, "live {idx}");
        } else {
            assert_ne!(seen, Seen::First, "{idx} counted twice");
        }
    }
}

#[test]
fn a_clock_going_back_keeps_sequences_live() {
    let mut window = small_window(0);
    for _ in 0..128 {
        window.issue(T0).expect("room");
    }
    // The wall clock steps back an hour: the window's own clock does not, so the bids of T0
    // stay live until T0 + hold by the latest reading.
    assert_eq!(window.room(T0 - 3_600), 0);
    assert_eq!(window.room(T0 + HOLD_S), 0);
    assert_eq!(window.room(T0 + HOLD_S + 1), 128);
    assert_eq!(window.room(T0 - 3_600), 128, "what is dead stays dead");
}

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

#[test]
fn random_schedules_never_count_twice_and_always_judge_live_tokens() {
    let seed = std::env::var("TRACKING_WINDOW_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0x5eed_d0d0_u64);
    println!("seed {seed} (TRACKING_WINDOW_SEED={seed} replays)");
    let mut rng = SplitMix64(seed);
    for round in 0..20 {
        let rate = 1 + rng.below(4);
        let hold_s = 1 + rng.below(300) as i64;
        let size = WindowSize::for_rate(rate, hold_s).expect("valid");
        let base = rng.next();
        let mut window = EventWindow::new(size, hold_s, base);
        // (sequence, issue time by the window's clock) of every bid, and every event counted.
        let mut issued: Vec<(u64, i64)> = Vec::new();
        let mut counted: HashSet<(usize, u64)> = HashSet::new();
        let (mut now, mut window_now) = (T0, i64::MIN);
        for step in 0..4_000 {
            let context = format!("seed {seed} round {round} step {step}");
            // Time mostly moves on, sometimes back a little.
            now += rng.below(4) as i64 - i64::from(rng.below(10) == 0) * 3;
            // A burst of bids, sometimes more than the rate allows.
            for _ in 0..rng.below(2 * rate + 1) {
                // The window's clock: the latest time it was given.
                window_now = window_now.max(now);
                match window.issue(now) {
                    Some(sequence) => issued.push((sequence, window_now)),
                    None => {
                        // Refused only when the window holds `capacity` bids that may be
                        // live (issued within the hold plus one interval of slack).
                        let horizon = window_now - hold_s - size.granularity_s;
                        let live = issued.iter().filter(|(_, t)| *t >= horizon).count() as u64;
                        assert!(live >= size.capacity, "{context}: refused with {live} live");
                    }
                }
            }
            // Events of random bids, recent or old, and of sequences never issued.
            for _ in 0..rng.below(6) {
                let lane = Lane::ALL[rng.below(4) as usize];
                let (sequence, issued_s) = match issued.len() {
                    0 => (rng.next(), None),
                    len if rng.below(20) > 0 => {
                        let back = rng.below(len as u64).min(rng.below(3 * size.capacity));
                        let (sequence, at) = issued[len - 1 - back as usize];
                        (sequence, Some(at))
                    }
                    _ => (rng.next(), None),
                };
                let seen = window.first_seen(lane, sequence);
                let key = (lane.idx(), sequence);
                match seen {
                    Seen::First => assert!(counted.insert(key), "{context}: counted twice"),
                    Seen::Repeat => assert!(counted.contains(&key), "{context}: repeat of nothing"),
                    Seen::OutOfReach => {
                        if let Some(at) = issued_s {
                            assert!(
                                window_now - at > hold_s,
                                "{context}: live token out of reach"
                            );
                        }
                    }
                }
            }
        }
    }
}
