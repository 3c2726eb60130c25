//! Why backpropagation: the full gradient by central differences takes 2·W forward passes
//! (each O(W), so O(W²) in all), backpropagation one forward and one backward pass (O(W)).
//! For 4-H-H-1 tanh networks of growing width H, prints the time of each, their ratio
//! and the largest relative difference between the two gradients, and writes a log-log
//! plot of time against W to `target/plots/numerical_vs_backprop.svg`.
//!
//! Run: `cargo run --release --example numerical_vs_backprop`

mod common;

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use common::{Chart, Scale, Series};
use plotters::chart::SeriesLabelPosition;
use stackprop::prelude::*;

/// Declares a 4-H-H-1 tanh network with `mse` in `f64`.
macro_rules! net {
    ($name:ident, $h:literal) => {
        #[network(input = 4, loss = mse, scalar = f64, unroll = false)]
        pub struct $name {
            a: Dense<$h, Tanh>,
            b: Dense<$h, Tanh>,
            output: Dense<1, Identity>,
        }
    };
}

net!(W2, 2);
net!(W4, 4);
net!(W8, 8);
net!(W16, 16);
net!(W32, 32);
net!(W64, 64);

/// One size's measurements.
struct Row {
    params: usize,
    numerical: f64,
    backprop: f64,
    max_rel_diff: f64,
}

/// Seconds per call of `f`, repeated until at least 50 ms have passed.
fn time(mut f: impl FnMut()) -> f64 {
    let mut reps = 1u32;
    loop {
        let start = Instant::now();
        for _ in 0..reps {
            f();
        }
        let s = start.elapsed().as_secs_f64();
        if s > 0.05 {
            return s / f64::from(reps);
        }
        reps *= 2;
    }
}

fn measure<N>() -> Row
where
    N: Network<Scalar = f64, Input = [f64; 4], Output = [f64; 1]>,
{
    let mut net = N::seeded(3);
    let x = [0.3, -0.7, 0.5, 0.1];
    let t = [0.25];
    let p = N::PARAMS;
    let h = 1e-5;
    let numerical = |net: &mut N, out: &mut [f64]| {
        for (j, o) in out.iter_mut().enumerate().take(p) {
            let v = net.params().as_ref()[j];
            net.params_mut().as_mut()[j] = v + h;
            let lp = net.loss(&x, &t);
            net.params_mut().as_mut()[j] = v - h;
            let lm = net.loss(&x, &t);
            net.params_mut().as_mut()[j] = v;
            *o = (lp - lm) / (2.0 * h);
        }
    };
    let mut fd = vec![0.0; p];
    numerical(&mut net, &mut fd);
    let mut grad = N::Params::zeroed();
    net.gradient(&x, &t, &mut grad);
    let max_rel_diff =
        fd.iter().zip(grad.as_ref()).map(|(a, b)| (a - b).abs() / a.abs().max(b.abs()).max(1e-6)).fold(0.0, f64::max);
    let numerical_time = time(|| numerical(black_box(&mut net), &mut fd));
    let backprop_time = time(|| {
        grad.as_mut().fill(0.0);
        black_box(black_box(&net).gradient(&x, &t, &mut grad));
    });
    Row { params: p, numerical: numerical_time, backprop: backprop_time, max_rel_diff }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let rows =
        [measure::<W2>(), measure::<W4>(), measure::<W8>(), measure::<W16>(), measure::<W32>(), measure::<W64>()];
    println!("4-H-H-1 tanh, one sample, f64: the full gradient two ways\n");
    println!("{:>8} {:>18} {:>16} {:>10} {:>16}", "W", "central diff (µs)", "backprop (µs)", "ratio", "max rel. diff");
    for r in &rows {
        println!(
            "{:>8} {:>18.3} {:>16.3} {:>10.1} {:>16.1e}",
            r.params,
            r.numerical * 1e6,
            r.backprop * 1e6,
            r.numerical / r.backprop,
            r.max_rel_diff
        );
    }
    let (first, last) = (&rows[rows.len() - 2], &rows[rows.len() - 1]);
    let growth = |a: f64, b: f64| (b / a).ln() / (last.params as f64 / first.params as f64).ln();
    println!(
        "\ntime ∝ W^k from W = {} to {}: central differences k = {:.2}, backprop k = {:.2} (O(W²) and O(W) give 2 and 1; per-call costs that do not grow with W pull both below)",
        first.params,
        last.params,
        growth(first.numerical, last.numerical),
        growth(first.backprop, last.backprop)
    );
    let series = [
        Series::new(
            "central differences (2·W forward passes)",
            rows.iter().map(|r| ((r.params as f64).log10(), r.numerical)).collect(),
        ),
        Series::new(
            "backpropagation (one backward pass)",
            rows.iter().map(|r| ((r.params as f64).log10(), r.backprop)).collect(),
        ),
    ];
    let chart = Chart {
        title: "Time for the full gradient of one sample",
        x_label: "log₁₀ W (parameters)",
        y_label: "seconds",
        y_scale: Scale::Log,
        legend: SeriesLabelPosition::UpperLeft,
    };
    let plot = common::plot("numerical_vs_backprop", &chart, &series)?;
    println!("plot written to {}", plot.display());
    Ok(())
}
