//! Convolution and pooling networks: generated gradients (parameters and input) against
//! central finite differences in `f64` (1e-6 relative), the `f32` build against the
//! `f64` build, straight-line against loop emission, and the mini-batch path against
//! the mean of per-sample gradients.
//!
//! Each case is declared by `case!` four times over the same spec: f64 straight-line,
//! f64 loops, f32 loops and f64 with the default emission. Inputs and weights are drawn
//! at random; with continuous draws no two cells of a max-pool window tie, so the max is
//! differentiable where it is checked.

use rand_core::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;
use stackprop::prelude::*;
use stackprop::{GradCheckOptions, check_gradients};

/// Relative error allowed between backward and central differences in f64.
const F64_TOL: f64 = 1e-6;
/// The central-difference step. Losses of these networks reach ~10, where a step of
/// 1e-6 leaves a rounding error of ε·L/h ≈ 2e-9 in each difference, 2e-6 of the 1e-3
/// floor; at 1e-5 rounding and truncation (h²·L‴) both stay near 1e-10.
const STEP: f64 = 1e-5;
/// Relative error allowed between the f32 and f64 builds (floor 1e-2 on the
/// denominator), as in `tests/gradients.rs`.
const F32_TOL: f64 = 2e-4;
/// Straight-line and loop emission sum in different orders: they agree to rounding.
const EMISSION_TOL: f64 = 1e-12;

#[derive(Clone, Copy)]
enum Targets {
    Real,
    Distribution,
    UnitInterval,
}

fn uniform(rng: &mut impl Rng, a: f64) -> f64 {
    ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * a
}

fn fill(rng: &mut impl Rng, v: &mut [f64], a: f64) {
    v.iter_mut().for_each(|x| *x = uniform(rng, a));
}

fn target(rng: &mut impl Rng, t: &mut [f64], kind: Targets) {
    match kind {
        Targets::Real => fill(rng, t, 1.5),
        Targets::UnitInterval => t.iter_mut().for_each(|v| *v = 0.5 + uniform(rng, 0.5)),
        Targets::Distribution => {
            t.iter_mut().for_each(|v| *v = uniform(rng, 1.0).abs() + 0.05);
            let s: f64 = t.iter().sum();
            t.iter_mut().for_each(|v| *v /= s);
        }
    }
}

fn close(a: f64, b: f64, tol: f64, floor: f64) -> bool {
    (a - b).abs() / a.abs().max(b.abs()).max(floor) <= tol
}

fn to_f32<B: Buffer<f32>>(v: &[f64]) -> B {
    let mut out = B::zeroed();
    out.as_mut().iter_mut().zip(v).for_each(|(o, &x)| *o = x as f32);
    out
}

/// Every check on one spec: `U` straight-line f64, `L` loops f64, `F` loops f32,
/// `D` default emission f64.
fn check<U, L, F, D>(name: &str, targets: Targets)
where
    U: Network<Scalar = f64>,
    L: Network<Scalar = f64, Input = U::Input, Output = U::Output, Params = U::Params>,
    F: Network<Scalar = f32>,
    D: Network<Scalar = f64, Input = U::Input, Output = U::Output, Params = U::Params>,
{
    assert_eq!((U::PARAMS, U::INPUT, U::OUTPUT), (F::PARAMS, F::INPUT, F::OUTPUT));
    assert_eq!(U::LAYOUT, L::LAYOUT);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xc0ffee ^ name.len() as u64);
    for round in 0..3 {
        let mut params = U::Params::zeroed();
        fill(&mut rng, params.as_mut(), 0.9);
        let mut x = U::Input::zeroed();
        fill(&mut rng, x.as_mut(), 1.5);
        let mut t = U::Output::zeroed();
        target(&mut rng, t.as_mut(), targets);

        let mut unrolled = U::from_params(params.clone());
        let report =
            check_gradients(&mut unrolled, &x, &t, GradCheckOptions { step: STEP, ..GradCheckOptions::default() });
        assert!(
            report.max_rel_error <= F64_TOL,
            "{name} (round {round}, straight-line): backward disagrees with central differences: {:?}",
            report.worst
        );
        assert_eq!(report.checked, U::PARAMS + U::INPUT);
        let mut looped = L::from_params(params.clone());
        let report =
            check_gradients(&mut looped, &x, &t, GradCheckOptions { step: STEP, ..GradCheckOptions::default() });
        assert!(
            report.max_rel_error <= F64_TOL,
            "{name} (round {round}, loops): backward disagrees with central differences: {:?}",
            report.worst
        );

        // Straight-line, loops and the default emission compute the same function.
        let default = D::from_params(params.clone());
        let (mut gu, mut gl, mut gd) = (U::Params::zeroed(), U::Params::zeroed(), U::Params::zeroed());
        let lu = unrolled.gradient(&x, &t, &mut gu);
        let ll = looped.gradient(&x, &t, &mut gl);
        let ld = default.gradient(&x, &t, &mut gd);
        assert!(
            close(lu, ll, EMISSION_TOL, 1e-3) && close(lu, ld, EMISSION_TOL, 1e-3),
            "{name}: losses {lu} {ll} {ld}"
        );
        for (i, ((a, b), c)) in gu.as_ref().iter().zip(gl.as_ref()).zip(gd.as_ref()).enumerate() {
            assert!(close(*a, *b, EMISSION_TOL, 1e-3), "{name}: gradient [{i}] straight-line {a} vs loops {b}");
            assert!(close(*a, *c, EMISSION_TOL, 1e-3), "{name}: gradient [{i}] straight-line {a} vs default {c}");
        }
        let (iu, il) = (unrolled.input_gradient(&x, &t), looped.input_gradient(&x, &t));
        for (i, (a, b)) in iu.as_ref().iter().zip(il.as_ref()).enumerate() {
            assert!(close(*a, *b, EMISSION_TOL, 1e-3), "{name}: input gradient [{i}] {a} vs {b}");
        }
        let (yu, yl) = (unrolled.forward(&x), looped.forward(&x));
        for (a, b) in yu.as_ref().iter().zip(yl.as_ref()) {
            assert!(close(*a, *b, EMISSION_TOL, 1e-3), "{name}: forward {a} vs {b}");
        }

        // Fused SGD equals backward then the update.
        let mut fused = L::from_params(params.clone());
        let mut trace = L::Trace::zeroed();
        fused.forward_trace(&x, &mut trace);
        fused.backward_sgd(&x, &trace, &t, 0.05);
        for (i, (p, g)) in fused.params().as_ref().iter().zip(gl.as_ref()).enumerate() {
            let expected = params.as_ref()[i] - 0.05 * g;
            assert!(close(*p, expected, EMISSION_TOL, 1e-3), "{name}: fused SGD [{i}] {p} vs {expected}");
        }

        // f32 on the same weights, inputs and targets.
        let net32 = F::from_params(to_f32(params.as_ref()));
        let (x32, t32): (F::Input, F::Output) = (to_f32(x.as_ref()), to_f32(t.as_ref()));
        let (l64, l32) = (ll, f64::from(net32.loss(&x32, &t32)));
        assert!(close(l64, l32, F32_TOL, 1e-2), "{name}: loss f64 {l64} vs f32 {l32}");
        let mut g32 = F::Params::zeroed();
        net32.gradient(&x32, &t32, &mut g32);
        for (i, (&a, &b)) in gl.as_ref().iter().zip(g32.as_ref()).enumerate() {
            assert!(close(a, f64::from(b), F32_TOL, 1e-2), "{name}: gradient [{i}] f64 {a} vs f32 {b}");
        }
    }

    // The mini-batch path against the mean of per-sample gradients, for batch sizes
    // around the tile size: the default emission, and loops (every convolution and dense
    // layer on tiles).
    batch_agrees::<U, D>(name, targets, &mut rng, "default");
    batch_agrees::<U, L>(name, targets, &mut rng, "loops");
}

/// `N`'s mini-batch gradient against the mean of its per-sample gradients.
fn batch_agrees<U, N>(name: &str, targets: Targets, rng: &mut Xoshiro256PlusPlus, emission: &str)
where
    U: Network<Scalar = f64>,
    N: Network<Scalar = f64, Input = U::Input, Output = U::Output, Params = U::Params>,
{
    let mut params = U::Params::zeroed();
    fill(rng, params.as_mut(), 0.9);
    let net = N::from_params(params);
    for n in [1usize, 5, 16, 17, 33] {
        let xs: Vec<U::Input> = (0..n)
            .map(|_| {
                let mut x = U::Input::zeroed();
                fill(rng, x.as_mut(), 1.5);
                x
            })
            .collect();
        let ts: Vec<U::Output> = (0..n)
            .map(|_| {
                let mut t = U::Output::zeroed();
                target(rng, t.as_mut(), targets);
                t
            })
            .collect();
        let mut batch = U::Params::zeroed();
        let batch_loss = net.batch_gradient(&xs, &ts, &mut batch);
        let mut mean = vec![0.0; U::PARAMS];
        let mut mean_loss = 0.0;
        for (x, t) in xs.iter().zip(&ts) {
            let mut g = U::Params::zeroed();
            mean_loss += net.gradient(x, t, &mut g) / n as f64;
            mean.iter_mut().zip(g.as_ref()).for_each(|(m, g)| *m += g / n as f64);
        }
        assert!(
            close(batch_loss, mean_loss, EMISSION_TOL, 1e-3),
            "{name} ({emission}): batch loss {batch_loss} vs {mean_loss}"
        );
        for (i, (a, b)) in batch.as_ref().iter().zip(&mean).enumerate() {
            assert!(close(*a, *b, 1e-10, 1e-3), "{name} ({emission}): batch of {n}: gradient [{i}] {a} vs mean {b}");
        }
    }
}

/// `case!(name, targets, input, loss, { layers })` declares the spec four times and a
/// test that checks them.
macro_rules! case {
    ($test:ident, $targets:ident, $input:tt, [$($loss:tt)+], { $($layers:tt)* }) => {
        mod $test {
            use super::*;

            #[network(input = $input, loss = $($loss)+, scalar = f64, unroll = true)]
            pub struct Unrolled { $($layers)* }

            #[network(input = $input, loss = $($loss)+, scalar = f64, unroll = false)]
            pub struct Looped { $($layers)* }

            #[network(input = $input, loss = $($loss)+, scalar = f32, unroll = false)]
            pub struct Looped32 { $($layers)* }

            #[network(input = $input, loss = $($loss)+, scalar = f64)]
            pub struct Default { $($layers)* }

            #[test]
            fn gradients_match_finite_differences() {
                check::<Unrolled, Looped, Looped32, Default>(stringify!($test), Targets::$targets);
            }
        }
    };
}

case!(conv2d_non_square_kernel, Real, [2, 5, 6], [mse], {
    conv: Conv2d<3, Tanh, { kernel = [2, 3] }>,
    flat: Flatten,
    output: Dense<2, Identity>,
});

case!(conv2d_stride_padding_dilation, Distribution, [2, 7, 6], [cross_entropy], {
    conv: Conv2d<3, Sigmoid, { kernel = 3; stride = 2; padding = 1; dilation = [1, 2]; bias = false }>,
    flat: Flatten,
    output: Dense<3, Softmax>,
});

case!(conv_pool_conv_dense, Real, [1, 9, 9], [half_sse], {
    conv1: Conv2d<4, Relu, { kernel = 3; padding = 1 }>,
    pool1: MaxPool2d<{ kernel = 3; stride = 2; padding = 1 }>,
    conv2: Conv2d<3, Elu<1.0>, { kernel = 2; stride = [1, 2] }>,
    pool2: AvgPool2d<{ kernel = 2; stride = 1; padding = 1 }>,
    flat: Flatten,
    hidden: Dense<4, Tanh>,
    output: Dense<2, Identity>,
});

case!(conv1d_stack, UnitInterval, [3, 17], [binary_cross_entropy], {
    conv1: Conv1d<4, Silu, { kernel = 5; stride = 2; padding = 2 }>,
    pool1: MaxPool1d<{ kernel = 2; stride = 1 }>,
    conv2: Conv1d<2, Tanh, { kernel = 3; dilation = 2 }>,
    pool2: AvgPool1d<{ kernel = 3; stride = 2; padding = 1 }>,
    flat: Flatten,
    output: Dense<2, Sigmoid>,
});

case!(global_average_pool, Real, [2, 6, 5], [mse], {
    conv: Conv2d<5, LeakyRelu<0.1>, { kernel = 3; padding = [0, 1] }>,
    pool: GlobalAvgPool,
    output: Dense<3, Identity>,
});

case!(pool_below_the_first_weights, Real, [2, 6, 6], [mae], {
    pool: MaxPool2d<{ kernel = 2; stride = 1 }>,
    conv: Conv2d<2, Softplus, { kernel = 2; stride = 2 }>,
    flat: Flatten,
    output: Dense<1, Identity>,
});

case!(conv_as_the_output_layer, Real, [1, 5, 5], [huber(delta = 0.5)], {
    conv1: Conv2d<2, Gelu, { kernel = 2 }>,
    conv2: Conv2d<1, Identity, { kernel = 2; padding = 1; init = he }>,
});

case!(overlapping_max_pool_of_the_input, Real, [2, 7], [mse], {
    pool: MaxPool1d<{ kernel = 3; stride = 1; padding = 1 }>,
    flat: Flatten,
    output: Dense<2, Tanh>,
});

/// Max pooling sends the gradient to the first of tied maxima, and pads with −∞ (a
/// padding cell never wins, even over negative inputs).
mod pooling_rules {
    use super::*;

    #[network(input = [1, 2, 4], loss = half_sse, scalar = f64)]
    pub struct Ties {
        pool: MaxPool2d<2>,
        flat: Flatten,
        output: Dense<1, Identity, { bias = false }>,
    }

    #[network(input = [1, 3], loss = half_sse, scalar = f64)]
    pub struct Padded {
        pool: MaxPool1d<
            {
                kernel = 2;
                padding = 1
            },
        >,
        flat: Flatten,
        output: Dense<1, Identity, { bias = false }>,
    }

    #[network(input = [1, 3], loss = half_sse, scalar = f64)]
    pub struct Average {
        pool: AvgPool1d<
            {
                kernel = 2;
                padding = 1
            },
        >,
        flat: Flatten,
        output: Dense<1, Identity, { bias = false }>,
    }

    #[test]
    fn ties_go_to_the_first_maximum() {
        // Windows [1, 1; 0, 1] and [2, 0; 2, 2]: the first 1 and the first 2 win.
        let net = Ties::from_params([1.0, 1.0]);
        let x = [1.0, 1.0, 2.0, 0.0, 0.0, 1.0, 2.0, 2.0];
        assert_eq!(net.forward(&x), [3.0]);
        let dx = net.input_gradient(&x, &[0.0; 1]);
        assert_eq!(dx, [3.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn padding_never_wins() {
        // Windows [pad, −3], [−2, −1]: −3 and −1.
        let net = Padded::from_params([1.0, 1.0]);
        assert_eq!(net.forward(&[-3.0, -2.0, -1.0]), [-4.0]);
    }

    #[test]
    fn average_counts_the_padding() {
        // Windows [pad, 4], [6, 8]: (0 + 4)/2 and (6 + 8)/2.
        let net = Average::from_params([1.0, 1.0]);
        assert_eq!(net.forward(&[4.0, 6.0, 8.0]), [9.0]);
        assert_eq!(net.input_gradient(&[4.0, 6.0, 8.0], &[0.0]), [4.5, 4.5, 4.5]);
    }
}

/// PyTorch's layout and names: `conv.weight` `[out][in][kh][kw]`, output sizes by
/// `floor((n + 2p − d(k − 1) − 1)/s) + 1`, and a hand-computed cross-correlation.
mod layout {
    use super::*;

    #[network(input = [2, 7, 6], loss = mse, scalar = f64)]
    pub struct Shapes {
        conv: Conv2d<
            3,
            Identity,
            {
                kernel = [3, 2];
                stride = [2, 1];
                padding = [1, 0];
                dilation = [1, 2]
            },
        >,
        pool: MaxPool2d<
            {
                kernel = 2;
                stride = 1
            },
        >,
        line: Flatten,
        output: Dense<1, Identity>,
    }

    #[network(input = [1, 3, 3], loss = mse, scalar = f64)]
    pub struct ByHand {
        conv: Conv2d<1, Identity, { kernel = 2 }>,
    }

    #[test]
    fn names_shapes_and_offsets_follow_pytorch() {
        let names: Vec<(&str, &[usize], usize)> = Shapes::LAYOUT.iter().map(|p| (p.name, p.shape, p.offset)).collect();
        // conv: out = floor((7 + 2 − 2 − 1)/2) + 1 = 4 by floor((6 − 2 − 1)/1) + 1 = 4;
        // pool 2, stride 1: 3 × 3; 3 channels → 27 inputs to the dense layer.
        assert_eq!(
            names,
            vec![
                ("conv.weight", &[3, 2, 3, 2][..], 0),
                ("conv.bias", &[3][..], 36),
                ("output.weight", &[1, 27][..], 39),
                ("output.bias", &[1][..], 66),
            ]
        );
        assert_eq!(Shapes::PARAMS, 67);
    }

    #[test]
    fn cross_correlation_without_flip() {
        // W = [[1, 2], [3, 4]], b = 0.5, x = 1..9 row-major.
        let net = ByHand::from_params([1.0, 2.0, 3.0, 4.0, 0.5]);
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        // z[0][0] = 1·1 + 2·2 + 3·4 + 4·5 = 37, then 47, 67, 77.
        assert_eq!(net.forward(&x), [37.5, 47.5, 67.5, 77.5]);
    }
}

/// The default initialization of a convolution is PyTorch's: weight and bias
/// `U(±1/√fan_in)` with `fan_in = in·kh·kw`.
mod init {
    use super::*;

    #[network(input = [3, 8, 8], loss = mse)]
    pub struct Net {
        conv: Conv2d<16, Relu, { kernel = 3 }>,
        flat: Flatten,
        output: Dense<1, Identity>,
    }

    #[test]
    fn conv_defaults_to_pytorch_bounds() {
        let net = Net::seeded(5);
        let bound = 1.0 / (27.0_f32).sqrt();
        let conv = &net.params()[..16 * 27 + 16];
        assert!(conv.iter().all(|w| w.abs() <= bound));
        assert!(conv[16 * 27..].iter().any(|b| *b != 0.0), "the bias is drawn too");
        let spread = conv.iter().map(|w| w * w).sum::<f32>() / conv.len() as f32;
        // Var of U(−a, a) is a²/3.
        assert!((spread - bound * bound / 3.0).abs() < 0.2 * bound * bound / 3.0, "{spread}");
    }
}

// Dense and convolution layers emitted as loops run on tiles in the mini-batch path;
// pooling runs per sample inside each tile.
case!(tiled_dense_above_convolution, Distribution, [2, 6, 6], [cross_entropy], {
    conv: Conv2d<3, Relu, { kernel = 3; padding = 1 }>,
    pool: MaxPool2d<2>,
    flat: Flatten,
    hidden: Dense<5, Tanh, { unroll = false }>,
    output: Dense<3, Softmax, { unroll = false }>,
});

case!(tiled_dense_above_pooled_input, Real, [3, 8], [mse], {
    pool: AvgPool1d<{ kernel = 3; stride = 2; padding = 1 }>,
    conv: Conv1d<2, Sigmoid, { kernel = 2; bias = false }>,
    gap: GlobalAvgPool,
    output: Dense<2, Identity, { unroll = false }>,
});

#[test]
fn the_tiled_cases_take_the_tiled_path() {
    assert!(tiled_dense_above_convolution::Default::DERIVATION.contains("mini-batch: tiles of 16"));
    assert!(tiled_dense_above_pooled_input::Default::DERIVATION.contains("mini-batch: tiles of 16"));
    assert!(conv_pool_conv_dense::Default::DERIVATION.contains("mini-batch: tiles of 16"));
    // Straight-line networks are small: their per-sample passes are the mini-batch path.
    assert!(conv_pool_conv_dense::Unrolled::DERIVATION.contains("mini-batch: the per-sample passes"));
}

/// LeNet-5 on `[1][28][28]` trains, per sample with Adam and per mini-batch, and runs
/// inference in a thread with a 2 MiB stack (the default of spawned threads and tests),
/// with the network, its gradient buffer and the optimizer state all on that stack.
mod lenet {
    use super::*;

    #[network(input = [1, 28, 28], loss = cross_entropy)]
    pub struct LeNet5 {
        conv1: Conv2d<6, Relu, { kernel = 5 }>,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<16, Relu, { kernel = 5 }>,
        pool2: MaxPool2d<2>,
        flat: Flatten,
        fc1: Dense<120, Relu>,
        fc2: Dense<84, Relu>,
        output: Dense<10, Softmax>,
    }

    #[test]
    fn trains_within_a_two_mebibyte_stack() {
        let worker = std::thread::Builder::new().stack_size(2 << 20).spawn(|| {
            // conv1 6·25 + 6, conv2 16·150 + 16, fc1 120·256 + 120, fc2 84·120 + 84, 10·84 + 10.
            assert_eq!(LeNet5::PARAMS, 44_426);
            let mut net = LeNet5::seeded(3);
            let xs: [[f32; 784]; 4] =
                core::array::from_fn(|k| core::array::from_fn(|i| ((i * (k + 3)) % 17) as f32 / 17.0));
            let ts: [Class; 4] = core::array::from_fn(Class);
            let before = net.mean_loss(&xs, &ts);
            let mut adam = stackprop::Adam::new(1e-3);
            for _ in 0..5 {
                for (x, t) in xs.iter().zip(&ts) {
                    net.train_step(x, t, &mut adam);
                }
            }
            let mut grad = [0.0; LeNet5::PARAMS];
            let mut sgd = Sgd::new(0.01);
            net.train_batch(&xs, &ts, &mut grad, &mut sgd);
            let after = net.mean_loss(&xs, &ts);
            assert!(after < before, "loss {before} -> {after}");
            let y = net.forward(&xs[0]);
            assert!((y.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        });
        worker.expect("spawn").join().expect("LeNet-5 fits a 2 MiB stack");
    }
}
