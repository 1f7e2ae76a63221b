//! The embedded chain's clock. Programs read time from the Clock sysvar, and
//! program-test's bank never moves it by itself; this module decides where
//! the clock should be (wall clock or manual, plus whatever `advance` added)
//! and [`sync_clock`] warps the bank's slot and writes the sysvar to match.
//! Slots follow time at [`SLOT_MS`] per slot, and neither ever goes back.

use std::sync::Mutex;
use std::time::Instant;

use solana_program_test::ProgramTestContext;
use solana_sdk::clock::Clock;
use tokio::sync::RwLock;

use super::banks_err;
use crate::chain::ChainClock;
use crate::error::{ClientError, Result};

/// Slot duration used to turn elapsed time into slots, as on mainnet.
pub const SLOT_MS: u64 = 400;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// Time follows the wall clock (plus any `advance` offset).
    RealTime,
    /// Time starts at `start_unix_timestamp` and moves only when told to.
    Manual { start_unix_timestamp: i64 },
}

pub(super) struct Time {
    mode: ClockMode,
    started: Instant,
    /// Seconds added by `advance`.
    offset: i64,
    /// What the Clock sysvar says now.
    pub(super) clock: ChainClock,
    base_slot: u64,
    base_unix: i64,
}

impl Time {
    /// A clock whose sysvar reads `genesis` now; the first sync moves it to
    /// the wall clock (real time) or to the manual start.
    pub(super) fn new(mode: ClockMode, genesis: ChainClock) -> Self {
        let base_unix = match mode {
            ClockMode::RealTime => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(genesis.unix_timestamp),
            ClockMode::Manual {
                start_unix_timestamp,
            } => start_unix_timestamp,
        };
        Time {
            mode,
            started: Instant::now(),
            offset: 0,
            clock: genesis,
            base_slot: genesis.slot,
            base_unix,
        }
    }

    /// Moves the target forward by `seconds` (never back).
    pub(super) fn advance(&mut self, seconds: i64) {
        self.offset += seconds.max(0);
    }

    /// Moves the target to `unix_timestamp` if that is ahead of it.
    pub(super) fn advance_to(&mut self, unix_timestamp: i64) {
        let now = self.target().unix_timestamp;
        self.offset += (unix_timestamp - now).max(0);
    }

    /// Where the clock should be now.
    pub(super) fn target(&self) -> ChainClock {
        let (elapsed_ms, elapsed_s) = match self.mode {
            ClockMode::RealTime => {
                let e = self.started.elapsed();
                (e.as_millis() as u64, e.as_secs() as i64)
            }
            ClockMode::Manual { .. } => (0, 0),
        };
        let unix_timestamp = self.base_unix + elapsed_s + self.offset;
        let time_slots = ((unix_timestamp - self.base_unix).max(0) as u64) * 1000 / SLOT_MS;
        let slot = (self.base_slot + (elapsed_ms / SLOT_MS)).max(self.base_slot + time_slots);
        ChainClock {
            slot: slot.max(self.clock.slot),
            unix_timestamp,
        }
    }
}

/// Brings the bank's slot and Clock sysvar to the target time.
pub(super) async fn sync_clock(
    ctx: &RwLock<ProgramTestContext>,
    time: &Mutex<Time>,
) -> Result<ChainClock> {
    let (target, current) = {
        let t = time.lock().unwrap();
        (t.target(), t.clock)
    };
    if target == current {
        return Ok(current);
    }
    let mut ctx = ctx.write().await;
    let mut clock: Clock = ctx.banks_client.get_sysvar().await.map_err(banks_err)?;
    if target.slot > clock.slot {
        ctx.warp_to_slot(target.slot).map_err(|e| {
            ClientError::Invalid(format!("embedded chain could not advance: {e:?}"))
        })?;
        clock = ctx.banks_client.get_sysvar().await.map_err(banks_err)?;
    }
    clock.unix_timestamp = target.unix_timestamp;
    ctx.set_sysvar(&clock);
    let now = ChainClock {
        slot: clock.slot,
        unix_timestamp: clock.unix_timestamp,
    };
    time.lock().unwrap().clock = now;
    Ok(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENESIS: ChainClock = ChainClock {
        slot: 1,
        unix_timestamp: 0,
    };

    fn manual(start: i64) -> Time {
        Time::new(
            ClockMode::Manual {
                start_unix_timestamp: start,
            },
            GENESIS,
        )
    }

    #[test]
    fn a_manual_clock_moves_only_when_told_and_slots_follow_time() {
        let mut t = manual(1_000);
        assert_eq!(t.target().unix_timestamp, 1_000);
        assert_eq!(t.target(), t.target(), "no wall-clock drift");
        t.advance(2);
        let c = t.target();
        assert_eq!(c.unix_timestamp, 1_002);
        assert_eq!(c.slot, GENESIS.slot + 2 * 1000 / SLOT_MS);
    }

    #[test]
    fn the_clock_never_goes_back() {
        let mut t = manual(1_000);
        t.advance(-50);
        assert_eq!(t.target().unix_timestamp, 1_000);
        t.advance_to(1_010);
        t.advance_to(1_005);
        assert_eq!(t.target().unix_timestamp, 1_010);
        // A slot the bank already reached stays, whatever the time says.
        t.clock.slot = 10_000;
        assert_eq!(t.target().slot, 10_000);
    }
}
