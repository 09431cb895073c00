//! A shard's event windows across restarts: the window of this run, which signs the bids, and
//! the windows of earlier runs restored from the checkpoint, which only judge the events of
//! the tokens those runs signed until the last of them expires.
//!
//! Every run starts its sequences at a new random base, so a sequence belongs to at most one
//! window (but for a chance of `capacity / 2^64` per pair): an event is judged by the window
//! whose range holds its sequence, and by none (out of reach) when no window does. The number
//! of earlier windows is bounded ([`HISTORY_WINDOWS_MAX`]); a restart that would need more
//! refuses to start rather than forget a window whose tokens may still be accepted.

use super::restore::{IssueRecoveredError, RestoreError, WindowExport};
use super::{EventKind, EventWindow, Lane, Seen, Verdict, WindowSize, GROUP_SEQUENCES};

/// Most windows of earlier runs a shard keeps. A window lives a hold (the token TTL plus the
/// skew, an hour by default) after its run's last bid, so this many means as many restarts
/// within one hold, or old shards folded into fewer new ones: a crash loop, which should stop
/// and be looked at rather than grow the memory with each turn. Each window holds only the
/// bits of its live tokens.
pub const HISTORY_WINDOWS_MAX: usize = 64;

/// The windows of a shard as plain data: this run's (absent in a state merged for a new run,
/// where every window is an earlier run's), and the earlier runs' that still hold a live token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowsExport {
    pub current: Option<WindowExport>,
    pub history: Vec<WindowExport>,
}

impl WindowsExport {
    /// Every window, this run's first.
    pub fn iter(&self) -> impl Iterator<Item = &WindowExport> {
        self.current.iter().chain(&self.history)
    }
}

/// Why windows could not be restored: the start must stop with this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowsImportError {
    #[error(
        "{count} event windows of earlier runs hold live tokens, at most {max} are kept: too \
         many restarts within a token's lifetime; wait for the tokens to expire (the token TTL) \
         or start with the previous shard count"
    )]
    TooMany { count: usize, max: usize },
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error("the checkpoint has no current event window to resume")]
    NoCurrent,
}

/// This run's window and the earlier runs' still live. See the module doc.
#[derive(Debug)]
pub struct EventWindows {
    current: EventWindow,
    history: Vec<EventWindow>,
}

impl EventWindows {
    /// This run's window, no earlier ones.
    pub fn new(current: EventWindow) -> EventWindows {
        EventWindows {
            current,
            history: Vec::new(),
        }
    }

    /// The windows of an earlier run, to replay its log on: the export's current window
    /// becomes the current one again (restored at `size`, so replayed bids have room), the
    /// others earlier runs'.
    pub fn resume(
        size: WindowSize,
        hold_s: i64,
        export: &WindowsExport,
    ) -> Result<EventWindows, WindowsImportError> {
        let current = export
            .current
            .as_ref()
            .ok_or(WindowsImportError::NoCurrent)?;
        let mut windows = EventWindows::new(EventWindow::restore(size, hold_s, current)?);
        windows.add_history(export.history.iter())?;
        Ok(windows)
    }

    /// Adds every window of the export that holds a sequence (its current one too) as a window
    /// of an earlier run, holding tokens for this run's hold. Nothing is added on an error.
    pub fn import_history(&mut self, export: &WindowsExport) -> Result<(), WindowsImportError> {
        self.add_history(export.iter())
    }

    fn add_history<'a>(
        &mut self,
        exports: impl Iterator<Item = &'a WindowExport>,
    ) -> Result<(), WindowsImportError> {
        let exports: Vec<&WindowExport> = exports.filter(|window| window.has_sequences()).collect();
        let count = self.history.len() + exports.len();
        if count > HISTORY_WINDOWS_MAX {
            return Err(WindowsImportError::TooMany {
                count,
                max: HISTORY_WINDOWS_MAX,
            });
        }
        let hold_s = self.current.hold_s;
        let restored = exports
            .into_iter()
            .map(|window| {
                // The smallest window that holds the export: it never issues again.
                let size = WindowSize {
                    capacity: GROUP_SEQUENCES,
                    granularity_s: window.granularity_s,
                };
                EventWindow::restore(size, hold_s, window)
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.history.extend(restored);
        Ok(())
    }

    /// The windows as plain data: this run's, and the earlier runs' that still hold a live
    /// token by their clocks.
    pub fn export(&self) -> WindowsExport {
        WindowsExport {
            current: Some(self.current.export()),
            history: self
                .history
                .iter()
                .map(EventWindow::export)
                .filter(WindowExport::has_sequences)
                .collect(),
        }
    }

    pub fn current(&self) -> &EventWindow {
        &self.current
    }

    pub fn current_mut(&mut self) -> &mut EventWindow {
        &mut self.current
    }

    /// The earlier runs' windows.
    pub fn history(&self) -> &[EventWindow] {
        &self.history
    }

    /// [`EventWindow::room`] of this run's window.
    pub fn room(&mut self, now_unix_s: i64) -> u64 {
        self.current.room(now_unix_s)
    }

    /// [`EventWindow::issue`] on this run's window.
    pub fn issue(&mut self, now_unix_s: i64) -> Option<u64> {
        self.current.issue(now_unix_s)
    }

    /// [`EventWindow::refuse`] on this run's window.
    pub fn refuse(&mut self, n: u64) {
        self.current.refuse(n);
    }

    /// [`EventWindow::issue_recovered`] on this run's window.
    pub fn issue_recovered(
        &mut self,
        sequence: u64,
        at_unix_s: i64,
    ) -> Result<(), IssueRecoveredError> {
        self.current.issue_recovered(sequence, at_unix_s)
    }

    /// Records event `lane` of the bid with `sequence` in the window that holds it.
    pub fn first_seen(&mut self, lane: Lane, sequence: u64) -> Seen {
        if self.current.holds(sequence) {
            return self.current.first_seen(lane, sequence);
        }
        match self
            .history
            .iter_mut()
            .find(|window| window.holds(sequence))
        {
            Some(window) => window.first_seen(lane, sequence),
            None => Seen::OutOfReach,
        }
    }

    /// [`EventWindow::judge`] on the window whose range holds `sequence` (an earlier run's
    /// tokens are judged by that run's window); `OutOfReach` for both when none does.
    pub fn judge(&mut self, kind: EventKind, spend_lane: Lane, sequence: u64) -> Verdict {
        let window = if self.current.holds(sequence) {
            Some(&mut self.current)
        } else {
            self.history
                .iter_mut()
                .find(|window| window.holds(sequence))
        };
        match window {
            Some(window) => window.judge(kind, spend_lane, sequence),
            None => Verdict {
                own: Seen::OutOfReach,
                impression: Seen::OutOfReach,
            },
        }
    }

    /// Drops the earlier runs' windows whose tokens can no longer be accepted at `now_unix_s`.
    pub fn expire(&mut self, now_unix_s: i64) {
        self.history
            .retain_mut(|window| window.has_live(now_unix_s));
    }

    /// Bytes of all windows.
    pub fn memory_bytes(&self) -> u64 {
        self.history
            .iter()
            .map(EventWindow::memory_bytes)
            .sum::<u64>()
            + self.current.memory_bytes()
    }

    /// Bids this run refused for lack of room.
    pub fn n_refused(&self) -> u64 {
        self.current.n_refused()
    }
}

#[cfg(test)]
mod tests;
