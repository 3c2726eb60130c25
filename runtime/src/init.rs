//! Weight initialization: Glorot (Xavier) uniform for sigmoid/tanh-like layers, He
//! (Kaiming) uniform for relu-like layers, both as `torch.nn.init` defines them, and
//! PyTorch's own default for `Linear`/`Conv*d` ([`Init::TorchDefault`]). With Glorot and
//! He, biases start at zero; with the PyTorch default they are drawn like the weights.

use crate::rng::symmetric;
use crate::scalar::Scalar;
use rand_core::Rng;

/// How a layer's weights are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// `U(−a, a)` with `a = gain·√(6 / (fan_in + fan_out))` (`xavier_uniform_`).
    GlorotUniform,
    /// `U(−a, a)` with `a = √2·√(3 / fan_in)` (`kaiming_uniform_`, relu gain).
    HeUniform,
    /// `U(−a, a)` with `a = 1/√fan_in`, for weights and biases alike: what
    /// `torch.nn.Linear` and `torch.nn.Conv*d` do in `reset_parameters`
    /// (`kaiming_uniform_(a = √5)` for the weight, `U(±1/√fan_in)` for the bias).
    TorchDefault,
}

impl Init {
    /// The bound `a` of the uniform distribution for a layer of the given fans.
    #[must_use]
    pub fn bound(self, fan_in: usize, fan_out: usize) -> f64 {
        match self {
            Init::GlorotUniform => libm::sqrt(6.0 / (fan_in + fan_out).max(1) as f64),
            Init::HeUniform => libm::sqrt(6.0 / fan_in.max(1) as f64),
            Init::TorchDefault => libm::sqrt(1.0 / fan_in.max(1) as f64),
        }
    }

    /// `true` if the bias is drawn too ([`Init::TorchDefault`]); otherwise it is zero.
    #[must_use]
    pub const fn draws_bias(self) -> bool {
        matches!(self, Init::TorchDefault)
    }

    /// Fills a bias: draws from the same bound as the weights for
    /// [`Init::TorchDefault`], zeros otherwise. Called right after [`fill`](Self::fill)
    /// for the same layer.
    pub fn fill_bias<T: Scalar, R: Rng + ?Sized>(self, bias: &mut [T], fan_in: usize, fan_out: usize, rng: &mut R) {
        if self.draws_bias() {
            self.fill(bias, fan_in, fan_out, rng);
        } else {
            bias.fill(T::ZERO);
        }
    }

    /// Fills `weights` with draws for a layer of the given fans.
    pub fn fill<T: Scalar, R: Rng + ?Sized>(self, weights: &mut [T], fan_in: usize, fan_out: usize, rng: &mut R) {
        let a = self.bound(fan_in, fan_out);
        for w in weights {
            *w = T::from_f64(symmetric(rng, a));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn draws_stay_within_bound_and_spread() {
        let mut rng = SplitMix64::new(1);
        let mut w = [0.0_f64; 4000];
        Init::HeUniform.fill(&mut w, 64, 32, &mut rng);
        let a = Init::HeUniform.bound(64, 32);
        assert!(w.iter().all(|v| v.abs() <= a));
        let var = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
        // Var of U(−a, a) is a²/3 = 2 / fan_in.
        assert!((var - 2.0 / 64.0).abs() < 0.1 * 2.0 / 64.0, "var {var}");
    }
}
