//! One training step with its numbers, laid out like the derivation in a generated
//! network's docs: every layer's pre-activation and output, each layer's δ, every
//! gradient and the SGD update. For learners following the chain rule on their own
//! network.
//!
//! Entry point: [`explain_sgd_step`].

use std::borrow::ToOwned;
use std::fmt::Write as _;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::network::Buffer;
use crate::scalar::Scalar;
use crate::second_order::LayerValues;

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
/// - **Forward**: the input, then for each layer its pre-activation `z_k` and its output
///   `a_k` (`y` for the last), with the layer's name, kind and activation (a kind
///   without an activation, such as pooling, has `a_k` alone); the loss.
/// - **Backward**: each layer's `δ_k = ∂L/∂z_k` (`∂L/∂a_k` for a kind without an
///   activation), from the top down to the first layer.
/// - **Gradients and update**: for every parameter tensor, each entry's value, its
///   gradient and the value after the step.
///
/// Every number comes from [`LayerValues::layer_values`], the network's own forward and
/// backward code. The layer numbers and names match the derivation in the network's
/// docs (`Net::DERIVATION`). The network is changed exactly as one
/// [`Network::train_step`](crate::Network::train_step) with `Sgd::new(lr)` would change it.
pub fn explain_sgd_step<N: LayerValues>(net: &mut N, x: &N::Input, t: &N::Output, lr: f64) -> String {
    let mut out = String::new();
    let mut grad = N::Params::zeroed();
    let mut values = std::vec![N::Scalar::ZERO; N::VALUES];
    let Some(loss) = net.layer_values(x, t, &mut grad, &mut values) else {
        // `values` holds `VALUES` scalars: the network writes them.
        return out;
    };
    let layers = N::LAYERS;
    let computing: Vec<_> = layers.iter().filter(|l| l.kind != "Flatten").collect();
    let last = computing.len();
    let name = |k: usize| if k == last { "y".to_owned() } else { format!("a{}", sub(k)) };
    // [z, a, δ] of each computing layer, in order.
    let mut at = Vec::with_capacity(last);
    let mut o = 0;
    for layer in &computing {
        at.push(o);
        o += 3 * layer.width;
    }
    let part = |i: usize, which: usize| {
        let (o, n) = (at[i], computing[i].width);
        &values[o + which * n..o + (which + 1) * n]
    };

    let _ = writeln!(out, "One SGD step, lr = {lr}: θ ← θ − lr·∂L/∂θ");
    let _ = writeln!(out, "\nForward");
    let _ = writeln!(out, "  x = {}", vector(x.as_ref()));
    for (i, layer) in computing.iter().enumerate() {
        let k = i + 1;
        let has_act = !layer.activation_name.is_empty();
        let act = if has_act { format!(", {}", layer.activation_name) } else { String::new() };
        let what = format!("(`{}`: {}{act})", layer.name, layer.kind);
        if has_act {
            let _ = writeln!(out, "  z{} = {}   {what}", sub(k), vector(part(i, 0)));
            let _ = writeln!(out, "  {} = {}", name(k), vector(part(i, 1)));
        } else {
            let _ = writeln!(out, "  {} = {}   {what}", name(k), vector(part(i, 1)));
        }
    }
    let _ = writeln!(out, "  L = {:.6}   against t = {}", loss.to_f64(), vector(t.as_ref()));

    let _ = writeln!(out, "\nBackward");
    for (i, layer) in computing.iter().enumerate().rev() {
        let k = i + 1;
        let of = if layer.activation_name.is_empty() { name(k) } else { format!("z{}", sub(k)) };
        let _ = writeln!(out, "  δ{} = ∂L/∂{of} = {}", sub(k), vector(part(i, 2)));
    }

    let _ = writeln!(out, "\nGradients and update");
    let g = grad.as_ref();
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
