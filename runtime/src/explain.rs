//! One training step with its numbers, laid out like the derivation in a generated
//! network's docs: every layer's output, each layer's δ, every gradient and the SGD
//! update. For learners following the chain rule on their own network.
//!
//! Entry point: [`explain_sgd_step`].

use std::borrow::ToOwned;
use std::fmt::Write as _;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::network::{Buffer, Network};
use crate::scalar::Scalar;

/// Subscript digits: `₂`.
fn sub(n: usize) -> String {
    const DIGITS: [char; 10] = ['₀', '₁', '₂', '₃', '₄', '₅', '₆', '₇', '₈', '₉'];
    n.to_string().chars().map(|c| c.to_digit(10).map_or(c, |d| DIGITS[d as usize])).collect()
}

fn vector<T: Scalar>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{:.6}", x.to_f64())).collect();
    format!("[{}]", items.join(", "))
}

/// Takes one plain SGD step `θ ← θ − lr·∂L/∂θ` on the sample `(x, t)` and returns it
/// written out:
///
/// - **Forward**: the input and each layer's output `a_k` (`y` for the last), from the
///   training forward's trace, with the layer's name and activation; the loss.
/// - **Backward**: each layer's `δ_k = ∂L/∂z_k`, read from the gradient of its bias
///   (`∂L/∂b_k = δ_k`); a layer without a bias has no δ line. (For convolutions the bias
///   gradient is δ summed over positions, and is labelled so.)
/// - **Gradients and update**: for every parameter tensor, each entry's value, its
///   gradient and the value after the step.
///
/// The layer numbers and names match the derivation in the network's docs
/// (`Net::DERIVATION`). The network is changed exactly as one
/// [`Network::train_step`] with `Sgd::new(lr)` would change it.
pub fn explain_sgd_step<N: Network>(net: &mut N, x: &N::Input, t: &N::Output, lr: f64) -> String {
    let mut out = String::new();
    let mut trace = N::Trace::zeroed();
    net.forward_trace(x, &mut trace);
    let mut grad = N::Params::zeroed();
    let loss = net.backward(x, &trace, t, N::Scalar::ONE, &mut grad, None);
    let tr = trace.as_ref();
    let layers = N::LAYERS;
    let computing: Vec<_> = layers.iter().filter(|l| l.kind != "Flatten").collect();
    let last = computing.len();
    let name = |k: usize| if k == last { "y".to_owned() } else { format!("a{}", sub(k)) };

    let _ = writeln!(out, "One SGD step, lr = {lr}: θ ← θ − lr·∂L/∂θ");
    let _ = writeln!(out, "\nForward");
    let _ = writeln!(out, "  x = {}", vector(x.as_ref()));
    for (i, layer) in computing.iter().enumerate() {
        let k = i + 1;
        let values = layer.output.map_or(String::from("(not kept)"), |o| vector(&tr[o..o + layer.width]));
        let act = if layer.activation_name.is_empty() { String::new() } else { format!(", {}", layer.activation_name) };
        let _ = writeln!(out, "  {} = {values}   (`{}`: {}{act})", name(k), layer.name, layer.kind);
    }
    let _ = writeln!(out, "  L = {:.6}   against t = {}", loss.to_f64(), vector(t.as_ref()));

    let _ = writeln!(out, "\nBackward");
    let g = grad.as_ref();
    for (i, layer) in computing.iter().enumerate().rev() {
        let k = i + 1;
        if let Some(bias) = layer.params.iter().find(|p| p.name.ends_with(".bias")) {
            let what = if layer.kind == "Dense" { "" } else { ", summed over positions" };
            let _ = writeln!(
                out,
                "  δ{} = ∂L/∂z{} = {}   (= ∂L/∂b{}{what})",
                sub(k),
                sub(k),
                vector(&g[bias.range()]),
                sub(k)
            );
        }
    }

    let _ = writeln!(out, "\nGradients and update");
    let params = net.params_mut().as_mut();
    let step = N::Scalar::from_f64(lr);
    for (i, layer) in computing.iter().enumerate() {
        for p in layer.params {
            let symbol = if p.name.ends_with(".bias") { "b" } else { "W" };
            let shape: Vec<String> = p.shape.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "  {symbol}{} = `{}` [{}]", sub(i + 1), p.name, shape.join("×"));
            let _ = writeln!(out, "    {:<10} {:>14} {:>14} {:>14}", "", "θ", "∂L/∂θ", "θ − lr·∂L/∂θ");
            let cols = p.shape.last().copied().unwrap_or(1).max(1);
            for (j, idx) in p.range().enumerate() {
                let before = params[idx];
                let after = before - step * g[idx];
                let at = if p.shape.len() > 1 { format!("[{}][{}]", j / cols, j % cols) } else { format!("[{j}]") };
                let _ = writeln!(
                    out,
                    "    {at:<10} {:>14.6} {:>14.6} {:>14.6}",
                    before.to_f64(),
                    g[idx].to_f64(),
                    after.to_f64()
                );
                params[idx] = after;
            }
        }
    }
    out
}
