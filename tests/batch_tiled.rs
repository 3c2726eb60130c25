//! The tiled mini-batch gradient (networks with a layer emitted as loops process a batch
//! in tiles of 16 samples with matrix–matrix kernels) against the per-sample passes: the
//! mean of `gradient` over the batch, and the mean loss.
//!
//! Batch sizes cover an empty batch, partial tiles, exactly one tile and several tiles
//! with a partial last one. The two paths differ only in summation order, so the
//! tolerance is norm-wise: `|a − b| ≤ tol · max(‖g‖∞, |a|)` per entry, with `tol` 1e-12
//! in f64 and 1e-5 in f32 (sums of a few hundred products, each rounded to 24 bits).

use rand_core::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;
use stackprop::prelude::*;

fn uniform(rng: &mut impl Rng, a: f64) -> f64 {
    ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * a
}

/// Compares `batch_gradient` with the mean of per-sample gradients for several batch
/// sizes; `target` draws one target.
fn check<N, G, const I: usize, const P: usize>(
    name: &str,
    tol: f64,
    mut target: impl FnMut(&mut Xoshiro256PlusPlus) -> G,
) where
    N: Network<Input = [<N as Network>::Scalar; I], Params = [<N as Network>::Scalar; P]>,
    G: Target<N::Output>,
{
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xba7c4 ^ name.len() as u64);
    let params: [N::Scalar; P] = core::array::from_fn(|_| N::Scalar::from_f64(uniform(&mut rng, 0.8)));
    let net = N::from_params(params);
    for n in [0, 1, 5, 16, 17, 40] {
        let xs: Vec<[N::Scalar; I]> =
            (0..n).map(|_| core::array::from_fn(|_| N::Scalar::from_f64(uniform(&mut rng, 1.5)))).collect();
        let ts: Vec<G> = (0..n).map(|_| target(&mut rng)).collect();

        let mut tiled = Box::new([N::Scalar::from_f64(f64::NAN); P]);
        let loss = net.batch_gradient(&xs, &ts, &mut tiled).to_f64();

        let mut want = Box::new([N::Scalar::ZERO; P]);
        for (x, t) in xs.iter().zip(&ts) {
            net.gradient(x, t, &mut want);
        }
        let scale = if n == 0 { 0.0 } else { 1.0 / n as f64 };
        let want: Vec<f64> = want.iter().map(|g| g.to_f64() * scale).collect();
        let want_loss = net.mean_loss(&xs, &ts).to_f64();
        let norm = want.iter().fold(0.0_f64, |m, g| m.max(g.abs()));
        assert!(
            (loss - want_loss).abs() <= tol * want_loss.abs().max(1e-12),
            "{name}, batch of {n}: loss {loss} vs {want_loss}"
        );
        for (k, (&a, b)) in want.iter().zip(tiled.iter()).enumerate() {
            let b = b.to_f64();
            assert!((a - b).abs() <= tol * norm.max(a.abs()), "{name}, batch of {n}: gradient [{k}] {b} vs {a}");
        }
    }
}

/// A flattened input, relu and a bias-free silu layer, softmax with cross-entropy on
/// class indices.
#[network(input = [2, 3, 4], loss = cross_entropy, scalar = f64)]
struct Classifier64 {
    flat: Flatten,
    hidden: Dense<20, Relu>,
    mid: Dense<7, Silu, { bias = false }>,
    output: Dense<5, Softmax>,
}

#[network(input = [2, 3, 4], loss = cross_entropy)]
struct Classifier32 {
    flat: Flatten,
    hidden: Dense<20, Relu>,
    mid: Dense<7, Silu, { bias = false }>,
    output: Dense<5, Softmax>,
}

#[test]
fn classifier_with_class_targets() {
    let class = |rng: &mut Xoshiro256PlusPlus| Class((rng.next_u64() % 5) as usize);
    check::<Classifier64, Class, 24, { Classifier64::PARAMS }>("classifier f64", 1e-12, class);
    check::<Classifier32, Class, 24, { Classifier32::PARAMS }>("classifier f32", 1e-5, class);
}

/// A custom activation between a looped and a straight-line layer, sigmoid output, mse.
#[network(input = 40, loss = mse, scalar = f64)]
#[activation(Soft = x / (1.0 + x.abs()))]
struct Regressor {
    wide: Dense<33, Soft>,
    narrow: Dense<3, Gelu, { unroll = true }>,
    output: Dense<2, Sigmoid>,
}

#[test]
fn regressor_with_a_custom_activation_and_mixed_emission() {
    let real = |rng: &mut Xoshiro256PlusPlus| [uniform(rng, 1.0), uniform(rng, 1.0)];
    check::<Regressor, [f64; 2], 40, { Regressor::PARAMS }>("regressor", 1e-12, real);
}

/// Binary cross-entropy on a sigmoid output, tanh and elu hidden layers, no output bias.
#[network(input = 17, loss = binary_cross_entropy, scalar = f64, unroll = false)]
struct Binary {
    first: Dense<9, Tanh>,
    second: Dense<6, Elu>,
    output: Dense<3, Sigmoid, { bias = false }>,
}

#[test]
fn binary_cross_entropy_network() {
    let unit = |rng: &mut Xoshiro256PlusPlus| core::array::from_fn(|_| 0.5 + uniform(rng, 0.5));
    check::<Binary, [f64; 3], 17, { Binary::PARAMS }>("binary", 1e-12, unit);
}

/// Huber loss on an identity output after a softplus layer.
#[network(input = 70, loss = huber(0.5), scalar = f64)]
struct Robust {
    hidden: Dense<12, Softplus>,
    output: Dense<4, Identity>,
}

#[test]
fn huber_network() {
    let real = |rng: &mut Xoshiro256PlusPlus| core::array::from_fn(|_| uniform(rng, 2.0));
    check::<Robust, [f64; 4], 70, { Robust::PARAMS }>("huber", 1e-12, real);
}
