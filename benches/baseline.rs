//! The five workloads of the hand-written baseline (`shared/baselines` beside the
//! repository, when it is there), on generated networks started from the very same
//! weights and data, so the two can be timed in the same minute and compared as ratios:
//!
//! | workload | network | loss | batch | lr |
//! |---|---|---|---|---|
//! | `xor` | 2-4-1, tanh / sigmoid | mse | 1 | 0.1 |
//! | `digits` | 64-32-10, relu / softmax | cross-entropy | 1 | 0.01 |
//! | `digits-b32` | 64-32-10 | cross-entropy, batch mean | 32 | 0.1 |
//! | `mnist` | 784-128-10, relu / softmax | cross-entropy | 1 | 0.01 |
//! | `mnist-b64` | 784-128-10 | cross-entropy, batch mean | 64 | 0.1 |
//!
//! Weights are Glorot-uniform with biases U(±0.1), data 1024 class prototypes plus noise
//! (the four XOR points for `xor`), both from SplitMix64 exactly as the baseline draws
//! them: the port below is checked against the baseline's published fingerprints (FNV-1a
//! over the bit patterns) before anything is timed. Every training iteration is a real
//! [`PlainSgd`] step on the next sample (or the next batch), as the baseline's loop does;
//! inference runs on fresh weights. Before timing, each training workload prints the
//! same loss summary as the baseline's cross-check (`check <name> steps=.. loss[0]=..`),
//! so the two runs can be seen to do the same arithmetic.
//!
//! Run: `cargo bench --bench baseline`; `scripts/baseline-compare.sh` runs it beside the
//! baseline, pinned to one core, and prints the ratios.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use stackprop::prelude::*;

#[network(input = 2, loss = mse)]
struct Xor {
    hidden: Dense<4, Tanh>,
    output: Dense<1, Sigmoid>,
}

#[network(input = 64, loss = cross_entropy)]
struct Digits {
    hidden: Dense<32, Relu>,
    output: Dense<10, Softmax>,
}

#[network(input = 784, loss = cross_entropy)]
struct Mnist {
    hidden: Dense<128, Relu>,
    output: Dense<10, Softmax>,
}

/// SplitMix64 with the baseline's 24-bit uniform draws.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32) * (1.0 / 16_777_216.0)
    }
    fn sym(&mut self, scale: f32) -> f32 {
        (self.uniform() * 2.0 - 1.0) * scale
    }
}

/// A workload: sizes, seed, learning rate, batch, and the baseline's fingerprint.
struct Spec {
    name: &'static str,
    sizes: [usize; 3],
    seed: u64,
    lr: f64,
    batch: usize,
    samples: usize,
    check_steps: usize,
    fingerprint: &'static str,
}

const XOR: Spec = Spec {
    name: "xor",
    sizes: [2, 4, 1],
    seed: 1,
    lr: 0.1,
    batch: 1,
    samples: 4,
    check_steps: 2000,
    fingerprint: "xor params=a7438d89f60c65aa data=04bd3548dd774e05",
};
const DIGITS: Spec = Spec {
    name: "digits",
    sizes: [64, 32, 10],
    seed: 2,
    lr: 0.01,
    batch: 1,
    samples: 1024,
    check_steps: 1000,
    fingerprint: "digits params=6db9366d9f6a8f51 data=22b03ed6baa12eb4",
};
const DIGITS_B32: Spec = Spec {
    name: "digits-b32",
    batch: 32,
    lr: 0.1,
    check_steps: 100,
    fingerprint: "digits-b32 params=6db9366d9f6a8f51 data=22b03ed6baa12eb4",
    ..DIGITS
};
const MNIST: Spec = Spec {
    name: "mnist",
    sizes: [784, 128, 10],
    seed: 3,
    lr: 0.01,
    batch: 1,
    samples: 1024,
    check_steps: 500,
    fingerprint: "mnist params=1f87980d96f7405c data=89b9f257f8bdad37",
};
const MNIST_B64: Spec = Spec {
    name: "mnist-b64",
    batch: 64,
    lr: 0.1,
    check_steps: 50,
    fingerprint: "mnist-b64 params=1f87980d96f7405c data=89b9f257f8bdad37",
    ..MNIST
};

/// Parameters in PyTorch order (`hidden.weight` `[h][in]`, `hidden.bias`,
/// `output.weight` `[out][h]`, `output.bias`), drawn in the baseline's order.
fn params(s: &Spec) -> Vec<f32> {
    let [i, h, o] = s.sizes;
    let mut r = Rng(s.seed.wrapping_mul(1000) + 17);
    let sc1 = (6.0f64 / (i + h) as f64).sqrt() as f32;
    let sc2 = (6.0f64 / (h + o) as f64).sqrt() as f32;
    let mut p = Vec::new();
    p.extend((0..i * h).map(|_| r.sym(sc1)));
    p.extend((0..h).map(|_| r.sym(0.1)));
    p.extend((0..h * o).map(|_| r.sym(sc2)));
    p.extend((0..o).map(|_| r.sym(0.1)));
    p
}

/// Inputs (row-major), one-hot or regression targets, and labels.
fn data(s: &Spec) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
    let [i, _, o] = s.sizes;
    let (mut x, mut y, mut label) = (Vec::new(), vec![0.0f32; s.samples * o], Vec::new());
    if o == 1 {
        for (k, yk) in y.iter_mut().enumerate() {
            let (a, b) = ((k & 1) as u32, ((k >> 1) & 1) as u32);
            x.extend([a as f32, b as f32]);
            *yk = (a ^ b) as f32;
            label.push(a ^ b);
        }
    } else {
        let mut r = Rng(s.seed.wrapping_mul(1000) + 99);
        let protos: Vec<f32> = (0..o * i).map(|_| r.uniform()).collect();
        for k in 0..s.samples {
            let c = (r.next_u64() % o as u64) as usize;
            label.push(c as u32);
            y[k * o + c] = 1.0;
            for j in 0..i {
                let u = r.uniform();
                x.push(0.7f32 * protos[c * i + j] + 0.3f32 * u);
            }
        }
    }
    (x, y, label)
}

/// The baseline's fingerprint of the same weights and data.
fn fingerprint(s: &Spec) -> String {
    fn fnv(h: &mut u64, bytes: &[u8]) {
        for &b in bytes {
            *h ^= u64::from(b);
            *h = h.wrapping_mul(0x100_0000_01b3);
        }
    }
    let (x, y, label) = data(s);
    let mut hp = 0xcbf2_9ce4_8422_2325u64;
    for v in params(s) {
        fnv(&mut hp, &v.to_bits().to_le_bytes());
    }
    let mut hd = 0xcbf2_9ce4_8422_2325u64;
    for v in x.iter().chain(&y) {
        fnv(&mut hd, &v.to_bits().to_le_bytes());
    }
    for l in &label {
        fnv(&mut hd, &l.to_le_bytes());
    }
    format!("{} params={hp:016x} data={hd:016x}", s.name)
}

/// The baseline's loss summary: first, middle, last, mean, mean of the last tenth.
fn check_line(s: &Spec, losses: &[f32]) {
    let n = losses.len();
    let mean = losses.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let k = (n / 10).max(1);
    let tail = losses[n - k..].iter().map(|&v| f64::from(v)).sum::<f64>() / k as f64;
    println!(
        "check {:<12} steps={} loss[0]={:.6} loss[mid]={:.6} loss[last]={:.6} mean={:.6} mean_last10%={:.6}",
        s.name,
        n,
        losses[0],
        losses[n / 2],
        losses[n - 1],
        mean,
        tail
    );
}

/// A network on the heap holding the workload's weights.
fn net<N: Network<Scalar = f32, Params = [f32; P]>, const P: usize>(s: &Spec, zeroed: fn() -> N) -> Box<N> {
    let p = params(s);
    let mut net = Box::new(zeroed());
    let names: Vec<&str> = N::LAYOUT.iter().map(|t| t.name).collect();
    assert_eq!(names, ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]);
    net.params_mut().copy_from_slice(&p);
    net
}

/// Per-sample training and inference of one workload, with the regression target or
/// the class label the loss takes.
fn single<N, const I: usize, const O: usize, const P: usize>(c: &mut Criterion, s: &Spec, zeroed: fn() -> N)
where
    N: Network<Scalar = f32, Input = [f32; I], Output = [f32; O], Params = [f32; P]>,
{
    assert_eq!(fingerprint(s), s.fingerprint, "the port of the baseline's weights and data drifted");
    let (x, y, label) = data(s);
    let xs: Vec<[f32; I]> = x.chunks_exact(I).map(|r| r.try_into().expect("I inputs")).collect();
    let ys: Vec<[f32; O]> = y.chunks_exact(O).map(|r| r.try_into().expect("O targets")).collect();
    let n = xs.len();
    let mut opt = PlainSgd::new(s.lr);
    let mut step_fn = |net: &mut N, k: usize| {
        if O == 1 {
            net.train_step(&xs[k], &ys[k], &mut opt)
        } else {
            net.train_step(&xs[k], &Class(label[k] as usize), &mut opt)
        }
    };
    let mut check = net(s, zeroed);
    let losses: Vec<f32> = (0..s.check_steps).map(|step| step_fn(&mut check, step % n)).collect();
    check_line(s, &losses);

    let mut group = c.benchmark_group(s.name);
    let mut trained = net(s, zeroed);
    let mut step = 0usize;
    group.bench_function("train", |b| {
        b.iter(|| {
            let k = step % n;
            step += 1;
            black_box(step_fn(&mut trained, black_box(k)))
        });
    });
    let fresh = net(s, zeroed);
    let mut step = 0usize;
    group.bench_function("infer", |b| {
        b.iter(|| {
            let k = step % n;
            step += 1;
            black_box(fresh.forward(black_box(&xs[k])))
        });
    });
    group.finish();
}

/// Mini-batch training: the mean gradient of `s.batch` samples, then one SGD update.
fn batched<N, const I: usize, const O: usize, const P: usize>(c: &mut Criterion, s: &Spec, zeroed: fn() -> N)
where
    N: Network<Scalar = f32, Input = [f32; I], Output = [f32; O], Params = [f32; P]>,
{
    assert_eq!(fingerprint(s), s.fingerprint, "the port of the baseline's weights and data drifted");
    let (x, _, label) = data(s);
    let xs: Vec<[f32; I]> = x.chunks_exact(I).map(|r| r.try_into().expect("I inputs")).collect();
    let ts: Vec<Class> = label.iter().map(|&l| Class(l as usize)).collect();
    let n = xs.len();
    let mut grad: Box<[f32; P]> = vec![0.0f32; P].into_boxed_slice().try_into().expect("P values");
    let mut opt = PlainSgd::new(s.lr);
    let mut step_fn = |net: &mut N, step: usize, grad: &mut [f32; P]| {
        let start = (step * s.batch) % n;
        let r = start..start + s.batch;
        net.train_batch(&xs[r.clone()], &ts[r], grad, &mut opt)
    };
    let mut check = net(s, zeroed);
    let losses: Vec<f32> = (0..s.check_steps).map(|step| step_fn(&mut check, step, &mut grad)).collect();
    check_line(s, &losses);

    let mut group = c.benchmark_group(s.name);
    let mut trained = net(s, zeroed);
    let mut step = 0usize;
    group.bench_function("train", |b| {
        b.iter(|| {
            step += 1;
            black_box(step_fn(&mut trained, black_box(step - 1), &mut grad))
        });
    });
    group.finish();
}

fn workloads(c: &mut Criterion) {
    single::<Xor, 2, 1, { Xor::PARAMS }>(c, &XOR, Xor::zeroed);
    single::<Digits, 64, 10, { Digits::PARAMS }>(c, &DIGITS, Digits::zeroed);
    batched::<Digits, 64, 10, { Digits::PARAMS }>(c, &DIGITS_B32, Digits::zeroed);
    single::<Mnist, 784, 10, { Mnist::PARAMS }>(c, &MNIST, Mnist::zeroed);
    batched::<Mnist, 784, 10, { Mnist::PARAMS }>(c, &MNIST_B64, Mnist::zeroed);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = workloads
}
criterion_main!(benches);
