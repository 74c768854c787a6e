//! The one clock abstraction of the export path, and kernel timestamps (ns
//! on the clock `flow_config.clock` names) to absolute time.

use std::time::Instant;

/// Every clock the export path reads: the flow exporter (kernel timestamps to
/// epoch), the exporter (export time, SysUpTime anchor, timers) and the
/// daemon's schedule. Injected so that each can be unit-tested; the
/// system's is `SystemClock` in `sys.rs`.
pub trait Clock {
    /// Now on the clock of the flow timestamps (`enum flow_clock`):
    /// CLOCK_MONOTONIC for the coarse clock, CLOCK_BOOTTIME for the precise.
    fn kernel_ns(&self) -> u64;
    /// CLOCK_REALTIME, nanoseconds since the Unix epoch.
    fn real_ns(&self) -> u64;
    /// The monotonic clock of timers and deadlines.
    fn now(&self) -> Instant;

    /// CLOCK_REALTIME in milliseconds since the Unix epoch.
    fn epoch_ms(&self) -> u64 {
        self.real_ns() / 1_000_000
    }
}

/// `realtime - kernel clock`, sampled once per interval: wall-clock steps
/// (NTP) take effect at the next interval, never in the middle of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBase {
    boot_epoch_ns: i128,
}

impl TimeBase {
    pub fn sample(clock: &dyn Clock) -> Self {
        let real = i128::from(clock.real_ns());
        let kernel = i128::from(clock.kernel_ns());
        TimeBase {
            boot_epoch_ns: real - kernel,
        }
    }

    /// Milliseconds since the epoch of a kernel timestamp.
    pub fn epoch_ms(&self, kernel_ns: u64) -> u64 {
        let ns = self.boot_epoch_ns + i128::from(kernel_ns);
        u64::try_from(ns.max(0) / 1_000_000).unwrap_or(u64::MAX)
    }

    /// The moment the kernel clock read 0, ms since the epoch
    /// (`systemInitTimeMilliseconds`): the boot, moved forward by the time
    /// spent suspended when the clock is CLOCK_MONOTONIC.
    pub fn boot_epoch_ms(&self) -> u64 {
        self.epoch_ms(0)
    }
}

#[cfg(test)]
pub mod fake {
    use std::cell::Cell;
    use std::time::{Duration, Instant};

    use super::Clock;

    /// A clock tests move by hand.
    pub struct FakeClock {
        pub boot: Cell<u64>,
        pub epoch_at_boot: u64,
        started: Instant,
    }

    impl FakeClock {
        pub fn new(epoch_at_boot: u64) -> Self {
            FakeClock {
                boot: Cell::new(0),
                epoch_at_boot,
                started: Instant::now(),
            }
        }

        pub fn advance_ns(&self, ns: u64) {
            self.boot.set(self.boot.get() + ns);
        }
    }

    impl Clock for FakeClock {
        fn kernel_ns(&self) -> u64 {
            self.boot.get()
        }

        fn real_ns(&self) -> u64 {
            self.epoch_at_boot + self.boot.get()
        }

        fn now(&self) -> Instant {
            self.started + Duration::from_nanos(self.boot.get())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeClock;
    use super::*;

    #[test]
    fn boot_timestamps_become_epoch_milliseconds() {
        let clock = FakeClock::new(1_700_000_000_000_000_000);
        clock.advance_ns(5_000_000_000);
        let tb = TimeBase::sample(&clock);
        assert_eq!(tb.epoch_ms(1_500_000_000), 1_700_000_001_500);
        assert_eq!(tb.boot_epoch_ms(), 1_700_000_000_000);
    }
}
