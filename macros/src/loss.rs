//! Losses, each naming its reduction over the outputs; batches always take the mean over
//! samples.
//!
//! ```text
//! mse                   L = (1/n)·Σ (y − t)²
//! half_sse              L = ½·Σ (t − y)²                 the E of the classic derivation
//! mae                   L = (1/n)·Σ |y − t|               subgradient 0 at y = t
//! huber(delta = δ)      L = (1/n)·Σ h(y − t), h(d) = ½d² if |d| < δ, else δ·(|d| − ½δ)
//! cross_entropy         L = −Σ t·ln y, y = softmax(z)    fused: computed from z as Σ t·(lse(z) − z)
//!                       at every step of a sequence [T][OUT] (a softmax per step): the mean
//!                       over steps, L = (1/T)·Σₜ Σ tₜ·(lse(zₜ) − zₜ)
//! binary_cross_entropy  L = (1/n)·Σ −[t·ln y + (1 − t)·ln(1 − y)], y = σ(z)
//!                                                         fused: (1/n)·Σ softplus(z) − t·z
//! ```
//!
//! Elementwise losses are symbolic expressions of the output `x` and the target `t`;
//! their derivative comes from [`symbolic::derive_loss`], and is chained through the
//! output activation's derivative. The two fused losses are written on the logits, so
//! their delta needs no activation derivative: for binary cross-entropy the engine
//! derives `σ(z) − t` = `y − t` itself; for cross-entropy over a softmax
//! `∂L/∂zᵢ = yᵢ·Σt − tᵢ` (`y − t` for a one-hot or probability target) is the
//! vector rule in [`emit_delta`].
//!
//! At every step of a sequence output `[T][OUT]` each loss is the mean over the steps of
//! that step's loss, as the element-wise means over all `T·OUT` values already are: for
//! cross-entropy the softmax normalizes each step, its log-sum-exp is kept per step
//! (`T` trace slots), and `∂L/∂zₜ = (1/T)·(yₜ·Σtₜ − tₜ)`.

use proc_macro2::TokenStream;
use quote::quote;

use crate::codegen::{Gen, rt};
use crate::ctxt::Ctxt;
use crate::layers::activation::{self, ActKind, Builtin};
use crate::model::{Layer, Network, size};
use crate::parse::Term;
use crate::symbolic::{self, Cmp, Expr, Var};

/// Every loss name, for "expected one of" messages.
pub const NAMES: &str =
    "`mse`, `half_sse`, `mae`, `huber`, `huber(delta = 1.0)`, `cross_entropy`, `binary_cross_entropy`";

/// A loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    Mse,
    HalfSse,
    Mae,
    Huber(f64),
    CrossEntropy,
    BinaryCrossEntropy,
}

impl Loss {
    /// The name as written in a spec.
    pub fn name(&self) -> String {
        match self {
            Loss::Mse => "mse".into(),
            Loss::HalfSse => "half_sse".into(),
            Loss::Mae => "mae".into(),
            Loss::Huber(d) => format!("huber(delta = {d:?})"),
            Loss::CrossEntropy => "cross_entropy".into(),
            Loss::BinaryCrossEntropy => "binary_cross_entropy".into(),
        }
    }

    /// The loss is computed from the output logits `z` rather than the outputs `y`.
    pub fn needs_logits(&self) -> bool {
        matches!(self, Loss::CrossEntropy | Loss::BinaryCrossEntropy)
    }

    /// The output activation the loss is fused with, if any.
    pub fn required_output(&self) -> Option<(Builtin, &'static str)> {
        match self {
            Loss::CrossEntropy => Some((Builtin::Softmax, "Softmax")),
            Loss::BinaryCrossEntropy => Some((Builtin::Sigmoid, "Sigmoid")),
            _ => None,
        }
    }

    /// The per-output loss as an expression of `x` (the output, or the logit for the
    /// fused binary cross-entropy) and `t`; `None` for cross-entropy (a vector rule).
    pub fn element(&self) -> Option<Expr> {
        let x = Expr::x;
        let t = || Expr::var(Var::T);
        let c = Expr::c;
        Some(match self {
            Loss::Mse => (x() - t()).powi(2),
            Loss::HalfSse => c(0.5) * (t() - x()).powi(2),
            Loss::Mae => (x() - t()).abs(),
            Loss::Huber(delta) => Expr::select(
                Cmp::Lt,
                (x() - t()).abs(),
                c(*delta),
                c(0.5) * (x() - t()).powi(2),
                c(*delta) * ((x() - t()).abs() - c(0.5 * delta)),
            ),
            Loss::BinaryCrossEntropy => x().softplus() - t() * x(),
            Loss::CrossEntropy => return None,
        })
    }

    /// The factor of the sum over outputs: `1/n` for the means, 1 for sums.
    pub fn reduction(&self, outputs: usize) -> f64 {
        match self {
            Loss::HalfSse | Loss::CrossEntropy => 1.0,
            Loss::Mse | Loss::Mae | Loss::Huber(_) | Loss::BinaryCrossEntropy => 1.0 / outputs.max(1) as f64,
        }
    }
}

/// Resolves `loss = ...`.
pub fn resolve(cx: &mut Ctxt, term: &Term) -> Option<Loss> {
    let Term::Call { name, args, .. } = term else {
        cx.error_at(term.span(), format!("expected a loss, one of {NAMES}; found {}", term.describe()));
        return None;
    };
    let n = name.to_string();
    let loss = match n.as_str() {
        "mse" => Loss::Mse,
        "half_sse" => Loss::HalfSse,
        "mae" => Loss::Mae,
        "cross_entropy" => Loss::CrossEntropy,
        "binary_cross_entropy" => Loss::BinaryCrossEntropy,
        "huber" => {
            let mut delta = 1.0;
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    cx.error_at(a.value.span(), "`huber` takes one option, `delta`");
                    return None;
                }
                if let Some(an) = &a.name
                    && an != "delta"
                {
                    cx.error(an, format!("unknown option `{an}` of `huber`; expected `delta`"));
                    return None;
                }
                match a.value.as_f64() {
                    Some(v) if v > 0.0 && v.is_finite() => delta = v,
                    _ => {
                        cx.error_at(
                            a.value.span(),
                            format!("expected `delta` of `huber` as a positive number, found {}", a.value.describe()),
                        );
                        return None;
                    }
                }
            }
            return Some(Loss::Huber(delta));
        }
        _ => {
            cx.error(name, format!("unknown loss `{n}`; expected one of {NAMES}"));
            return None;
        }
    };
    if let Some(a) = args.first() {
        cx.error_at(a.value.span(), format!("loss `{n}` takes no options"));
        return None;
    }
    Some(loss)
}

fn last(net: &Network) -> Option<&Layer> {
    net.layers.iter().rev().find(|l| l.kind.activation().is_some()).or(net.layers.last())
}

/// Emits the loss of the sample whose forward filled `__tr`, against `__t`, as an
/// expression.
pub fn emit_loss(g: &Gen) -> TokenStream {
    let net = g.net;
    let t = &g.t;
    let rt = rt();
    let Some(layer) = last(net) else { return quote!(0.0) };
    let n = size(&layer.output);
    let y0 = layer.trace.y.unwrap_or(0);
    match net.loss {
        Loss::CrossEntropy if layer.softmax_groups() > 1 => {
            // At every step: the mean over the T steps of each step's Σ t·(lse(zₜ) − zₜ).
            let groups = layer.softmax_groups();
            let w = n / groups;
            let z0 = layer.trace.z.unwrap_or(0);
            let lse = net.trace_lse.unwrap_or(0);
            let mean = g.lit(1.0 / groups as f64);
            quote! {{
                let mut __l: #t = 0.0;
                for __g in 0..#groups {
                    for __i in __g * #w..__g * #w + #w {
                        if __t[__i] != 0.0 {
                            __l += __t[__i] * (__tr[#lse + __g] - __tr[#z0 + __i]);
                        }
                    }
                }
                __l * #mean
            }}
        }
        Loss::CrossEntropy => {
            let z0 = layer.trace.z.unwrap_or(0);
            let lse = net.trace_lse.unwrap_or(0);
            quote! {{
                let mut __l: #t = 0.0;
                for __i in 0..#n {
                    if __t[__i] != 0.0 {
                        __l += __t[__i] * (__tr[#lse] - __tr[#z0 + __i]);
                    }
                }
                __l
            }}
        }
        loss => {
            let Some(el) = loss.element() else { return quote!(0.0) };
            let base = if loss.needs_logits() { layer.trace.z.unwrap_or(0) } else { y0 };
            let lit = |v: f64| g.lit(v);
            let body = el.to_tokens(&lit, &|v| match v {
                Var::X => quote!(__tr[#base + __i]),
                Var::T => quote!(__t[__i]),
                _ => quote!(::core::compile_error!("internal error: loss reads an unknown value")),
            });
            let red = g.lit(loss.reduction(n));
            let _ = &rt;
            quote! {{
                let mut __l: #t = 0.0;
                for __i in 0..#n {
                    __l += #body;
                }
                __l * #red
            }}
        }
    }
}

/// The derivative of an elementwise loss with respect to its argument, with the output
/// activation's value reused as `y`.
pub fn element_derivative(loss: &Loss, act: Option<&activation::Activation>) -> Option<Result<Expr, String>> {
    let el = loss.element()?;
    let fused_output = if loss.needs_logits() {
        act.and_then(|a| match &a.kind {
            ActKind::Elementwise(e) => Some(e.forward.clone()),
            ActKind::Softmax => None,
        })
    } else {
        None
    };
    Some(symbolic::derive_loss(&el, fused_output.as_ref()).map_err(|e| e.to_string()))
}

/// Emits `__d{l}` = `scale`·∂L/∂z for the last layer, from the trace and `__t`.
pub fn emit_delta(g: &Gen, l: usize, layer: &Layer) -> TokenStream {
    let net = g.net;
    let t = &g.t;
    let n = size(&layer.output);
    let d = quote::format_ident!("__d{}", l);
    let y0 = layer.trace.y.unwrap_or(0);
    let Some(act) = layer.kind.activation() else {
        return quote! { let #d: [#t; #n] = [0.0; #n]; };
    };
    if net.loss == Loss::CrossEntropy && layer.softmax_groups() > 1 {
        // At every step: ∂/∂zₜᵢ of (1/T)·Σₜ Σⱼ tₜⱼ·(lse(zₜ) − zₜⱼ) = (1/T)·(yₜᵢ·Σⱼ tₜⱼ − tₜᵢ).
        let groups = layer.softmax_groups();
        let w = n / groups;
        let mean = g.lit(1.0 / groups as f64);
        return quote! {
            let mut #d: [#t; #n] = [0.0; #n];
            for __g in 0..#groups {
                let __o = __g * #w;
                let mut __tsum: #t = 0.0;
                for __i in 0..#w {
                    __tsum += __t[__o + __i];
                }
                for __i in __o..__o + #w {
                    #d[__i] = (__tr[#y0 + __i] * __tsum - __t[__i]) * #mean * __scale;
                }
            }
        };
    }
    if net.loss == Loss::CrossEntropy {
        // ∂/∂zᵢ of Σⱼ tⱼ·(lse(z) − zⱼ) = yᵢ·Σⱼ tⱼ − tᵢ.
        return quote! {
            let mut __tsum: #t = 0.0;
            for __i in 0..#n {
                __tsum += __t[__i];
            }
            let mut #d: [#t; #n] = [0.0; #n];
            for __i in 0..#n {
                #d[__i] = (__tr[#y0 + __i] * __tsum - __t[__i]) * __scale;
            }
        };
    }
    let lit = |v: f64| g.lit(v);
    let red = g.lit(net.loss.reduction(n));
    let deriv = match element_derivative(&net.loss, Some(act)) {
        Some(Ok(e)) => e,
        Some(Err(msg)) => {
            let msg = format!("internal error: the loss cannot be differentiated: {msg}");
            return quote! { ::core::compile_error!(#msg); };
        }
        None => return quote! { let #d: [#t; #n] = [0.0; #n]; },
    };
    let z0 = layer.trace.z;
    let g_tokens = deriv.to_tokens(&lit, &|v| match v {
        Var::X if net.loss.needs_logits() => z0.map_or_else(
            || quote!(::core::compile_error!("internal error: logits not kept")),
            |z0| quote!(__tr[#z0 + __i]),
        ),
        Var::X | Var::Y => quote!(__tr[#y0 + __i]),
        Var::T => quote!(__t[__i]),
        Var::Saved(_) => quote!(::core::compile_error!("internal error: loss reads a saved value")),
    });
    if net.loss.needs_logits() {
        // Fused: the derivative is already with respect to z.
        return quote! {
            let mut #d: [#t; #n] = [0.0; #n];
            for __i in 0..#n {
                #d[__i] = (#g_tokens) * #red * __scale;
            }
        };
    }
    let e = quote::format_ident!("__dy{}", l);
    let dy = quote! {
        let mut #e: [#t; #n] = [0.0; #n];
        for __i in 0..#n {
            #e[__i] = (#g_tokens) * #red * __scale;
        }
    };
    let back = activation::emit_backprop(g, act, &e, &d, n, layer.softmax_groups(), layer.unroll, &layer.trace);
    quote! {
        #dy
        #back
    }
}
