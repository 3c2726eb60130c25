//! The dropout mask rule, shared by generated networks and the dynamic network, so both
//! draw the same masks from the same state.
//!
//! A network with dropout layers carries a 64-bit *dropout state*. In a training forward
//! of sample `i` of a batch (`i = 0` for a single sample), dropout layer `l` (its index
//! among all the network's layers, from 0) draws its mask from
//! `SplitMix64::new(key(state, i, l))`: unit `j` takes the `j`-th draw `uⱼ` (53 bits,
//! uniform in `[0, 1)`, as [`unit_f64`]) and is kept if `uⱼ ≥ p`.
//! The layer multiplies unit `j` by `mⱼ = [uⱼ ≥ p] / (1 − p)` (inverted dropout, so the
//! expected output equals the input), and backward multiplies `δⱼ` by the same `mⱼ`.
//! Inference (`forward`) is the identity.
//!
//! Training methods that take `&mut self` move the state on by [`next_state`] after each
//! step, so the next step draws new masks; methods that take `&self` read it and leave it,
//! so a loss and its gradient (and finite differences of that loss) see one mask. The
//! state starts from the network's seed (`seeded`, `init_with`), or is set by
//! `set_dropout_seed`; runs from the same state are identical.
//!
//! Entry points: [`key`], [`mask`], [`next_state`].

use crate::rng::{SplitMix64, unit_f64};
use crate::scalar::Scalar;

/// SplitMix64's output function: a bijective mix of 64 bits.
#[inline]
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of the mask of dropout layer `layer` for sample `sample` under `state`.
#[inline]
#[must_use]
pub const fn key(state: u64, sample: u64, layer: u64) -> u64 {
    mix(mix(state ^ mix(sample.wrapping_add(0x9E37_79B9_7F4A_7C15))) ^ layer.wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// The state after one training step: the next output of SplitMix64 from `state`.
#[inline]
#[must_use]
pub const fn next_state(state: u64) -> u64 {
    mix(state.wrapping_add(0x9E37_79B9_7F4A_7C15))
}

/// Fills `mask` with `mⱼ = [uⱼ ≥ p] / (1 − p)`, `uⱼ` the `j`-th uniform draw of
/// `SplitMix64::new(key)`.
#[inline]
pub fn mask<T: Scalar>(key: u64, p: f64, mask: &mut [T]) {
    let mut rng = SplitMix64::new(key);
    let keep = T::from_f64(1.0 / (1.0 - p));
    for m in mask {
        *m = if unit_f64(&mut rng) >= p { keep } else { T::ZERO };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_about_one_minus_p_and_scales_the_kept() {
        let mut m = [0.0f64; 10_000];
        mask(key(1, 2, 3), 0.3, &mut m);
        let kept = m.iter().filter(|&&v| v != 0.0).count();
        // Binomial(10 000, 0.7): standard deviation ≈ 46.
        assert!((kept as i64 - 7000).abs() < 250, "{kept} kept");
        assert!(m.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-15));
        let mut other = [0.0f64; 10_000];
        mask(key(1, 3, 3), 0.3, &mut other);
        assert_ne!(m, other);
    }
}
