//! Hand-computed first and second steps: values worked out on paper from each
//! algorithm's definition, so that a misunderstanding shared by an optimizer and its
//! transcribed reference would still show up here.

use stackprop_runtime::optim::{
    Adadelta, Adagrad, Adam, AdamW, Adamax, Lion, NAdam, Optimizer, RAdam, RmsProp, Rprop, Sgd,
};

fn assert_all_close(got: &[f64], want: &[f64], tol: f64) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "element {i}: got {g}, want {w} (all: {got:?})");
    }
}

const G: [f64; 5] = [0.5, -2.0, 0.0, 1e-3, 3.0];

#[test]
fn adam_moves_each_parameter_by_lr_sign_g_on_a_constant_gradient() {
    // m̂ = g and v̂ = g² exactly for a constant gradient, whatever the step, thanks to the
    // bias corrections: every step moves by γ·g/(|g| + ε).
    let mut p = [1.0; 5];
    let mut opt = Adam::<[f64; 5]>::new(0.1);
    opt.step(&mut p, &G);
    // ε shortens each step by a relative ε/|g|: at most 2e-8 here, but 1e-5 for the
    // element with |g| = 1e-3, whose step is 0.1·1e-3/(1e-3 + 1e-8) = 0.0999990000099999.
    assert_all_close(&p, &[0.9, 1.1, 1.0, 0.9, 0.9], 2e-6);
    assert_all_close(&p[3..4], &[0.900_000_999_990_000], 1e-12);
    opt.step(&mut p, &G);
    assert_all_close(&p, &[0.8, 1.2, 1.0, 0.8, 0.8], 4e-6);
    assert_all_close(&p[3..4], &[0.800_001_999_980_000], 1e-9);
    assert_eq!(opt.steps(), 2);
}

#[test]
fn adam_l2_decay_moves_a_zero_gradient_parameter_but_adamw_only_shrinks_it() {
    // Adam, L2: g' = 0 + 0.1·1 > 0, so the first step is a full γ·sign(g') = 0.1.
    let mut p = [1.0];
    Adam::<[f64; 1]>::new(0.1).weight_decay(0.1).step(&mut p, &[0.0]);
    assert_all_close(&p, &[0.9], 1e-7);
    // AdamW: θ ← (1 − 0.1·0.1)·θ = 0.99, and the zero gradient moves nothing.
    let mut p = [1.0];
    AdamW::<[f64; 1]>::new(0.1).weight_decay(0.1).step(&mut p, &[0.0]);
    assert_all_close(&p, &[0.99], 1e-15);
    // AdamW with a gradient: 0.99 − 0.1·sign(g).
    let mut p = [1.0, 1.0];
    AdamW::<[f64; 2]>::new(0.1).weight_decay(0.1).step(&mut p, &[2.0, -0.5]);
    assert_all_close(&p, &[0.89, 1.09], 1e-8);
}

#[test]
fn adam_amsgrad_keeps_the_largest_second_moment() {
    // g = 1, 0.1, 0: v = 0.001, then 0.000999 + 0.00001 = 0.001009 (grows: AMSGrad and
    // Adam agree), then 0.999·0.001009 = 0.001007991 (shrinks: AMSGrad keeps 0.001009 and
    // takes the smaller step). At step 3, m = 0.09 and 1 − β₁³ = 0.271.
    let mut with = [0.0];
    let mut without = [0.0];
    let mut a = Adam::<[f64; 1]>::new(0.1).amsgrad(true);
    let mut b = Adam::<[f64; 1]>::new(0.1);
    for g in [1.0, 0.1, 0.0] {
        a.step(&mut with, &[g]);
        b.step(&mut without, &[g]);
    }
    let bias2: f64 = 1.0 - 0.999 * 0.999 * 0.999;
    let m_hat = 0.09 / 0.271;
    let step_ams = 0.1 * m_hat / ((0.001_009 / bias2).sqrt() + 1e-8);
    let step_adam = 0.1 * m_hat / ((0.001_007_991 / bias2).sqrt() + 1e-8);
    assert!(step_ams < step_adam);
    assert_all_close(&[with[0] - without[0]], &[step_adam - step_ams], 1e-12);
}

#[test]
fn sgd_momentum_by_hand() {
    // μ = 0.9, γ = 0.1, g = 1 then −0.5:
    // b₁ = 1, θ₁ = −0.1; b₂ = 0.9 − 0.5 = 0.4, θ₂ = −0.14.
    let mut p = [0.0];
    let mut opt = Sgd::<[f64; 1]>::new(0.1).momentum(0.9);
    opt.step(&mut p, &[1.0]);
    assert_all_close(&p, &[-0.1], 1e-15);
    opt.step(&mut p, &[-0.5]);
    assert_all_close(&p, &[-0.14], 1e-15);

    // Nesterov: g₁ = 1 + 0.9·1 = 1.9, θ₁ = −0.19; g₂ = −0.5 + 0.9·0.4 = −0.14, θ₂ = −0.176.
    let mut p = [0.0];
    let mut opt = Sgd::<[f64; 1]>::new(0.1).momentum(0.9).nesterov(true);
    opt.step(&mut p, &[1.0]);
    assert_all_close(&p, &[-0.19], 1e-15);
    opt.step(&mut p, &[-0.5]);
    assert_all_close(&p, &[-0.176], 1e-15);

    // Dampening 0.5 applies from the second step: b₂ = 0.9 + 0.5·(−0.5) = 0.65, θ₂ = −0.165.
    let mut p = [0.0];
    let mut opt = Sgd::<[f64; 1]>::new(0.1).momentum(0.9).dampening(0.5);
    opt.step(&mut p, &[1.0]);
    opt.step(&mut p, &[-0.5]);
    assert_all_close(&p, &[-0.165], 1e-15);
}

#[test]
fn rprop_by_hand() {
    // γ = 0.1, etas (0.5, 1.2), gradients 1, 1, −1, −1, 0, −1:
    // η 0.1 → 0.12 (same sign) → 0.06 (flip: no move, gradient forgotten) → 0.06 (the
    // forgotten gradient makes the product 0) → 0.06 (zero gradient: no move) → 0.06.
    let mut p = [0.0];
    let mut opt = Rprop::<[f64; 1]>::new(0.1);
    let mut seen = Vec::new();
    for g in [1.0, 1.0, -1.0, -1.0, 0.0, -1.0] {
        opt.step(&mut p, &[g]);
        seen.push(p[0]);
    }
    assert_all_close(&seen, &[-0.1, -0.22, -0.22, -0.16, -0.16, -0.10], 1e-15);
}

#[test]
fn rprop_step_size_is_clamped() {
    // Growing by 1.2 from 0.1 with a cap of 0.15: 0.1, 0.12, 0.144, 0.15, 0.15.
    let mut p = [0.0];
    let mut opt = Rprop::<[f64; 1]>::new(0.1).step_sizes(1e-6, 0.15);
    for _ in 0..5 {
        opt.step(&mut p, &[-1.0]);
    }
    assert_all_close(&p, &[0.1 + 0.12 + 0.144 + 0.15 + 0.15], 1e-15);
}

#[test]
fn lion_first_step_by_hand() {
    // c = 0.1·g, so sign(c) = sign(g); θ ← θ − 0.1·(sign(g) + 0.5·θ).
    let mut p = [1.0, 1.0, 1.0];
    Lion::<[f64; 3]>::new(0.1).weight_decay(0.5).step(&mut p, &[0.3, -2.0, 0.0]);
    assert_all_close(&p, &[0.85, 1.05, 0.95], 1e-15);
}

#[test]
fn lion_direction_uses_beta1_but_momentum_uses_beta2() {
    // g = 1, −0.05, −0.1 with β = (0.9, 0.99), γ = 0.1:
    // c₁ = 0.1 > 0, θ₁ = −0.1, m₁ = 0.01;
    // c₂ = 0.009 − 0.005 > 0, θ₂ = −0.2, m₂ = 0.0099 − 0.0005 = 0.0094;
    // c₃ = 0.00846 − 0.01 < 0, θ₃ = −0.1.
    // Swapping the betas' roles makes c₃ > 0 either way (θ₃ = −0.3).
    let mut p = [0.0];
    let mut opt = Lion::<[f64; 1]>::new(0.1);
    opt.step(&mut p, &[1.0]);
    assert_all_close(&p, &[-0.1], 1e-15);
    opt.step(&mut p, &[-0.05]);
    assert_all_close(&p, &[-0.2], 1e-15);
    opt.step(&mut p, &[-0.1]);
    assert_all_close(&p, &[-0.1], 1e-15);
}

#[test]
fn radam_starts_with_plain_momentum_steps() {
    // ρ_t ≤ 5 for t ≤ 5 with β₂ = 0.999: the first step is θ − γ·m̂ = θ − γ·g.
    let mut p = [1.0, 1.0, 1.0];
    RAdam::<[f64; 3]>::new(0.1).step(&mut p, &[0.5, -2.0, 0.0]);
    assert_all_close(&p, &[0.95, 1.2, 1.0], 1e-15);
}

#[test]
fn nadam_first_step_by_hand() {
    // μ₁ = 0.9·(1 − ½·0.96^0.004) = 0.450073..., μ₂ = 0.450147...; the first step is
    // γ·sign(g)·(1 + 0.1·μ₂/(1 − μ₁μ₂)) = γ·sign(g)·1.056452...
    let mut p = [0.0, 0.0];
    NAdam::<[f64; 2]>::new(0.1).step(&mut p, &[2.0, -0.5]);
    assert_all_close(&p, &[-0.105_645, 0.105_645], 2e-7);
}

#[test]
fn adagrad_by_hand() {
    // s = g², θ − γ·g/|g|; then s = 2g², θ − γ/√2.
    let mut p = [0.0];
    let mut opt = Adagrad::<[f64; 1]>::new(0.1);
    opt.step(&mut p, &[3.0]);
    assert_all_close(&p, &[-0.1], 1e-10);
    opt.step(&mut p, &[3.0]);
    assert_all_close(&p, &[-0.1 - 0.1 / 2.0_f64.sqrt()], 1e-10);
    // Starting from τ = 1 with g = 1: s = 2, step γ/√2. With lr_decay 1, step 2 uses γ/2.
    let mut p = [0.0];
    let mut opt = Adagrad::<[f64; 1]>::new(0.1).initial_accumulator_value(1.0).lr_decay(1.0);
    opt.step(&mut p, &[1.0]);
    assert_all_close(&p, &[-0.1 / 2.0_f64.sqrt()], 1e-10);
    opt.step(&mut p, &[1.0]);
    assert_all_close(&p, &[-0.1 / 2.0_f64.sqrt() - 0.05 / 3.0_f64.sqrt()], 1e-10);
}

#[test]
fn rmsprop_first_step_is_ten_lr() {
    // v = 0.01·g², so the first step is γ·g/(0.1·|g|) = 10γ·sign(g).
    let mut p = [0.0, 0.0];
    RmsProp::<[f64; 2]>::new(0.01).step(&mut p, &[4.0, -0.25]);
    assert_all_close(&p, &[-0.1, 0.1], 1e-7);
}

#[test]
fn adadelta_first_step_by_hand() {
    // v = 0.1, Δ = √1e-6/√(0.1 + 1e-6) = 0.00316226..., with γ = 1.
    let mut p = [0.0];
    Adadelta::<[f64; 1]>::new(1.0).step(&mut p, &[1.0]);
    assert_all_close(&p, &[-0.003_162_262], 1e-9);
}

#[test]
fn adamax_first_step_is_lr_sign_g() {
    // m = 0.1·g, u = |g| + ε, step = (γ/0.1)·m/u.
    let mut p = [0.0, 0.0];
    Adamax::<[f64; 2]>::new(0.002).step(&mut p, &[5.0, -0.2]);
    assert_all_close(&p, &[-0.002, 0.002], 1e-9);
}
