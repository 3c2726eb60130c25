//! `LayerValues` and `explain_sgd_step`: one training step's every value.
//!
//! - The values `layer_values` writes are the chain rule of the network's own gradient:
//!   for each dense layer `∂L/∂W = δ·aᵀ` and `∂L/∂b = δ` against `gradient`, for a
//!   convolution `∂L/∂b = Σ δ`; `δ` below a layer is `Wᵀ·δ` through the activation's
//!   derivative (layers without a bias included, pooling layers `Wᵀ·δ` alone); `a = f(z)`;
//!   the last `a` is `forward`'s output; the loss is `loss`.
//! - For the 2-3-1 XOR network, every number `explain_sgd_step` prints (each z, a and δ,
//!   each gradient and update) is recomputed here by hand from the weights.
//! - The step taken is `train_step` with `Sgd`.

use stackprop::prelude::*;
use stackprop::{LayerValues, Sgd, SplitMix64, explain_sgd_step};

fn uniform(rng: &mut SplitMix64, a: f64) -> f64 {
    use stackprop::rand_core::Rng;
    ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * a
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

fn vector(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.6}")).collect();
    format!("[{}]", items.join(", "))
}

#[network(input = 2, loss = half_sse, scalar = f64)]
struct Xor {
    hidden: Dense<3, Sigmoid>,
    output: Dense<1, Sigmoid>,
}

#[test]
fn xor_step_prints_every_number_of_the_derivation() {
    let (x, t) = ([1.0, 0.0], [1.0]);
    let net = Xor::seeded(7);
    let p = *net.params();
    // By hand: W₁ [3][2] at 0, b₁ at 6, W₂ [1][3] at 9, b₂ at 12.
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    let z1: Vec<f64> = (0..3).map(|o| p[2 * o] * x[0] + p[2 * o + 1] * x[1] + p[6 + o]).collect();
    let a1: Vec<f64> = z1.iter().map(|&z| sig(z)).collect();
    let z2 = (0..3).map(|i| p[9 + i] * a1[i]).sum::<f64>() + p[12];
    let y = sig(z2);
    let d2 = (y - t[0]) * y * (1.0 - y);
    let d1: Vec<f64> = (0..3).map(|i| p[9 + i] * d2 * a1[i] * (1.0 - a1[i])).collect();

    let mut stepped = Xor::seeded(7);
    let text = explain_sgd_step(&mut stepped, &x, &t, 0.5);
    println!("{text}");
    for line in [
        format!("  z₁ = {}   (`hidden`: Dense, Sigmoid)", vector(&z1)),
        format!("  a₁ = {}", vector(&a1)),
        format!("  z₂ = {}   (`output`: Dense, Sigmoid)", vector(&[z2])),
        format!("  y = {}", vector(&[y])),
        format!("  L = {:.6}", 0.5 * (t[0] - y) * (t[0] - y)),
        format!("  δ₂ = ∂L/∂z₂ = {}", vector(&[d2])),
        format!("  δ₁ = ∂L/∂z₁ = {}", vector(&d1)),
    ] {
        assert!(text.contains(&line), "missing `{line}` in\n{text}");
    }
    // The chain rule's products, each printed with the value and the update.
    let grads: Vec<(usize, f64)> = (0..3)
        .flat_map(|o| (0..2).map(move |i| (2 * o + i, (o, i))))
        .map(|(k, (o, i))| (k, d1[o] * x[i]))
        .chain((0..3).map(|o| (6 + o, d1[o])))
        .chain((0..3).map(|i| (9 + i, d2 * a1[i])))
        .chain([(12, d2)])
        .collect();
    for (k, g) in grads {
        let row = format!("{:>14.6} {:>14.6} {:>14.6}", p[k], g, p[k] - 0.5 * g);
        assert!(text.contains(&row), "parameter {k}: missing `{row}` in\n{text}");
    }
    let mut trained = Xor::seeded(7);
    trained.train_step(&x, &t, &mut Sgd::new(0.5));
    assert_eq!(stepped.params(), trained.params());
}

/// `[z, a, δ]` of computing layer `i` (of the given widths) in `values`.
fn part(values: &[f64], widths: &[usize], i: usize, which: usize) -> Vec<f64> {
    let o: usize = widths[..i].iter().map(|w| 3 * w).sum();
    values[o + which * widths[i]..o + (which + 1) * widths[i]].to_vec()
}

#[network(input = 3, loss = mse, scalar = f64)]
struct NoBias {
    a: Dense<4, Tanh, { bias = false }>,
    b: Dense<3, Softplus, { bias = false }>,
    output: Dense<2, Identity>,
}

#[test]
fn values_are_the_chain_rule_of_the_gradient_without_biases() {
    let mut rng = SplitMix64::new(3);
    let net = NoBias::seeded(5);
    let p = *net.params();
    let x: [f64; 3] = core::array::from_fn(|_| uniform(&mut rng, 1.0));
    let t: [f64; 2] = core::array::from_fn(|_| uniform(&mut rng, 1.0));
    let mut g = [0.0; NoBias::PARAMS];
    let mut values = vec![0.0; NoBias::VALUES];
    assert_eq!(NoBias::VALUES, 3 * (4 + 3 + 2));
    let loss = net.layer_values(&x, &t, &mut g, &mut values).unwrap();
    assert!(close(loss, net.loss(&x, &t)));
    let mut want = [0.0; NoBias::PARAMS];
    net.gradient(&x, &t, &mut want);
    assert!((0..NoBias::PARAMS).all(|k| close(g[k], want[k])), "the gradient added is the network's");
    let w = [4, 3, 2];
    let zad = |i| (part(&values, &w, i, 0), part(&values, &w, i, 1), part(&values, &w, i, 2));
    let ((z1, a1, d1), (z2, a2, d2), (_, y, d3)) = (zad(0), zad(1), zad(2));
    assert!(z1.iter().zip(&a1).all(|(z, a)| close(z.tanh(), *a)));
    assert!(z2.iter().zip(&a2).all(|(z, a)| close(z.exp().ln_1p(), *a)));
    let fy = net.forward(&x);
    assert!((0..2).all(|k| close(y[k], fy[k])));
    // ∂L/∂W = δ·aᵀ for every layer, the first two without a bias.
    let (w1, w2, w3) = (0, 12, 24);
    let ins: [(&[f64], &[f64], usize, usize); 3] = [(&x, &d1, w1, 3), (&a1, &d2, w2, 4), (&a2, &d3, w3, 3)];
    for (inp, delta, at, n) in ins {
        for (o, dv) in delta.iter().enumerate() {
            for (i, av) in inp.iter().enumerate() {
                assert!(close(g[at + o * n + i], dv * av), "∂L/∂W at {}", at + o * n + i);
            }
        }
    }
    assert!((0..2).all(|o| close(g[30 + o], d3[o])), "∂L/∂b₃ = δ₃");
    // δ below: Wᵀ·δ through the activation's derivative.
    for i in 0..4 {
        let e: f64 = (0..3).map(|o| p[w2 + o * 4 + i] * d2[o]).sum();
        assert!(close(d1[i], e * (1.0 - a1[i] * a1[i])), "δ₁[{i}]");
    }
    assert!(d1.iter().any(|v| v.abs() > 1e-3), "δ₁ is not zero");
    assert!(net.layer_values(&x, &t, &mut g, &mut values[1..]).is_none(), "a short buffer is refused");
}

#[network(input = [1, 6, 6], loss = cross_entropy, scalar = f64)]
struct Cnn {
    conv: Conv2d<
        2,
        Tanh,
        {
            kernel = 3;
            padding = 1
        },
    >,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<3, Softmax>,
}

#[test]
fn values_of_a_convolutional_network() {
    let mut rng = SplitMix64::new(9);
    let net = Cnn::seeded(2);
    let p = *net.params();
    let x: [f64; 36] = core::array::from_fn(|_| uniform(&mut rng, 1.0));
    let t = [0.0, 1.0, 0.0];
    let mut g = [0.0; Cnn::PARAMS];
    let mut values = vec![0.0; Cnn::VALUES];
    assert_eq!(Cnn::VALUES, 3 * (72 + 18 + 3));
    net.layer_values(&x, &t, &mut g, &mut values).unwrap();
    let w = [72, 18, 3];
    let (zc, ac, dc) = (part(&values, &w, 0, 0), part(&values, &w, 0, 1), part(&values, &w, 0, 2));
    let (zp, ap, dp) = (part(&values, &w, 1, 0), part(&values, &w, 1, 1), part(&values, &w, 1, 2));
    let dout = part(&values, &w, 2, 2);
    assert!(zc.iter().zip(&ac).all(|(z, a)| close(z.tanh(), *a)));
    assert_eq!(zp, ap, "pooling has no activation: z = a");
    // The pool's output is the maximum of its window; its δ is Wᵀ·δ of the dense layer.
    for c in 0..2 {
        for (oy, ox) in [(0, 0), (1, 2), (2, 1)] {
            let m = (0..2)
                .flat_map(|i| (0..2).map(move |j| (i, j)))
                .map(|(i, j)| ac[c * 36 + (2 * oy + i) * 6 + 2 * ox + j])
                .fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(ap[c * 9 + oy * 3 + ox], m);
        }
    }
    let dense = 2 * 9 + 2;
    for i in 0..18 {
        let e: f64 = (0..3).map(|o| p[dense + o * 18 + i] * dout[o]).sum();
        assert!(close(dp[i], e), "δ of the pool at {i}");
    }
    // The convolution's bias gradient is its δ summed over positions.
    for o in 0..2 {
        let s: f64 = dc[o * 36..(o + 1) * 36].iter().sum();
        assert!(close(g[18 + o], s), "∂L/∂b of channel {o}");
    }
    assert!(dc.iter().filter(|v| v.abs() > 1e-6).count() >= 2 * 9, "δ reaches one cell per window");

    let text = explain_sgd_step(&mut Cnn::seeded(2), &x, &t, 0.1);
    for line in ["  z₁ = [", "  a₁ = [", "  a₂ = [", "  δ₂ = ∂L/∂a₂ = [", "  δ₁ = ∂L/∂z₁ = [", "  δ₃ = ∂L/∂z₃ = ["]
    {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    assert!(!text.contains("z₂ ="), "pooling prints no z:\n{text}");
}
