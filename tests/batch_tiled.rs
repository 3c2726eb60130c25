//! The tiled mini-batch paths (networks with a layer emitted as loops process a batch in
//! tiles of samples with matrix–matrix kernels) against the per-sample passes: the mean
//! of `gradient` over the batch and the mean loss against `batch_gradient`, and
//! `forward` per sample against batched inference (`forward_batch`).
//!
//! Batch sizes cover an empty batch, partial tiles, exactly one tile and several tiles
//! with a partial last one. The two paths differ only in summation order, so the
//! tolerance is norm-wise: `|a − b| ≤ tol · max(‖g‖∞, |a|)` per entry (per sample's
//! output vector for inference), with `tol` 1e-12 in f64 and 1e-5 in f32 (sums of a few
//! hundred products, each rounded to 24 bits).

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

/// Compares `forward_batch` with `forward` per sample on `xs` for several batch sizes
/// (prefixes of `xs`), norm-wise per sample; a length mismatch panics.
fn check_forward<N: Network>(name: &str, net: &N, xs: &[N::Input], tol: f64) {
    let tile = stackprop::kernels::TILE;
    for n in [0, 1, 7, tile, tile + 1, 3 * tile + 5] {
        assert!(n <= xs.len(), "{name}: {n} samples wanted, {} given", xs.len());
        let xs = &xs[..n];
        let mut ys: Vec<N::Output> = (0..n).map(|_| N::Output::zeroed()).collect();
        for y in &mut ys {
            y.as_mut().fill(N::Scalar::from_f64(f64::NAN));
        }
        net.forward_batch(xs, &mut ys);
        for (s, (x, y)) in xs.iter().zip(&ys).enumerate() {
            let want = net.forward(x);
            let norm = want.as_ref().iter().fold(0.0_f64, |m, v| m.max(v.to_f64().abs()));
            for (k, (a, b)) in want.as_ref().iter().zip(y.as_ref()).enumerate() {
                let (a, b) = (a.to_f64(), b.to_f64());
                assert!(
                    (a - b).abs() <= tol * norm.max(a.abs()),
                    "{name}, batch of {n}: sample {s} output [{k}] {b} vs {a}"
                );
            }
        }
    }
    let short = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut ys = vec![N::Output::zeroed(); 1];
        net.forward_batch(&xs[..2], &mut ys);
    }));
    assert!(short.is_err(), "{name}: an output slice of the wrong length is refused");
}

/// Inputs in [-a, a] for batched inference.
fn inputs<T: Scalar, const I: usize>(rng: &mut Xoshiro256PlusPlus, n: usize, a: f64) -> Vec<[T; I]> {
    (0..n).map(|_| core::array::from_fn(|_| T::from_f64(uniform(rng, a)))).collect()
}

/// A seeded network on the heap with every parameter moved a little (biases too).
fn perturbed<N: Network>(seed: u64) -> Box<N> {
    let mut net: Box<N> = stackprop::boxed_seeded(seed);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    for p in net.params_mut().as_mut() {
        *p += N::Scalar::from_f64(uniform(&mut rng, 0.05));
    }
    net
}

/// Runs `f` on a thread with a 2 MiB stack, the default of spawned threads and tests.
fn on_2_mib_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(2 << 20).spawn(f).expect("thread spawns").join().expect("no panic");
}

/// The digits network: 64 relu → 32 → 10 softmax (hidden layer as loops, output
/// straight-line by default).
#[network(input = 64, loss = cross_entropy)]
struct Digits32 {
    hidden: Dense<32, Relu>,
    output: Dense<10, Softmax>,
}

#[network(input = 64, loss = cross_entropy, scalar = f64)]
struct Digits64 {
    hidden: Dense<32, Relu>,
    output: Dense<10, Softmax>,
}

/// The MNIST network, 784 → 128 relu → 10 softmax.
#[network(input = 784, loss = cross_entropy)]
struct Mnist32 {
    hidden: Dense<128, Relu>,
    output: Dense<10, Softmax>,
}

#[network(input = 784, loss = cross_entropy, scalar = f64)]
struct Mnist64 {
    hidden: Dense<128, Relu>,
    output: Dense<10, Softmax>,
}

/// A tanh output without softmax, every layer as loops: the output stays in its tile.
#[network(input = 64, loss = mse, scalar = f64, unroll = false)]
struct TanhOut {
    hidden: Dense<32, Relu>,
    output: Dense<10, Tanh>,
}

#[test]
fn forward_batch_of_dense_networks() {
    on_2_mib_stack(|| {
        let digits = stackprop::data::load_csv::<f64>(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv"), false)
            .expect("digits load");
        let rows: Vec<[f64; 64]> = digits.rows().expect("64 features");
        let xs64: Vec<[f64; 64]> = rows.iter().take(60).map(|r| r.map(|v| v / 16.0)).collect();
        let xs32: Vec<[f32; 64]> = xs64.iter().map(|r| r.map(|v| v as f32)).collect();
        check_forward("digits f32", &*perturbed::<Digits32>(1), &xs32, 1e-5);
        check_forward("digits f64", &*perturbed::<Digits64>(2), &xs64, 1e-12);
        check_forward("tanh output", &*perturbed::<TanhOut>(3), &xs64, 1e-12);

        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x784);
        let xs: Vec<[f64; 784]> =
            (0..60).map(|_| core::array::from_fn(|_| (uniform(&mut rng, 1.0)).max(0.0))).collect();
        let xs32: Vec<[f32; 784]> = xs.iter().map(|r| r.map(|v| v as f32)).collect();
        check_forward("mnist f32", &*perturbed::<Mnist32>(4), &xs32, 1e-5);
        check_forward("mnist f64", &*perturbed::<Mnist64>(5), &xs, 1e-12);
    });
}

#[test]
fn forward_batch_of_the_gradient_networks() {
    on_2_mib_stack(|| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xf0);
        check_forward("classifier f64", &*perturbed::<Classifier64>(6), &inputs(&mut rng, 60, 1.5), 1e-12);
        check_forward("classifier f32", &*perturbed::<Classifier32>(7), &inputs(&mut rng, 60, 1.5), 1e-5);
        check_forward("regressor", &*perturbed::<Regressor>(8), &inputs(&mut rng, 60, 1.5), 1e-12);
        check_forward("binary", &*perturbed::<Binary>(9), &inputs(&mut rng, 60, 1.5), 1e-12);
        check_forward("huber", &*perturbed::<Robust>(10), &inputs(&mut rng, 60, 1.5), 1e-12);
    });
}

/// Convolution, max pooling and a dense softmax output, each with tile forms.
#[network(input = [1, 12, 12], loss = cross_entropy, scalar = f64)]
struct Cnn64 {
    conv: Conv2d<4, Relu, { kernel = 3 }>,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<10, Softmax>,
}

#[network(input = [1, 12, 12], loss = cross_entropy)]
struct Cnn32 {
    conv: Conv2d<4, Relu, { kernel = 3 }>,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<10, Softmax>,
}

/// Layers without tile forms between tiled ones: overlapping max pooling, layer norm and
/// dropout (the identity in inference) run per sample inside each tile (as does the
/// recurrent layer of `Recurrent` below).
#[network(input = [2, 10, 10], loss = cross_entropy, scalar = f64)]
struct Mixed {
    conv: Conv2d<
        3,
        Tanh,
        {
            kernel = 3;
            padding = 1
        },
    >,
    pool: MaxPool2d<
        {
            kernel = 3;
            stride = 2
        },
    >,
    flat: Flatten,
    hidden: Dense<40, Gelu, { unroll = false }>,
    norm: LayerNorm,
    drop: Dropout<0.5>,
    output: Dense<6, Softmax, { unroll = false }>,
}

/// A recurrent layer (no tile form) under dense layers emitted as loops.
#[network(input = [6, 3], loss = cross_entropy, scalar = f64)]
struct Recurrent {
    gru: Gru<8, { sequence = true }>,
    flat: Flatten,
    hidden: Dense<24, Tanh, { unroll = false }>,
    output: Dense<4, Softmax, { unroll = false }>,
}

#[test]
fn forward_batch_of_convolutional_and_mixed_networks() {
    on_2_mib_stack(|| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xc0);
        check_forward("cnn f64", &*perturbed::<Cnn64>(11), &inputs(&mut rng, 60, 1.0), 1e-12);
        check_forward("cnn f32", &*perturbed::<Cnn32>(12), &inputs(&mut rng, 60, 1.0), 1e-5);
        check_forward("mixed", &*perturbed::<Mixed>(13), &inputs(&mut rng, 60, 1.0), 1e-12);
        check_forward("recurrent", &*perturbed::<Recurrent>(15), &inputs(&mut rng, 60, 1.0), 1e-12);
    });
}

/// A straight-line network keeps the trait's per-sample loop: the same outputs exactly.
#[test]
fn forward_batch_of_a_straight_line_network_is_forward() {
    #[network(input = 2, loss = half_sse)]
    struct Xor {
        hidden: Dense<3, Sigmoid>,
        output: Dense<1, Sigmoid>,
    }
    let net = perturbed::<Xor>(14);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x0);
    let xs: Vec<[f32; 2]> = inputs(&mut rng, 23, 2.0);
    let mut ys = vec![[0.0_f32; 1]; xs.len()];
    net.forward_batch(&xs, &mut ys);
    for (x, y) in xs.iter().zip(&ys) {
        assert_eq!(*y, net.forward(x));
    }
}

/// The dynamic reference network's per-sample `forward_batch` on flat batches, against
/// the generated network's tiled one on the same weights.
#[test]
fn dynamic_forward_batch_agrees_with_the_generated_one() {
    use stackprop::dynamic::{Activation, DynamicNet, LayerSpec, Loss};
    on_2_mib_stack(|| {
        let layers = [LayerSpec::dense(32, Activation::Relu), LayerSpec::dense(10, Activation::Softmax)];
        let mut dynamic = DynamicNet::<f64>::seeded(64, &layers, Loss::CrossEntropy, 3).expect("a valid spec");
        let generated: Box<Digits64> = stackprop::boxed_seeded(3);
        assert_eq!(generated.params().as_slice(), dynamic.params(), "same seed, same parameters");
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xd1);
        let xs: Vec<[f64; 64]> = inputs(&mut rng, 37, 1.0);
        let mut ys = vec![[0.0; 10]; xs.len()];
        generated.forward_batch(&xs, &mut ys);
        let flat: Vec<f64> = xs.iter().flatten().copied().collect();
        let mut out = vec![f64::NAN; 10 * xs.len()];
        dynamic.forward_batch(&flat, &mut out);
        for (s, (y, d)) in ys.iter().zip(out.chunks_exact(10)).enumerate() {
            let norm = y.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            for (a, b) in y.iter().zip(d) {
                assert!((a - b).abs() <= 1e-12 * norm, "sample {s}: {a} vs {b}");
            }
        }
        let short = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            dynamic.forward_batch(&flat, &mut out[..20]);
        }));
        assert!(short.is_err(), "an output buffer of the wrong length is refused");
    });
}

/// A network with batch normalization (trained on mini-batches only) has an inherent
/// `forward_batch`: the running statistics, per sample.
#[test]
fn forward_batch_of_a_batch_norm_network_is_forward() {
    #[network(input = 4, loss = mse, scalar = f64)]
    struct DenseBn {
        hidden: Dense<5, Tanh>,
        norm: BatchNorm,
        output: Dense<3, Tanh>,
    }
    let mut net = DenseBn::seeded(5);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xb7);
    for b in net.buffers_mut() {
        *b = 0.5 + uniform(&mut rng, 0.4);
    }
    let xs: Vec<[f64; 4]> = inputs(&mut rng, 19, 1.0);
    let mut ys = vec![[f64::NAN; 3]; xs.len()];
    net.forward_batch(&xs, &mut ys);
    for (x, y) in xs.iter().zip(&ys) {
        assert_eq!(*y, net.forward(x));
    }
}
