//! [`SplitMix64`]: the small seeded generator behind `Net::seeded(seed)`, and the
//! uniform sampling the initializers use. Any `rand_core::Rng` works in its place.

use rand_core::{Rng, TryRng};

/// SplitMix64 (Steele, Lea, Flood 2014): 64 bits of state, passes BigCrush, and is
/// enough to draw initial weights reproducibly. Not for cryptography.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator started from `seed`.
    #[inline]
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }
}

impl TryRng for SplitMix64 {
    type Error = core::convert::Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }

    #[inline]
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// A uniform sample from `[0, 1)` with 53 random bits.
#[inline]
#[must_use]
pub fn unit_f64<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform sample from `[-a, a)`.
#[inline]
#[must_use]
pub fn symmetric<R: Rng + ?Sized>(rng: &mut R, a: f64) -> f64 {
    (2.0 * unit_f64(rng) - 1.0) * a
}

/// A standard normal sample (Box–Muller).
#[must_use]
pub fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // 1 − u lies in (0, 1], so the logarithm is finite.
    let u = 1.0 - unit_f64(rng);
    let v = unit_f64(rng);
    libm::sqrt(-2.0 * libm::log(u)) * libm::cos(core::f64::consts::TAU * v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..100 {
            let x = unit_f64(&mut a);
            assert_eq!(x, unit_f64(&mut b));
            assert!((0.0..1.0).contains(&x));
        }
        let mean: f64 = (0..10_000).map(|_| symmetric(&mut a, 1.0)).sum::<f64>() / 10_000.0;
        assert!(mean.abs() < 0.03, "mean {mean}");
    }
}
