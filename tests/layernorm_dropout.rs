//! `LayerNorm` and `Dropout`.
//!
//! Layer norm, after a dense layer and after 1-D and 2-D convolutions, with and without
//! γ and β: the generated gradients (parameters and input) against central finite
//! differences in `f64` (1e-6 relative), against the dynamic reference network on the
//! same weights (1e-12), the mini-batch path (per-sample or tiled) against the mean of
//! per-sample gradients, and the fused SGD backward against backward then the update.

use rand_core::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;
use stackprop::dynamic::Activation as A;
use stackprop::dynamic::{DynamicNet, LayerSpec, Loss};
use stackprop::prelude::*;
use stackprop::{GradCheckOptions, check_gradients};

/// Relative error allowed between backward and central differences in f64.
const FD_TOL: f64 = 1e-6;
/// The central-difference step (as in `tests/conv.rs`).
const STEP: f64 = 1e-5;
/// Generated against dynamic, and batch against per-sample: the same arithmetic in a
/// different order.
const SAME_TOL: f64 = 1e-12;

fn uniform(rng: &mut impl Rng, a: f64) -> f64 {
    ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * a
}

fn fill(rng: &mut impl Rng, v: &mut [f64], a: f64) {
    v.iter_mut().for_each(|x| *x = uniform(rng, a));
}

/// `|a − b| / max(|a|, |b|, s)` with `s` the vector's scale capped at 1, element by
/// element (as `tests/dynamic_agreement.rs`).
fn assert_same(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let s = a.iter().chain(b).fold(0.0f64, |m, v| m.max(v.abs())).min(1.0);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let err = (x - y).abs() / x.abs().max(y.abs()).max(s);
        assert!(err <= tol, "{what}[{i}]: {x} vs {y} (error {err:e})");
    }
}

/// A softmax target: a random distribution.
fn distribution(rng: &mut impl Rng, t: &mut [f64]) {
    t.iter_mut().for_each(|v| *v = uniform(rng, 1.0).abs() + 0.05);
    let s: f64 = t.iter().sum();
    t.iter_mut().for_each(|v| *v /= s);
}

/// Finite differences, the dynamic network, the mini-batch path and fused SGD on `N`.
fn three_ways<N: Network<Scalar = f64>>(name: &str, shape: &[usize], layers: &[LayerSpec], loss: Loss, softmax: bool) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x1a7e ^ name.len() as u64);
    let mut dynamic = DynamicNet::<f64>::with_shape(shape, layers, loss).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(dynamic.param_count(), N::PARAMS, "{name}: parameter count");
    let target = |rng: &mut Xoshiro256PlusPlus| {
        let mut t = N::Output::zeroed();
        if softmax {
            distribution(rng, t.as_mut())
        } else {
            fill(rng, t.as_mut(), 1.0)
        }
        t
    };
    for round in 0..3 {
        let mut params = N::Params::zeroed();
        fill(&mut rng, params.as_mut(), 0.9);
        let mut x = N::Input::zeroed();
        fill(&mut rng, x.as_mut(), 1.5);
        let t = target(&mut rng);

        let mut net = N::from_params(params.clone());
        let report = check_gradients(&mut net, &x, &t, GradCheckOptions { step: STEP, ..GradCheckOptions::default() });
        assert!(
            report.max_rel_error <= FD_TOL,
            "{name} (round {round}): backward disagrees with central differences: {:?}",
            report.worst
        );
        assert_eq!(report.checked, N::PARAMS + N::INPUT);

        dynamic.set_params(params.as_ref()).expect("same parameter count");
        let y = net.forward(&x);
        assert_same(&format!("{name} forward"), y.as_ref(), dynamic.forward(x.as_ref()), SAME_TOL);
        let mut g = N::Params::zeroed();
        let l = net.gradient(&x, &t, &mut g);
        let mut gd = vec![0.0; N::PARAMS];
        let mut dxd = vec![0.0; N::INPUT];
        let ld = dynamic.accumulate_gradient(x.as_ref(), t.as_ref(), 1.0, &mut gd, Some(&mut dxd));
        assert_same(&format!("{name} loss"), &[l], &[ld], SAME_TOL);
        assert_same(&format!("{name} gradient"), g.as_ref(), &gd, SAME_TOL);
        let dx = net.input_gradient(&x, &t);
        assert_same(&format!("{name} input gradient"), dx.as_ref(), &dxd, SAME_TOL);

        // Fused SGD equals backward then the update.
        let mut fused = N::from_params(params.clone());
        let mut trace = N::Trace::zeroed();
        fused.forward_trace(&x, &mut trace);
        fused.backward_sgd(&x, &trace, &t, 0.05);
        let expected: Vec<f64> = params.as_ref().iter().zip(g.as_ref()).map(|(p, g)| p - 0.05 * g).collect();
        assert_same(&format!("{name} fused SGD"), fused.params().as_ref(), &expected, SAME_TOL);
    }

    // The mini-batch path against the mean of per-sample gradients, around the tile size.
    let mut params = N::Params::zeroed();
    fill(&mut rng, params.as_mut(), 0.9);
    let net = N::from_params(params);
    for n in [1, 5, 16, 17] {
        let xs: Vec<N::Input> = (0..n)
            .map(|_| {
                let mut x = N::Input::zeroed();
                fill(&mut rng, x.as_mut(), 1.5);
                x
            })
            .collect();
        let ts: Vec<N::Output> = (0..n).map(|_| target(&mut rng)).collect();
        let mut gb = N::Params::zeroed();
        let lb = net.batch_gradient(&xs, &ts, &mut gb);
        let mut mean = vec![0.0; N::PARAMS];
        let mut lm = 0.0;
        for (x, t) in xs.iter().zip(&ts) {
            let mut g = N::Params::zeroed();
            lm += net.gradient(x, t, &mut g) / n as f64;
            mean.iter_mut().zip(g.as_ref()).for_each(|(m, g)| *m += g / n as f64);
        }
        assert_same(&format!("{name} batch of {n}: loss"), &[lb], &[lm], SAME_TOL);
        assert_same(&format!("{name} batch of {n}: gradient"), gb.as_ref(), &mean, SAME_TOL);
    }
}

mod layer_norm {
    use super::*;

    #[network(input = 6, loss = mse, scalar = f64)]
    struct AfterDense {
        hidden: Dense<5, Tanh>,
        norm: LayerNorm,
        output: Dense<3, Identity>,
    }

    /// The same network emitted as loops: its mini-batch path runs in tiles, the layer
    /// norm per sample inside each tile.
    #[network(input = 6, loss = mse, scalar = f64, unroll = false)]
    struct AfterDenseTiled {
        hidden: Dense<5, Tanh>,
        norm: LayerNorm,
        output: Dense<3, Identity>,
    }

    #[network(input = 6, loss = mse, scalar = f64)]
    struct NoAffine {
        hidden: Dense<5, Tanh>,
        norm: LayerNorm<{ elementwise_affine = false }>,
        output: Dense<3, Identity>,
    }

    #[network(input = 6, loss = mse, scalar = f64)]
    struct NoBias {
        hidden: Dense<5, Tanh>,
        norm: LayerNorm<
            {
                bias = false;
                eps = 1e-3
            },
        >,
        output: Dense<3, Identity>,
    }

    /// On the input itself: the gradient with respect to the input goes through it.
    #[network(input = 4, loss = mse, scalar = f64)]
    struct First {
        norm: LayerNorm,
        output: Dense<2, Tanh>,
    }

    #[network(input = [2, 7], loss = mse, scalar = f64)]
    struct AfterConv1d {
        conv: Conv1d<3, Tanh, { kernel = 3 }>,
        norm: LayerNorm,
        flat: Flatten,
        output: Dense<2, Sigmoid>,
    }

    #[network(input = [1, 5, 5], loss = cross_entropy, scalar = f64, unroll = false)]
    struct AfterConv2dTiled {
        conv: Conv2d<2, Tanh, { kernel = 3 }>,
        norm: LayerNorm<{ eps = 1e-3 }>,
        flat: Flatten,
        output: Dense<3, Softmax>,
    }

    fn dense_layers(norm: LayerSpec) -> [LayerSpec; 3] {
        [LayerSpec::dense(5, A::Tanh), norm, LayerSpec::dense(3, A::Identity)]
    }

    #[test]
    fn after_dense() {
        three_ways::<AfterDense>("after dense", &[6], &dense_layers(LayerSpec::layer_norm()), Loss::Mse, false);
        three_ways::<AfterDenseTiled>("tiled", &[6], &dense_layers(LayerSpec::layer_norm()), Loss::Mse, false);
    }

    #[test]
    fn without_affine_or_bias() {
        let none = LayerSpec::LayerNorm { eps: 1e-5, elementwise_affine: false, bias: true };
        three_ways::<NoAffine>("no affine", &[6], &dense_layers(none), Loss::Mse, false);
        let no_bias = LayerSpec::LayerNorm { eps: 1e-3, elementwise_affine: true, bias: false };
        three_ways::<NoBias>("no bias", &[6], &dense_layers(no_bias), Loss::Mse, false);
        assert_eq!(NoAffine::PARAMS, 6 * 5 + 5 + 5 * 3 + 3);
        assert_eq!(NoBias::PARAMS, 6 * 5 + 5 + 5 + 5 * 3 + 3);
    }

    #[test]
    fn on_the_input() {
        let layers = [LayerSpec::layer_norm(), LayerSpec::dense(2, A::Tanh)];
        three_ways::<First>("first", &[4], &layers, Loss::Mse, false);
    }

    #[test]
    fn after_convolutions() {
        let layers = [
            LayerSpec::conv1d(3, 3, A::Tanh),
            LayerSpec::layer_norm(),
            LayerSpec::flatten(),
            LayerSpec::dense(2, A::Sigmoid),
        ];
        three_ways::<AfterConv1d>("after conv1d", &[2, 7], &layers, Loss::Mse, false);
        let layers = [
            LayerSpec::conv2d(2, [3, 3], A::Tanh),
            LayerSpec::LayerNorm { eps: 1e-3, elementwise_affine: true, bias: true },
            LayerSpec::flatten(),
            LayerSpec::dense(3, A::Softmax),
        ];
        three_ways::<AfterConv2dTiled>("after conv2d", &[1, 5, 5], &layers, Loss::CrossEntropy, true);
    }

    /// γ and β are `layer.weight` and `layer.bias` of the normalized shape; they start at
    /// 1 and 0 (as `torch.nn.LayerNorm`), drawing nothing, so the seeded network equals
    /// the dynamic one.
    #[test]
    fn names_shapes_and_initialization_follow_pytorch() {
        let names: Vec<(&str, &[usize])> = AfterConv1d::LAYOUT.iter().map(|p| (p.name, p.shape)).collect();
        assert_eq!(names[2], ("norm.weight", &[3usize, 5][..]));
        assert_eq!(names[3], ("norm.bias", &[3usize, 5][..]));
        let net = AfterConv1d::seeded(7);
        let (gamma, beta) = net.norm();
        assert!(gamma.iter().all(|&g| g == 1.0));
        assert!(beta.is_some_and(|b| b.iter().all(|&v| v == 0.0)));
        let layers = [
            LayerSpec::conv1d(3, 3, A::Tanh),
            LayerSpec::layer_norm(),
            LayerSpec::flatten(),
            LayerSpec::dense(2, A::Sigmoid),
        ];
        let dynamic = DynamicNet::<f64>::seeded_with_shape(&[2, 7], &layers, Loss::Mse, 7).expect("valid spec");
        assert_eq!(net.params().as_ref(), dynamic.params());
    }

    /// The output of a layer norm with γ = 1, β = 0 has mean 0 and variance
    /// `σ²/(σ² + ε)` over the sample, whatever the input's offset and scale.
    #[test]
    fn normalizes_each_sample() {
        #[network(input = 8, loss = mse, scalar = f64)]
        struct Probe {
            norm: LayerNorm,
            output: Dense<8, Identity>,
        }
        let mut net = Probe::zeroed();
        net.norm_mut().0.fill(1.0);
        for (i, w) in net.output_mut().weight_mut().iter_mut().enumerate() {
            w[i] = 1.0;
        }
        let x: [f64; 8] = core::array::from_fn(|i| 100.0 + 3.0 * (i as f64).sin());
        let y = net.forward(&x);
        let mean = x.iter().sum::<f64>() / 8.0;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 8.0;
        let ym = y.iter().sum::<f64>() / 8.0;
        let yv = y.iter().map(|v| (v - ym) * (v - ym)).sum::<f64>() / 8.0;
        assert!(ym.abs() < 1e-14, "mean {ym}");
        assert!((yv - var / (var + 1e-5)).abs() < 1e-14, "variance {yv}");
    }
}

/// The derivation docs show the layer's backward in the form the code evaluates.
#[test]
fn derivation_shows_the_layer_norm_backward() {
    #[network(input = 6, loss = mse, scalar = f64)]
    struct Documented {
        hidden: Dense<5, Tanh>,
        norm: LayerNorm,
        output: Dense<3, Identity>,
    }
    let d = Documented::DERIVATION;
    for line in ["∂L/∂γ₂", "∂L/∂β₂", "x̂₂ ⊙ mean(g ⊙ x̂₂)", "1/√(σ²₂ + 1e-5)"] {
        assert!(d.contains(line), "missing `{line}` in:\n{d}");
    }
}

mod dropout {
    use super::*;
    use stackprop::dropout;
    use stackprop::optim::{Adam, Sgd};
    use stackprop::train::{FitOptions, fit};

    /// 400 inputs through `Dropout<0.3>` into one sum: with unit weights and inputs the
    /// output is (kept units)/(1 − p).
    #[network(input = 400, loss = mse, scalar = f64)]
    struct Counter {
        drop: Dropout<0.3>,
        output: Dense<1, Identity>,
    }

    fn counter() -> Counter {
        let mut net = Counter::zeroed();
        net.output_mut().weight_mut()[0].fill(1.0);
        net
    }

    #[test]
    fn keeps_one_minus_p_of_the_units_scaled_by_its_inverse() {
        let mut net = counter();
        net.set_dropout_seed(99);
        let x = [1.0; 400];
        let mut trace = [0.0; Counter::TRACE];
        let (mut kept, mut draws) = (0.0, 0.0);
        let mut seen = Vec::new();
        for _step in 0..25 {
            for sample in 0..8 {
                let y = net.forward_trace_at(&x, &mut trace, Some(sample))[0];
                let k = y * 0.7;
                assert!((k - k.round()).abs() < 1e-9, "kept units scaled by 1/(1 − p): {y}");
                kept += k.round();
                draws += 400.0;
                seen.push(k.round() as i64);
            }
            net.advance_dropout();
        }
        // 80 000 Bernoulli(0.7) draws: the standard deviation of the fraction is 0.0016.
        let fraction = kept / draws;
        assert!((fraction - 0.7).abs() < 0.01, "kept fraction {fraction}");
        // Masks differ between samples and steps (equal counts everywhere would mean
        // one mask).
        seen.sort_unstable();
        seen.dedup();
        assert!(seen.len() > 20, "only {} distinct kept counts", seen.len());
    }

    #[test]
    fn inference_is_the_identity() {
        let mut net = counter();
        net.set_dropout_seed(5);
        let x: [f64; 400] = core::array::from_fn(|i| (i as f64 * 0.37).sin());
        let sum: f64 = x.iter().sum();
        assert!((net.forward(&x)[0] - sum).abs() < 1e-12);
        // Inference mode with a trace, and the mean loss, use it too.
        let mut trace = [0.0; Counter::TRACE];
        assert_eq!(net.forward_trace_at(&x, &mut trace, None), net.forward(&x));
        let t = [0.5];
        let expected = (sum - 0.5) * (sum - 0.5);
        assert!((net.mean_loss(&[x], &[t]) - expected).abs() < 1e-9);
        // Training mode is not.
        assert!((net.forward_trace(&x, &mut trace)[0] - sum).abs() > 1e-6);
    }

    #[network(input = 8, loss = mse, scalar = f64)]
    struct Small {
        drop_in: Dropout<0.5>,
        hidden: Dense<6, Tanh>,
        drop: Dropout<{ p = 0.25 }>,
        output: Dense<3, Identity>,
    }

    /// The same network emitted as loops: its mini-batch path is tiled, the dropout
    /// layers per sample inside each tile.
    #[network(input = 8, loss = mse, scalar = f64, unroll = false)]
    struct SmallTiled {
        drop_in: Dropout<0.5>,
        hidden: Dense<6, Tanh>,
        drop: Dropout<{ p = 0.25 }>,
        output: Dense<3, Identity>,
    }

    fn small_layers() -> [LayerSpec; 4] {
        [
            LayerSpec::dropout(0.5),
            LayerSpec::dense(6, A::Tanh),
            LayerSpec::dropout(0.25),
            LayerSpec::dense(3, A::Identity),
        ]
    }

    /// Within one dropout state the mask is fixed: the loss is a smooth function of the
    /// parameters and the input, and backward through the mask is its gradient.
    #[test]
    fn gradient_through_a_fixed_mask_matches_finite_differences_and_the_dynamic_network() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(17);
        for state in [1, 2, 3, 0xdead_beef] {
            let mut params = [0.0; Small::PARAMS];
            fill(&mut rng, &mut params, 0.9);
            let mut net = Small::from_params(params);
            net.set_dropout_seed(state);
            let mut x = [0.0; 8];
            fill(&mut rng, &mut x, 1.5);
            let mut t = [0.0; 3];
            fill(&mut rng, &mut t, 1.0);
            let report =
                check_gradients(&mut net, &x, &t, GradCheckOptions { step: STEP, ..GradCheckOptions::default() });
            assert!(report.max_rel_error <= FD_TOL, "state {state}: {:?}", report.worst);

            // Dropped inputs get no gradient: the mask is the rule of `stackprop::dropout`
            // for sample 0 and layer 0.
            let mut mask = [0.0; 8];
            dropout::mask(dropout::key(state, 0, 0), 0.5, &mut mask);
            assert!(mask.iter().all(|&m| m == 0.0 || m == 2.0));
            let dx = net.input_gradient(&x, &t);
            for (i, (&m, &d)) in mask.iter().zip(&dx).enumerate() {
                assert_eq!(m == 0.0, d == 0.0, "input {i}: mask {m}, gradient {d}");
            }

            let mut dynamic = DynamicNet::<f64>::new(8, &small_layers(), Loss::Mse).expect("valid spec");
            dynamic.set_params(&params).expect("same count");
            dynamic.set_dropout_seed(state);
            let mut g = [0.0; Small::PARAMS];
            let l = net.gradient(&x, &t, &mut g);
            let mut gd = vec![0.0; Small::PARAMS];
            let mut dxd = vec![0.0; 8];
            let ld = dynamic.accumulate_gradient(&x, &t, 1.0, &mut gd, Some(&mut dxd));
            assert_same("loss", &[l], &[ld], SAME_TOL);
            assert_same("gradient", &g, &gd, SAME_TOL);
            assert_same("input gradient", &dx, &dxd, SAME_TOL);
            assert_same("inference", &net.forward(&x), dynamic.forward(&x), SAME_TOL);
        }
    }

    /// Mini-batches: sample `i` draws the masks of sample `i`, in the per-sample and the
    /// tiled paths and in the dynamic network; `train_batch` then moves the state on.
    #[test]
    fn batches_draw_a_mask_per_sample_in_every_path() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(23);
        let mut params = [0.0; Small::PARAMS];
        fill(&mut rng, &mut params, 0.9);
        let n = 37;
        let xs: Vec<[f64; 8]> = (0..n).map(|_| core::array::from_fn(|_| uniform(&mut rng, 1.5))).collect();
        let ts: Vec<[f64; 3]> = (0..n).map(|_| core::array::from_fn(|_| uniform(&mut rng, 1.0))).collect();

        let mut plain = Small::from_params(params);
        let mut tiled = SmallTiled::from_params(params);
        let mut dynamic = DynamicNet::<f64>::new(8, &small_layers(), Loss::Mse).expect("valid spec");
        dynamic.set_params(&params).expect("same count");
        for net_state in [11, 12] {
            plain.set_dropout_seed(net_state);
            tiled.set_dropout_seed(net_state);
            dynamic.set_dropout_seed(net_state);
            // The mean of per-sample gradients with the masks of sample i.
            let mut mean = [0.0; Small::PARAMS];
            let mut lm = 0.0;
            let mut trace = [0.0; Small::TRACE];
            for (i, (x, t)) in xs.iter().zip(&ts).enumerate() {
                plain.forward_trace_at(x, &mut trace, Some(i));
                lm += plain.backward(x, &trace, t, 1.0 / n as f64, &mut mean, None);
            }
            lm /= n as f64;
            let (mut gp, mut gt) = ([0.0; Small::PARAMS], [0.0; Small::PARAMS]);
            let lp = plain.batch_gradient(&xs, &ts, &mut gp);
            let lt = tiled.batch_gradient(&xs, &ts, &mut gt);
            let mut gd = vec![0.0; Small::PARAMS];
            let ld = dynamic.batch_gradient(xs.as_flattened(), ts.as_flattened(), &mut gd);
            assert_same("per-sample path", &gp, &mean, SAME_TOL);
            assert_same("tiled path", &gt, &mean, SAME_TOL);
            assert_same("dynamic", &gd, &mean, SAME_TOL);
            assert_same("losses", &[lp, lt, ld], &[lm, lm, lm], SAME_TOL);
        }

        // K steps of train_batch: same losses and parameters, and the state moves on.
        let mut a = Small::from_params(params);
        a.set_dropout_seed(3);
        dynamic.set_params(&params).expect("same count");
        dynamic.set_dropout_seed(3);
        let (mut opt, mut opt_d) = (Adam::new(0.01), Adam::new(0.01));
        let mut grad = [0.0; Small::PARAMS];
        for (step, (xb, tb)) in xs.chunks(8).zip(ts.chunks(8)).enumerate() {
            let la = a.train_batch(xb, tb, &mut grad, &mut opt);
            let ld = dynamic.train_batch(xb.as_flattened(), tb.as_flattened(), &mut opt_d);
            assert_same(&format!("step {step}: loss"), &[la], &[ld], SAME_TOL);
            assert_same(&format!("step {step}: parameters"), a.params(), dynamic.params(), SAME_TOL);
            assert_eq!(a.dropout_state(), dynamic.dropout_state());
        }
        assert_ne!(a.dropout_state(), 3);
    }

    /// `train_step`, `train_batch` and `fit` train with dropout: from the same
    /// parameters, two dropout states give different networks, and the same state gives
    /// the same network bit for bit.
    #[test]
    fn training_entry_points_apply_dropout_reproducibly() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(31);
        let xs: Vec<[f64; 8]> = (0..24).map(|_| core::array::from_fn(|_| uniform(&mut rng, 1.5))).collect();
        let ts: Vec<[f64; 3]> = (0..24).map(|_| core::array::from_fn(|_| uniform(&mut rng, 1.0))).collect();
        let run = |state: u64, how: &str| -> [f64; Small::PARAMS] {
            let mut net = Small::seeded(4);
            net.set_dropout_seed(state);
            let mut grad = [0.0; Small::PARAMS];
            match how {
                "train_step adam" => {
                    let mut opt = Adam::new(0.01);
                    for (x, t) in xs.iter().zip(&ts) {
                        net.train_step(x, t, &mut opt);
                    }
                }
                "train_step sgd" => {
                    // Plain SGD takes the fused backward.
                    let mut opt = Sgd::new(0.05);
                    for (x, t) in xs.iter().zip(&ts) {
                        net.train_step(x, t, &mut opt);
                    }
                }
                "try_train_step" => {
                    let mut opt = Adam::new(0.01);
                    for (x, t) in xs.iter().zip(&ts) {
                        net.try_train_step(x, t, &mut opt).expect("finite");
                    }
                }
                "train_batch" => {
                    let mut opt = Adam::new(0.01);
                    for (xb, tb) in xs.chunks(6).zip(ts.chunks(6)) {
                        net.train_batch(xb, tb, &mut grad, &mut opt);
                    }
                }
                _ => {
                    let mut opt = Adam::new(0.01);
                    fit(&mut net, &mut opt, &xs, &ts, FitOptions::new(3, 6).seed(1)).expect("fit");
                }
            }
            *net.params()
        };
        for how in ["train_step adam", "train_step sgd", "try_train_step", "train_batch", "fit"] {
            assert_eq!(run(1, how), run(1, how), "{how}: same state, same run");
            assert_ne!(run(1, how), run(2, how), "{how}: another state must give other masks");
        }
        // `seeded` draws the state from the seed.
        assert_eq!(Small::seeded(4).dropout_state(), Small::seeded(4).dropout_state());
        assert_ne!(Small::seeded(4).dropout_state(), Small::seeded(5).dropout_state());
    }

    /// Iris (4-16-3 with dropout 0.2 after the hidden layer), trained by `fit`: dropout
    /// slows training down but the network still learns the classes.
    #[test]
    fn iris_still_learns_with_dropout() {
        use stackprop::data::{Split, Standardizer, load_csv};

        #[network(input = 4, loss = cross_entropy)]
        struct Iris {
            hidden: Dense<16, Relu>,
            drop: Dropout<0.2>,
            output: Dense<3, Softmax>,
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/iris.csv");
        let data = load_csv::<f32>(path, true).expect("iris.csv");
        let mut parts = data.split(Split::Fractions { validation: 0.0, test: 0.2 }, 2).expect("split");
        let scaler = Standardizer::fit(&parts.train).expect("fit");
        scaler.transform(&mut parts.train).expect("transform");
        scaler.transform(&mut parts.test).expect("transform");
        let classes = |d: &stackprop::Dataset<f32>| d.labels().iter().map(|&l| Class(l)).collect::<Vec<_>>();
        let (xs, ts) = (parts.train.rows::<4>().expect("rows"), classes(&parts.train));
        let (test_x, test_t) = (parts.test.rows::<4>().expect("rows"), parts.test.labels().to_vec());
        let mut net = Iris::seeded(1);
        let start = net.dropout_state();
        let mut opt = Adam::new(0.01);
        fit(&mut net, &mut opt, &xs, &ts, FitOptions::new(60, 16).seed(7)).expect("fit");
        assert_ne!(net.dropout_state(), start, "fit moves the dropout state on");
        let correct =
            test_x.iter().zip(&test_t).filter(|&(x, &t)| stackprop::data::argmax(&net.forward(x)) == t).count();
        let accuracy = correct as f64 / test_x.len() as f64;
        assert!(accuracy >= 0.9, "test accuracy {accuracy}");
    }
}

/// The derivation docs state the mask and its backward.
#[test]
fn derivation_shows_the_dropout_mask() {
    #[network(input = 6, loss = mse, scalar = f64)]
    struct Documented {
        hidden: Dense<5, Tanh>,
        drop: Dropout<0.5>,
        output: Dense<3, Identity>,
    }
    let d = Documented::DERIVATION;
    for line in ["m₂ ⊙ a₁", "[uⱼ ≥ 0.5]/(1 − 0.5)", "in inference"] {
        assert!(d.contains(line), "missing `{line}` in:\n{d}");
    }
}

/// Parallel gradients draw the masks of each sample's index in the whole batch, so they
/// equal `batch_gradient` whatever the chunk size.
#[cfg(feature = "parallel")]
#[test]
fn parallel_gradients_draw_the_same_masks() {
    #[network(input = 8, loss = mse, scalar = f64)]
    struct Net {
        drop_in: Dropout<0.5>,
        hidden: Dense<6, Tanh>,
        output: Dense<3, Identity>,
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(41);
    let mut net = Net::seeded(3);
    net.set_dropout_seed(77);
    let xs: Vec<[f64; 8]> = (0..29).map(|_| core::array::from_fn(|_| uniform(&mut rng, 1.5))).collect();
    let ts: Vec<[f64; 3]> = (0..29).map(|_| core::array::from_fn(|_| uniform(&mut rng, 1.0))).collect();
    let mut g = [0.0; Net::PARAMS];
    let l = net.batch_gradient(&xs, &ts, &mut g);
    for chunk in [1, 5, 29] {
        let mut gp = [0.0; Net::PARAMS];
        let lp = stackprop::parallel::batch_gradient(&net, &xs, &ts, &mut gp, chunk);
        assert_same(&format!("chunks of {chunk}"), &gp, &g, SAME_TOL);
        assert_same("loss", &[lp], &[l], SAME_TOL);
    }
}
