//! Generated networks against the dynamic reference network
//! ([`DynamicNet`]) on the same weights.
//!
//! Each spec below is declared once by `agree!`, which generates it with `scalar = f64`
//! and `scalar = f32` and builds the matching [`DynamicNet`] from hand-written
//! [`LayerSpec`]s and [`Loss`]. For each spec and each precision the test checks:
//!
//! - the parameter layout: same count, and every `LAYOUT` tensor at the dynamic
//!   network's weight and bias ranges;
//! - seeded initialization: `Net::seeded(s)` and `DynamicNet::seeded(.., s)` give
//!   identical parameters, bit for bit (both draw through `Init::fill` layer by layer);
//! - on the seeded weights and on random weights (nonzero biases) with random inputs and
//!   targets: the output, the loss, the parameter gradient (`Network::gradient` against
//!   `DynamicNet::accumulate_gradient`), the input gradient (`input_gradient` of both),
//!   `backward` with a scale of 0.37 adding into non-zero parameter and input gradient
//!   buffers; and on mini-batches of 1, 5, 16, 17 and 40 samples the mean loss and the
//!   mean gradient (generated networks with a layer emitted as loops take a batch in
//!   tiles of 16 samples, so these sizes cover partial, whole and several tiles);
//! - training from the seeded weights, K = 20 steps of plain SGD, SGD with Nesterov
//!   momentum and weight decay, Adam and AdamW, each once per sample (`train_step`;
//!   plain SGD takes the generated network's fused backward) and once per mini-batch
//!   (`train_batch`): the loss returned by every step and the parameters after every
//!   step, so a failure names the first step that drifts.
//!
//! Every quantity — a vector such as a gradient, or a single number such as a loss — is
//! compared element by element with an error relative to the element, floored at the
//! quantity's scale capped at 1:
//!
//! ```text
//! err_i = |a_i − b_i| / max(|a_i|, |b_i|, s),   s = min(1, max_j max(|a_j|, |b_j|))
//! ```
//!
//! and `err_i ≤ tol` for every `i` (`err_i = 0` where `a_i = b_i`). This implies both
//! `|a_i − b_i| ≤ tol·max(|a_i|, |b_i|, 1)` and the norm-wise relative error
//! `‖a − b‖∞ ≤ tol·max(‖a‖∞, ‖b‖∞)`, so it is scale-free for quantities smaller than 1
//! and plain relative error for single numbers. The floor is needed: an element far
//! below the rest of its vector, such as a weight-gradient entry whose input is a
//! pre-activation that nearly cancels, carries the rounding of the cancelled terms, and
//! its own relative error is meaningless (such entries of about 1e-7 differ by up to
//! 1e-11 relative in f64 here, at 1e-17 absolute).
//!
//! - f64: `tol = 1e-12`. Both implementations evaluate the same formulas, but not always
//!   in the same order: the dynamic network's rows go through the lane-split dot kernel
//!   while unrolled layers sum serially, a tiled mini-batch sums over samples in its own
//!   order (with fused multiply-adds where the target has them), activation derivatives
//!   may be written in algebraically equal but different forms (SiLU's, for one), and a
//!   batch's `1/n` is applied to the output delta by generated code and to each gradient
//!   row by the dynamic one. Each of these moves a result by a few units in the last
//!   place (`2⁻⁵² ≈ 2.2e-16`); 1e-12 leaves room for them to accumulate over four layers
//!   and twenty optimizer steps, and is still far below any difference a wrong formula
//!   would make.
//! - f32: `tol = 1e-5`, about 170 units in the last place of f32 (`2⁻²³ ≈ 1.2e-7`): the
//!   same reordering and rewriting as in f64, now at f32's rounding, accumulated the same
//!   way; a wrong formula still differs by orders of magnitude more.
//!
//! Each test prints the largest error it measured (`cargo test -- --nocapture`).

use stackprop::SplitMix64;
use stackprop::dynamic::Activation as A;
use stackprop::dynamic::{DynamicNet, LayerSpec, Loss};
use stackprop::optim::{Adam, AdamW, Sgd};
use stackprop::prelude::*;
use stackprop::rng::{symmetric, unit_f64};

/// Element-wise tolerance in f64; see the module documentation.
const F64_TOL: f64 = 1e-12;
/// Element-wise tolerance in f32; see the module documentation.
const F32_TOL: f64 = 1e-5;
/// Random weight sets per spec, after the seeded one.
const ROUNDS: usize = 5;
/// Samples checked one at a time per weight set.
const PER_SAMPLE: usize = 4;
/// Mini-batch sizes checked per weight set: a single sample, part of a tile of 16, one
/// tile, one tile and one sample, several tiles with a partial last one.
const BATCHES: [usize; 5] = [1, 5, 16, 17, 40];
/// Samples drawn per weight set (the largest batch).
const SAMPLES: usize = 40;
/// Samples per step of `train_batch`.
const BATCH: usize = 17;
/// Optimizer steps per training run.
const STEPS: usize = 20;
/// The scale passed to `backward` to check that it is applied.
const SCALE: f64 = 0.37;

/// What the loss of a spec compares the output with.
#[derive(Clone, Copy, Debug)]
enum Targets {
    /// Any real numbers, in [−1.5, 1.5].
    Real,
    /// Probability vectors, one-hot on every other sample (cross-entropy).
    Distribution,
    /// Each in [0, 1] (binary cross-entropy).
    UnitInterval,
}

/// The largest error `err_i` (see the module documentation) met in one spec, and where.
struct Agreement {
    spec: &'static str,
    tol: f64,
    worst: f64,
    at: String,
}

impl Agreement {
    fn new(spec: &'static str, tol: f64) -> Self {
        Self { spec, tol, worst: 0.0, at: String::from("every value identical") }
    }

    /// Asserts that `generated` and `dynamic` agree element by element within `tol`.
    #[track_caller]
    fn values<T: Scalar>(&mut self, what: &str, generated: &[T], dynamic: &[T]) {
        let spec = self.spec;
        assert_eq!(generated.len(), dynamic.len(), "{spec}: {what}: generated and dynamic lengths differ");
        let floor = generated.iter().chain(dynamic).map(|v| v.to_f64().abs()).fold(0.0, f64::max).min(1.0);
        for (i, (&a, &b)) in generated.iter().zip(dynamic).enumerate() {
            let (a, b) = (a.to_f64(), b.to_f64());
            let err = if a == b { 0.0 } else { (a - b).abs() / a.abs().max(b.abs()).max(floor) };
            assert!(
                err <= self.tol,
                "{spec} ({}): {what} [{i}]: generated {a:e} vs dynamic {b:e}, error {err:.3e} > {:e}",
                T::NAME,
                self.tol
            );
            if err > self.worst {
                self.worst = err;
                self.at = format!("{what} [{i}]");
            }
        }
    }

    /// [`values`](Self::values) for one scalar.
    #[track_caller]
    fn value<T: Scalar>(&mut self, what: &str, generated: T, dynamic: T) {
        self.values(what, &[generated], &[dynamic]);
    }
}

/// A seed derived from the spec's name, so each spec draws its own numbers.
fn seed_of(spec: &str) -> u64 {
    spec.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// An input with entries in [−1.5, 1.5].
fn input<T: Scalar, const I: usize>(rng: &mut SplitMix64) -> [T; I] {
    core::array::from_fn(|_| T::from_f64(symmetric(rng, 1.5)))
}

/// A target of the given kind; `index` picks one-hot or spread for distributions.
fn target<T: Scalar, const O: usize>(rng: &mut SplitMix64, kind: Targets, index: usize) -> [T; O] {
    let t: [f64; O] = match kind {
        Targets::Real => core::array::from_fn(|_| symmetric(rng, 1.5)),
        Targets::UnitInterval => core::array::from_fn(|_| 0.5 + symmetric(rng, 0.5)),
        Targets::Distribution if index % 2 == 1 => {
            let k = ((unit_f64(rng) * O as f64) as usize).min(O - 1);
            core::array::from_fn(|i| if i == k { 1.0 } else { 0.0 })
        }
        Targets::Distribution => {
            let raw: [f64; O] = core::array::from_fn(|_| symmetric(rng, 1.0).abs() + 0.05);
            let sum: f64 = raw.iter().sum();
            raw.map(|v| v / sum)
        }
    };
    t.map(T::from_f64)
}

/// Random parameters: each weight uniform in ±2/√fan_in, each bias in ±0.5, so that
/// pre-activations stay in the range where every activation bends.
fn random_params<N: Network<Params = [T; P]>, T: Scalar, const P: usize>(rng: &mut SplitMix64) -> [T; P] {
    let mut params = [T::ZERO; P];
    for tensor in N::LAYOUT {
        let bound = match tensor.shape {
            [_, fan_in] => 2.0 / (*fan_in as f64).sqrt(),
            _ => 0.5,
        };
        params[tensor.range()].iter_mut().for_each(|p| *p = T::from_f64(symmetric(rng, bound)));
    }
    params
}

/// SGD with Nesterov momentum 0.9 and L2 weight decay 1e-2.
fn nesterov<S: stackprop::optim::State>(opt: Sgd<S>) -> Sgd<S> {
    opt.momentum(0.9).nesterov(true).weight_decay(1e-2)
}

/// Flattens samples row-major, as the dynamic network takes batches.
fn flat<T: Scalar, const N: usize>(rows: &[[T; N]]) -> Vec<T> {
    rows.iter().flatten().copied().collect()
}

/// Trains a generated network and a dynamic one from the same parameters with copies of
/// one optimizer, `STEPS` per-sample steps and then, from the same start, `STEPS`
/// mini-batch steps on the samples `(xs, ts)`; compares the loss of every step and the
/// parameters after it.
fn train<N, T, OG, OD, const I: usize, const O: usize, const P: usize>(
    cmp: &mut Agreement,
    name: &str,
    start: &[T; P],
    dynamic: &mut DynamicNet<T>,
    (xs, ts): (&[[T; I]], &[[T; O]]),
    generated_opt: &OG,
    dynamic_opt: &OD,
) where
    T: Scalar,
    N: Network<Scalar = T, Input = [T; I], Output = [T; O], Params = [T; P]>,
    OG: Optimizer<[T; P]> + Clone,
    OD: Optimizer<[T]> + Clone,
{
    let (fx, ft) = (flat(xs), flat(ts));

    let mut net = N::from_params(*start);
    dynamic.set_params(start).expect("same parameter count");
    let (mut og, mut od) = (generated_opt.clone(), dynamic_opt.clone());
    for step in 0..STEPS {
        let k = step % xs.len();
        let lg = net.train_step(&xs[k], &ts[k], &mut og);
        let ld = dynamic.train_step(&xs[k], &ts[k], &mut od);
        cmp.value(&format!("{name} train_step {step}: loss"), lg, ld);
        cmp.values(&format!("{name} train_step {step}: parameters"), net.params(), dynamic.params());
    }

    let mut net = N::from_params(*start);
    dynamic.set_params(start).expect("same parameter count");
    let (mut og, mut od) = (generated_opt.clone(), dynamic_opt.clone());
    let mut grad = [T::ZERO; P];
    for step in 0..STEPS {
        let first = (step * BATCH) % (xs.len() - BATCH + 1);
        let r = first..first + BATCH;
        let lg = net.train_batch(&xs[r.clone()], &ts[r.clone()], &mut grad, &mut og);
        let ld = dynamic.train_batch(&fx[r.start * I..r.end * I], &ft[r.start * O..r.end * O], &mut od);
        cmp.value(&format!("{name} train_batch {step}: mean loss"), lg, ld);
        cmp.values(&format!("{name} train_batch {step}: parameters"), net.params(), dynamic.params());
    }
}

/// Checks one generated network `N` against the dynamic network built from `layers` and
/// `loss`; returns the largest error met and where.
fn check<N, T, const I: usize, const O: usize, const P: usize>(
    spec: &'static str,
    shape: &[usize],
    layers: &[LayerSpec],
    loss: Loss,
    targets: Targets,
    tol: f64,
) -> (f64, String)
where
    T: Scalar,
    N: Network<Scalar = T, Input = [T; I], Output = [T; O], Params = [T; P]>,
{
    let mut cmp = Agreement::new(spec, tol);
    let seed = seed_of(spec);
    let mut rng = SplitMix64::new(seed ^ 0xa5a5);

    // Layout: the same tensors at the same offsets.
    let mut dynamic =
        DynamicNet::<T>::seeded_with_shape(shape, layers, loss, seed).unwrap_or_else(|e| panic!("{spec}: {e}"));
    assert_eq!((dynamic.input_len(), dynamic.output_len()), (I, O), "{spec}: input and output sizes");
    assert_eq!(dynamic.param_count(), P, "{spec}: parameter count");
    let mut tensors = N::LAYOUT.iter();
    for l in (0..layers.len()).filter(|&l| !dynamic.weight_range(l).is_empty()) {
        let w = tensors.next().unwrap_or_else(|| panic!("{spec}: LAYOUT lacks layer {l}'s weight"));
        assert_eq!(w.range(), dynamic.weight_range(l), "{spec}: {} range", w.name);
        if let Some(range) = dynamic.bias_range(l) {
            let b = tensors.next().unwrap_or_else(|| panic!("{spec}: LAYOUT lacks layer {l}'s bias"));
            assert_eq!(b.range(), range, "{spec}: {} range", b.name);
        }
    }
    assert!(tensors.next().is_none(), "{spec}: LAYOUT has tensors the dynamic network lacks");

    // Seeded initialization: identical, bit for bit.
    let seeded = N::seeded(seed);
    let start = *seeded.params();
    if let Some(i) = (0..P).find(|&i| start[i].to_f64().to_bits() != dynamic.params()[i].to_f64().to_bits()) {
        panic!(
            "{spec} ({}): seeded parameter [{i}] differs: generated {} vs dynamic {}",
            T::NAME,
            start[i],
            dynamic.params()[i]
        );
    }

    // One sample at a time and mini-batches, on the seeded weights and then random ones.
    for round in 0..=ROUNDS {
        let params = if round == 0 { start } else { random_params::<N, T, P>(&mut rng) };
        let net = N::from_params(params);
        dynamic.set_params(&params).expect("same parameter count");
        let xs: Vec<[T; I]> = (0..SAMPLES).map(|_| input(&mut rng)).collect();
        let ts: Vec<[T; O]> = (0..SAMPLES).map(|k| target(&mut rng, targets, round + k)).collect();

        for (k, (x, t)) in xs.iter().zip(&ts).take(PER_SAMPLE).enumerate() {
            let at = |what: &str| format!("round {round} sample {k}: {what}");
            cmp.values(&at("output"), &net.forward(x), dynamic.forward(x));
            cmp.value(&at("loss"), net.loss(x, t), dynamic.loss(x, t));

            let mut g = [T::ZERO; P];
            let mut gd = vec![T::ZERO; P];
            let lg = net.gradient(x, t, &mut g);
            let ld = dynamic.accumulate_gradient(x, t, T::ONE, &mut gd, None);
            cmp.value(&at("loss returned with the gradient"), lg, ld);
            cmp.values(&at("parameter gradient"), &g, &gd);

            let mut dxd = [T::ZERO; I];
            let ld = dynamic.input_gradient(x, t, &mut dxd);
            cmp.value(&at("loss returned with the input gradient"), net.loss(x, t), ld);
            cmp.values(&at("input gradient"), &net.input_gradient(x, t), &dxd);

            // Scaled, added into buffers that already hold something.
            let scale = T::from_f64(SCALE);
            let mut trace = N::Trace::zeroed();
            net.forward_trace(x, &mut trace);
            let (mut g2, mut dx2) = (g, dxd);
            let (mut g2d, mut dx2d) = (g, dxd);
            let lg = net.backward(x, &trace, t, scale, &mut g2, Some(&mut dx2));
            let ld = dynamic.accumulate_gradient(x, t, scale, &mut g2d, Some(&mut dx2d));
            cmp.value(&at("loss returned by scaled backward"), lg, ld);
            cmp.values(&at("scaled parameter gradient"), &g2, &g2d);
            cmp.values(&at("scaled input gradient"), &dx2, &dx2d);
        }

        for n in BATCHES {
            let (xs, ts) = (&xs[..n], &ts[..n]);
            let (fx, ft) = (flat(xs), flat(ts));
            let at = |what: &str| format!("round {round} batch of {n}: {what}");
            cmp.value(&at("mean loss"), net.mean_loss(xs, ts), dynamic.mean_loss(&fx, &ft));
            // The buffers start dirty: both methods overwrite them.
            let mut g = [T::ONE; P];
            let mut gd = vec![T::ONE; P];
            let lg = net.batch_gradient(xs, ts, &mut g);
            let ld = dynamic.batch_gradient(&fx, &ft, &mut gd);
            cmp.value(&at("mean loss returned with the gradient"), lg, ld);
            cmp.values(&at("mean gradient"), &g, &gd);
        }
    }

    // Training from the seeded weights.
    let xs: Vec<[T; I]> = (0..SAMPLES).map(|_| input(&mut rng)).collect();
    let ts: Vec<[T; O]> = (0..SAMPLES).map(|k| target(&mut rng, targets, k)).collect();
    let (d, data) = (&mut dynamic, (&xs[..], &ts[..]));
    let (og, od) = (Sgd::<[T; P]>::new(0.05), Sgd::<Vec<T>>::new(0.05));
    train::<N, T, _, _, I, O, P>(&mut cmp, "sgd", &start, d, data, &og, &od);
    let (og, od) = (nesterov(Sgd::<[T; P]>::new(0.02)), nesterov(Sgd::<Vec<T>>::new(0.02)));
    train::<N, T, _, _, I, O, P>(&mut cmp, "sgd nesterov", &start, d, data, &og, &od);
    let (og, od) = (Adam::<[T; P]>::new(1e-2), Adam::<Vec<T>>::new(1e-2));
    train::<N, T, _, _, I, O, P>(&mut cmp, "adam", &start, d, data, &og, &od);
    let (og, od) = (AdamW::<[T; P]>::new(1e-2).weight_decay(0.05), AdamW::<Vec<T>>::new(1e-2).weight_decay(0.05));
    train::<N, T, _, _, I, O, P>(&mut cmp, "adamw", &start, d, data, &og, &od);

    (cmp.worst, cmp.at)
}

/// `agree! { name(input = I, loss = l, options...) => Loss, Targets; field: Dense<..> => LayerSpec, ... }`
/// declares the spec with `scalar = f64` and `scalar = f32` and a test that checks both
/// against the dynamic network built from the `LayerSpec`s and `Loss` given. The input
/// is a size (`input = 4`) or a shape (`input = [1, 6, 6]`).
macro_rules! agree {
    (
        $(#[$doc:meta])*
        $test:ident(input = $input:tt, loss = $loss:ident $(($($larg:tt)*))? $(, $opt:ident = $val:tt)*)
            => $dyn_loss:expr, $targets:ident;
        $($field:ident: $layer:ty => $spec:expr),+ $(,)?
    ) => {
        $(#[$doc])*
        mod $test {
            use super::*;

            #[network(input = $input, loss = $loss $(($($larg)*))?, scalar = f64 $(, $opt = $val)*)]
            pub struct Net64 {
                $($field: $layer),+
            }

            #[network(input = $input, loss = $loss $(($($larg)*))?, scalar = f32 $(, $opt = $val)*)]
            pub struct Net32 {
                $($field: $layer),+
            }

            #[test]
            fn generated_and_dynamic_agree() {
                let layers = [$($spec),+];
                let shape: &[usize] = &agree!(@shape $input);
                let name = stringify!($test);
                let (e64, at64) = check::<Net64, f64, { Net64::INPUT }, { Net64::OUTPUT }, { Net64::PARAMS }>(
                    name, shape, &layers, $dyn_loss, Targets::$targets, F64_TOL,
                );
                let (e32, at32) = check::<Net32, f32, { Net32::INPUT }, { Net32::OUTPUT }, { Net32::PARAMS }>(
                    name, shape, &layers, $dyn_loss, Targets::$targets, F32_TOL,
                );
                println!("{name}: largest error f64 {e64:.3e} ({at64}), f32 {e32:.3e} ({at32})");
            }
        }
    };
    (@shape [$($d:literal),+]) => { [$($d),+] };
    (@shape $n:literal) => { [$n] };
}

agree! {
    /// The smallest network: one identity unit on one input.
    single_unit(input = 1, loss = mse) => Loss::Mse, Real;
    output: Dense<1> => LayerSpec::dense(1, A::Identity),
}

agree! {
    /// One sigmoid layer with binary cross-entropy (fused on the logits).
    logistic_regression(input = 5, loss = binary_cross_entropy) => Loss::BinaryCrossEntropy, UnitInterval;
    output: Dense<3, Sigmoid> => LayerSpec::dense(3, A::Sigmoid),
}

agree! {
    /// The classic 2-3-1 network: tanh hidden, sigmoid output, half the sum of squares.
    xor(input = 2, loss = half_sse) => Loss::HalfSse, Real;
    hidden: Dense<3, Tanh> => LayerSpec::dense(3, A::Tanh),
    output: Dense<1, Sigmoid> => LayerSpec::dense(1, A::Sigmoid),
}

agree! {
    /// Relu hidden layer, softmax output with cross-entropy (fused on the logits).
    relu_classifier(input = 4, loss = cross_entropy) => Loss::CrossEntropy, Distribution;
    hidden: Dense<8, Relu> => LayerSpec::dense(8, A::Relu),
    output: Dense<3, Softmax> => LayerSpec::dense(3, A::Softmax),
}

agree! {
    /// Leaky relu and ELU (the latter without bias), Huber with a small δ so both of its
    /// branches are taken.
    leaky_elu_huber(input = 3, loss = huber(delta = 0.3)) => Loss::Huber(0.3), Real;
    first: Dense<5, LeakyRelu<0.1>> => LayerSpec::dense(5, A::LeakyRelu(0.1)),
    second: Dense<4, Elu<0.7>, { bias = false }> => LayerSpec::dense(4, A::Elu(0.7)).without_bias(),
    output: Dense<2, Identity> => LayerSpec::dense(2, A::Identity),
}

agree! {
    /// Softplus, SiLU and a softsign output under mean absolute error.
    smooth_mae(input = 4, loss = mae) => Loss::Mae, Real;
    first: Dense<6, Softplus> => LayerSpec::dense(6, A::Softplus),
    second: Dense<5, Silu> => LayerSpec::dense(5, A::Silu),
    output: Dense<3, Softsign> => LayerSpec::dense(3, A::Softsign),
}

agree! {
    /// [`smooth_mae`] with every layer forced into loops.
    smooth_mae_looped(input = 4, loss = mae, unroll = false) => Loss::Mae, Real;
    first: Dense<6, Softplus> => LayerSpec::dense(6, A::Softplus),
    second: Dense<5, Silu> => LayerSpec::dense(5, A::Silu),
    output: Dense<3, Softsign> => LayerSpec::dense(3, A::Softsign),
}

agree! {
    /// Four layers: both GELUs, softsign without bias, tanh output, mean squared error.
    gelu_depth_four(input = 3, loss = mse) => Loss::Mse, Real;
    first: Dense<5, Gelu> => LayerSpec::dense(5, A::Gelu),
    second: Dense<4, GeluTanh> => LayerSpec::dense(4, A::GeluTanh),
    third: Dense<3, Softsign, { bias = false }> => LayerSpec::dense(3, A::Softsign).without_bias(),
    output: Dense<2, Tanh> => LayerSpec::dense(2, A::Tanh),
}

agree! {
    /// A softmax hidden layer: its Jacobian-vector product, not the fused loss.
    softmax_hidden(input = 3, loss = mse) => Loss::Mse, Real;
    hidden: Dense<4, Softmax> => LayerSpec::dense(4, A::Softmax),
    output: Dense<2, Sigmoid> => LayerSpec::dense(2, A::Sigmoid),
}

agree! {
    /// No bias anywhere; a 16 × 16 layer, unrolled by default, whose straight-line sums
    /// of 16 terms are ordered differently from the dot kernel's lanes.
    no_bias(input = 6, loss = binary_cross_entropy) => Loss::BinaryCrossEntropy, UnitInterval;
    first: Dense<16, Elu<1.0>, { bias = false }> => LayerSpec::dense(16, A::Elu(1.0)).without_bias(),
    second: Dense<16, Sigmoid, { bias = false }> => LayerSpec::dense(16, A::Sigmoid).without_bias(),
    output: Dense<4, Sigmoid, { bias = false }> => LayerSpec::dense(4, A::Sigmoid).without_bias(),
}

agree! {
    /// Four layers under the default Huber δ; the first layer forced into loops on its
    /// own, the others unrolled by the default threshold.
    deep_huber(input = 8, loss = huber) => Loss::Huber(1.0), Real;
    first: Dense<12, Silu, { unroll = false }> => LayerSpec::dense(12, A::Silu),
    second: Dense<10, GeluTanh> => LayerSpec::dense(10, A::GeluTanh),
    third: Dense<8, Relu> => LayerSpec::dense(8, A::Relu),
    output: Dense<3, Identity> => LayerSpec::dense(3, A::Identity),
}

agree! {
    /// Wide layers: 20 → 40 and 40 → 30 exceed the default threshold and are emitted as
    /// loops, 30 → 6 is unrolled.
    wide(input = 20, loss = cross_entropy) => Loss::CrossEntropy, Distribution;
    first: Dense<40, Relu> => LayerSpec::dense(40, A::Relu),
    second: Dense<30, Tanh, { bias = false }> => LayerSpec::dense(30, A::Tanh).without_bias(),
    output: Dense<6, Softmax> => LayerSpec::dense(6, A::Softmax),
}

agree! {
    /// [`wide`] with every layer forced to straight-line code: sums of 20 and 40 terms in
    /// serial order against the dynamic network's dot kernel.
    wide_unrolled(input = 20, loss = cross_entropy, unroll = true) => Loss::CrossEntropy, Distribution;
    first: Dense<40, Relu> => LayerSpec::dense(40, A::Relu),
    second: Dense<30, Tanh, { bias = false }> => LayerSpec::dense(30, A::Tanh).without_bias(),
    output: Dense<6, Softmax> => LayerSpec::dense(6, A::Softmax),
}

agree! {
    /// A small CNN: same-padded 3×3 convolution, max pooling, a dense softmax output
    /// (emitted as loops, so mini-batches take the tiled path with the convolution per
    /// sample inside each tile).
    cnn(input = [1, 6, 6], loss = cross_entropy) => Loss::CrossEntropy, Distribution;
    conv: Conv2d<4, Relu, { kernel = 3; padding = 1 }> => LayerSpec::conv2d(4, [3, 3], A::Relu).padding(1),
    pool: MaxPool2d<2> => LayerSpec::max_pool2d([2, 2]),
    flat: Flatten => LayerSpec::flatten(),
    output: Dense<3, Softmax, { unroll = false }> => LayerSpec::dense(3, A::Softmax),
}

agree! {
    /// Stride, dilation, non-square kernels, overlapping padded pooling, two
    /// convolutions, average pooling and a tanh dense layer; unrolled by default.
    conv_options(input = [2, 9, 8], loss = mse) => Loss::Mse, Real;
    conv1: Conv2d<3, Tanh, { kernel = [3, 2]; stride = [2, 1]; padding = 1; dilation = [1, 2] }>
        => LayerSpec::conv2d(3, [3, 2], A::Tanh).stride_hw([2, 1]).padding(1).dilation_hw([1, 2]),
    pool1: MaxPool2d<{ kernel = 3; stride = 1; padding = 1 }>
        => LayerSpec::MaxPool2d { kernel: [3, 3], stride: [1, 1], padding: [1, 1] },
    conv2: Conv2d<2, Silu, { kernel = 2; bias = false }> => LayerSpec::conv2d(2, [2, 2], A::Silu).without_bias(),
    pool2: AvgPool2d<{ kernel = 2; padding = 1 }> => LayerSpec::AvgPool2d { kernel: [2, 2], stride: [2, 2], padding: [1, 1] },
    flat: Flatten => LayerSpec::flatten(),
    output: Dense<2, Identity> => LayerSpec::dense(2, A::Identity),
}

agree! {
    /// [`conv_options`] as loops: the runtime kernels against the dynamic network.
    conv_options_looped(input = [2, 9, 8], loss = mse, unroll = false) => Loss::Mse, Real;
    conv1: Conv2d<3, Tanh, { kernel = [3, 2]; stride = [2, 1]; padding = 1; dilation = [1, 2] }>
        => LayerSpec::conv2d(3, [3, 2], A::Tanh).stride_hw([2, 1]).padding(1).dilation_hw([1, 2]),
    pool1: MaxPool2d<{ kernel = 3; stride = 1; padding = 1 }>
        => LayerSpec::MaxPool2d { kernel: [3, 3], stride: [1, 1], padding: [1, 1] },
    conv2: Conv2d<2, Silu, { kernel = 2; bias = false }> => LayerSpec::conv2d(2, [2, 2], A::Silu).without_bias(),
    pool2: AvgPool2d<{ kernel = 2; padding = 1 }> => LayerSpec::AvgPool2d { kernel: [2, 2], stride: [2, 2], padding: [1, 1] },
    flat: Flatten => LayerSpec::flatten(),
    output: Dense<2, Identity> => LayerSpec::dense(2, A::Identity),
}

agree! {
    /// 1-D: strided padded convolution, max pooling, a dilated convolution with He
    /// initialization, the global average pool and a sigmoid output.
    conv1d(input = [3, 20], loss = binary_cross_entropy) => Loss::BinaryCrossEntropy, UnitInterval;
    conv1: Conv1d<4, Elu<1.0>, { kernel = 5; stride = 2; padding = 2 }>
        => LayerSpec::conv1d(4, 5, A::Elu(1.0)).stride(2).padding(2),
    pool: MaxPool1d<2> => LayerSpec::max_pool1d(2),
    conv2: Conv1d<3, Relu, { kernel = 2; dilation = 2; init = he }>
        => LayerSpec::conv1d(3, 2, A::Relu).dilation(2).init(stackprop::Init::HeUniform),
    gap: GlobalAvgPool => LayerSpec::global_avg_pool(),
    output: Dense<2, Sigmoid> => LayerSpec::dense(2, A::Sigmoid),
}
