//! Recurrent networks (`Rnn`, `Gru`, `Lstm`): generated gradients (parameters and input,
//! through backpropagation through time) against central finite differences in `f64`
//! (1e-6 relative), against the dynamic reference network (1e-12), and the `f32` build
//! against the `f64` build; fused SGD against backward then the update; the batch
//! gradient and `train_batch` against the mean of per-sample gradients; parameters after
//! several Adam and SGD-with-momentum steps against the dynamic network's; PyTorch's
//! names, shapes and initialization; the streaming step against the whole-sequence
//! forward (bit for bit) and, step by step, against the dynamic network on every prefix
//! of the sequence; a softmax and `cross_entropy` at every step (PyTorch's per-step
//! softmax and the mean over steps); and training runs that learn a task needing memory
//! and a class at every step.
//!
//! Each case is declared by `case!` twice over the same spec, `f64` and `f32`, beside the
//! same layers written for the dynamic network.

use rand_core::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;
use stackprop::dynamic::{Activation, DynamicNet, LayerSpec, Loss, RecurrentCell};
use stackprop::prelude::*;
use stackprop::{GradCheckOptions, check_gradients};

/// Relative error allowed between backward and central differences in f64.
const F64_TOL: f64 = 1e-6;
/// The central-difference step (as in `tests/conv.rs`).
const STEP: f64 = 1e-5;
/// Relative error allowed between the generated and the dynamic network in f64: both
/// compute the same function, in different orders.
const DYN_TOL: f64 = 1e-12;
/// Relative error allowed between the f32 and f64 builds (floor 1e-2).
const F32_TOL: f64 = 2e-4;

fn uniform(rng: &mut impl Rng, a: f64) -> f64 {
    ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * a
}

fn fill(rng: &mut impl Rng, v: &mut [f64], a: f64) {
    v.iter_mut().for_each(|x| *x = uniform(rng, a));
}

fn close(a: f64, b: f64, tol: f64, floor: f64) -> bool {
    (a - b).abs() / a.abs().max(b.abs()).max(floor) <= tol
}

fn to_f32<B: Buffer<f32>>(v: &[f64]) -> B {
    let mut out = B::zeroed();
    out.as_mut().iter_mut().zip(v).for_each(|(o, &x)| *o = x as f32);
    out
}

fn assert_close(name: &str, what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{name}: {what} lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(close(*x, *y, tol, 1e-3), "{name}: {what} [{i}]: {x} vs {y}");
    }
}

/// Every check on one spec: `N` in f64, `F` in f32, `layers` the dynamic network's.
///
/// `adam` runs one Adam step (learning rate 1e-2) per sample on the generated network,
/// returning each step's loss; `momentum` one step of SGD with momentum 0.9 (learning
/// rate 0.05) per sample; `batch_step` one `train_batch` step of plain SGD (learning
/// rate 0.05) on the whole batch, returning its loss.
#[allow(clippy::too_many_arguments)]
fn check<N, F>(
    name: &str,
    shape: &[usize],
    layers: &[LayerSpec],
    loss: Loss,
    adam: impl Fn(&mut N, &[N::Input], &[N::Output]) -> Vec<f64>,
    momentum: impl Fn(&mut N, &[N::Input], &[N::Output]) -> Vec<f64>,
    batch_step: impl Fn(&mut N, &[N::Input], &[N::Output]) -> f64,
) where
    N: Network<Scalar = f64>,
    F: Network<Scalar = f32>,
{
    assert_eq!((N::PARAMS, N::INPUT, N::OUTPUT), (F::PARAMS, F::INPUT, F::OUTPUT));
    let mut dynamic = DynamicNet::<f64>::with_shape(shape, layers, loss).expect("a valid dynamic spec");
    assert_eq!(dynamic.param_count(), N::PARAMS, "{name}: parameter count");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5eed ^ name.len() as u64);
    for round in 0..3 {
        let mut params = N::Params::zeroed();
        fill(&mut rng, params.as_mut(), 0.8);
        let mut x = N::Input::zeroed();
        fill(&mut rng, x.as_mut(), 1.5);
        let mut t = N::Output::zeroed();
        fill(&mut rng, t.as_mut(), 0.9);

        // Finite differences: every parameter and every input.
        let mut net = N::from_params(params.clone());
        let report = check_gradients(&mut net, &x, &t, GradCheckOptions { step: STEP, ..GradCheckOptions::default() });
        assert!(
            report.max_rel_error <= F64_TOL,
            "{name} (round {round}): backward disagrees with central differences: {:?}",
            report.worst
        );
        assert_eq!(report.checked, N::PARAMS + N::INPUT);

        // The dynamic network on the same weights.
        dynamic.set_params(params.as_ref()).expect("same parameter count");
        let y = net.forward(&x);
        assert_close(name, "forward vs dynamic", y.as_ref(), dynamic.forward(x.as_ref()), DYN_TOL);
        let mut g = N::Params::zeroed();
        let l = net.gradient(&x, &t, &mut g);
        let mut gd = vec![0.0; N::PARAMS];
        let mut dxd = vec![0.0; N::INPUT];
        let ld = dynamic.accumulate_gradient(x.as_ref(), t.as_ref(), 1.0, &mut gd, Some(&mut dxd));
        assert!(close(l, ld, DYN_TOL, 1e-3), "{name}: loss {l} vs dynamic {ld}");
        assert_close(name, "gradient vs dynamic", g.as_ref(), &gd, DYN_TOL);
        let dx = net.input_gradient(&x, &t);
        assert_close(name, "input gradient vs dynamic", dx.as_ref(), &dxd, DYN_TOL);

        // Fused SGD equals backward then the update.
        let mut fused = N::from_params(params.clone());
        let mut trace = N::Trace::zeroed();
        fused.forward_trace(&x, &mut trace);
        fused.backward_sgd(&x, &trace, &t, 0.05);
        let expected: Vec<f64> = params.as_ref().iter().zip(g.as_ref()).map(|(p, g)| p - 0.05 * g).collect();
        assert_close(name, "fused SGD", fused.params().as_ref(), &expected, DYN_TOL);

        // f32 on the same weights, inputs and targets.
        let net32 = F::from_params(to_f32(params.as_ref()));
        let (x32, t32): (F::Input, F::Output) = (to_f32(x.as_ref()), to_f32(t.as_ref()));
        let l32 = f64::from(net32.loss(&x32, &t32));
        assert!(close(l, l32, F32_TOL, 1e-2), "{name}: loss f64 {l} vs f32 {l32}");
        let mut g32 = F::Params::zeroed();
        net32.gradient(&x32, &t32, &mut g32);
        for (i, (&a, &b)) in g.as_ref().iter().zip(g32.as_ref()).enumerate() {
            assert!(close(a, f64::from(b), F32_TOL, 1e-2), "{name}: gradient [{i}] f64 {a} vs f32 {b}");
        }
    }

    // The batch gradient against the mean of per-sample gradients, and the dynamic one.
    let mut params = N::Params::zeroed();
    fill(&mut rng, params.as_mut(), 0.8);
    let net = N::from_params(params.clone());
    dynamic.set_params(params.as_ref()).expect("same parameter count");
    let xs: Vec<N::Input> = (0..5)
        .map(|_| {
            let mut x = N::Input::zeroed();
            fill(&mut rng, x.as_mut(), 1.5);
            x
        })
        .collect();
    let ts: Vec<N::Output> = (0..5)
        .map(|_| {
            let mut t = N::Output::zeroed();
            fill(&mut rng, t.as_mut(), 0.9);
            t
        })
        .collect();
    let mut gb = N::Params::zeroed();
    let lb = net.batch_gradient(&xs, &ts, &mut gb);
    let flat = |v: &[N::Input]| v.iter().flat_map(|x| x.as_ref().to_vec()).collect::<Vec<f64>>();
    let flat_t = |v: &[N::Output]| v.iter().flat_map(|x| x.as_ref().to_vec()).collect::<Vec<f64>>();
    let mut gd = vec![0.0; N::PARAMS];
    let ld = dynamic.batch_gradient(&flat(&xs), &flat_t(&ts), &mut gd);
    assert!(close(lb, ld, DYN_TOL, 1e-3), "{name}: batch loss {lb} vs dynamic {ld}");
    assert_close(name, "batch gradient vs dynamic", gb.as_ref(), &gd, DYN_TOL);
    // ... and the mean of the per-sample gradients and losses.
    let mut mean = vec![0.0; N::PARAMS];
    let mut mean_loss = 0.0;
    for (x, t) in xs.iter().zip(&ts) {
        let mut g = N::Params::zeroed();
        mean_loss += net.gradient(x, t, &mut g) / 5.0;
        mean.iter_mut().zip(g.as_ref()).for_each(|(m, g)| *m += g / 5.0);
    }
    assert!(close(lb, mean_loss, DYN_TOL, 1e-3), "{name}: batch loss {lb} vs mean loss {mean_loss}");
    assert_close(name, "batch gradient vs mean of per-sample gradients", gb.as_ref(), &mean, DYN_TOL);
    // `train_batch` with plain SGD is one step along that mean.
    let mut batched = N::from_params(params.clone());
    let lt = batch_step(&mut batched, &xs, &ts);
    assert!(close(lt, mean_loss, DYN_TOL, 1e-3), "{name}: train_batch loss {lt} vs mean loss {mean_loss}");
    let expected: Vec<f64> = params.as_ref().iter().zip(&mean).map(|(p, g)| p - 0.05 * g).collect();
    assert_close(name, "train_batch step", batched.params().as_ref(), &expected, DYN_TOL);

    // Parameters after several Adam steps, one sample each.
    let mut stepped = N::from_params(params.clone());
    let losses = adam(&mut stepped, &xs, &ts);
    let mut adam_dyn = stackprop::Adam::<Vec<f64>>::new(1e-2);
    for ((x, t), a) in xs.iter().zip(&ts).zip(losses) {
        let b = dynamic.train_step(x.as_ref(), t.as_ref(), &mut adam_dyn);
        assert!(close(a, b, DYN_TOL, 1e-3), "{name}: Adam step loss {a} vs dynamic {b}");
    }
    assert_close(name, "parameters after Adam steps", stepped.params().as_ref(), dynamic.params(), 1e-10);

    // And several steps of SGD with momentum.
    let mut stepped = N::from_params(params.clone());
    dynamic.set_params(params.as_ref()).expect("same parameter count");
    let losses = momentum(&mut stepped, &xs, &ts);
    let mut sgd_dyn = stackprop::Sgd::<Vec<f64>>::new(0.05).momentum(0.9);
    for ((x, t), a) in xs.iter().zip(&ts).zip(losses) {
        let b = dynamic.train_step(x.as_ref(), t.as_ref(), &mut sgd_dyn);
        assert!(close(a, b, DYN_TOL, 1e-3), "{name}: momentum step loss {a} vs dynamic {b}");
    }
    assert_close(name, "parameters after momentum steps", stepped.params().as_ref(), dynamic.params(), 1e-10);
}

macro_rules! case {
    ($test:ident, $input:tt, loss = $loss:ident, { $($body:tt)* }, $shape:expr, $layers:expr, $dloss:expr) => {
        mod $test {
            use super::*;

            #[network(input = $input, loss = $loss, scalar = f64)]
            pub struct N64 { $($body)* }

            #[network(input = $input, loss = $loss, scalar = f32)]
            pub struct N32 { $($body)* }

            #[test]
            fn agrees_three_ways() {
                check::<N64, N32>(
                    stringify!($test),
                    &$shape,
                    &$layers,
                    $dloss,
                    |net, xs, ts| {
                        let mut adam = stackprop::Adam::new(1e-2);
                        xs.iter().zip(ts).map(|(x, t)| net.train_step(x, t, &mut adam)).collect()
                    },
                    |net, xs, ts| {
                        let mut sgd = stackprop::Sgd::new(0.05).momentum(0.9);
                        xs.iter().zip(ts).map(|(x, t)| net.train_step(x, t, &mut sgd)).collect()
                    },
                    |net, xs, ts| {
                        let mut grad = [0.0; N64::PARAMS];
                        net.train_batch(xs, ts, &mut grad, &mut PlainSgd::new(0.05))
                    },
                );
            }
        }
    };
}

const TANH: RecurrentCell = RecurrentCell::RnnTanh;
const RELU: RecurrentCell = RecurrentCell::RnnRelu;
const GRU: RecurrentCell = RecurrentCell::Gru;
const LSTM: RecurrentCell = RecurrentCell::Lstm;

fn dense(width: usize, act: Activation) -> LayerSpec {
    LayerSpec::dense(width, act)
}

case!(rnn_tanh, [7, 3], loss = half_sse, { rnn: Rnn<5>, head: Dense<2, Identity>, },
    [7, 3], [LayerSpec::recurrent(TANH, 5), dense(2, Activation::Identity)], Loss::HalfSse);
case!(rnn_relu, [7, 3], loss = half_sse, { rnn: Rnn<5, { nonlinearity = relu }>, head: Dense<2, Identity>, },
    [7, 3], [LayerSpec::recurrent(RELU, 5), dense(2, Activation::Identity)], Loss::HalfSse);
case!(rnn_two_steps, [2, 3], loss = mse, { rnn: Rnn<4, { bias = false }>, head: Dense<1, Tanh>, },
    [2, 3], [LayerSpec::recurrent(TANH, 4).without_bias(), dense(1, Activation::Tanh)], Loss::Mse);
case!(gru, [7, 3], loss = half_sse, { gru: Gru<4>, head: Dense<2, Tanh>, },
    [7, 3], [LayerSpec::recurrent(GRU, 4), dense(2, Activation::Tanh)], Loss::HalfSse);
case!(gru_one_step, [1, 2], loss = half_sse, { gru: Gru<3>, head: Dense<2, Identity>, },
    [1, 2], [LayerSpec::recurrent(GRU, 3), dense(2, Activation::Identity)], Loss::HalfSse);
case!(gru_without_bias, [7, 2], loss = half_sse, { gru: Gru<4, { bias = false }>, head: Dense<1, Identity>, },
    [7, 2], [LayerSpec::recurrent(GRU, 4).without_bias(), dense(1, Activation::Identity)], Loss::HalfSse);
case!(lstm, [7, 3], loss = half_sse, { lstm: Lstm<4>, head: Dense<2, Identity>, },
    [7, 3], [LayerSpec::recurrent(LSTM, 4), dense(2, Activation::Identity)], Loss::HalfSse);
case!(lstm_without_bias, [2, 2], loss = mse, { lstm: Lstm<3, { bias = false }>, head: Dense<1, Identity>, },
    [2, 2], [LayerSpec::recurrent(LSTM, 3).without_bias(), dense(1, Activation::Identity)], Loss::Mse);
case!(stacked, [7, 2], loss = half_sse,
    { gru: Gru<4, { sequence = true }>, lstm: Lstm<3, { sequence = true }>, rnn: Rnn<3>, head: Dense<1, Identity>, },
    [7, 2],
    [LayerSpec::recurrent(GRU, 4).sequence(), LayerSpec::recurrent(LSTM, 3).sequence(), LayerSpec::recurrent(TANH, 3), dense(1, Activation::Identity)],
    Loss::HalfSse);
case!(sequence_output, [4, 2], loss = half_sse,
    { rnn: Rnn<3, { sequence = true }>, flat: Flatten, head: Dense<2, Identity>, },
    [4, 2], [LayerSpec::recurrent(TANH, 3).sequence(), LayerSpec::flatten(), dense(2, Activation::Identity)],
    Loss::HalfSse);
case!(lstm_wide_head, [5, 2], loss = half_sse,
    { lstm: Lstm<24>, hidden: Dense<48, Tanh, { unroll = false }>, head: Dense<1, Identity>, },
    [5, 2], [LayerSpec::recurrent(LSTM, 24), dense(48, Activation::Tanh), dense(1, Activation::Identity)],
    Loss::HalfSse);

// A `Dense` after a sequence applies at every step: `[T][F] → [T][OUT]`, the loss over
// every step's outputs (sequence targets `[T][OUT]`).
case!(gru_per_step, [7, 3], loss = mse, { gru: Gru<4, { sequence = true }>, head: Dense<2, Tanh>, },
    [7, 3], [LayerSpec::recurrent(GRU, 4).sequence(), dense(2, Activation::Tanh)], Loss::Mse);
case!(gru_per_step_one_step, [1, 2], loss = mse, { gru: Gru<3, { sequence = true }>, head: Dense<2, Identity>, },
    [1, 2], [LayerSpec::recurrent(GRU, 3).sequence(), dense(2, Activation::Identity)], Loss::Mse);
case!(lstm_per_step, [7, 3], loss = mse, { lstm: Lstm<3, { sequence = true }>, head: Dense<2, Identity>, },
    [7, 3], [LayerSpec::recurrent(LSTM, 3).sequence(), dense(2, Activation::Identity)], Loss::Mse);
case!(lstm_per_step_two_steps, [2, 3], loss = half_sse,
    { lstm: Lstm<3, { sequence = true; bias = false }>, head: Dense<2, Identity, { bias = false }>, },
    [2, 3], [LayerSpec::recurrent(LSTM, 3).sequence().without_bias(), dense(2, Activation::Identity).without_bias()],
    Loss::HalfSse);
case!(rnn_per_step, [7, 2], loss = mse, { rnn: Rnn<4, { sequence = true }>, head: Dense<1, Identity>, },
    [7, 2], [LayerSpec::recurrent(TANH, 4).sequence(), dense(1, Activation::Identity)], Loss::Mse);
case!(rnn_per_step_sigmoid, [2, 2], loss = binary_cross_entropy,
    { rnn: Rnn<3, { sequence = true; nonlinearity = relu }>, head: Dense<2, Sigmoid>, },
    [2, 2], [LayerSpec::recurrent(RELU, 3).sequence(), dense(2, Activation::Sigmoid)], Loss::BinaryCrossEntropy);
case!(stacked_per_step, [7, 2], loss = mse,
    {
        gru: Gru<4, { sequence = true }>,
        lstm: Lstm<3, { sequence = true }>,
        hidden: Dense<5, Tanh>,
        head: Dense<2, Identity>,
    },
    [7, 2],
    [
        LayerSpec::recurrent(GRU, 4).sequence(),
        LayerSpec::recurrent(LSTM, 3).sequence(),
        dense(5, Activation::Tanh),
        dense(2, Activation::Identity),
    ],
    Loss::Mse);
case!(per_step_loops, [3, 2], loss = mse,
    { gru: Gru<20, { sequence = true }>, hidden: Dense<40, Tanh, { unroll = false }>, head: Dense<1, Identity>, },
    [3, 2],
    [LayerSpec::recurrent(GRU, 20).sequence(), dense(40, Activation::Tanh), dense(1, Activation::Identity)],
    Loss::Mse);
case!(per_step_between_recurrent, [5, 2], loss = mse,
    { gru: Gru<3, { sequence = true }>, proj: Dense<4, Relu>, rnn: Rnn<3>, head: Dense<1, Identity>, },
    [5, 2],
    [LayerSpec::recurrent(GRU, 3).sequence(), dense(4, Activation::Relu), LayerSpec::recurrent(TANH, 3), dense(1, Activation::Identity)],
    Loss::Mse);

case!(per_step_then_tiled_head, [3, 2], loss = mse,
    {
        gru: Gru<3, { sequence = true }>,
        proj: Dense<40, Tanh, { unroll = false }>,
        rnn: Rnn<3>,
        hidden: Dense<48, Tanh, { unroll = false }>,
        head: Dense<1, Identity>,
    },
    [3, 2],
    [
        LayerSpec::recurrent(GRU, 3).sequence(),
        dense(40, Activation::Tanh),
        LayerSpec::recurrent(TANH, 3),
        dense(48, Activation::Tanh),
        dense(1, Activation::Identity),
    ],
    Loss::Mse);

// A softmax at every step: each step's outputs normalized on their own; with
// `cross_entropy`, the mean over the steps of each step's cross-entropy (the targets are
// arbitrary here, not one-hot, so the rule `yₜ·Σtₜ − tₜ` is checked in full).
case!(gru_step_softmax, [7, 3], loss = cross_entropy, { gru: Gru<4, { sequence = true }>, head: Dense<3, Softmax>, },
    [7, 3], [LayerSpec::recurrent(GRU, 4).sequence(), dense(3, Activation::Softmax)], Loss::CrossEntropy);
case!(gru_step_softmax_one_step, [1, 2], loss = cross_entropy,
    { gru: Gru<3, { sequence = true }>, head: Dense<4, Softmax>, },
    [1, 2], [LayerSpec::recurrent(GRU, 3).sequence(), dense(4, Activation::Softmax)], Loss::CrossEntropy);
case!(gru_step_softmax_two_steps, [2, 3], loss = cross_entropy,
    { gru: Gru<3, { sequence = true }>, head: Dense<2, Softmax>, },
    [2, 3], [LayerSpec::recurrent(GRU, 3).sequence(), dense(2, Activation::Softmax)], Loss::CrossEntropy);
case!(lstm_step_softmax, [7, 2], loss = cross_entropy, { lstm: Lstm<3, { sequence = true }>, head: Dense<3, Softmax>, },
    [7, 2], [LayerSpec::recurrent(LSTM, 3).sequence(), dense(3, Activation::Softmax)], Loss::CrossEntropy);
case!(lstm_step_softmax_one_step, [1, 3], loss = cross_entropy,
    { lstm: Lstm<3, { sequence = true }>, head: Dense<2, Softmax>, },
    [1, 3], [LayerSpec::recurrent(LSTM, 3).sequence(), dense(2, Activation::Softmax)], Loss::CrossEntropy);
case!(lstm_step_softmax_two_steps, [2, 2], loss = cross_entropy,
    { lstm: Lstm<3, { sequence = true; bias = false }>, head: Dense<3, Softmax, { bias = false }>, },
    [2, 2], [LayerSpec::recurrent(LSTM, 3).sequence().without_bias(), dense(3, Activation::Softmax).without_bias()],
    Loss::CrossEntropy);
case!(rnn_step_softmax, [7, 2], loss = cross_entropy, { rnn: Rnn<4, { sequence = true }>, head: Dense<3, Softmax>, },
    [7, 2], [LayerSpec::recurrent(TANH, 4).sequence(), dense(3, Activation::Softmax)], Loss::CrossEntropy);
case!(rnn_step_softmax_one_step, [1, 2], loss = cross_entropy,
    { rnn: Rnn<3, { sequence = true; nonlinearity = relu }>, head: Dense<2, Softmax>, },
    [1, 2], [LayerSpec::recurrent(RELU, 3).sequence(), dense(2, Activation::Softmax)], Loss::CrossEntropy);
case!(rnn_step_softmax_two_steps, [2, 3], loss = cross_entropy,
    { rnn: Rnn<4, { sequence = true }>, head: Dense<3, Softmax>, },
    [2, 3], [LayerSpec::recurrent(TANH, 4).sequence(), dense(3, Activation::Softmax)], Loss::CrossEntropy);
case!(stacked_step_softmax, [7, 2], loss = cross_entropy,
    {
        gru: Gru<4, { sequence = true }>,
        lstm: Lstm<3, { sequence = true }>,
        hidden: Dense<5, Tanh>,
        head: Dense<3, Softmax>,
    },
    [7, 2],
    [
        LayerSpec::recurrent(GRU, 4).sequence(),
        LayerSpec::recurrent(LSTM, 3).sequence(),
        dense(5, Activation::Tanh),
        dense(3, Activation::Softmax),
    ],
    Loss::CrossEntropy);
case!(step_softmax_loops, [3, 2], loss = cross_entropy,
    {
        gru: Gru<20, { sequence = true }>,
        hidden: Dense<40, Tanh, { unroll = false }>,
        head: Dense<6, Softmax, { unroll = false }>,
    },
    [3, 2],
    [LayerSpec::recurrent(GRU, 20).sequence(), dense(40, Activation::Tanh), dense(6, Activation::Softmax)],
    Loss::CrossEntropy);
// A softmax at every step with another loss (its Jacobian-vector product per step), and
// inside the network.
case!(step_softmax_mse, [5, 2], loss = mse, { gru: Gru<3, { sequence = true }>, head: Dense<3, Softmax>, },
    [5, 2], [LayerSpec::recurrent(GRU, 3).sequence(), dense(3, Activation::Softmax)], Loss::Mse);
case!(hidden_step_softmax, [5, 2], loss = cross_entropy,
    { rnn: Rnn<3, { sequence = true }>, mix: Dense<4, Softmax>, head: Dense<2, Softmax>, },
    [5, 2],
    [LayerSpec::recurrent(TANH, 3).sequence(), dense(4, Activation::Softmax), dense(2, Activation::Softmax)],
    Loss::CrossEntropy);

/// The input Jacobian of a per-step head against central differences of `forward`: row
/// `t·OUT + o` is the derivative of step `t`'s output `o`, zero on the inputs of later
/// steps.
#[test]
fn per_step_input_jacobian() {
    use gru_per_step::N64;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(31);
    let mut params = [0.0; N64::PARAMS];
    fill(&mut rng, &mut params, 0.8);
    let net = N64::from_params(params);
    let mut x = [0.0; N64::INPUT];
    fill(&mut rng, &mut x, 1.5);
    let jac = net.input_jacobian(&x);
    for i in 0..N64::INPUT {
        let (mut up, mut down) = (x, x);
        up[i] += STEP;
        down[i] -= STEP;
        let (yu, yd) = (net.forward(&up), net.forward(&down));
        for k in 0..N64::OUTPUT {
            let fd = (yu[k] - yd[k]) / (2.0 * STEP);
            assert!(close(jac[k][i], fd, F64_TOL, 1e-3), "d y[{k}] / d x[{i}]: {} vs central {fd}", jac[k][i]);
            if i / 3 > k / 2 {
                assert_eq!(jac[k][i], 0.0, "step {} does not depend on step {}", k / 2, i / 3);
            }
        }
    }
    assert!(N64::DERIVATION.contains("at every step"), "{}", N64::DERIVATION);
}

/// The dynamic network's rules for a dense layer on a sequence: per step above
/// `sequence`, a softmax there per step; a convolution's output still needs a flatten.
#[test]
fn dynamic_per_step_rules() {
    use stackprop::dynamic::SpecError;
    let softmax = [LayerSpec::recurrent(GRU, 3).sequence(), dense(2, Activation::Softmax)];
    let mut net = DynamicNet::<f64>::seeded_with_shape(&[4, 2], &softmax, Loss::CrossEntropy, 3).unwrap();
    assert_eq!(net.output_shape(1), &[4, 2]);
    let y = net.forward(&[0.5, -1.0, 0.25, 2.0, -0.75, 1.5, 0.0, -2.0]).to_vec();
    for row in y.chunks(2) {
        assert!((row[0] + row[1] - 1.0).abs() < 1e-15, "every step sums to 1: {y:?}");
    }
    let conv = [LayerSpec::conv1d(3, 2, Activation::Relu), dense(1, Activation::Identity)];
    assert_eq!(
        DynamicNet::<f64>::with_shape(&[4, 5], &conv, Loss::Mse).unwrap_err(),
        SpecError::DenseNeedsFlatten { layer: 1, rank: 2 }
    );
    let norm = [LayerSpec::recurrent(GRU, 3).sequence(), LayerSpec::layer_norm(), dense(1, Activation::Identity)];
    assert_eq!(
        DynamicNet::<f64>::with_shape(&[4, 2], &norm, Loss::Mse).unwrap_err(),
        SpecError::DenseNeedsFlatten { layer: 2, rank: 2 }
    );
    let net = DynamicNet::<f64>::with_shape(&[4, 2], &[softmax[0], dense(2, Activation::Sigmoid)], Loss::Mse).unwrap();
    assert_eq!(net.output_shape(1), &[4, 2]);
}

/// A softmax at every step is `torch.softmax(z, dim=-1)` on `[T][C]` logits, and
/// `cross_entropy` there `torch.nn.CrossEntropyLoss` over the `T` steps (mean over the
/// steps of `−Σ_c t_tc·ln p_tc`): checked on the generated network's own outputs, with
/// probability targets and with class targets, and against a network with the same
/// weights and an `Identity` head (the logits).
#[test]
fn step_softmax_is_per_step_cross_entropy() {
    mod logits {
        use super::*;
        #[network(input = [7, 3], loss = mse, scalar = f64)]
        pub struct N64 {
            gru: Gru<4, { sequence = true }>,
            head: Dense<3, Identity>,
        }
    }
    use gru_step_softmax::N64;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(12);
    let mut params = [0.0; N64::PARAMS];
    fill(&mut rng, &mut params, 0.8);
    let net = N64::from_params(params);
    let z_net = logits::N64::from_params(params);
    let mut x = [0.0; N64::INPUT];
    fill(&mut rng, &mut x, 1.5);
    let (y, z) = (net.forward(&x), z_net.forward(&x));
    // A probability target at every step, and a class per step.
    let mut t = [0.0; 21];
    for step in t.chunks_mut(3) {
        fill(&mut rng, step, 1.0);
        step.iter_mut().for_each(|v| *v = v.abs() + 0.1);
        let sum: f64 = step.iter().sum();
        step.iter_mut().for_each(|v| *v /= sum);
    }
    let classes = [2, 0, 1, 1, 0, 2, 2];
    let mut one_hot = [0.0; 21];
    for (s, &c) in classes.iter().enumerate() {
        one_hot[3 * s + c] = 1.0;
    }
    let mut expected = 0.0;
    let mut expected_hot = 0.0;
    for s in 0..7 {
        let row = &z[3 * s..3 * s + 3];
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = row.iter().map(|v| (v - m).exp()).collect();
        let sum: f64 = e.iter().sum();
        for k in 0..3 {
            assert!(close(y[3 * s + k], e[k] / sum, 1e-14, 1e-300), "step {s} output {k}");
            expected -= t[3 * s + k] * (e[k] / sum).ln() / 7.0;
        }
        expected_hot -= (e[classes[s]] / sum).ln() / 7.0;
    }
    let loss = net.loss(&x, &t);
    assert!(close(loss, expected, 1e-13, 1e-300), "loss {loss} vs the mean over steps {expected}");
    let loss_hot = net.loss(&x, &one_hot);
    assert!(close(loss_hot, expected_hot, 1e-13, 1e-300), "loss {loss_hot} vs {expected_hot}");
    // A class index per step, as PyTorch's `[batch, T]` targets: the same one-hot rows.
    let per_step: [f64; 21] = StepClasses(classes).to_target();
    assert_eq!(per_step, one_hot);
    assert_eq!(net.loss(&x, &StepClasses(classes)).to_bits(), loss_hot.to_bits());
    let (mut g_hot, mut g_idx) = ([0.0; N64::PARAMS], [0.0; N64::PARAMS]);
    net.gradient(&x, &one_hot, &mut g_hot);
    net.gradient(&x, &StepClasses(classes), &mut g_idx);
    assert_eq!(g_hot, g_idx);
    // The output delta is (yₜ − tₜ)/T for probability targets: the head bias gradient
    // is its sum over the steps.
    let mut g = [0.0; N64::PARAMS];
    net.gradient(&x, &t, &mut g);
    let bias = &g[N64::PARAMS - 3..];
    for k in 0..3 {
        let d: f64 = (0..7).map(|s| (y[3 * s + k] - t[3 * s + k]) / 7.0).sum();
        assert!(close(bias[k], d, 1e-13, 1e-3), "head.bias gradient [{k}]: {} vs {d}", bias[k]);
    }
    assert!(N64::DERIVATION.contains("at every step"), "{}", N64::DERIVATION);
    assert!(N64::DERIVATION.contains("(1/7)"), "{}", N64::DERIVATION);
}

/// PyTorch's names, shapes and order, and `U(±1/√H)` for every tensor, drawn in the
/// order the dynamic network draws them.
#[test]
fn pytorch_layout_and_initialization() {
    use lstm::N64;
    let names: Vec<(&str, &[usize])> = N64::LAYOUT.iter().map(|p| (p.name, p.shape)).collect();
    assert_eq!(
        names,
        [
            ("lstm.weight_ih_l0", &[16, 3][..]),
            ("lstm.weight_hh_l0", &[16, 4][..]),
            ("lstm.bias_ih_l0", &[16][..]),
            ("lstm.bias_hh_l0", &[16][..]),
            ("head.weight", &[2, 4][..]),
            ("head.bias", &[2][..]),
        ]
    );
    let net = N64::seeded(11);
    let bound = 1.0 / 2.0; // 1/√4
    let recurrent = &net.params()[..16 * 3 + 16 * 4 + 32];
    assert!(recurrent.iter().all(|w| w.abs() <= bound));
    assert!(recurrent.iter().any(|w| w.abs() > 0.9 * bound), "drawn over the whole range");
    assert!(recurrent[16 * 7..].iter().all(|&b| b != 0.0), "biases are drawn, as in PyTorch");
    let dynamic = DynamicNet::<f64>::seeded_with_shape(
        &[7, 3],
        &[LayerSpec::recurrent(LSTM, 4), dense(2, Activation::Identity)],
        Loss::HalfSse,
        11,
    )
    .expect("valid");
    assert_eq!(net.params().as_slice(), dynamic.params());
}

/// After `T` steps from the zero state, `step` equals `forward` bit for bit; after
/// `t < T` steps it equals the dynamic network run on the first `t` steps.
fn check_streaming<N: Network<Scalar = f64>>(
    name: &str,
    features: usize,
    layers: &[LayerSpec],
    step: impl Fn(&N, &mut Vec<f64>, &[f64]) -> Vec<f64>,
    state: Vec<f64>,
) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(77);
    let mut params = N::Params::zeroed();
    fill(&mut rng, params.as_mut(), 0.8);
    let net = N::from_params(params.clone());
    let mut x = N::Input::zeroed();
    fill(&mut rng, x.as_mut(), 1.5);
    let steps = N::INPUT / features;
    for round in 0..2 {
        let mut s = state.clone();
        let mut last = Vec::new();
        for t in 0..steps {
            last = step(&net, &mut s, &x.as_ref()[t * features..(t + 1) * features]);
            let mut prefix = DynamicNet::<f64>::with_shape(&[t + 1, features], layers, Loss::HalfSse).expect("valid");
            prefix.set_params(params.as_ref()).expect("same parameters at every length");
            let expected = prefix.forward(&x.as_ref()[..(t + 1) * features]);
            assert_close(name, "step vs dynamic prefix", &last, expected, DYN_TOL);
        }
        assert_eq!(last.as_slice(), net.forward(&x).as_ref(), "{name} (round {round}): step vs forward, bit for bit");
    }
}

#[test]
fn streaming_equals_the_sequence_forward() {
    check_streaming::<gru::N64>(
        "gru",
        3,
        &[LayerSpec::recurrent(GRU, 4), dense(2, Activation::Tanh)],
        |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
        gru::N64::new_state().to_vec(),
    );
    check_streaming::<lstm::N64>(
        "lstm",
        3,
        &[LayerSpec::recurrent(LSTM, 4), dense(2, Activation::Identity)],
        |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
        lstm::N64::new_state().to_vec(),
    );
    check_streaming::<rnn_relu::N64>(
        "rnn_relu",
        3,
        &[LayerSpec::recurrent(RELU, 5), dense(2, Activation::Identity)],
        |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
        rnn_relu::N64::new_state().to_vec(),
    );
    assert_eq!(stacked::N64::STATE, 4 + 2 * 3 + 3);
    check_streaming::<stacked::N64>(
        "stacked",
        2,
        &[
            LayerSpec::recurrent(GRU, 4).sequence(),
            LayerSpec::recurrent(LSTM, 3).sequence(),
            LayerSpec::recurrent(TANH, 3),
            dense(1, Activation::Identity),
        ],
        |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
        stacked::N64::new_state().to_vec(),
    );
    // f32 too: the same step function as the forward.
    let net = lstm::N32::seeded(5);
    let x: [f32; 21] = core::array::from_fn(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0);
    let mut s = lstm::N32::new_state();
    let mut y = [0.0; 2];
    for xt in x.as_chunks::<3>().0 {
        y = net.step(&mut s, xt);
    }
    assert_eq!(y, net.forward(&x));
}

/// A per-step head streams: step `t` returns row `t` of `forward` bit for bit, and the
/// dynamic network's last row on the first `t + 1` steps.
fn check_streaming_per_step<N: Network<Scalar = f64>>(
    name: &str,
    features: usize,
    layers: &[LayerSpec],
    step: impl Fn(&N, &mut Vec<f64>, &[f64]) -> Vec<f64>,
    state: Vec<f64>,
) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(78);
    let mut params = N::Params::zeroed();
    fill(&mut rng, params.as_mut(), 0.8);
    let net = N::from_params(params.clone());
    let mut x = N::Input::zeroed();
    fill(&mut rng, x.as_mut(), 1.5);
    let steps = N::INPUT / features;
    let out = N::OUTPUT / steps;
    let y = net.forward(&x);
    let mut s = state.clone();
    for t in 0..steps {
        let row = step(&net, &mut s, &x.as_ref()[t * features..(t + 1) * features]);
        assert_eq!(row.as_slice(), &y.as_ref()[t * out..(t + 1) * out], "{name}: step {t} vs forward row, bit for bit");
        let mut prefix = DynamicNet::<f64>::with_shape(&[t + 1, features], layers, Loss::Mse).expect("valid");
        prefix.set_params(params.as_ref()).expect("same parameters at every length");
        let expected = prefix.forward(&x.as_ref()[..(t + 1) * features]);
        assert_close(name, "step vs dynamic prefix", &row, &expected[t * out..], DYN_TOL);
    }
    // From the zero state again: the same rows.
    let mut s = state;
    let first = step(&net, &mut s, &x.as_ref()[..features]);
    assert_eq!(first.as_slice(), &y.as_ref()[..out], "{name}: a new state starts the sequence again");
}

/// The streaming network of a per-step head through dropout (the identity in inference).
mod per_step_dropout {
    use super::*;

    #[network(input = [6, 2], loss = mse, scalar = f64)]
    pub struct N64 {
        gru: Gru<4, { sequence = true }>,
        drop: Dropout<0.25>,
        hidden: Dense<3, Relu>,
        head: Dense<2, Identity>,
    }
}

#[test]
fn per_step_heads_stream_row_by_row() {
    let worker = std::thread::Builder::new().stack_size(2 << 20).spawn(|| {
        check_streaming_per_step::<gru_per_step::N64>(
            "gru_per_step",
            3,
            &[LayerSpec::recurrent(GRU, 4).sequence(), dense(2, Activation::Tanh)],
            |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
            gru_per_step::N64::new_state().to_vec(),
        );
        check_streaming_per_step::<lstm_per_step::N64>(
            "lstm_per_step",
            3,
            &[LayerSpec::recurrent(LSTM, 3).sequence(), dense(2, Activation::Identity)],
            |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
            lstm_per_step::N64::new_state().to_vec(),
        );
        check_streaming_per_step::<rnn_per_step::N64>(
            "rnn_per_step",
            2,
            &[LayerSpec::recurrent(TANH, 4).sequence(), dense(1, Activation::Identity)],
            |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
            rnn_per_step::N64::new_state().to_vec(),
        );
        assert_eq!(stacked_per_step::N64::STATE, 4 + 2 * 3);
        check_streaming_per_step::<stacked_per_step::N64>(
            "stacked_per_step",
            2,
            &[
                LayerSpec::recurrent(GRU, 4).sequence(),
                LayerSpec::recurrent(LSTM, 3).sequence(),
                dense(5, Activation::Tanh),
                dense(2, Activation::Identity),
            ],
            |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
            stacked_per_step::N64::new_state().to_vec(),
        );
        check_streaming_per_step::<per_step_loops::N64>(
            "per_step_loops",
            2,
            &[LayerSpec::recurrent(GRU, 20).sequence(), dense(40, Activation::Tanh), dense(1, Activation::Identity)],
            |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
            per_step_loops::N64::new_state().to_vec(),
        );
        check_streaming_per_step::<per_step_dropout::N64>(
            "per_step_dropout",
            2,
            &[
                LayerSpec::recurrent(GRU, 4).sequence(),
                LayerSpec::dropout(0.25),
                dense(3, Activation::Relu),
                dense(2, Activation::Identity),
            ],
            |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
            per_step_dropout::N64::new_state().to_vec(),
        );
        // A softmax at every step: the step's softmax of its own logits.
        check_streaming_per_step::<gru_step_softmax::N64>(
            "gru_step_softmax",
            3,
            &[LayerSpec::recurrent(GRU, 4).sequence(), dense(3, Activation::Softmax)],
            |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
            gru_step_softmax::N64::new_state().to_vec(),
        );
        check_streaming_per_step::<lstm_step_softmax::N64>(
            "lstm_step_softmax",
            2,
            &[LayerSpec::recurrent(LSTM, 3).sequence(), dense(3, Activation::Softmax)],
            |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
            lstm_step_softmax::N64::new_state().to_vec(),
        );
        check_streaming_per_step::<rnn_step_softmax::N64>(
            "rnn_step_softmax",
            2,
            &[LayerSpec::recurrent(TANH, 4).sequence(), dense(3, Activation::Softmax)],
            |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
            rnn_step_softmax::N64::new_state().to_vec(),
        );
        check_streaming_per_step::<stacked_step_softmax::N64>(
            "stacked_step_softmax",
            2,
            &[
                LayerSpec::recurrent(GRU, 4).sequence(),
                LayerSpec::recurrent(LSTM, 3).sequence(),
                dense(5, Activation::Tanh),
                dense(3, Activation::Softmax),
            ],
            |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
            stacked_step_softmax::N64::new_state().to_vec(),
        );
        check_streaming_per_step::<step_softmax_loops::N64>(
            "step_softmax_loops",
            2,
            &[LayerSpec::recurrent(GRU, 20).sequence(), dense(40, Activation::Tanh), dense(6, Activation::Softmax)],
            |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
            step_softmax_loops::N64::new_state().to_vec(),
        );
        check_streaming_per_step::<hidden_step_softmax::N64>(
            "hidden_step_softmax",
            2,
            &[LayerSpec::recurrent(TANH, 3).sequence(), dense(4, Activation::Softmax), dense(2, Activation::Softmax)],
            |n, s, x| n.step(s.as_mut_slice().try_into().unwrap(), x.try_into().unwrap()).to_vec(),
            hidden_step_softmax::N64::new_state().to_vec(),
        );
        let net = gru_step_softmax::N32::seeded(5);
        let x: [f32; 21] = core::array::from_fn(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0);
        let y = net.forward(&x);
        let mut s = gru_step_softmax::N32::new_state();
        for (t, xt) in x.as_chunks::<3>().0.iter().enumerate() {
            let row: [f32; 3] = net.step(&mut s, xt);
            assert_eq!(row, y[3 * t..3 * t + 3]);
        }
        // f32 too: one step's output is `[OUT]`.
        let net = gru_per_step::N32::seeded(5);
        let x: [f32; 21] = core::array::from_fn(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0);
        let y = net.forward(&x);
        let mut s = gru_per_step::N32::new_state();
        for (t, xt) in x.as_chunks::<3>().0.iter().enumerate() {
            let row: [f32; 2] = net.step(&mut s, xt);
            assert_eq!(row, y[2 * t..2 * t + 2]);
        }
    });
    worker.expect("spawn").join().expect("streams on a 2 MiB stack");
}

/// A per-step head is `torch.nn.Linear` at every step: `head.weight [OUT][F]` and
/// `head.bias [OUT]`, drawn as a dense layer's (the dynamic network's draws), and the
/// mini-batch step trains it.
#[test]
fn per_step_layout_and_train_batch() {
    let worker = std::thread::Builder::new().stack_size(2 << 20).spawn(|| {
        use stacked_per_step::N64;
        let names: Vec<(&str, &[usize])> = N64::LAYOUT.iter().map(|p| (p.name, p.shape)).collect();
        assert_eq!(
            &names[8..],
            [
                ("hidden.weight", &[5, 3][..]),
                ("hidden.bias", &[5][..]),
                ("head.weight", &[2, 5][..]),
                ("head.bias", &[2][..])
            ]
        );
        assert_eq!((N64::INPUT, N64::OUTPUT), (7 * 2, 7 * 2));
        let layers = [
            LayerSpec::recurrent(GRU, 4).sequence(),
            LayerSpec::recurrent(LSTM, 3).sequence(),
            dense(5, Activation::Tanh),
            dense(2, Activation::Identity),
        ];
        let net = N64::seeded(9);
        let dynamic = DynamicNet::<f64>::seeded_with_shape(&[7, 2], &layers, Loss::Mse, 9).expect("valid");
        assert_eq!(net.params().as_slice(), dynamic.params());
        assert_eq!(net.head().weight().len(), 2);

        // A sequence target: the running sum of the first feature, at every step.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let sample = |rng: &mut Xoshiro256PlusPlus| {
            let mut x = [0.0; 14];
            fill(rng, &mut x, 1.0);
            let mut t = [0.0; 14];
            let mut sum = 0.0;
            for s in 0..7 {
                sum += x[2 * s];
                t[2 * s] = sum / 3.0;
                t[2 * s + 1] = x[2 * s + 1];
            }
            (x, t)
        };
        let (xs, ts): (Vec<_>, Vec<_>) = (0..256).map(|_| sample(&mut rng)).unzip();
        let mut net = net;
        let before = net.mean_loss(&xs, &ts);
        let mut adam = stackprop::Adam::new(1e-2);
        let mut grad = [0.0; N64::PARAMS];
        for _ in 0..40 {
            for (x, t) in xs.chunks(16).zip(ts.chunks(16)) {
                net.train_batch(x, t, &mut grad, &mut adam);
            }
        }
        let after = net.mean_loss(&xs, &ts);
        assert!(after < 0.1 * before, "loss at every step {before} -> {after}");
    });
    worker.expect("spawn").join().expect("trains on a 2 MiB stack");
}

/// The adding problem, short: a sequence of `(value, marker)` pairs, two of them
/// marked; the target is the sum of the two marked values. A last-state model must
/// remember the first marked value until the end.
mod memory {
    use super::*;

    const T: usize = 8;

    #[network(input = [8, 2], loss = mse)]
    pub struct Adder {
        gru: Gru<12>,
        head: Dense<1, Identity>,
    }

    fn sample(rng: &mut impl Rng) -> ([f32; 2 * T], [f32; 1]) {
        let mut x = [0.0; 2 * T];
        for t in 0..T {
            x[2 * t] = uniform(rng, 1.0) as f32;
        }
        let a = (rng.next_u64() % (T as u64 / 2)) as usize;
        let b = T / 2 + (rng.next_u64() % (T as u64 / 2)) as usize;
        x[2 * a + 1] = 1.0;
        x[2 * b + 1] = 1.0;
        (x, [x[2 * a] + x[2 * b]])
    }

    #[test]
    fn learns_the_adding_problem() {
        let worker = std::thread::Builder::new().stack_size(2 << 20).spawn(|| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
            let (xs, ts): (Vec<_>, Vec<_>) = (0..1000).map(|_| sample(&mut rng)).unzip();
            let (test_x, test_t): (Vec<_>, Vec<_>) = (0..200).map(|_| sample(&mut rng)).unzip();
            let mut net = Adder::seeded(1);
            // Predicting the mean target (0) scores the variance of a sum of two
            // uniform(−1, 1) values: 2/3.
            let before = net.mean_loss(&test_x, &test_t);
            let mut adam = stackprop::Adam::new(1e-2);
            let mut grad = [0.0; Adder::PARAMS];
            for _ in 0..30 {
                for (x, t) in xs.chunks(16).zip(ts.chunks(16)) {
                    net.train_batch(x, t, &mut grad, &mut adam);
                }
            }
            let after = net.mean_loss(&test_x, &test_t);
            assert!(before > 0.3, "untrained loss {before}");
            assert!(after < 0.02, "held-out loss {before} -> {after}");
        });
        worker.expect("spawn").join().expect("trains on a 2 MiB stack");
    }
}

#[test]
#[should_panic(expected = "class index 3 at step 1 out of range for 3 classes")]
fn step_class_out_of_range_panics() {
    let _: [f32; 6] = StepClasses([0, 3]).to_target();
}

#[test]
#[should_panic(expected = "4 steps do not divide 6 outputs")]
fn step_classes_must_divide_the_output() {
    let _: [f32; 6] = StepClasses([0, 1, 0, 1]).to_target();
}

/// Tagging every step: echo the class of the previous step's input (one of three, one-hot
/// input), with `cross_entropy` at every step against `Class`-like one-hot rows. The
/// first step has no previous input; its target is class 0. Chance is 1/3 per step.
mod tagging {
    use super::*;

    const T: usize = 8;
    const C: usize = 3;

    #[network(input = [8, 3], loss = cross_entropy)]
    pub struct Echo {
        gru: Gru<12, { sequence = true }>,
        head: Dense<3, Softmax>,
    }

    fn sample(rng: &mut impl Rng) -> ([f32; T * C], [f32; T * C], [usize; T]) {
        let mut x = [0.0; T * C];
        let mut t = [0.0; T * C];
        let mut labels = [0; T];
        let mut prev = 0;
        for s in 0..T {
            let c = (rng.next_u64() % C as u64) as usize;
            x[s * C + c] = 1.0;
            t[s * C + prev] = 1.0;
            labels[s] = prev;
            prev = c;
        }
        (x, t, labels)
    }

    fn accuracy(net: &Echo, xs: &[[f32; T * C]], labels: &[[usize; T]]) -> f64 {
        let mut right = 0;
        for (x, l) in xs.iter().zip(labels) {
            let y = net.forward(x);
            for (s, row) in y.chunks(C).enumerate() {
                right += usize::from(stackprop::data::argmax(row) == l[s]);
            }
        }
        right as f64 / (xs.len() * T) as f64
    }

    #[test]
    fn learns_to_tag_every_step() {
        let worker = std::thread::Builder::new().stack_size(2 << 20).spawn(|| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
            let (mut xs, mut ts, mut ls) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..600 {
                let (x, t, l) = sample(&mut rng);
                xs.push(x);
                ts.push(t);
                ls.push(l);
            }
            let (mut test_x, mut test_l) = (Vec::new(), Vec::new());
            for _ in 0..200 {
                let (x, _, l) = sample(&mut rng);
                test_x.push(x);
                test_l.push(l);
            }
            let mut net = Echo::seeded(2);
            let before = accuracy(&net, &test_x, &test_l);
            let loss_before = net.mean_loss(&xs, &ts);
            let mut adam = stackprop::Adam::new(1e-2);
            let mut grad = [0.0; Echo::PARAMS];
            for _ in 0..15 {
                for (x, t) in xs.chunks(16).zip(ts.chunks(16)) {
                    net.train_batch(x, t, &mut grad, &mut adam);
                }
            }
            let after = accuracy(&net, &test_x, &test_l);
            let loss_after = net.mean_loss(&xs, &ts);
            // ln 3 ≈ 1.1 is the loss of a uniform guess at every step.
            assert!(loss_after < 0.2 * loss_before, "loss per step {loss_before} -> {loss_after}");
            assert!(after > 0.95, "held-out accuracy per step {before} -> {after} (chance 1/3)");
        });
        worker.expect("spawn").join().expect("trains on a 2 MiB stack");
    }
}

/// Truncated backpropagation through time: windows of a stream, each starting from the
/// state the last one ended in.
mod truncated {
    use super::*;
    use stacked::N64 as Window;

    /// The stacked network over two windows at once.
    #[network(input = [14, 2], loss = half_sse, scalar = f64)]
    pub struct Both {
        gru: Gru<4, { sequence = true }>,
        lstm: Lstm<3, { sequence = true }>,
        rnn: Rnn<3>,
        head: Dense<1, Identity>,
    }

    fn setup() -> (Window, [f64; 28], [f64; Window::PARAMS]) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(21);
        let mut params = [0.0; Window::PARAMS];
        fill(&mut rng, &mut params, 0.8);
        let mut x = [0.0; 28];
        fill(&mut rng, &mut x, 1.5);
        (Window::from_params(params), x, params)
    }

    #[test]
    fn windows_continue_the_sequence_bit_for_bit() {
        let (net, x, params) = setup();
        let (x1, x2): (&[f64; 14], &[f64; 14]) = (x[..14].try_into().unwrap(), x[14..].try_into().unwrap());
        // From the zero state, the training forward from a state is the training forward.
        let (mut tr, mut tr0) = ([0.0; Window::TRACE], [1.0; Window::TRACE]);
        let y = net.forward_trace(x1, &mut tr);
        assert_eq!(y, net.forward_trace_from(&Window::new_state(), x1, &mut tr0));
        assert_eq!(tr, tr0);
        // The second window from the first's end state is the 14-step sequence.
        let mut state = Window::new_state();
        Window::end_state(&tr, &mut state);
        let y2 = net.forward_trace_from(&state, x2, &mut tr);
        assert_eq!(y2, Both::from_params(params).forward(&x));
        // So is streaming all 14 steps.
        let mut s = Window::new_state();
        let mut y = [0.0];
        for x_t in x.as_chunks::<2>().0 {
            y = net.step(&mut s, x_t);
        }
        assert_eq!(y, y2);
        // And the end state is the streaming state.
        Window::end_state(&tr, &mut state);
        assert_eq!(state, s);
    }

    #[test]
    fn a_window_gradient_from_a_state_matches_central_differences() {
        let (mut net, x, _) = setup();
        let (x1, x2): (&[f64; 14], &[f64; 14]) = (x[..14].try_into().unwrap(), x[14..].try_into().unwrap());
        let t = [0.7];
        let mut tr = [0.0; Window::TRACE];
        let _ = net.forward_trace(x1, &mut tr);
        let mut state = Window::new_state();
        Window::end_state(&tr, &mut state);
        assert!(state.iter().all(|&s| s != 0.0));
        let loss = |net: &Window| {
            let mut tr = [0.0; Window::TRACE];
            let _ = net.forward_trace_from(&state, x2, &mut tr);
            net.trace_loss(&tr, &t)
        };
        let _ = net.forward_trace_from(&state, x2, &mut tr);
        let mut g = [0.0; Window::PARAMS];
        let mut dx = [0.0; 14];
        net.backward(x2, &tr, &t, 1.0, &mut g, Some(&mut dx));
        for (i, &gi) in g.iter().enumerate() {
            let p = net.params()[i];
            net.params_mut()[i] = p + STEP;
            let up = loss(&net);
            net.params_mut()[i] = p - STEP;
            let down = loss(&net);
            net.params_mut()[i] = p;
            let fd = (up - down) / (2.0 * STEP);
            assert!(close(gi, fd, F64_TOL, 1e-3), "parameter {i}: backward {gi} vs central {fd}");
        }
        // The input gradient too: the window's own inputs only.
        let mut xp = *x2;
        for i in 0..14 {
            let v = xp[i];
            let mut at = |d: f64| {
                xp[i] = v + d;
                let mut tr = [0.0; Window::TRACE];
                let _ = net.forward_trace_from(&state, &xp, &mut tr);
                net.trace_loss(&tr, &t)
            };
            let fd = (at(STEP) - at(-STEP)) / (2.0 * STEP);
            xp[i] = v;
            assert!(close(dx[i], fd, F64_TOL, 1e-3), "input {i}: backward {} vs central {fd}", dx[i]);
        }
    }

    /// A one-pole low-pass filter of a long noisy stream, learned in windows of 8 steps
    /// with the state carried across windows.
    #[network(input = [8, 1], loss = mse, scalar = f64)]
    pub struct Filter {
        gru: Gru<6, { sequence = true }>,
        rnn: Rnn<4>,
        head: Dense<1, Identity>,
    }

    #[test]
    fn train_window_learns_a_filter_over_a_long_stream() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let n = 8 * 400;
        let xs: Vec<f64> = (0..n).map(|_| uniform(&mut rng, 1.0)).collect();
        let mut y = 0.0;
        let ys: Vec<f64> = xs
            .iter()
            .map(|&x| {
                y = 0.8 * y + 0.2 * x;
                y
            })
            .collect();
        let mut net = Filter::seeded(4);
        let mut adam = stackprop::Adam::new(1e-2);
        let mut epoch_loss = Vec::new();
        for _ in 0..8 {
            let mut state = Filter::new_state();
            let mut sum = 0.0;
            for (w, win) in xs.chunks_exact(8).enumerate() {
                let x: &[f64; 8] = win.try_into().unwrap();
                sum += net.train_window(&mut state, x, &[ys[w * 8 + 7]], &mut adam);
            }
            epoch_loss.push(sum / 400.0);
        }
        // Always answering the mean scores the variance of the filtered signal.
        let mean = ys.iter().sum::<f64>() / n as f64;
        let variance = ys.iter().map(|y| (y - mean) * (y - mean)).sum::<f64>() / n as f64;
        let last = epoch_loss[7];
        assert!(last < 0.05 * variance, "variance {variance}, loss per epoch {epoch_loss:?}");
    }
}
