//! The per-backend write cost: a smoothed controller fed with the time each
//! upload took per byte, in the spirit of Backrunner's PID pain.
//!
//! The "error" of the controller is the measured cost of one upload in
//! nanoseconds per byte (the ideal is zero). The pain it outputs is a
//! proportional term plus a leaky integral (an exponentially weighted mean of
//! past errors), so one slow upload moves the pain at once but only the
//! sustained cost keeps it up. Between updates the pain halves every
//! [`COST_HALF_LIFE`], so a backend that was penalised once gets tried again.

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

/// Weight of the last measurement in the pain.
pub const KP: f64 = 0.3;
/// Weight of the integral (the smoothed history) in the pain.
pub const KI: f64 = 0.7;
/// How much of the integral survives one update; `1 - INTEGRAL_DECAY` is the
/// weight a new measurement gets in it.
pub const INTEGRAL_DECAY: f64 = 0.8;
/// Bodies smaller than this count as this many bytes, so the fixed cost of
/// one request does not turn into an absurd per-byte cost for tiny objects.
pub const MIN_COST_BYTES: u64 = 1024;
/// Time for an idle backend's pain to halve.
pub const COST_HALF_LIFE: Duration = Duration::from_secs(30);

/// The cost of one upload in nanoseconds per byte.
pub fn cost_per_byte(elapsed: Duration, bytes: u64) -> f64 {
    elapsed.as_nanos() as f64 / bytes.max(MIN_COST_BYTES) as f64
}

/// Controller state of one backend (shown in `/stat/` as `PID`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct WriteCost {
    /// The last measured cost (ns/byte, or the failure penalty).
    #[serde(rename = "Error")]
    pub error: f64,
    /// The smoothed history of costs.
    #[serde(rename = "IntegralError")]
    pub integral: f64,
    /// Pain right after the last update.
    #[serde(rename = "Pain")]
    pub pain: f64,
    /// Updates so far.
    #[serde(rename = "Updates")]
    pub updates: u64,
    /// When the last update happened (wall clock), for `/stat/`'s `PID.ErrorTime`.
    #[serde(skip)]
    pub error_time: Option<SystemTime>,
    #[serde(skip)]
    updated: Option<Instant>,
}

impl WriteCost {
    /// Feeds one measurement taken at `now`.
    pub fn update(&mut self, error: f64, now: Instant) {
        let integral = if self.updates == 0 {
            error
        } else {
            INTEGRAL_DECAY * self.decayed(self.integral, now) + (1.0 - INTEGRAL_DECAY) * error
        };
        self.error = error;
        self.integral = integral;
        self.pain = KP * error + KI * integral;
        self.updates += 1;
        self.updated = Some(now);
        self.error_time = Some(SystemTime::now());
    }

    /// The pain at `now`: the last pain, halved every [`COST_HALF_LIFE`] since.
    pub fn pain_at(&self, now: Instant) -> f64 {
        self.decayed(self.pain, now)
    }

    fn decayed(&self, v: f64, now: Instant) -> f64 {
        match self.updated {
            Some(t) => {
                let idle = now.saturating_duration_since(t).as_secs_f64();
                v * 0.5f64.powf(idle / COST_HALF_LIFE.as_secs_f64())
            }
            None => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn cost_is_per_byte_with_a_floor() {
        assert_eq!(cost_per_byte(Duration::from_millis(2), 2048), 976.5625);
        assert_eq!(cost_per_byte(Duration::from_millis(1), 10), 976.5625);
    }

    #[test]
    fn controller_follows_fixed_inputs() {
        let t = Instant::now();
        let mut c = WriteCost::default();
        c.update(1000.0, t);
        assert!(close(c.pain, 1000.0));
        c.update(3000.0, t);
        // integral = 0.8*1000 + 0.2*3000 = 1400; pain = 0.3*3000 + 0.7*1400 = 1880
        assert!(close(c.integral, 1400.0));
        assert!(close(c.pain, 1880.0));
        c.update(1000.0, t);
        // integral = 0.8*1400 + 0.2*1000 = 1320; pain = 300 + 924 = 1224
        assert!(close(c.pain, 1224.0));
        // A steady cost converges to itself.
        for _ in 0..200 {
            c.update(500.0, t);
        }
        assert!(close(c.pain, 500.0));
    }

    #[test]
    fn pain_halves_when_idle() {
        let t = Instant::now();
        let mut c = WriteCost::default();
        c.update(800.0, t);
        assert!(close(c.pain_at(t + COST_HALF_LIFE), 400.0));
        assert!(close(c.pain_at(t + COST_HALF_LIFE * 2), 200.0));
        // The integral decays too before it takes the next measurement.
        c.update(800.0, t + COST_HALF_LIFE);
        assert!(close(c.integral, 0.8 * 400.0 + 0.2 * 800.0));
    }
}
