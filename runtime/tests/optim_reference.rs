//! Every optimizer against an independent transcription of its documented algorithm.
//!
//! Each reference below is written from the pseudo-code of the torch.optim documentation
//! (Lion: Algorithm 2 of Chen et al. 2023; the optax and Keras conventions, Ftrl and Lamb:
//! the update rules of optax's and Keras' documentation and source, written out below) element by element in plain `f64`, with the
//! documented forms (`m̂ = m/(1 − β₁ᵗ)`, `v̂ = v/(1 − β₂ᵗ)`, `θ − γ·m̂/(√v̂ + ε)`, products of
//! μ recomputed from scratch, powers by repeated multiplication), not by calling the
//! library. For each configuration the driver checks, over K steps of a small problem
//! whose gradient varies per step, has zeros and changes sign:
//!
//! 1. `[f64; 5]` storage matches the reference to 1e-12 relative at every step, with the
//!    learning rate changed half-way through via `set_learning_rate`;
//! 2. `Vec<f64>` storage gives bit-identical parameters to array storage;
//! 3. `[f32; 5]` storage runs and stays close to the reference;
//! 4. the half-way learning-rate change did change the trajectory (it took effect).

use stackprop_runtime::ParamInfo;
use stackprop_runtime::optim::{
    Adadelta, Adafactor, Adagrad, Adam, AdamW, Adamax, Ftrl, Lamb, Lion, NAdam, Optimizer, RAdam, RmsProp, Rprop, Sgd,
};

const N: usize = 5;
const K: usize = 30;
const THETA0: [f64; N] = [0.5, -1.2, 2.0, 0.3, -0.7];

/// `g = A·θ − b + w_k`, with a per-step wobble `w_k` and some exact zeros.
fn grad(theta: &[f64], k: usize) -> [f64; N] {
    const A: [[f64; N]; N] = [
        [2.0, 0.3, 0.0, -0.2, 0.1],
        [0.3, 1.5, 0.2, 0.0, 0.0],
        [0.0, 0.2, 1.0, 0.1, -0.3],
        [-0.2, 0.0, 0.1, 2.5, 0.4],
        [0.1, 0.0, -0.3, 0.4, 1.2],
    ];
    const B: [f64; N] = [1.0, -0.5, 0.8, 0.2, -1.1];
    let mut g = [0.0; N];
    for i in 0..N {
        let ax: f64 = (0..N).map(|j| A[i][j] * theta[j]).sum();
        g[i] = ax - B[i] + 0.4 * (0.9 * k as f64 + 1.3 * i as f64).sin();
        if (k + 2 * i) % 7 == 3 {
            g[i] = 0.0;
        }
    }
    g
}

/// The learning rate of step `k`: `base`, halved from step K/2 on.
fn lr_at(base: f64, k: usize) -> f64 {
    if k < K / 2 { base } else { base * 0.5 }
}

fn powi(x: f64, n: u64) -> f64 {
    (0..n).fold(1.0, |acc, _| acc * x)
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// One step of a reference algorithm, on a plain slice, with this step's learning rate.
trait Reference {
    fn step(&mut self, theta: &mut [f64], g: &[f64], lr: f64);
}

// ---------------------------------------------------------------------------------------
// References, transcribed from the documented pseudo-code.

struct SgdRef {
    momentum: f64,
    dampening: f64,
    wd: f64,
    nesterov: bool,
    t: u64,
    b: Vec<f64>,
}

impl SgdRef {
    fn new(momentum: f64, dampening: f64, wd: f64, nesterov: bool) -> Self {
        Self { momentum, dampening, wd, nesterov, t: 0, b: vec![0.0; N] }
    }
}

impl Reference for SgdRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        self.t += 1;
        for i in 0..theta.len() {
            let mut g = grad[i];
            if self.wd != 0.0 {
                g += self.wd * theta[i];
            }
            if self.momentum != 0.0 {
                if self.t > 1 {
                    self.b[i] = self.momentum * self.b[i] + (1.0 - self.dampening) * g;
                } else {
                    self.b[i] = g;
                }
                if self.nesterov {
                    g += self.momentum * self.b[i];
                } else {
                    g = self.b[i];
                }
            }
            theta[i] -= lr * g;
        }
    }
}

/// Adam and AdamW (`decoupled`), from the torch.optim.Adam / AdamW pseudo-code.
struct AdamRef {
    b1: f64,
    b2: f64,
    eps: f64,
    wd: f64,
    amsgrad: bool,
    decoupled: bool,
    t: u64,
    m: Vec<f64>,
    v: Vec<f64>,
    vmax: Vec<f64>,
}

impl AdamRef {
    fn new(b1: f64, b2: f64, eps: f64, wd: f64, amsgrad: bool, decoupled: bool) -> Self {
        Self { b1, b2, eps, wd, amsgrad, decoupled, t: 0, m: vec![0.0; N], v: vec![0.0; N], vmax: vec![0.0; N] }
    }
}

impl Reference for AdamRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        self.t += 1;
        let t = self.t;
        for i in 0..theta.len() {
            let mut g = grad[i];
            if self.wd != 0.0 {
                if self.decoupled {
                    theta[i] -= lr * self.wd * theta[i];
                } else {
                    g += self.wd * theta[i];
                }
            }
            self.m[i] = self.b1 * self.m[i] + (1.0 - self.b1) * g;
            self.v[i] = self.b2 * self.v[i] + (1.0 - self.b2) * g * g;
            let m_hat = self.m[i] / (1.0 - powi(self.b1, t));
            let v_hat = if self.amsgrad {
                self.vmax[i] = self.vmax[i].max(self.v[i]);
                self.vmax[i] / (1.0 - powi(self.b2, t))
            } else {
                self.v[i] / (1.0 - powi(self.b2, t))
            };
            theta[i] -= lr * m_hat / (v_hat.sqrt() + self.eps);
        }
    }
}

struct NAdamRef {
    b1: f64,
    b2: f64,
    eps: f64,
    wd: f64,
    psi: f64,
    decoupled: bool,
    t: u64,
    m: Vec<f64>,
    v: Vec<f64>,
}

impl NAdamRef {
    fn new(wd: f64, psi: f64, decoupled: bool) -> Self {
        Self { b1: 0.9, b2: 0.999, eps: 1e-8, wd, psi, decoupled, t: 0, m: vec![0.0; N], v: vec![0.0; N] }
    }

    fn mu(&self, t: u64) -> f64 {
        self.b1 * (1.0 - 0.5 * 0.96_f64.powf(t as f64 * self.psi))
    }

    /// `∏_{i=1}^{t} μ_i`, recomputed from scratch.
    fn mu_prod(&self, t: u64) -> f64 {
        (1..=t).map(|i| self.mu(i)).product()
    }
}

impl Reference for NAdamRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        self.t += 1;
        let t = self.t;
        let (mu_t, mu_next) = (self.mu(t), self.mu(t + 1));
        let (prod_t, prod_next) = (self.mu_prod(t), self.mu_prod(t + 1));
        for i in 0..theta.len() {
            let mut g = grad[i];
            if self.wd != 0.0 {
                if self.decoupled {
                    theta[i] -= lr * self.wd * theta[i];
                } else {
                    g += self.wd * theta[i];
                }
            }
            self.m[i] = self.b1 * self.m[i] + (1.0 - self.b1) * g;
            self.v[i] = self.b2 * self.v[i] + (1.0 - self.b2) * g * g;
            let m_hat = mu_next * self.m[i] / (1.0 - prod_next) + (1.0 - mu_t) * g / (1.0 - prod_t);
            let v_hat = self.v[i] / (1.0 - powi(self.b2, t));
            theta[i] -= lr * m_hat / (v_hat.sqrt() + self.eps);
        }
    }
}

struct RAdamRef {
    b1: f64,
    b2: f64,
    eps: f64,
    wd: f64,
    decoupled: bool,
    t: u64,
    m: Vec<f64>,
    v: Vec<f64>,
    rectified_steps: usize,
}

impl RAdamRef {
    fn new(b2: f64, wd: f64, decoupled: bool) -> Self {
        Self { b1: 0.9, b2, eps: 1e-8, wd, decoupled, t: 0, m: vec![0.0; N], v: vec![0.0; N], rectified_steps: 0 }
    }
}

impl Reference for RAdamRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        self.t += 1;
        let t = self.t;
        let rho_inf = 2.0 / (1.0 - self.b2) - 1.0;
        let rho_t = rho_inf - 2.0 * t as f64 * powi(self.b2, t) / (1.0 - powi(self.b2, t));
        if rho_t > 5.0 {
            self.rectified_steps += 1;
        }
        for i in 0..theta.len() {
            let mut g = grad[i];
            if self.wd != 0.0 {
                if self.decoupled {
                    theta[i] -= lr * self.wd * theta[i];
                } else {
                    g += self.wd * theta[i];
                }
            }
            self.m[i] = self.b1 * self.m[i] + (1.0 - self.b1) * g;
            self.v[i] = self.b2 * self.v[i] + (1.0 - self.b2) * g * g;
            let m_hat = self.m[i] / (1.0 - powi(self.b1, t));
            if rho_t > 5.0 {
                let l = (1.0 - powi(self.b2, t)).sqrt() / (self.v[i].sqrt() + self.eps);
                let r = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)).sqrt();
                theta[i] -= lr * m_hat * r * l;
            } else {
                theta[i] -= lr * m_hat;
            }
        }
    }
}

struct AdamaxRef {
    b1: f64,
    b2: f64,
    eps: f64,
    wd: f64,
    t: u64,
    m: Vec<f64>,
    u: Vec<f64>,
}

impl AdamaxRef {
    fn new(b1: f64, b2: f64, wd: f64) -> Self {
        Self { b1, b2, eps: 1e-8, wd, t: 0, m: vec![0.0; N], u: vec![0.0; N] }
    }
}

impl Reference for AdamaxRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        self.t += 1;
        for i in 0..theta.len() {
            let mut g = grad[i];
            if self.wd != 0.0 {
                g += self.wd * theta[i];
            }
            self.m[i] = self.b1 * self.m[i] + (1.0 - self.b1) * g;
            self.u[i] = (self.b2 * self.u[i]).max(g.abs() + self.eps);
            theta[i] -= lr * self.m[i] / ((1.0 - powi(self.b1, self.t)) * self.u[i]);
        }
    }
}

struct RmsPropRef {
    alpha: f64,
    eps: f64,
    wd: f64,
    momentum: f64,
    centered: bool,
    v: Vec<f64>,
    b: Vec<f64>,
    g_ave: Vec<f64>,
}

impl RmsPropRef {
    fn new(alpha: f64, wd: f64, momentum: f64, centered: bool) -> Self {
        Self { alpha, eps: 1e-8, wd, momentum, centered, v: vec![0.0; N], b: vec![0.0; N], g_ave: vec![0.0; N] }
    }
}

impl Reference for RmsPropRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        for i in 0..theta.len() {
            let mut g = grad[i];
            if self.wd != 0.0 {
                g += self.wd * theta[i];
            }
            self.v[i] = self.alpha * self.v[i] + (1.0 - self.alpha) * g * g;
            let mut v_tilde = self.v[i];
            if self.centered {
                self.g_ave[i] = self.g_ave[i] * self.alpha + (1.0 - self.alpha) * g;
                v_tilde -= self.g_ave[i] * self.g_ave[i];
            }
            if self.momentum > 0.0 {
                self.b[i] = self.momentum * self.b[i] + g / (v_tilde.sqrt() + self.eps);
                theta[i] -= lr * self.b[i];
            } else {
                theta[i] -= lr * g / (v_tilde.sqrt() + self.eps);
            }
        }
    }
}

struct AdagradRef {
    wd: f64,
    lr_decay: f64,
    eps: f64,
    t: u64,
    state_sum: Vec<f64>,
}

impl AdagradRef {
    fn new(wd: f64, initial_accumulator_value: f64, lr_decay: f64) -> Self {
        Self { wd, lr_decay, eps: 1e-10, t: 0, state_sum: vec![initial_accumulator_value; N] }
    }
}

impl Reference for AdagradRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        self.t += 1;
        let lr_tilde = lr / (1.0 + (self.t - 1) as f64 * self.lr_decay);
        for i in 0..theta.len() {
            let mut g = grad[i];
            if self.wd != 0.0 {
                g += self.wd * theta[i];
            }
            self.state_sum[i] += g * g;
            theta[i] -= lr_tilde * g / (self.state_sum[i].sqrt() + self.eps);
        }
    }
}

struct AdadeltaRef {
    rho: f64,
    eps: f64,
    wd: f64,
    v: Vec<f64>,
    u: Vec<f64>,
}

impl AdadeltaRef {
    fn new(rho: f64, wd: f64) -> Self {
        Self { rho, eps: 1e-6, wd, v: vec![0.0; N], u: vec![0.0; N] }
    }
}

impl Reference for AdadeltaRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        for i in 0..theta.len() {
            let mut g = grad[i];
            if self.wd != 0.0 {
                g += self.wd * theta[i];
            }
            self.v[i] = self.v[i] * self.rho + g * g * (1.0 - self.rho);
            let dx = (self.u[i] + self.eps).sqrt() / (self.v[i] + self.eps).sqrt() * g;
            self.u[i] = self.u[i] * self.rho + dx * dx * (1.0 - self.rho);
            theta[i] -= lr * dx;
        }
    }
}

/// Rprop as documented; `lr` only initializes the step sizes (η_0 ← lr).
struct RpropRef {
    eta_minus: f64,
    eta_plus: f64,
    gamma_min: f64,
    gamma_max: f64,
    g_prev: Vec<f64>,
    eta: Option<Vec<f64>>,
    flips: usize,
    zero_moves: usize,
}

impl RpropRef {
    fn new(etas: (f64, f64), step_sizes: (f64, f64)) -> Self {
        Self {
            eta_minus: etas.0,
            eta_plus: etas.1,
            gamma_min: step_sizes.0,
            gamma_max: step_sizes.1,
            g_prev: vec![0.0; N],
            eta: None,
            flips: 0,
            zero_moves: 0,
        }
    }
}

impl Reference for RpropRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        let eta = self.eta.get_or_insert_with(|| vec![lr; N]);
        for i in 0..theta.len() {
            let mut g = grad[i];
            if self.g_prev[i] * g > 0.0 {
                eta[i] = (eta[i] * self.eta_plus).min(self.gamma_max);
            } else if self.g_prev[i] * g < 0.0 {
                eta[i] = (eta[i] * self.eta_minus).max(self.gamma_min);
                g = 0.0;
                self.flips += 1;
            }
            if g == 0.0 {
                self.zero_moves += 1;
            }
            theta[i] -= eta[i] * sign(g);
            self.g_prev[i] = g;
        }
    }
}

/// Lion, Algorithm 2 of Chen et al. 2023.
struct LionRef {
    b1: f64,
    b2: f64,
    wd: f64,
    m: Vec<f64>,
}

impl LionRef {
    fn new(b1: f64, b2: f64, wd: f64) -> Self {
        Self { b1, b2, wd, m: vec![0.0; N] }
    }
}

impl Reference for LionRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        for i in 0..theta.len() {
            let g = grad[i];
            let c = self.b1 * self.m[i] + (1.0 - self.b1) * g;
            theta[i] -= lr * (sign(c) + self.wd * theta[i]);
            self.m[i] = self.b2 * self.m[i] + (1.0 - self.b2) * g;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Drivers.

fn run_reference(r: &mut dyn Reference, base_lr: f64) -> Vec<[f64; N]> {
    let mut theta = THETA0;
    (0..K)
        .map(|k| {
            let g = grad(&theta, k);
            r.step(&mut theta, &g, lr_at(base_lr, k));
            theta
        })
        .collect()
}

fn run_array<O: Optimizer<[f64; N]>>(mut opt: O, change_lr: bool) -> Vec<[f64; N]> {
    let base = opt.learning_rate();
    let mut theta = THETA0;
    (0..K)
        .map(|k| {
            if change_lr {
                opt.set_learning_rate(lr_at(base, k));
                assert_eq!(opt.learning_rate(), lr_at(base, k));
            }
            let g = grad(&theta, k);
            opt.step(&mut theta, &g);
            theta
        })
        .collect()
}

fn run_vec<O: Optimizer<[f64]>>(mut opt: O) -> Vec<[f64; N]> {
    let base = opt.learning_rate();
    let mut theta = THETA0.to_vec();
    (0..K)
        .map(|k| {
            opt.set_learning_rate(lr_at(base, k));
            let g = grad(&theta, k);
            opt.step(&mut theta, &g);
            theta.clone().try_into().unwrap()
        })
        .collect()
}

fn run_f32<O: Optimizer<[f32; N]>>(mut opt: O) -> Vec<[f32; N]> {
    let base = opt.learning_rate();
    let mut theta = THETA0.map(|x| x as f32);
    (0..K)
        .map(|k| {
            opt.set_learning_rate(lr_at(base, k));
            let g = grad(&theta.map(f64::from), k).map(|x| x as f32);
            opt.step(&mut theta, &g);
            theta
        })
        .collect()
}

fn assert_close(name: &str, got: &[[f64; N]], want: &[[f64; N]], rel: f64) {
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        for i in 0..N {
            let err = (g[i] - w[i]).abs();
            let scale = g[i].abs().max(w[i].abs());
            assert!(
                err <= rel * scale,
                "{name}: step {k}, element {i}: got {}, reference {} (relative error {:e})",
                g[i],
                w[i],
                err / scale
            );
        }
    }
}

/// Runs every check of the module header for one configuration. `$S` names the state
/// storage inside `$make`, which builds the optimizer.
macro_rules! check {
    ($name:literal, |$S:ident| $make:expr, $reference:expr) => {
        check!($name, |$S| $make, $reference, lr_matters = true)
    };
    ($name:literal, |$S:ident| $make:expr, $reference:expr, lr_matters = $lr_matters:expr) => {{
        let array = {
            type $S = [f64; N];
            $make
        };
        let base_lr = array.learning_rate();
        let mut reference = $reference;
        let want = run_reference(&mut reference, base_lr);
        let got = run_array(array.clone(), true);
        assert_close($name, &got, &want, 1e-12);

        let vec = {
            type $S = Vec<f64>;
            $make
        };
        let got_vec = run_vec(vec);
        for (k, (a, v)) in got.iter().zip(&got_vec).enumerate() {
            assert!(
                a.iter().zip(v).all(|(a, v)| a.to_bits() == v.to_bits()),
                "{}: Vec storage differs from array storage at step {k}: {a:?} vs {v:?}",
                $name
            );
        }

        let single = {
            type $S = [f32; N];
            $make
        };
        let got_f32 = run_f32(single);
        for (k, (s, w)) in got_f32.iter().zip(&want).enumerate() {
            for i in 0..N {
                let (s, w) = (f64::from(s[i]), w[i]);
                assert!(
                    s.is_finite() && (s - w).abs() <= 1e-3 * w.abs().max(1.0),
                    "{}: f32 run at step {k}, element {i}: {s} vs reference {w}",
                    $name
                );
            }
        }

        let constant = run_array(array, false);
        let changed = constant.last() != got.last();
        assert_eq!(
            changed,
            $lr_matters,
            "{}: changing the learning rate half-way {}",
            $name,
            if $lr_matters { "had no effect" } else { "changed the result" }
        );
        reference
    }};
}

#[test]
fn sgd() {
    check!("sgd plain", |S| Sgd::<S>::new(0.05), SgdRef::new(0.0, 0.0, 0.0, false));
    check!("sgd momentum", |S| Sgd::<S>::new(0.05).momentum(0.9), SgdRef::new(0.9, 0.0, 0.0, false));
    check!(
        "sgd momentum dampening weight decay",
        |S| Sgd::<S>::new(0.05).momentum(0.8).dampening(0.3).weight_decay(0.05),
        SgdRef::new(0.8, 0.3, 0.05, false)
    );
    check!(
        "sgd nesterov weight decay",
        |S| Sgd::<S>::new(0.03).momentum(0.9).nesterov(true).weight_decay(0.1),
        SgdRef::new(0.9, 0.0, 0.1, true)
    );
    check!("sgd weight decay only", |S| Sgd::<S>::new(0.05).weight_decay(0.2), SgdRef::new(0.0, 0.0, 0.2, false));
}

#[test]
fn adam() {
    check!("adam", |S| Adam::<S>::new(0.05), AdamRef::new(0.9, 0.999, 1e-8, 0.0, false, false));
    check!(
        "adam betas eps weight decay",
        |S| Adam::<S>::new(0.05).betas(0.8, 0.99).eps(1e-3).weight_decay(0.1),
        AdamRef::new(0.8, 0.99, 1e-3, 0.1, false, false)
    );
    check!("adam amsgrad", |S| Adam::<S>::new(0.05).amsgrad(true), AdamRef::new(0.9, 0.999, 1e-8, 0.0, true, false));
    check!(
        "adam amsgrad weight decay",
        |S| Adam::<S>::new(0.05).amsgrad(true).weight_decay(0.05).betas(0.5, 0.9),
        AdamRef::new(0.5, 0.9, 1e-8, 0.05, true, false)
    );
    check!(
        "adam decoupled",
        |S| Adam::<S>::new(0.05).weight_decay(0.3).decoupled_weight_decay(true),
        AdamRef::new(0.9, 0.999, 1e-8, 0.3, false, true)
    );
}

#[test]
fn adamw() {
    check!("adamw default decay", |S| AdamW::<S>::new(0.05), AdamRef::new(0.9, 0.999, 1e-8, 1e-2, false, true));
    check!(
        "adamw amsgrad",
        |S| AdamW::<S>::new(0.05).weight_decay(0.4).amsgrad(true).betas(0.7, 0.95).eps(1e-6),
        AdamRef::new(0.7, 0.95, 1e-6, 0.4, true, true)
    );
    check!(
        "adamw no decay",
        |S| AdamW::<S>::new(0.05).weight_decay(0.0),
        AdamRef::new(0.9, 0.999, 1e-8, 0.0, false, true)
    );
}

#[test]
fn adamw_equals_adam_with_decoupled_decay() {
    let adamw = run_array(AdamW::<[f64; N]>::new(0.02).weight_decay(0.1).amsgrad(true), true);
    let adam =
        run_array(Adam::<[f64; N]>::new(0.02).weight_decay(0.1).amsgrad(true).decoupled_weight_decay(true), true);
    assert_eq!(adamw, adam);
    let coupled = run_array(Adam::<[f64; N]>::new(0.02).weight_decay(0.1).amsgrad(true), true);
    assert_ne!(adamw, coupled);
}

#[test]
fn nadam() {
    check!("nadam", |S| NAdam::<S>::new(0.05), NAdamRef::new(0.0, 4e-3, false));
    check!("nadam weight decay", |S| NAdam::<S>::new(0.05).weight_decay(0.1), NAdamRef::new(0.1, 4e-3, false));
    check!(
        "nadam decoupled",
        |S| NAdam::<S>::new(0.05).weight_decay(0.2).decoupled_weight_decay(true),
        NAdamRef::new(0.2, 4e-3, true)
    );
    check!("nadam momentum decay", |S| NAdam::<S>::new(0.05).momentum_decay(0.3), NAdamRef::new(0.0, 0.3, false));
}

#[test]
fn radam() {
    let r = check!("radam", |S| RAdam::<S>::new(0.05), RAdamRef::new(0.999, 0.0, false));
    // Both branches ran: steps 1-5 un-rectified (ρ_t ≤ 5), the rest rectified.
    assert_eq!(r.rectified_steps, K - 5);
    check!("radam weight decay", |S| RAdam::<S>::new(0.05).weight_decay(0.1), RAdamRef::new(0.999, 0.1, false));
    check!(
        "radam decoupled",
        |S| RAdam::<S>::new(0.05).weight_decay(0.1).decoupled_weight_decay(true),
        RAdamRef::new(0.999, 0.1, true)
    );
    let r = check!("radam beta2 0.9", |S| RAdam::<S>::new(0.05).betas(0.9, 0.9), RAdamRef::new(0.9, 0.0, false));
    assert!(r.rectified_steps > 0 && r.rectified_steps < K);
}

#[test]
fn adamax() {
    check!("adamax", |S| Adamax::<S>::new(0.05), AdamaxRef::new(0.9, 0.999, 0.0));
    check!(
        "adamax betas weight decay",
        |S| Adamax::<S>::new(0.05).betas(0.7, 0.8).weight_decay(0.2),
        AdamaxRef::new(0.7, 0.8, 0.2)
    );
}

#[test]
fn rmsprop() {
    check!("rmsprop", |S| RmsProp::<S>::new(0.01), RmsPropRef::new(0.99, 0.0, 0.0, false));
    check!("rmsprop centered", |S| RmsProp::<S>::new(0.01).centered(true), RmsPropRef::new(0.99, 0.0, 0.0, true));
    check!("rmsprop momentum", |S| RmsProp::<S>::new(0.01).momentum(0.9), RmsPropRef::new(0.99, 0.0, 0.9, false));
    check!(
        "rmsprop centered momentum weight decay alpha",
        |S| RmsProp::<S>::new(0.01).centered(true).momentum(0.5).weight_decay(0.1).alpha(0.9),
        RmsPropRef::new(0.9, 0.1, 0.5, true)
    );
}

#[test]
fn adagrad() {
    check!("adagrad", |S| Adagrad::<S>::new(0.1), AdagradRef::new(0.0, 0.0, 0.0));
    check!(
        "adagrad decay, initial accumulator, weight decay",
        |S| Adagrad::<S>::new(0.1).lr_decay(0.05).initial_accumulator_value(0.5).weight_decay(0.1),
        AdagradRef::new(0.1, 0.5, 0.05)
    );
}

#[test]
fn adadelta() {
    check!("adadelta", |S| Adadelta::<S>::new(1.0), AdadeltaRef::new(0.9, 0.0));
    check!(
        "adadelta rho weight decay",
        |S| Adadelta::<S>::new(0.5).rho(0.5).weight_decay(0.1),
        AdadeltaRef::new(0.5, 0.1)
    );
}

#[test]
fn rprop() {
    let r = check!("rprop", |S| Rprop::<S>::new(0.01), RpropRef::new((0.5, 1.2), (1e-6, 50.0)), lr_matters = false);
    // The problem exercises all three cases: sign kept, sign flipped, zero gradient.
    assert!(r.flips > 5, "only {} sign flips", r.flips);
    assert!(r.zero_moves > r.flips, "no zero gradients besides flips");
    // Tight bounds, so both clamps bite.
    let r = check!(
        "rprop clamped",
        |S| Rprop::<S>::new(0.1).etas(0.3, 1.5).step_sizes(0.04, 0.2),
        RpropRef::new((0.3, 1.5), (0.04, 0.2)),
        lr_matters = false
    );
    let eta = r.eta.unwrap();
    assert!(eta.contains(&0.2) || eta.contains(&0.04), "{eta:?}");
}

#[test]
fn lion() {
    check!("lion", |S| Lion::<S>::new(0.01), LionRef::new(0.9, 0.99, 0.0));
    check!("lion weight decay", |S| Lion::<S>::new(0.01).weight_decay(0.5), LionRef::new(0.9, 0.99, 0.5));
    check!("lion betas", |S| Lion::<S>::new(0.01).betas(0.5, 0.95).weight_decay(0.1), LionRef::new(0.5, 0.95, 0.1));
}

// ---------------------------------------------------------------------------------------
// Other libraries' conventions, transcribed from their documented update rules.

/// optax `rmsprop(lr, decay, eps, initial_scale, eps_in_sqrt=True, momentum, nesterov)`:
/// `nu ← decay·nu + (1 − decay)·g²`, `u ← g/√(nu + eps)`, then `optax.trace`:
/// `f ← u + momentum·f`, update `u + momentum·f` (Nesterov) or `f`, times `−lr`.
struct OptaxRmsRef {
    decay: f64,
    eps: f64,
    momentum: f64,
    nesterov: bool,
    nu: Vec<f64>,
    f: Vec<f64>,
}

impl Reference for OptaxRmsRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        for i in 0..theta.len() {
            let g = grad[i];
            self.nu[i] = self.decay * self.nu[i] + (1.0 - self.decay) * g * g;
            let u = g / (self.nu[i] + self.eps).sqrt();
            let upd = if self.momentum > 0.0 {
                self.f[i] = u + self.momentum * self.f[i];
                if self.nesterov { u + self.momentum * self.f[i] } else { self.f[i] }
            } else {
                u
            };
            theta[i] -= lr * upd;
        }
    }
}

/// optax `adagrad(lr, initial_accumulator_value, eps)`: `s ← s + g²`, `θ ← θ − lr·g/√(s + eps)`.
struct OptaxAdagradRef {
    eps: f64,
    s: Vec<f64>,
}

impl Reference for OptaxAdagradRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        for i in 0..theta.len() {
            self.s[i] += grad[i] * grad[i];
            theta[i] -= lr * grad[i] / (self.s[i] + self.eps).sqrt();
        }
    }
}

/// Keras `Adam` / TF1 `AdamOptimizer`: `lr_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)`,
/// `θ ← θ − lr_t·m/(√v + ε̂)`.
struct KerasAdamRef {
    b1: f64,
    b2: f64,
    eps: f64,
    t: u64,
    m: Vec<f64>,
    v: Vec<f64>,
}

impl Reference for KerasAdamRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        self.t += 1;
        let lr_t = lr * (1.0 - powi(self.b2, self.t)).sqrt() / (1.0 - powi(self.b1, self.t));
        for i in 0..theta.len() {
            self.m[i] = self.b1 * self.m[i] + (1.0 - self.b1) * grad[i];
            self.v[i] = self.b2 * self.v[i] + (1.0 - self.b2) * grad[i] * grad[i];
            theta[i] -= lr_t * self.m[i] / (self.v[i].sqrt() + self.eps);
        }
    }
}

/// Keras `Ftrl.update_step`: `l2_reg = l2 + β/(2·lr)`, `ĝ = g + 2·l2_shrinkage·θ`,
/// `accum' = accum + g²`, `linear += ĝ − (accum'^(−p) − accum^(−p))/lr·θ`,
/// `quadratic = accum'^(−p)/lr + 2·l2_reg`, `θ = (clip(linear, −l1, l1) − linear)/quadratic`.
struct KerasFtrlRef {
    p: f64,
    l1: f64,
    l2: f64,
    shrink: f64,
    beta: f64,
    accum: Vec<f64>,
    linear: Vec<f64>,
    zeros: usize,
}

impl Reference for KerasFtrlRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        let l2_reg = self.l2 + self.beta / (2.0 * lr);
        for i in 0..theta.len() {
            let g_use = grad[i] + 2.0 * self.shrink * theta[i];
            let new_accum = self.accum[i] + grad[i] * grad[i];
            self.linear[i] += g_use - (new_accum.powf(-self.p) - self.accum[i].powf(-self.p)) / lr * theta[i];
            let quadratic = new_accum.powf(-self.p) / lr + 2.0 * l2_reg;
            let clipped = self.linear[i].clamp(-self.l1, self.l1);
            theta[i] = (clipped - self.linear[i]) / quadratic;
            if theta[i] == 0.0 {
                self.zeros += 1;
            }
            self.accum[i] = new_accum;
        }
    }
}

/// Keras `Lamb.update_step`, per variable: `m̂ = m/(1 − β₁ᵗ)`, `√v̂ = √v/√(1 − β₂ᵗ)`,
/// `u = m̂/(√v̂ + ε)`, `ratio = ‖θ‖/‖u‖` (1 if either is 0), `θ ← θ − lr·ratio·u`.
struct KerasLambRef {
    b1: f64,
    b2: f64,
    eps: f64,
    vars: Vec<std::ops::Range<usize>>,
    t: u64,
    m: Vec<f64>,
    v: Vec<f64>,
}

impl Reference for KerasLambRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        self.t += 1;
        for r in self.vars.clone() {
            let mut u = vec![0.0; r.len()];
            for (k, i) in r.clone().enumerate() {
                self.m[i] = self.b1 * self.m[i] + (1.0 - self.b1) * grad[i];
                self.v[i] = self.b2 * self.v[i] + (1.0 - self.b2) * grad[i] * grad[i];
                let m_hat = self.m[i] / (1.0 - powi(self.b1, self.t));
                let v_sqrt = self.v[i].sqrt() / (1.0 - powi(self.b2, self.t)).sqrt();
                u[k] = m_hat / (v_sqrt + self.eps);
            }
            let w_norm = theta[r.clone()].iter().map(|w| w * w).sum::<f64>().sqrt();
            let u_norm = u.iter().map(|x| x * x).sum::<f64>().sqrt();
            let ratio = if w_norm > 0.0 && u_norm > 0.0 { w_norm / u_norm } else { 1.0 };
            for (k, i) in r.enumerate() {
                theta[i] -= lr * ratio * u[k];
            }
        }
    }
}

fn optax_rms(decay: f64, eps: f64, initial: f64, momentum: f64, nesterov: bool) -> OptaxRmsRef {
    OptaxRmsRef { decay, eps, momentum, nesterov, nu: vec![initial; N], f: vec![0.0; N] }
}

#[test]
fn rmsprop_optax_and_keras_conventions() {
    check!(
        "rmsprop optax (eps in sqrt, decay 0.9)",
        |S| RmsProp::<S>::new(0.01).alpha(0.9).eps_in_sqrt(true),
        optax_rms(0.9, 1e-8, 0.0, 0.0, false)
    );
    check!(
        "rmsprop optax initial scale, momentum",
        |S| RmsProp::<S>::new(0.01).alpha(0.9).eps(1e-3).eps_in_sqrt(true).initial_accumulator_value(1.0).momentum(0.8),
        optax_rms(0.9, 1e-3, 1.0, 0.8, false)
    );
    check!(
        "rmsprop optax nesterov",
        |S| RmsProp::<S>::new(0.01).alpha(0.9).eps_in_sqrt(true).momentum(0.9).nesterov(true),
        optax_rms(0.9, 1e-8, 0.0, 0.9, true)
    );
    // ε inside makes a difference where it matters (the zero gradients' first steps).
    let a = run_array(RmsProp::<[f64; N]>::new(0.01).eps(1e-2), false);
    let b = run_array(RmsProp::<[f64; N]>::new(0.01).eps(1e-2).eps_in_sqrt(true), false);
    assert_ne!(a.last(), b.last());
}

#[test]
fn adagrad_optax_convention() {
    check!(
        "adagrad optax (eps in sqrt, initial 0.1)",
        |S| Adagrad::<S>::new(0.1).initial_accumulator_value(0.1).eps(1e-7).eps_in_sqrt(true),
        OptaxAdagradRef { eps: 1e-7, s: vec![0.1; N] }
    );
}

#[test]
fn adam_epsilon_hat() {
    check!(
        "adam keras epsilon hat",
        |S| Adam::<S>::new(0.05).eps(1e-7).epsilon_hat(true),
        KerasAdamRef { b1: 0.9, b2: 0.999, eps: 1e-7, t: 0, m: vec![0.0; N], v: vec![0.0; N] }
    );
    check!(
        "adam keras epsilon hat, large eps",
        |S| Adam::<S>::new(0.05).eps(0.1).betas(0.8, 0.95).epsilon_hat(true),
        KerasAdamRef { b1: 0.8, b2: 0.95, eps: 0.1, t: 0, m: vec![0.0; N], v: vec![0.0; N] }
    );
    let torch = run_array(Adam::<[f64; N]>::new(0.05).eps(0.1), false);
    let keras = run_array(Adam::<[f64; N]>::new(0.05).eps(0.1).epsilon_hat(true), false);
    assert_ne!(torch.last(), keras.last(), "the two ε forms give other numbers for ε > 0");
}

fn keras_ftrl(p: f64, init: f64, l1: f64, l2: f64, shrink: f64, beta: f64) -> KerasFtrlRef {
    KerasFtrlRef { p, l1, l2, shrink, beta, accum: vec![init; N], linear: vec![0.0; N], zeros: 0 }
}

#[test]
fn ftrl() {
    check!("ftrl", |S| Ftrl::<S>::new(0.1), keras_ftrl(-0.5, 0.1, 0.0, 0.0, 0.0, 0.0));
    let r = check!(
        "ftrl l1 l2 shrinkage beta power",
        |S| Ftrl::<S>::new(0.1)
            .l1(0.3)
            .l2(0.2)
            .l2_shrinkage(0.05)
            .beta(0.5)
            .learning_rate_power(-0.7)
            .initial_accumulator_value(0.3),
        keras_ftrl(-0.7, 0.3, 0.3, 0.2, 0.05, 0.5)
    );
    assert!(r.zeros > 0, "λ₁ never zeroed a parameter: the clipping went untested");
}

const LAMB_LAYOUT: &[ParamInfo] = &[
    ParamInfo { name: "layer.weight", offset: 0, shape: &[1, 3] },
    ParamInfo { name: "layer.bias", offset: 3, shape: &[2] },
];

#[test]
fn lamb() {
    let lamb = |vars: Vec<std::ops::Range<usize>>, b1, b2, eps| KerasLambRef {
        b1,
        b2,
        eps,
        vars,
        t: 0,
        m: vec![0.0; N],
        v: vec![0.0; N],
    };
    check!("lamb one tensor", |S| Lamb::<S>::new(0.05), lamb(std::iter::once(0..N).collect(), 0.9, 0.999, 1e-6));
    check!(
        "lamb per tensor",
        |S| Lamb::<S>::new(0.05).layout(LAMB_LAYOUT).betas(0.8, 0.99).eps(1e-4),
        lamb(vec![0..3, 3..5], 0.8, 0.99, 1e-4)
    );
    let one = run_array(Lamb::<[f64; N]>::new(0.05), false);
    let two = run_array(Lamb::<[f64; N]>::new(0.05).layout(LAMB_LAYOUT), false);
    assert_ne!(one.last(), two.last(), "per-tensor ratios differ from one global ratio");
}

/// A variable of the Adafactor reference: its range and, to factor it, `(rows, cols)`.
type Var = (std::ops::Range<usize>, Option<(usize, usize)>);

/// Keras `Adafactor.update_step`, per variable, for a variable that is either a vector
/// or a `rows × cols` matrix (`r` the row means, `c` the column means).
struct KerasAdafactorRef {
    decay: f64,
    eps1: f64,
    eps2: f64,
    clip: f64,
    /// (range, Some((rows, cols)) to factor)
    vars: Vec<Var>,
    t: u64,
    r: Vec<Vec<f64>>,
    c: Vec<Vec<f64>>,
    v: Vec<f64>,
}

fn rms_of(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

impl Reference for KerasAdafactorRef {
    fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        self.t += 1;
        let step = self.t as f64;
        let lr = lr.min(1.0 / step.sqrt());
        let rho_t = lr.min(1.0 / step.sqrt());
        let beta_2_t = 1.0 - step.powf(self.decay);
        for (k, (range, shape)) in self.vars.clone().into_iter().enumerate() {
            let alpha_t = self.eps2.max(rms_of(&theta[range.clone()])) * rho_t;
            let g = &grad[range.clone()];
            let reg: Vec<f64> = g.iter().map(|x| x * x + self.eps1).collect();
            let v: Vec<f64> = match shape {
                Some((rows, cols)) => {
                    let r = &mut self.r[k];
                    for i in 0..rows {
                        let mean = (0..cols).map(|j| reg[i * cols + j]).sum::<f64>() / cols as f64;
                        r[i] = beta_2_t * r[i] + (1.0 - beta_2_t) * mean;
                    }
                    let c = &mut self.c[k];
                    for j in 0..cols {
                        let mean = (0..rows).map(|i| reg[i * cols + j]).sum::<f64>() / rows as f64;
                        c[j] = beta_2_t * c[j] + (1.0 - beta_2_t) * mean;
                    }
                    let r_mean = r.iter().sum::<f64>() / rows as f64;
                    (0..rows * cols).map(|idx| r[idx / cols] / r_mean * c[idx % cols]).collect()
                }
                None => {
                    for (i, idx) in range.clone().enumerate() {
                        self.v[idx] = beta_2_t * self.v[idx] + (1.0 - beta_2_t) * reg[i];
                    }
                    self.v[range.clone()].to_vec()
                }
            };
            let u: Vec<f64> = g.iter().zip(&v).map(|(g, v)| g / v.sqrt()).collect();
            let denom = 1.0f64.max(rms_of(&u) / self.clip);
            for (i, idx) in range.enumerate() {
                theta[idx] -= alpha_t * (u[i] / denom);
            }
        }
    }
}

const ADAFACTOR_LAYOUT: &[ParamInfo] = &[
    ParamInfo { name: "layer.weight", offset: 0, shape: &[2, 2] },
    ParamInfo { name: "layer.bias", offset: 4, shape: &[1] },
];

#[test]
fn adafactor() {
    let reference = |vars: Vec<Var>, decay, clip| KerasAdafactorRef {
        decay,
        eps1: 1e-30,
        eps2: 1e-3,
        clip,
        r: vars.iter().map(|(_, s)| vec![0.0; s.map_or(0, |s| s.0)]).collect(),
        c: vars.iter().map(|(_, s)| vec![0.0; s.map_or(0, |s| s.1)]).collect(),
        vars,
        t: 0,
        v: vec![0.0; N],
    };
    // lr above 1/√t for the first steps, below later: both branches of the cap run.
    check!("adafactor one vector", |S| Adafactor::<S>::new(0.3), reference(vec![(0..N, None)], -0.8, 1.0));
    check!(
        "adafactor factored matrix and bias",
        |S| Adafactor::<S>::new(0.3).layout(ADAFACTOR_LAYOUT).beta_2_decay(-0.5).clip_threshold(0.5),
        reference(vec![(0..4, Some((2, 2))), (4..5, None)], -0.5, 0.5)
    );
}
