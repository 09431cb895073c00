//! The open-loop schedule: when each request of a run is due. Latency is measured from these
//! intended times, not from when a connection happened to be free, so a server that stalls
//! shows up in the tail instead of slowing the generator down (no coordinated omission).
//!
//! Request `i` is due `i / rate` seconds into the target's active time. With `--compare` the
//! targets take turns in fixed slices of wall time, and a target's active time only advances
//! during its own slices; [`Schedule::wall_offset_ns`] maps active time to wall time. Connection
//! `c` of `C` sends requests `c, c + C, c + 2C, ...`, so each connection runs its share of the
//! schedule and the rate does not depend on the number of connections.

const NANOS_PER_SECOND: f64 = 1e9;

/// How targets share wall time in `--compare` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slicing {
    /// Length of one slice of wall time.
    pub slice_ns: u64,
    /// Number of targets taking turns; each gets one slice in every `n_targets`.
    pub n_targets: u32,
    /// Which of the turns belongs to this target (0 runs first).
    pub phase: u32,
}

/// The intended send times of one target's requests, as offsets from the start of the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    rate_per_s: f64,
    active_ns: u64,
    slicing: Option<Slicing>,
}

impl Schedule {
    /// A schedule of `rate_per_s` requests per second for `active_ns` of active time.
    pub fn new(rate_per_s: f64, active_ns: u64, slicing: Option<Slicing>) -> Schedule {
        assert!(
            rate_per_s.is_finite() && rate_per_s > 0.0,
            "rate must be positive"
        );
        if let Some(slicing) = slicing {
            assert!(slicing.slice_ns > 0 && slicing.n_targets > 0);
            assert!(slicing.phase < slicing.n_targets);
        }
        Schedule {
            rate_per_s,
            active_ns,
            slicing,
        }
    }

    pub fn rate_per_s(&self) -> f64 {
        self.rate_per_s
    }

    /// The target's active time: the time its requests are spread over.
    pub fn active_ns(&self) -> u64 {
        self.active_ns
    }

    /// Number of requests due: every `i` whose active offset falls before the end.
    pub fn n_requests(&self) -> u64 {
        let exact = self.active_ns as f64 * self.rate_per_s / NANOS_PER_SECOND;
        let mut n = exact.ceil() as u64;
        // Float rounding can put the boundary one request off; settle it on the offsets.
        while n > 0 && self.active_offset_ns(n - 1) >= self.active_ns {
            n -= 1;
        }
        while self.active_offset_ns(n) < self.active_ns {
            n += 1;
        }
        n
    }

    /// Offset of request `request_idx` in the target's active time.
    pub fn active_offset_ns(&self, request_idx: u64) -> u64 {
        (request_idx as f64 * NANOS_PER_SECOND / self.rate_per_s) as u64
    }

    /// Offset of request `request_idx` from the start of the run, in wall time.
    pub fn wall_offset_ns(&self, request_idx: u64) -> u64 {
        self.active_to_wall_ns(self.active_offset_ns(request_idx))
    }

    /// Maps an offset in active time to wall time (the identity without slicing).
    pub fn active_to_wall_ns(&self, active_ns: u64) -> u64 {
        match self.slicing {
            None => active_ns,
            Some(slicing) => {
                let slice_idx = active_ns / slicing.slice_ns;
                let within_ns = active_ns % slicing.slice_ns;
                (slice_idx * u64::from(slicing.n_targets) + u64::from(slicing.phase))
                    * slicing.slice_ns
                    + within_ns
            }
        }
    }

    /// Wall offset at which the target's active time ends: the end of its last slice.
    pub fn wall_end_ns(&self) -> u64 {
        if self.active_ns == 0 {
            return 0;
        }
        self.active_to_wall_ns(self.active_ns - 1) + 1
    }
}

/// The share of a schedule that connection `connection_idx` of `n_connections` sends.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionShare {
    pub connection_idx: u64,
    pub n_connections: u64,
    pub n_requests: u64,
}

impl ConnectionShare {
    /// The request indices of this connection, in order.
    pub fn requests(&self) -> impl Iterator<Item = u64> {
        let step = self.n_connections as usize;
        (self.connection_idx..self.n_requests).step_by(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_counts_requests_before_end() {
        let check = |rate: f64, active_ns: u64, expect: u64| {
            let schedule = Schedule::new(rate, active_ns, None);
            assert_eq!(
                schedule.n_requests(),
                expect,
                "rate {rate} active {active_ns}"
            );
        };
        check(1000.0, 1_000_000_000, 1000);
        check(1000.0, 1_000_000_001, 1001);
        check(3.0, 1_000_000_000, 3);
        check(2000.0, 2_500_000_000, 5000);
        check(1.0, 0, 0);
    }

    #[test]
    fn slices_alternate_between_targets() {
        let slicing = |phase| {
            Some(Slicing {
                slice_ns: 100,
                n_targets: 2,
                phase,
            })
        };
        let a = Schedule::new(1e8, 300, slicing(0));
        let b = Schedule::new(1e8, 300, slicing(1));
        // 10 ns between requests: request 12 is 20 ns into the second active slice.
        assert_eq!(a.wall_offset_ns(12), 220);
        assert_eq!(b.wall_offset_ns(12), 320);
        assert_eq!(a.wall_offset_ns(0), 0);
        assert_eq!(b.wall_offset_ns(0), 100);
        assert_eq!(a.wall_end_ns(), 500);
        assert_eq!(b.wall_end_ns(), 600);
    }

    #[test]
    fn connections_split_the_schedule() {
        let share = ConnectionShare {
            connection_idx: 1,
            n_connections: 3,
            n_requests: 8,
        };
        assert_eq!(share.requests().collect::<Vec<_>>(), vec![1, 4, 7]);
    }
}
