//! A hand-written network for the tests of `train` and `parallel` (the runtime cannot use
//! the `#[network]` macro): softmax regression, 4 inputs → 3 classes, cross-entropy, in
//! `f32` so that the order of additions shows in the last bits. Plus seeded blob data.

#![allow(dead_code)] // each test file uses a part

use stackprop_runtime::Class;
use stackprop_runtime::network::{Network, ParamInfo};
use stackprop_runtime::rng::{SplitMix64, normal, symmetric};

pub const IN: usize = 4;
pub const OUT: usize = 3;
pub const PARAMS: usize = OUT * IN + OUT;

/// `p = softmax(W·x + b)`, loss `−Σ tᵢ·ln pᵢ`; parameters `W` (row-major `[out][in]`) then `b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Softmax {
    pub params: [f32; PARAMS],
}

impl Softmax {
    fn probabilities(&self, x: &[f32; IN]) -> [f32; OUT] {
        let mut z = [0.0_f32; OUT];
        for (o, z) in z.iter_mut().enumerate() {
            let row = &self.params[o * IN..(o + 1) * IN];
            *z = self.params[OUT * IN + o] + row.iter().zip(x).map(|(w, x)| w * x).sum::<f32>();
        }
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e = z.map(|z| (z - max).exp());
        let sum: f32 = e.iter().sum();
        e.map(|e| e / sum)
    }

    /// δ = p − t, loss −Σ t ln p.
    fn delta(trace: &[f32; OUT], t: &[f32; OUT]) -> ([f32; OUT], f32) {
        let mut delta = [0.0; OUT];
        let mut loss = 0.0;
        for o in 0..OUT {
            delta[o] = trace[o] - t[o];
            if t[o] != 0.0 {
                loss -= t[o] * (trace[o] + 1e-30).ln();
            }
        }
        (delta, loss)
    }
}

impl Network for Softmax {
    type Scalar = f32;
    type Input = [f32; IN];
    type Output = [f32; OUT];
    type Params = [f32; PARAMS];
    type Trace = [f32; OUT];

    const INPUT: usize = IN;
    const OUTPUT: usize = OUT;
    const PARAMS: usize = PARAMS;
    const LAYOUT: &'static [ParamInfo] = &[
        ParamInfo { name: "output.weight", offset: 0, shape: &[OUT, IN] },
        ParamInfo { name: "output.bias", offset: OUT * IN, shape: &[OUT] },
    ];

    fn params(&self) -> &[f32; PARAMS] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [f32; PARAMS] {
        &mut self.params
    }

    fn from_params(params: [f32; PARAMS]) -> Self {
        Self { params }
    }

    fn init_with<R: stackprop_runtime::rand_core::Rng + ?Sized>(&mut self, rng: &mut R) {
        for w in &mut self.params[..OUT * IN] {
            *w = symmetric(rng, 0.5) as f32;
        }
        self.params[OUT * IN..].fill(0.0);
    }

    fn forward(&self, x: &[f32; IN]) -> [f32; OUT] {
        self.probabilities(x)
    }

    fn forward_trace(&self, x: &[f32; IN], trace: &mut [f32; OUT]) -> [f32; OUT] {
        *trace = self.probabilities(x);
        *trace
    }

    fn trace_loss(&self, trace: &[f32; OUT], t: &[f32; OUT]) -> f32 {
        Self::delta(trace, t).1
    }

    fn backward(
        &self,
        x: &[f32; IN],
        trace: &[f32; OUT],
        t: &[f32; OUT],
        scale: f32,
        grad: &mut [f32; PARAMS],
        input_grad: Option<&mut [f32; IN]>,
    ) -> f32 {
        let (delta, loss) = Self::delta(trace, t);
        for o in 0..OUT {
            let d = scale * delta[o];
            for i in 0..IN {
                grad[o * IN + i] += d * x[i];
            }
            grad[OUT * IN + o] += d;
        }
        if let Some(dx) = input_grad {
            for (&d, row) in delta.iter().zip(self.params.chunks_exact(IN)) {
                for (dx, &w) in dx.iter_mut().zip(row) {
                    *dx += scale * d * w;
                }
            }
        }
        loss
    }

    fn input_backward(&self, _x: &[f32; IN], trace: &[f32; OUT], t: &[f32; OUT]) -> [f32; IN] {
        let (delta, _) = Self::delta(trace, t);
        let mut dx = [0.0; IN];
        for (&d, row) in delta.iter().zip(self.params.chunks_exact(IN)) {
            for (dx, &w) in dx.iter_mut().zip(row) {
                *dx += d * w;
            }
        }
        dx
    }

    fn backward_sgd(&mut self, x: &[f32; IN], trace: &[f32; OUT], t: &[f32; OUT], lr: f32) -> f32 {
        let mut grad = [0.0; PARAMS];
        let loss = self.backward(x, trace, t, 1.0, &mut grad, None);
        for (p, g) in self.params.iter_mut().zip(grad) {
            *p -= lr * g;
        }
        loss
    }
}

/// `n` samples of three Gaussian blobs in 4-D (unit noise, centres 2 apart), class `i % 3`
/// for sample `i`, from `seed`.
pub fn blobs(n: usize, seed: u64) -> (Vec<[f32; IN]>, Vec<Class>) {
    const CENTRES: [[f64; IN]; OUT] = [[2.0, 0.0, 0.0, 1.0], [0.0, 2.0, 0.0, -1.0], [0.0, 0.0, 2.0, 0.0]];
    let mut rng = SplitMix64::new(seed);
    let mut xs = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % OUT;
        xs.push(CENTRES[c].map(|m| (m + normal(&mut rng)) as f32));
        ts.push(Class(c));
    }
    (xs, ts)
}

/// The same labels shifted by one class: what training on the true labels makes worse.
pub fn shifted(ts: &[Class]) -> Vec<Class> {
    ts.iter().map(|c| Class((c.0 + 1) % OUT)).collect()
}
