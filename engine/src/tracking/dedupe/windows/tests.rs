//! A shard's windows across restarts: events go to the window that signed their bid, earlier
//! runs' windows die with their last token, and too many of them stop the start.

use super::*;
use crate::tracking::Lane;

const T0: i64 = 1_700_000_000;
const HOLD_S: i64 = 120;

fn window(base: u64) -> EventWindow {
    EventWindow::new(
        WindowSize::for_rate(2, HOLD_S).expect("valid"),
        HOLD_S,
        base,
    )
}

/// A run that signed `n` bids at T0 from `base`, one of them clicked.
fn earlier_run(base: u64, n: u64) -> WindowsExport {
    let mut windows = EventWindows::new(window(base));
    for _ in 0..n {
        windows.issue(T0).expect("room");
    }
    assert_eq!(windows.first_seen(Lane::Click, base), Seen::First);
    windows.export()
}

#[test]
fn events_are_judged_by_the_window_that_signed_the_bid() {
    let mut windows = EventWindows::new(window(1_000_000));
    windows.import_history(&earlier_run(10, 5)).expect("room");
    windows
        .import_history(&earlier_run(u64::MAX - 2, 5))
        .expect("room");
    assert_eq!(windows.history().len(), 2);
    let sequence = windows.issue(T0 + 1).expect("room");
    assert_eq!(sequence, 1_000_000);
    for (sequence, first) in [
        (1_000_000, Seen::First),
        (10, Seen::Repeat),
        (11, Seen::First),
    ] {
        assert_eq!(
            windows.first_seen(Lane::Click, sequence),
            first,
            "{sequence}"
        );
    }
    // Across u64::MAX, in the second earlier run.
    assert_eq!(windows.first_seen(Lane::Click, u64::MAX - 2), Seen::Repeat);
    assert_eq!(windows.first_seen(Lane::Click, 1), Seen::First);
    assert_eq!(windows.first_seen(Lane::Click, 1), Seen::Repeat);
    // Signed by nobody here.
    for sequence in [9, 15, 2, 999_999, 1_000_001] {
        assert_eq!(
            windows.first_seen(Lane::Win, sequence),
            Seen::OutOfReach,
            "{sequence}"
        );
    }
}

#[test]
fn earlier_windows_are_dropped_when_their_last_token_expires() {
    let mut windows = EventWindows::new(window(1_000_000));
    windows.import_history(&earlier_run(10, 5)).expect("room");
    let with_history = windows.memory_bytes();
    windows.expire(T0 + HOLD_S);
    assert_eq!(
        windows.history().len(),
        1,
        "a token of T0 verifies until T0 + hold"
    );
    assert_eq!(windows.first_seen(Lane::Win, 12), Seen::First);
    windows.expire(T0 + HOLD_S + 1);
    assert!(windows.history().is_empty());
    assert!(windows.memory_bytes() < with_history);
    assert_eq!(windows.first_seen(Lane::Win, 13), Seen::OutOfReach);
    // A dead window is not exported, nor imported again.
    let mut other = EventWindows::new(window(7));
    other.import_history(&earlier_run(10, 5)).expect("room");
    other.expire(T0 + HOLD_S + 1);
    assert!(other.export().history.is_empty());
}

#[test]
fn too_many_earlier_windows_stop_the_start() {
    let mut windows = EventWindows::new(window(1 << 40));
    let run = earlier_run(0, 1);
    let mut many = WindowsExport::default();
    for k in 0..HISTORY_WINDOWS_MAX as u64 {
        let mut export = run.current.clone().expect("current");
        export.base = k << 32;
        many.history.push(export);
    }
    windows.import_history(&many).expect("exactly the most");
    let error = windows.import_history(&run).expect_err("one more");
    assert_eq!(
        error,
        WindowsImportError::TooMany {
            count: HISTORY_WINDOWS_MAX + 1,
            max: HISTORY_WINDOWS_MAX
        }
    );
    assert!(error.to_string().contains("at most 64"), "{error}");
    assert_eq!(
        windows.history().len(),
        HISTORY_WINDOWS_MAX,
        "nothing added"
    );
}

#[test]
fn a_resumed_run_continues_its_own_window() {
    let mut run = EventWindows::new(window(500));
    run.import_history(&earlier_run(10, 3)).expect("room");
    run.issue(T0).expect("room");
    let export = run.export();
    let size = WindowSize::for_rate(2, HOLD_S).expect("valid");
    let mut resumed = EventWindows::resume(size, HOLD_S, &export).expect("resumes");
    assert_eq!(resumed.issue_recovered(501, T0 + 1), Ok(()));
    assert_eq!(resumed.current().n_issued(), 2);
    assert_eq!(resumed.history().len(), 1);
    assert_eq!(resumed.first_seen(Lane::Win, 501), Seen::First);
    assert_eq!(resumed.first_seen(Lane::Click, 10), Seen::Repeat);
    let merged = WindowsExport {
        current: None,
        history: export.history.clone(),
    };
    assert_eq!(
        EventWindows::resume(size, HOLD_S, &merged).err(),
        Some(WindowsImportError::NoCurrent)
    );
}
