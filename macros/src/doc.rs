//! The derivation rendered into the generated type's rustdoc: the forward pass, the loss,
//! the backward pass with each activation derivative in the simplified form the code
//! evaluates, every parameter tensor's gradient as a product of chain-rule factors, and
//! the size of the emitted code. The same text is printed by `Net::DERIVATION`.
//!
//! Entry point: [`derivation`]. Formulas go in a `text` block so Markdown leaves `*` and
//! `_` alone.

use crate::layers::DocNames;
use crate::layers::activation::{ActKind, Activation};
use crate::loss::{self, Loss};
use crate::model::{Layer, Network, size};
use crate::symbolic::Var;

/// Sizes of the emitted code, reported in the docs.
#[derive(Clone, Copy, Debug, Default)]
pub struct CodeSize {
    pub forward_tokens: usize,
    pub backward_tokens: usize,
}

fn sub(n: usize) -> String {
    const DIGITS: [char; 10] = ['₀', '₁', '₂', '₃', '₄', '₅', '₆', '₇', '₈', '₉'];
    n.to_string().chars().map(|c| c.to_digit(10).map_or(c, |d| DIGITS[d as usize])).collect()
}

/// A computing layer (every layer but reshapes): its number among them (1-based), the
/// layer and its activation.
struct Step<'a> {
    k: usize,
    layer: &'a Layer,
    act: Option<&'a Activation>,
    width: usize,
}

fn steps(net: &Network) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for layer in &net.layers {
        if !layer.kind.aliases_input() {
            out.push(Step { k: out.len() + 1, layer, act: layer.kind.activation(), width: size(&layer.output) });
        }
    }
    out
}

/// The names of step `s` in the docs.
fn names(s: &Step, last: usize) -> DocNames {
    let out = if s.act.is_some() { format!("z{}", sub(s.k)) } else { a(s.k, last) };
    DocNames { k: sub(s.k), input: a(s.k - 1, last), out }
}

/// A shape as `2` or `1×8×8`.
fn dims(shape: &[usize]) -> String {
    shape.iter().map(ToString::to_string).collect::<Vec<_>>().join("×")
}

/// Name of the k-th activation output: `x` for 0, `y` for the last, `aₖ` otherwise.
fn a(k: usize, last: usize) -> String {
    if k == 0 {
        "x".into()
    } else if k == last {
        "y".into()
    } else {
        format!("a{}", sub(k))
    }
}

fn render_forward(act: &Activation, z: &str) -> String {
    match &act.kind {
        ActKind::Softmax => format!("softmax({z})"),
        ActKind::Elementwise(e) => e.forward.render(&|v| match v {
            Var::X => z.to_owned(),
            _ => "?".to_owned(),
        }),
    }
}

/// f′ in the form the code evaluates, with the names of layer `k`, plus the definitions
/// of the saved values it reads.
fn render_derivative(act: &Activation, k: usize, last: usize) -> (String, Vec<String>) {
    match &act.kind {
        ActKind::Softmax => (format!("diag({0}) − {0}·{0}ᵀ", a(k, last)), Vec::new()),
        ActKind::Elementwise(e) => {
            let z = format!("z{}", sub(k));
            let s =
                |i: usize| format!("s{}{}", sub(k), if e.saved.len() > 1 { format!("_{i}") } else { String::new() });
            let names = |v: Var| match v {
                Var::X => z.clone(),
                Var::Y => a(k, last),
                Var::Saved(i) => s(i),
                Var::T => "t".to_owned(),
            };
            let d = e.derivative.render(&names);
            // A sum or a conditional is parenthesized, so `⊙ (1 − a²)` reads as one factor.
            let d = if d.contains(' ') && !(d.starts_with('(') && d.ends_with(')')) { format!("({d})") } else { d };
            let defs = e
                .saved
                .iter()
                .enumerate()
                .map(|(i, sv)| {
                    format!("{} = {}", s(i), sv.render(&|v| if v == Var::X { z.clone() } else { "?".into() }))
                })
                .collect();
            (d, defs)
        }
    }
}

/// `(T, values per step)` of a softmax at every step of a sequence; `None` for one
/// softmax over the whole layer.
fn per_step_softmax(layer: &Layer) -> Option<(usize, usize)> {
    let groups = layer.softmax_groups();
    (groups > 1).then(|| (groups, size(&layer.output) / groups))
}

fn render_loss(net: &Network, last: &Step) -> String {
    let n = last.width;
    match net.loss {
        Loss::CrossEntropy if last.layer.softmax_groups() > 1 => format!(
            "L = (1/{0})·Σₜ −Σ tₜ·ln yₜ = (1/{0})·Σₜ Σ tₜ·(lse(zₜ) − zₜ), the mean over the {0} steps",
            last.layer.softmax_groups()
        ),
        Loss::CrossEntropy => "L = −Σ t·ln y = Σ t·(lse(z) − z)".into(),
        loss => {
            let Some(el) = loss.element() else { return String::new() };
            let arg = if loss.needs_logits() { format!("z{}", sub(0)).replace('₀', "") } else { "y".into() };
            let body = el.render(&|v| match v {
                Var::X => arg.clone(),
                Var::T => "t".into(),
                _ => "?".into(),
            });
            let red = loss.reduction(n);
            if red == 1.0 { format!("L = Σ {body}") } else { format!("L = (1/{n})·Σ {body}") }
        }
    }
}

/// `∂L/∂z` of the last layer, rendered.
fn render_output_delta(net: &Network, last: &Step, act: &Activation, n_last: usize) -> String {
    let n = last.width;
    let zl = format!("z{}", sub(last.k));
    let groups = last.layer.softmax_groups();
    if net.loss == Loss::CrossEntropy && groups > 1 {
        return format!(
            "δ{}ₜ = ∂L/∂{zl}ₜ = (1/{groups})·(yₜ·Σtₜ − tₜ) at every step t   (= (1/{groups})·(yₜ − tₜ) for one-hot or probability targets)",
            sub(last.k)
        );
    }
    if net.loss == Loss::CrossEntropy {
        return format!("δ{} = ∂L/∂{zl} = y·Σt − t   (= y − t for a one-hot or probability target)", sub(last.k));
    }
    let red = net.loss.reduction(n);
    let scale = if red == 1.0 { String::new() } else { format!("(1/{n})·") };
    let g = match loss::element_derivative(&net.loss, Some(act)) {
        Some(Ok(e)) => e.render(&|v| match v {
            Var::X if net.loss.needs_logits() => zl.clone(),
            Var::X | Var::Y => "y".into(),
            Var::T => "t".into(),
            Var::Saved(_) => "?".into(),
        }),
        _ => "?".into(),
    };
    if net.loss.needs_logits() {
        return format!("δ{} = ∂L/∂{zl} = {scale}({g})   (fused with the output activation)", sub(last.k));
    }
    let (d, _) = render_derivative(act, last.k, n_last);
    if act.is_identity() {
        return format!("δ{} = ∂L/∂{zl} = ∂L/∂y = {scale}({g})", sub(last.k));
    }
    match act.kind {
        ActKind::Softmax if groups > 1 => {
            format!("δ{0}ₜ = ∂L/∂{zl}ₜ = yₜ ⊙ (gₜ − ⟨gₜ, yₜ⟩) at every step t,  g = ∂L/∂y = {scale}({g})", sub(last.k))
        }
        ActKind::Softmax => format!("δ{0} = ∂L/∂{zl} = y ⊙ (g − ⟨g, y⟩),  g = ∂L/∂y = {scale}({g})", sub(last.k)),
        ActKind::Elementwise(_) => format!("δ{} = ∂L/∂{zl} = ∂L/∂y ⊙ f′({zl}) = {scale}({g}) ⊙ {d}", sub(last.k)),
    }
}

/// The rustdoc lines of the derivation.
pub fn derivation(net: &Network, code: CodeSize) -> Vec<String> {
    let steps = steps(net);
    let Some(last) = steps.last() else { return Vec::new() };
    let Some(last_act) = last.act else { return Vec::new() };
    let l = last.k;
    let mut out: Vec<String> = Vec::new();
    out.push("# Derivation".into());
    out.push(String::new());
    out.push(format!(
        "Generated by `#[network]`: the chain rule for this network, with each activation derivative in the simplified form the generated code evaluates. Scalar type `{}`, {} parameters, {} inputs, {} outputs.",
        net.scalar.name(),
        net.params,
        net.input_size(),
        net.output_size()
    ));
    out.push(String::new());
    out.push("```text".into());
    out.push("Forward".into());
    for s in &steps {
        let n = names(s, l);
        let act = s.act.map_or(String::new(), |a| format!(", {}", a.name));
        out.push(format!(
            "  {}{:>w$}`{}`: {} → {}{act}",
            s.layer.kind.doc_forward(&n),
            "",
            s.layer.name,
            dims(&s.layer.input),
            dims(&s.layer.output),
            w = 4
        ));
        if let Some(act) = s.act {
            let per_step = matches!(act.kind, ActKind::Softmax).then(|| per_step_softmax(s.layer)).flatten();
            out.push(match per_step {
                Some((steps, w)) => format!(
                    "  {}ₜ = softmax({}ₜ) at every step t = 1..{steps}, each over its {w} values",
                    a(s.k, l),
                    n.out
                ),
                None => format!("  {} = {}", a(s.k, l), render_forward(act, &n.out)),
            });
        }
    }
    out.push(format!("  {}   (`{}`)", render_loss(net, last), net.loss.name()));
    out.push(String::new());
    out.push("Backward".into());
    out.push(format!("  {}", render_output_delta(net, last, last_act, l)));
    let mut saved_defs = Vec::new();
    for s in steps.iter().rev().skip(1) {
        let next = &steps[s.k];
        let e = next.layer.kind.doc_input_delta(&names(next, l), &format!("δ{}", sub(next.k)));
        let line = match s.act {
            None => format!("  δ{} = ∂L/∂{} = {e}", sub(s.k), a(s.k, l)),
            Some(act) => {
                let (d, defs) = render_derivative(act, s.k, l);
                saved_defs.extend(defs);
                match act.kind {
                    ActKind::Softmax if per_step_softmax(s.layer).is_some() => format!(
                        "  δ{k}ₜ = {a}ₜ ⊙ (eₜ − ⟨eₜ, {a}ₜ⟩) at every step t,  e = {e}",
                        k = sub(s.k),
                        a = a(s.k, l)
                    ),
                    ActKind::Softmax => format!("  δ{k} = {a} ⊙ (e − ⟨e, {a}⟩),  e = {e}", k = sub(s.k), a = a(s.k, l)),
                    ActKind::Elementwise(_) if act.is_identity() => format!("  δ{} = {e}", sub(s.k)),
                    ActKind::Elementwise(_) => format!("  δ{} = ({e}) ⊙ {d}", sub(s.k)),
                }
            }
        };
        out.push(line);
    }
    for def in saved_defs {
        out.push(format!("  where {def} (kept from the forward pass)"));
    }
    // User-written activations: the forward, derivative and second derivative as derived.
    let mut seen: Vec<&str> = Vec::new();
    for act in steps.iter().filter_map(|s| s.act) {
        if act.builtin.is_some() || seen.contains(&act.name.as_str()) {
            continue;
        }
        seen.push(&act.name);
        if let ActKind::Elementwise(e) = &act.kind {
            let name = |v: Var| match v {
                Var::X => "x".to_owned(),
                Var::Y => "f".to_owned(),
                Var::Saved(i) => format!("s{i}"),
                Var::T => "t".to_owned(),
            };
            out.push(format!("  custom activation `{}`:", act.name));
            out.push(format!("    f(x)  = {}", e.forward.render(&name)));
            for (i, sv) in e.saved.iter().enumerate() {
                out.push(format!("    s{i}    = {}", sv.render(&name)));
            }
            out.push(format!("    f′(x) = {}", e.derivative.render(&name)));
            out.push(format!("    f″(x) = {}", e.second.render(&name)));
        }
    }
    for s in &steps {
        let grads = s.layer.kind.doc_param_grads(&names(s, l), &format!("δ{}", sub(s.k)));
        if !grads.is_empty() {
            out.push(format!("  {}", grads.join("   ")));
        }
    }
    if let Some(first) = steps.first() {
        let e = first.layer.kind.doc_input_delta(&names(first, l), &format!("δ{}", sub(first.k)));
        out.push(format!("  ∂L/∂x = {e}"));
    }
    out.push(String::new());
    out.push("Each weight gradient as a product of chain-rule factors".into());
    // A batch-level layer's parameter gradients sum over the batch: they are in the
    // backward lines above, not a product of per-sample factors.
    for s in steps.iter().filter(|s| !s.layer.tensors.is_empty() && !s.layer.kind.batch_level()) {
        let mut factors = vec![format!("[δ{}]", sub(l))];
        for up in steps.iter().rev().filter(|u| u.k > s.k && u.k < l + 1) {
            factors.push(format!("[{}]", up.layer.kind.doc_factor(&names(up, l))));
            if let Some(act) = steps[up.k - 2].act {
                let (d, _) = render_derivative(act, up.k - 1, l);
                factors.push(format!("[{d}]"));
            }
        }
        factors.push(format!("[{}ᵀ]", a(s.k - 1, l)));
        out.push(format!("  ∂L/∂W{} = {}", sub(s.k), factors.join(" · ")));
    }
    out.push(String::new());
    out.push("Gradient flow: what each factor above does to δ on its way down (the warnings of `train::FitOptions::diagnostics`)".into());
    // (layer names, factors, what they do): what is said of several layers' factors (the
    // weights of each layer above) is said once, where it first applies.
    let mut flow: Vec<(Vec<String>, Vec<String>, String)> = Vec::new();
    for s in &steps {
        let name = format!("`{}`", s.layer.name);
        let act = s.act.filter(|_| s.k < l).and_then(|act| act.doc_flow(&render_derivative(act, s.k, l).0));
        let kind = s.layer.kind.doc_flow(&names(s, l)).filter(|_| s.k > 1);
        for text in act.into_iter().chain(kind) {
            let (factor, what) =
                text.split_once("]: ").map_or((String::new(), text.clone()), |(f, w)| (format!("{f}]"), w.to_owned()));
            match flow.iter_mut().find(|(_, _, w)| *w == what).filter(|_| !factor.is_empty()) {
                Some((names, factors, _)) => {
                    names.push(name.clone());
                    factors.push(factor);
                }
                _ => flow.push((vec![name.clone()], vec![factor], what)),
            }
        }
    }
    for (names, factors, what) in flow {
        let factors = factors.join(", ");
        let sep = if factors.is_empty() { "" } else { ": " };
        out.push(format!("  {}: {factors}{sep}{what}", names.join(", ")));
    }
    out.push("  every step: ‖Δθ‖/‖θ‖ of about 1e-3 is usual; far above, the learning rate is too high (`UpdateTooLarge`), far below, too low (`UpdateTooSmall`)".into());
    out.extend(r_pass(net, &steps, l));
    out.push(String::new());
    out.push("Code".into());
    for s in &steps {
        if let Some(text) = s.layer.kind.doc_code(s.layer) {
            out.push(format!("  `{}`: {text}", s.layer.name));
        }
    }
    if net.batch_level() {
        let row = net.trace_len + crate::batch_level::delta_width(net);
        out.push(format!(
            "  forward (inference): {} tokens; the mini-batch pass (training forward, loss, backward): {} tokens",
            code.forward_tokens, code.backward_tokens
        ));
        out.push(format!(
            "  mini-batch: layer by layer over the whole batch; each sample's trace and delta in a row of the caller's workspace (`BATCH_ROW` = {row} scalars), 1/σ per channel in {} scalars on the stack",
            net.stats
        ));
        out.push("```".into());
        return out;
    }
    out.push(format!(
        "  forward: {} tokens; backward: {} tokens (each emitted twice: accumulate and fused SGD)",
        code.forward_tokens, code.backward_tokens
    ));
    out.push(if let Some(tile) = crate::batch::tile_size(net) {
        format!(
            "  mini-batch: tiles of {tile} samples ({} KiB of stack), tiled layers as matrix–matrix products, the others per sample",
            crate::batch::stack_bytes(net, tile).div_ceil(1024)
        )
    } else {
        "  mini-batch: the per-sample passes, summed".to_owned()
    });
    out.push(String::new());
    out.extend(crate::stack::doc_lines(net));
    out.push("```".into());
    out
}

/// f″ of step `k`'s activation as the Hessian-vector product evaluates it.
fn render_second(act: &Activation, k: usize, last: usize) -> String {
    match &act.kind {
        ActKind::Softmax => "(softmax: vector rule)".into(),
        ActKind::Elementwise(e) => {
            let z = format!("z{}", sub(k));
            let s =
                |i: usize| format!("s{}{}", sub(k), if e.saved.len() > 1 { format!("_{i}") } else { String::new() });
            let d = e.second.render(&|v| match v {
                Var::X => z.clone(),
                Var::Y => a(k, last),
                Var::Saved(i) => s(i),
                Var::T => "t".to_owned(),
            });
            if d.contains(' ') && !(d.starts_with('(') && d.ends_with(')')) { format!("({d})") } else { d }
        }
    }
}

/// The R-pass of `hessian_vector_product` for this network (every kind's lines from
/// the kind): Pearlmutter's directional derivatives `R{·} = d/dε (·)(θ + ε·v)` forward
/// and backward.
fn r_pass(net: &Network, steps: &[Step], l: usize) -> Vec<String> {
    if !steps.iter().all(|s| s.layer.kind.r_pass()) {
        return Vec::new();
    }
    let mut out = vec![String::new()];
    out.push("Hessian-vector product `hessian_vector_product` (Pearlmutter's R-operator, R{·} = d/dε (·)(θ + ε·v), V the part of v for each W, b)".into());
    for s in steps {
        let k = sub(s.k);
        out.push(format!("  {}", s.layer.kind.doc_r_forward(&names(s, l), s.k == 1)));
        if let Some(act) = s.act {
            let y = a(s.k, l);
            match act.kind {
                ActKind::Softmax => out.push(format!("  R{{{y}}} = {y} ⊙ (R{{z{k}}} − ⟨{y}, R{{z{k}}}⟩)")),
                ActKind::Elementwise(_) => {
                    let (d, _) = render_derivative(act, s.k, l);
                    out.push(format!("  R{{{y}}} = {d} ⊙ R{{z{k}}}"));
                }
            }
        }
    }
    let top = sub(l);
    let n = steps.last().map_or(1, |s| s.width);
    let red = net.loss.reduction(n);
    let scale = if red == 1.0 { String::new() } else { format!("(1/{n})·") };
    let arg = if net.loss.needs_logits() { format!("z{top}") } else { "y".to_owned() };
    let l2 = crate::hessian::loss_derivatives(&net.loss).map_or_else(
        |_| "ℓ″".to_owned(),
        |(_, d2)| {
            d2.render(&|v| match v {
                Var::X => arg.clone(),
                Var::T => "t".into(),
                _ => "?".into(),
            })
        },
    );
    out.push(match net.loss {
        Loss::CrossEntropy => format!("  R{{δ{top}}} = R{{y}}·Σt"),
        loss if loss.needs_logits() => format!("  R{{δ{top}}} = {scale}({l2}) ⊙ R{{z{top}}}"),
        _ => format!("  R{{g}} = {scale}({l2}) ⊙ R{{y}},  g = ∂L/∂y"),
    });
    // Down to the lowest layer with parameters, as the generated code goes.
    let lowest = steps.iter().find(|s| !s.layer.tensors.is_empty()).map_or(1, |s| s.k);
    for s in steps.iter().rev().filter(|s| s.k >= lowest) {
        let k = sub(s.k);
        let is_top = s.k == l;
        if is_top && (s.act.is_none() || net.loss == Loss::CrossEntropy || net.loss.needs_logits()) {
            continue;
        }
        let (g, rg) = if is_top {
            ("g".to_owned(), "R{g}".to_owned())
        } else {
            let next = &steps[s.k];
            let (up, n) = (format!("δ{}", sub(next.k)), names(next, l));
            (
                next.layer.kind.doc_input_delta(&n, &up),
                next.layer.kind.doc_r_input_delta(&n, &up, &format!("R{{{up}}}")),
            )
        };
        let y = a(s.k, l);
        out.push(match s.act.map(|act| (act, &act.kind)) {
            None => format!("  R{{δ{k}}} = {rg}"),
            Some((_, ActKind::Softmax)) => format!(
                "  R{{δ{k}}} = R{{{y}}} ⊙ (e − ⟨{y}, e⟩) + {y} ⊙ (R{{e}} − ⟨R{{{y}}}, e⟩ − ⟨{y}, R{{e}}⟩),  e = {g}, R{{e}} = {rg}"
            ),
            Some((act, ActKind::Elementwise(_))) => {
                let (d, _) = render_derivative(act, s.k, l);
                let d2 = render_second(act, s.k, l);
                format!("  R{{δ{k}}} = {d2} ⊙ R{{z{k}}} ⊙ ({g}) + {d} ⊙ {rg}")
            }
        });
    }
    let hv: Vec<String> = steps.iter().flat_map(|s| s.layer.kind.doc_r_param_grads(&names(s, l), s.k == 1)).collect();
    out.push(format!("  {}", hv.join("   ")));
    out
}
