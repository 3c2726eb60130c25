//! Gradient-flow diagnostics: each statistic against a hand computation on a small
//! network, each warning on a network where it must fire, none on a healthy network, the
//! statistics leave training unchanged, and the examples' claims.

use stackprop::diagnostics::{Activity, layer_norm, tensor_norms, update_ratio};
use stackprop::prelude::*;
use stackprop::train::{FitOptions, Thresholds, Warning, fit};
use stackprop::{ActivationFamily, LayerInfo};

/// 2 → 2 relu → 1 linear: small enough to backpropagate by hand.
#[network(input = 2, loss = half_sse)]
struct Tiny {
    hidden: Dense<2, Relu>,
    output: Dense<1, Identity>,
}

/// A sigmoid and a tanh layer, for saturation.
#[network(input = 2, loss = mse)]
struct Squash {
    sig: Dense<2, Sigmoid>,
    th: Dense<2, Tanh>,
    output: Dense<1, Identity>,
}

/// `W₁ = [[1, −1], [2, 0.5]]`, `b₁ = 0`, `W₂ = [[0.5, −1]]`, `b₂ = 0.25`.
fn tiny() -> Tiny {
    Tiny::from_params([1.0, -1.0, 2.0, 0.5, 0.0, 0.0, 0.5, -1.0, 0.25])
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[test]
fn layers_describe_the_network() {
    let [hidden, output] = Tiny::LAYERS else { panic!("{:?}", Tiny::LAYERS) };
    assert_eq!((hidden.name, hidden.kind, hidden.activation_name), ("hidden", "Dense", "Relu"));
    assert_eq!((hidden.activation, hidden.width), (ActivationFamily::Relu, 2));
    assert_eq!(hidden.params, &Tiny::LAYOUT[..2]);
    assert_eq!((output.activation, output.width, output.params), (ActivationFamily::Identity, 1, &Tiny::LAYOUT[2..]));
    // The output slots hold what the training forward computed.
    let net = tiny();
    let mut trace = [0.0; Tiny::TRACE];
    let y = net.forward_trace(&[1.0, 2.0], &mut trace);
    let at = |l: &LayerInfo| l.output.expect("kept");
    assert_eq!(&trace[at(hidden)..at(hidden) + 2], &[0.0, 3.0]);
    assert_eq!(trace[at(output)], y[0]);
    let families: Vec<_> = Squash::LAYERS.iter().map(|l| l.activation).collect();
    assert_eq!(families, [ActivationFamily::Sigmoid, ActivationFamily::Tanh, ActivationFamily::Identity]);
}

#[test]
fn gradient_norms_match_a_hand_computation() {
    // x = [1, 2]: z₁ = [−1, 3], a₁ = [0, 3]; y = 0.5·0 − 1·3 + 0.25 = −2.75; t = 0.25.
    // δ₂ = y − t = −3: ∂L/∂W₂ = δ₂·a₁ᵀ = [0, −9], ∂L/∂b₂ = −3.
    // δ₁ = W₂ᵀ·δ₂ ⊙ relu′(z₁) = [−1.5·0, 3·1] = [0, 3]: ∂L/∂W₁ = [[0, 0], [3, 6]], ∂L/∂b₁ = [0, 3].
    let net = tiny();
    let mut grad = [0.0; Tiny::PARAMS];
    net.gradient(&[1.0, 2.0], &[0.25], &mut grad);
    let mut norms = [0.0; 4];
    tensor_norms(Tiny::LAYOUT, &grad, &mut norms);
    let want = [45f64.sqrt(), 3.0, 9.0, 3.0];
    for (got, want) in norms.iter().zip(want) {
        assert!(close(*got, want), "{norms:?} vs {want}");
    }
    assert!(close(layer_norm(&Tiny::LAYERS[0], &grad), 54f64.sqrt()));
    assert!(close(layer_norm(&Tiny::LAYERS[1], &grad), 90f64.sqrt()));
}

#[test]
fn update_ratio_matches_a_hand_computation() {
    // SGD with rate 0.1 moves W₁ by 0.1·[[0, 0], [3, 6]]: ‖ΔW₁‖ = 0.1·√45, ‖W₁‖ = √6.25 = 2.5.
    // b₁ starts at zero: no ratio.
    let mut net = tiny();
    let before = *net.params();
    net.train_step(&[1.0, 2.0], &[0.25], &mut Sgd::new(0.1));
    let after = *net.params();
    let r = update_ratio(&Tiny::LAYOUT[0], &before, &after).expect("W₁ is not zero");
    assert!(close(r, 0.1 * 45f64.sqrt() / 2.5), "{r}");
    assert_eq!(update_ratio(&Tiny::LAYOUT[1], &before, &after), None);
    // ‖ΔW₂‖ = 0.1·9, ‖W₂‖ = √1.25.
    let r = update_ratio(&Tiny::LAYOUT[2], &before, &after).expect("W₂ is not zero");
    assert!(close(r, 0.9 / 1.25f64.sqrt()), "{r}");
}

#[test]
fn dead_units_match_a_hand_computation() {
    // Hidden unit 0 computes x₀ − x₁, unit 1 computes 2·x₀ + 0.5·x₁.
    let net = tiny();
    let mut activity = Activity::<Tiny>::new(0.01);
    let mut trace = [0.0; Tiny::TRACE];
    assert_eq!(activity.dead_fraction(&Tiny::LAYERS[0]), None, "no sample yet");
    for x in [[1.0, 2.0], [2.0, 3.0]] {
        net.forward_trace(&x, &mut trace);
        activity.observe(&trace);
    }
    // Unit 0 is negative on both samples (0 after relu), unit 1 positive: one of two dead.
    assert_eq!(activity.dead_fraction(&Tiny::LAYERS[0]), Some(0.5));
    // Identity units cannot die; relu has no bounds.
    assert_eq!(activity.dead_fraction(&Tiny::LAYERS[1]), None);
    assert_eq!(activity.saturated_fraction(&Tiny::LAYERS[0]), None);
    // One sample with x₀ > x₁ brings unit 0 back.
    net.forward_trace(&[3.0, 1.0], &mut trace);
    activity.observe(&trace);
    assert_eq!(activity.dead_fraction(&Tiny::LAYERS[0]), Some(0.0));
    assert_eq!(activity.samples(), 3);
    activity.reset();
    assert_eq!(activity.samples(), 0);
}

#[test]
fn saturated_outputs_match_a_hand_computation() {
    // sig: unit 0 = σ(10·x₀) (saturated when |10·x₀| > ln 99 ≈ 4.6), unit 1 = σ(0) = 0.5.
    // th: unit 0 = tanh(10·a₀), a₀ ∈ (0, 1): saturated when 10·a₀ > atanh(0.99) ≈ 2.65,
    //     unit 1 = tanh(−0.1·a₁) = tanh(−0.05), never.
    let mut p = [0.0f32; Squash::PARAMS];
    p[0] = 10.0; // sig.weight[0][0]
    p[6] = 10.0; // th.weight[0][0]
    p[9] = -0.1; // th.weight[1][1]
    let net = Squash::from_params(p);
    let mut activity = Activity::<Squash>::new(0.01);
    let mut trace = [0.0; Squash::TRACE];
    // x₀ = 1: σ(10) saturated, tanh(10·σ(10)) saturated.
    // x₀ = 0.1: σ(1) = 0.73 not, tanh(7.3) saturated.
    // x₀ = −0.3: σ(−3) = 0.047 not, tanh(0.47) not.
    for x0 in [1.0, 0.1, -0.3] {
        net.forward_trace(&[x0, 0.0], &mut trace);
        activity.observe(&trace);
    }
    let sig = activity.saturated_fraction(&Squash::LAYERS[0]).expect("sigmoid is bounded");
    let th = activity.saturated_fraction(&Squash::LAYERS[1]).expect("tanh is bounded");
    assert!(close(sig, 1.0 / 6.0), "{sig}");
    assert!(close(th, 2.0 / 6.0), "{th}");
    assert_eq!(activity.saturated_fraction(&Squash::LAYERS[2]), None);
    assert_eq!(activity.dead_fraction(&Squash::LAYERS[0]), None);
}

fn grid() -> (Vec<[f32; 2]>, Vec<[f32; 1]>) {
    let xs: Vec<[f32; 2]> = (0..32).map(|i| [(i % 8) as f32 / 4.0 - 1.0, (i / 8) as f32 / 2.0 - 1.0]).collect();
    let ts = xs.iter().map(|[a, b]| [0.5 * a - 0.25 * b]).collect();
    (xs, ts)
}

#[test]
fn fit_reports_the_batch_statistics() {
    // One epoch, one batch of all samples, plain SGD: the report is that batch's gradient
    // norms and that step's update ratios.
    let (xs, ts) = grid();
    let mut net = Tiny::seeded(4);
    let mut grad = [0.0; Tiny::PARAMS];
    net.batch_gradient(&xs, &ts, &mut grad);
    let mut stepped = Tiny::from_params(*net.params());
    let mut opt = Sgd::new(0.1);
    stepped.train_batch(&xs, &ts, &mut [0.0; Tiny::PARAMS], &mut opt);
    let options = FitOptions::new(1, 32).shuffle(false).diagnostics(Thresholds::default());
    let history = fit(&mut net, &mut Sgd::new(0.1), &xs, &ts, options).expect("valid");
    assert_eq!(net.params(), stepped.params());
    let [report] = &history.diagnostics[..] else { panic!("one epoch") };
    assert_eq!(report.epoch, 1);
    let mut norms = [0.0; 4];
    tensor_norms(Tiny::LAYOUT, &grad, &mut norms);
    for (t, n) in report.tensors.iter().zip(norms) {
        assert!(close(t.grad_norm, n), "{}: {} vs {n}", t.name, t.grad_norm);
    }
    let before = Tiny::seeded(4);
    let ratio = update_ratio(&Tiny::LAYOUT[0], before.params(), stepped.params());
    assert!(close(report.tensor("hidden.weight").and_then(|t| t.update_ratio).unwrap_or(-1.0), ratio.unwrap_or(-2.0)));
    let hidden = report.layer("hidden").expect("reported");
    assert!(close(hidden.grad_norm.unwrap_or(-1.0), layer_norm(&Tiny::LAYERS[0], &grad)));
    assert!(close(hidden.grad_rms.unwrap_or(-1.0), layer_norm(&Tiny::LAYERS[0], &grad) / 6f64.sqrt()));
    assert_eq!(history.layer_grad_norms("hidden"), [hidden.grad_norm.unwrap_or(-1.0)]);
}

#[test]
fn diagnostics_do_not_change_training_and_are_empty_when_off() {
    let (xs, ts) = grid();
    let train = |diagnostics: bool| {
        let mut net = Squash::seeded(9);
        let mut options = FitOptions::new(5, 8).seed(2);
        if diagnostics {
            options = options.diagnostics(Thresholds::default());
        }
        let history = fit(&mut net, &mut Adam::new(1e-2), &xs, &ts, options).expect("valid");
        (*net.params(), history)
    };
    let (off, history_off) = train(false);
    let (on, history_on) = train(true);
    assert_eq!(off, on);
    assert!(history_off.diagnostics.is_empty() && history_off.warnings.is_empty());
    assert_eq!(history_on.diagnostics.len(), 5);
    assert_eq!(history_off.train_losses(), history_on.train_losses());
}

/// A healthy fit: no warning fires.
#[test]
fn no_warning_on_a_healthy_network() {
    let (xs, ts) = grid();
    let mut net = Squash::seeded(3);
    let history = fit(
        &mut net,
        &mut Adam::new(1e-2),
        &xs,
        &ts,
        FitOptions::new(20, 8).seed(1).diagnostics(Thresholds::default()),
    )
    .expect("valid");
    assert_eq!(history.diagnostics.len(), 20);
    assert!(history.warnings.is_empty(), "{:#?}", history.warnings);
}

fn warnings_of<N: Network<Input = [f32; 2], Output = [f32; 1], Scalar = f32>>(
    mut net: N,
    opt: &mut (impl Optimizer<N::Params> + Clone),
    xs: &[[f32; 2]],
    ts: &[[f32; 1]],
    epochs: usize,
) -> Vec<Warning> {
    let options = FitOptions::new(epochs, 8).seed(1).diagnostics(Thresholds::default());
    fit(&mut net, opt, xs, ts, options).expect("valid").warnings
}

#[test]
fn dead_units_warning_fires_once() {
    // A bias of −100 puts every hidden unit below 0 for every sample: all dead, for good.
    let mut p = *Tiny::seeded(1).params();
    p[4] = -100.0;
    p[5] = -100.0;
    let (xs, ts) = grid();
    let warnings = warnings_of(Tiny::from_params(p), &mut Sgd::new(0.01), &xs, &ts, 3);
    let dead: Vec<_> = warnings.iter().filter(|w| matches!(w, Warning::DeadUnits { .. })).collect();
    assert_eq!(dead.len(), 1, "once, not every epoch: {warnings:#?}");
    assert!(matches!(dead[0], Warning::DeadUnits { epoch: 1, layer: "hidden", fraction } if *fraction == 1.0));
    let text = dead[0].to_string();
    assert!(text.contains("`hidden`") && text.contains("100%") && text.contains("relu′ = 0"), "{text}");
}

#[test]
fn saturated_units_warning_fires() {
    // Weights of ±20 drive both squashing layers into their flat ends.
    let p: [f32; Squash::PARAMS] = core::array::from_fn(|i| if i % 2 == 0 { 20.0 } else { -20.0 });
    let (xs, ts) = grid();
    let warnings = warnings_of(Squash::from_params(p), &mut Sgd::new(0.01), &xs, &ts, 1);
    let layers: Vec<_> =
        warnings.iter().filter(|w| matches!(w, Warning::SaturatedUnits { .. })).map(Warning::subject).collect();
    assert_eq!(layers, ["sig", "th"], "{warnings:#?}");
    let text = warnings.iter().find(|w| w.subject() == "sig").map(ToString::to_string).unwrap_or_default();
    assert!(text.contains("sigmoid layer `sig`") && text.contains("σ′ = y·(1 − y)"), "{text}");
}

#[test]
fn update_warnings_fire_for_rates_far_off() {
    let (xs, ts) = grid();
    let large = warnings_of(Tiny::seeded(2), &mut Sgd::new(5.0), &xs, &ts, 1);
    assert!(large.iter().any(|w| matches!(w, Warning::UpdateTooLarge { tensor: "hidden.weight", .. })), "{large:#?}");
    let small = warnings_of(Tiny::seeded(2), &mut Sgd::new(1e-9), &xs, &ts, 1);
    assert!(small.iter().any(|w| matches!(w, Warning::UpdateTooSmall { tensor: "hidden.weight", .. })), "{small:#?}");
    assert!(!small.iter().any(|w| matches!(w, Warning::UpdateTooLarge { .. })), "{small:#?}");
}

/// Linear layers: the first one's gradient is `δ₁·xᵀ`, the second's `δ₂·a₁ᵀ`.
#[network(input = 2, loss = half_sse)]
struct Linear {
    first: Dense<4, Identity>,
    output: Dense<1, Identity>,
}

#[test]
fn exploding_gradient_warning_fires() {
    // Inputs of 1000 and first-layer weights of 1e-4: a₁ ≈ 0.1 while x = 1000, so per
    // weight the first layer's gradient is about 10⁴ times the output layer's.
    let mut p = [0.0f32; Linear::PARAMS];
    p[..8].fill(1e-4);
    p[12..16].fill(1.0);
    let xs: Vec<[f32; 2]> = (0..16).map(|i| [1000.0 + i as f32, 1000.0 - i as f32]).collect();
    let ts: Vec<[f32; 1]> = (0..16).map(|i| [i as f32 / 16.0]).collect();
    let warnings = warnings_of(Linear::from_params(p), &mut Sgd::new(1e-12), &xs, &ts, 1);
    assert!(
        warnings
            .iter()
            .any(|w| matches!(w, Warning::ExplodingGradient { layer: "first", reference: "output", ratio, .. } if *ratio > 1e3)),
        "{warnings:#?}"
    );
    // Inputs so large that δ·xᵀ overflows f32: a gradient that is not finite. Without
    // clipping `fit` stops there with an error; with clipping it skips the step, and the
    // diagnostics report the gradient.
    let huge: Vec<[f32; 2]> = xs.iter().map(|[a, b]| [a * 1e27, b * 1e27]).collect();
    let err = fit(&mut Linear::seeded(1), &mut Sgd::new(1e-3), &huge, &ts, FitOptions::new(1, 8).seed(1)).unwrap_err();
    assert!(matches!(err, stackprop::train::FitError::NonFinite { epoch: 1, batch: 1, step: 0, .. }), "{err}");
    let options = FitOptions::new(1, 8).seed(1).clip_grad_norm(1.0).diagnostics(Thresholds::default());
    let warnings = fit(&mut Linear::seeded(1), &mut Sgd::new(1e-3), &huge, &ts, options).expect("valid").warnings;
    let text = warnings
        .iter()
        .find(|w| matches!(w, Warning::ExplodingGradient { ratio, .. } if !ratio.is_finite()))
        .map(ToString::to_string);
    assert!(text.as_deref().is_some_and(|t| t.contains("not finite")), "{warnings:#?}");
}

// The examples' claims, on their own code.

#[allow(dead_code)]
#[path = "../examples/vanishing.rs"]
mod vanishing;

// Both examples declare `mod common` (their shared plotting code): compiled twice here.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../examples/dead_relu.rs"]
mod dead_relu;

#[test]
fn vanishing_gradients_with_sigmoid_and_not_with_relu() {
    let [sigmoid, relu] = vanishing::run(vanishing::EPOCHS, false).expect("the data set ships with the project");
    let vanishing_layers = |r: &vanishing::Run| -> Vec<&str> {
        r.history
            .warnings
            .iter()
            .filter(|w| matches!(w, Warning::VanishingGradient { .. }))
            .map(Warning::subject)
            .collect()
    };
    assert!(vanishing_layers(&sigmoid).contains(&"h1"), "{:#?}", sigmoid.history.warnings);
    assert!(vanishing_layers(&relu).is_empty(), "{:#?}", relu.history.warnings);
    assert!(
        sigmoid.history.warnings.iter().any(|w| matches!(w, Warning::UpdateTooSmall { tensor: "h1.weight", .. })),
        "{:#?}",
        sigmoid.history.warnings
    );
    // The first layer's gradient per weight, relative to the output layer's.
    assert!(sigmoid.ratio_to_output("h1") < 1e-2, "sigmoid h1 {}", sigmoid.ratio_to_output("h1"));
    assert!(relu.ratio_to_output("h1") > 1e-1, "relu h1 {}", relu.ratio_to_output("h1"));
    assert!(relu.accuracy >= 0.95 && sigmoid.accuracy < 0.2, "relu {} sigmoid {}", relu.accuracy, sigmoid.accuracy);
}

#[test]
fn dead_relu_units_with_a_high_rate_and_the_fixes() {
    let [high, low, leaky] = dead_relu::run(dead_relu::EPOCHS, false).expect("the data set ships with the project");
    let dead_warning = |r: &dead_relu::Run| {
        r.history
            .warnings
            .iter()
            .filter(|w| matches!(w, Warning::DeadUnits { .. }))
            .map(Warning::subject)
            .collect::<Vec<_>>()
    };
    assert_eq!(dead_warning(&high), ["hidden2"], "{:#?}", high.history.warnings);
    assert!(dead_warning(&low).is_empty() && dead_warning(&leaky).is_empty());
    // The dead fraction rises from none to most of the layer.
    let dead = high.dead("hidden2");
    assert!(dead.first() == Some(&0.0) && dead.last().is_some_and(|&d| d > 0.5), "high rate: {dead:?}");
    assert!(low.dead("hidden2").iter().all(|&d| d < 0.05), "low rate: {:?}", low.dead("hidden2"));
    assert!(leaky.dead("hidden2").is_empty(), "leaky relu units cannot die");
    assert!(
        low.accuracy >= 0.95 && low.accuracy > high.accuracy + 0.05,
        "low rate {} vs {}",
        low.accuracy,
        high.accuracy
    );
    assert!(leaky.accuracy > high.accuracy, "leaky {} vs {}", leaky.accuracy, high.accuracy);
}
