//! Activations: the built-in catalogue, each defined once as a symbolic expression of
//! its pre-activation `x`, and custom ones written by the user as Rust expressions.
//!
//! Forward and derivative come from the same definition: [`symbolic::compile_activation`]
//! differentiates it and rewrites the derivative in terms of the forward value `y` and of
//! saved forward sub-expressions where that is cheaper (sigmoid′ = `y·(1 − y)`,
//! tanh′ = `1 − y²`, relu′ = `[y > 0]`). Softmax is the one vector activation; its
//! Jacobian-vector product `δz = y ⊙ (δy − ⟨δy, y⟩)` is emitted by [`softmax_forward`] /
//! [`softmax_backward`] beside each other.
//!
//! Entry points: [`resolve`] (a spec term → an [`Activation`]), [`compile_named`].

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;

use crate::ctxt::Ctxt;
use crate::model::{Customs, Named};
use crate::parse::Term;
use crate::symbolic::{self, Cmp, Elementwise, Expr, Var};

/// How a layer's weights are drawn at initialization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    Glorot,
    He,
    /// PyTorch's default for `Linear` and `Conv*d`: weight and bias `U(±1/√fan_in)`.
    Torch,
}

impl Init {
    /// The runtime's `Init` variant.
    pub fn runtime_name(self) -> &'static str {
        match self {
            Init::Glorot => "GlorotUniform",
            Init::He => "HeUniform",
            Init::Torch => "TorchDefault",
        }
    }
}

/// Reads `init = glorot | he | torch` (shared by every layer with weights).
pub fn resolve_init(cx: &mut Ctxt, v: &Term) -> Option<Init> {
    match v {
        Term::Call { name: n, args, .. } if args.is_empty() && (n == "glorot" || n == "Glorot") => Some(Init::Glorot),
        Term::Call { name: n, args, .. } if args.is_empty() && (n == "he" || n == "He") => Some(Init::He),
        Term::Call { name: n, args, .. } if args.is_empty() && (n == "torch" || n == "Torch") => Some(Init::Torch),
        other => {
            cx.error_at(
                other.span(),
                format!("expected `init = glorot`, `init = he` or `init = torch`, found {}", other.describe()),
            );
            None
        }
    }
}

/// The built-in activations, by the name a spec uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Builtin {
    Identity,
    Sigmoid,
    Tanh,
    Relu,
    LeakyRelu(f64),
    Elu(f64),
    Softplus,
    Silu,
    Gelu,
    GeluTanh,
    Softsign,
    Softmax,
}

/// Every built-in name, for "expected one of" messages and the docs.
pub const NAMES: &str = "`Identity`, `Sigmoid`, `Tanh`, `Relu`, `LeakyRelu<slope>`, `Elu<alpha>`, \
`Softplus`, `Silu`, `Gelu`, `GeluTanh`, `Softsign`, `Softmax`";

/// An activation ready for code generation.
#[derive(Clone, Debug)]
pub struct Activation {
    /// As written in docs: `Sigmoid`, `LeakyRelu<0.01>`, `Swish`.
    pub name: String,
    pub builtin: Option<Builtin>,
    pub kind: ActKind,
    pub init: Init,
}

/// Elementwise (a compiled scalar function) or softmax.
#[derive(Clone, Debug)]
pub enum ActKind {
    Elementwise(Box<Elementwise>),
    Softmax,
}

impl Activation {
    /// The backward pass reads the pre-activation `z` (not only `y` and saved values).
    pub fn derivative_needs_z(&self) -> bool {
        match &self.kind {
            ActKind::Elementwise(e) => e.derivative.uses(Var::X),
            ActKind::Softmax => false,
        }
    }

    /// Number of saved forward sub-expressions the backward pass reads.
    pub fn saved_count(&self) -> usize {
        match &self.kind {
            ActKind::Elementwise(e) => e.saved.len(),
            ActKind::Softmax => 0,
        }
    }

    pub fn is_identity(&self) -> bool {
        self.builtin == Some(Builtin::Identity)
    }

    /// What the derivative `d` (as rendered for the layer) does to the gradient passing
    /// down through the layer, and the diagnostics warning it causes; `None` where it
    /// says nothing particular.
    pub fn doc_flow(&self, d: &str) -> Option<String> {
        Some(match self.builtin? {
            Builtin::Sigmoid => format!(
                "[{d}] ≤ 1/4: every sigmoid layer shrinks δ at least fourfold (`VanishingGradient`), and to nearly 0 where its output is near 0 or 1 (`SaturatedUnits`)"
            ),
            Builtin::Tanh => format!(
                "[{d}] ≤ 1, nearly 0 where the output is near ±1 (`SaturatedUnits`); over many layers δ shrinks (`VanishingGradient`)"
            ),
            Builtin::Relu => format!(
                "[{d}] is 1 or 0: 0 wherever the output is 0, so a unit at 0 for every sample gets no gradient and cannot recover (`DeadUnits`)"
            ),
            Builtin::LeakyRelu(slope) => {
                format!("[{d}] is 1 or {slope}: never 0, so its units cannot die (no `DeadUnits`)")
            }
            Builtin::Elu(_) => format!("[{d}] is 1 above 0 and positive below: its units cannot die"),
            Builtin::Softsign => format!("[{d}] ≤ 1, falling as 1/(1 + |z|)² for large |z|"),
            _ => return None,
        })
    }

    /// The runtime's `ActivationFamily` variant, for the gradient-flow diagnostics.
    pub fn family(&self) -> &'static str {
        match self.builtin {
            Some(Builtin::Identity) => "Identity",
            Some(Builtin::Sigmoid) => "Sigmoid",
            Some(Builtin::Tanh) => "Tanh",
            Some(Builtin::Relu) => "Relu",
            Some(Builtin::LeakyRelu(_)) => "LeakyRelu",
            Some(Builtin::Elu(_)) => "Elu",
            Some(Builtin::Softplus | Builtin::Silu | Builtin::Gelu | Builtin::GeluTanh) => "Smooth",
            Some(Builtin::Softsign) => "Softsign",
            Some(Builtin::Softmax) => "Softmax",
            None => "Custom",
        }
    }
}

fn x() -> Expr {
    Expr::x()
}

fn c(v: f64) -> Expr {
    Expr::c(v)
}

/// The symbolic definition of an elementwise built-in.
fn definition(b: Builtin) -> Option<Expr> {
    use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_PI};
    Some(match b {
        Builtin::Identity => x(),
        Builtin::Sigmoid => x().logistic(),
        Builtin::Tanh => x().tanh(),
        Builtin::Relu => x().max_c(0.0),
        Builtin::LeakyRelu(slope) => Expr::select(Cmp::Gt, x(), c(0.0), x(), c(slope) * x()),
        Builtin::Elu(alpha) => Expr::select(Cmp::Gt, x(), c(0.0), x(), c(alpha) * (x().exp() - c(1.0))),
        Builtin::Softplus => x().softplus(),
        Builtin::Silu => x() * x().logistic(),
        Builtin::Gelu => c(0.5) * x() * (c(1.0) + (x() * c(FRAC_1_SQRT_2)).erf()),
        Builtin::GeluTanh => {
            let inner = c(FRAC_2_PI.sqrt()) * (x() + c(0.044715) * x().powi(3));
            c(0.5) * x() * (c(1.0) + inner.tanh())
        }
        Builtin::Softsign => x() / (c(1.0) + x().abs()),
        Builtin::Softmax => return None,
    })
}

fn init_for(b: Builtin) -> Init {
    match b {
        Builtin::Relu
        | Builtin::LeakyRelu(_)
        | Builtin::Elu(_)
        | Builtin::Softplus
        | Builtin::Silu
        | Builtin::Gelu
        | Builtin::GeluTanh => Init::He,
        Builtin::Identity | Builtin::Sigmoid | Builtin::Tanh | Builtin::Softsign | Builtin::Softmax => Init::Glorot,
    }
}

fn build(name: String, builtin: Option<Builtin>, def: Option<Expr>, init: Init, span: Span) -> syn::Result<Activation> {
    let kind = match def {
        None => ActKind::Softmax,
        Some(expr) => match symbolic::compile_activation(&expr) {
            Ok(e) => ActKind::Elementwise(Box::new(e)),
            Err(e) => {
                return Err(syn::Error::new(span, format!("activation `{name}` cannot be differentiated: {e}")));
            }
        },
    };
    Ok(Activation { name, builtin, kind, init })
}

/// Compiles the `#[activation(Name = expr)]` declarations of the struct.
pub fn compile_named(cx: &mut Ctxt, named: &[Named]) -> Customs {
    let mut out: Customs = Vec::new();
    for n in named {
        if builtin_by_name(&n.name.to_string()).is_some() {
            cx.error(
                &n.name,
                format!("custom activation `{}` has the name of a built-in activation; choose another name", n.name),
            );
            continue;
        }
        if out.iter().any(|(seen, _)| seen == &n.name) {
            cx.error(&n.name, format!("custom activation `{}` is declared twice", n.name));
            continue;
        }
        if let Some(act) = compile_custom(cx, &n.name.to_string(), &n.body) {
            out.push((n.name.clone(), act));
        }
    }
    out
}

fn compile_custom(cx: &mut Ctxt, name: &str, body: &syn::Expr) -> Option<Activation> {
    let expr = match symbolic::parse(body, "x") {
        Ok(e) => e,
        Err(e) => {
            cx.push(e);
            return None;
        }
    };
    match build(name.to_owned(), None, Some(expr), Init::Glorot, syn::spanned::Spanned::span(body)) {
        Ok(a) => Some(a),
        Err(e) => {
            cx.push(e);
            None
        }
    }
}

fn builtin_by_name(name: &str) -> Option<fn(Option<f64>) -> Builtin> {
    Some(match name {
        "Identity" => |_| Builtin::Identity,
        "Sigmoid" => |_| Builtin::Sigmoid,
        "Tanh" => |_| Builtin::Tanh,
        "Relu" => |_| Builtin::Relu,
        "LeakyRelu" => |p| Builtin::LeakyRelu(p.unwrap_or(0.01)),
        "Elu" => |p| Builtin::Elu(p.unwrap_or(1.0)),
        "Softplus" => |_| Builtin::Softplus,
        "Silu" => |_| Builtin::Silu,
        "Gelu" => |_| Builtin::Gelu,
        "GeluTanh" => |_| Builtin::GeluTanh,
        "Softsign" => |_| Builtin::Softsign,
        "Softmax" => |_| Builtin::Softmax,
        _ => return None,
    })
}

/// The name of a built-in's one parameter, if it takes one.
fn param_name(name: &str) -> Option<&'static str> {
    match name {
        "LeakyRelu" => Some("slope"),
        "Elu" => Some("alpha"),
        _ => None,
    }
}

/// Resolves an activation term: a built-in (`Relu`, `LeakyRelu<0.2>`), a custom name,
/// or an inline expression of `x` in braces (`{ x / (1.0 + x.abs()) }`).
pub fn resolve(cx: &mut Ctxt, term: &Term, customs: &Customs) -> Option<Activation> {
    match term {
        Term::Expr(e) => compile_custom(cx, &quote!(#e).to_string(), e),
        Term::Call { name, args, span } => {
            let n = name.to_string();
            if let Some(custom) = crate::model::find_custom(customs, name) {
                if let Some(a) = args.first() {
                    cx.error_at(a.value.span(), format!("custom activation `{n}` takes no arguments"));
                }
                return Some(custom.clone());
            }
            let Some(make) = builtin_by_name(&n) else {
                cx.error(name, format!("unknown activation `{n}`; expected one of {NAMES}, a name declared with `#[activation(Name = ...)]`, or an expression of `x` in braces"));
                return None;
            };
            let param = resolve_param(cx, &n, args)?;
            let builtin = make(param);
            let shown = match builtin {
                Builtin::LeakyRelu(v) | Builtin::Elu(v) => format!("{n}<{v:?}>"),
                _ => n.clone(),
            };
            match build(shown, Some(builtin), definition(builtin), init_for(builtin), *span) {
                Ok(a) => Some(a),
                Err(e) => {
                    cx.push(e);
                    None
                }
            }
        }
        other => {
            cx.error_at(
                other.span(),
                format!("expected an activation such as `Relu` or `Sigmoid`, found {}", other.describe()),
            );
            None
        }
    }
}

/// The optional single parameter of `LeakyRelu<slope>` / `Elu<alpha>`.
fn resolve_param(cx: &mut Ctxt, name: &str, args: &[crate::parse::TermArg]) -> Option<Option<f64>> {
    let Some(pname) = param_name(name) else {
        if let Some(a) = args.first() {
            cx.error_at(a.value.span(), format!("activation `{name}` takes no arguments"));
            return None;
        }
        return Some(None);
    };
    let mut value = None;
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            cx.error_at(a.value.span(), format!("activation `{name}` takes one argument, `{pname}`"));
            return None;
        }
        if let Some(n) = &a.name
            && n != pname
        {
            cx.error(n, format!("unknown option `{n}` of `{name}`; expected `{pname}`"));
            return None;
        }
        match a.value.as_f64() {
            Some(v) if v.is_finite() => value = Some(v),
            _ => {
                cx.error_at(
                    a.value.span(),
                    format!("expected `{pname}` of `{name}` as a number, found {}", a.value.describe()),
                );
                return None;
            }
        }
    }
    Some(value)
}

/// Names of the per-element values an elementwise activation reads, as tokens.
pub struct ElemVars {
    pub x: TokenStream,
    pub y: TokenStream,
    pub saved: Vec<TokenStream>,
}

/// Emits `f(x)` for one element, as an expression over `vars` (x and the saved values,
/// which the caller has bound with [`emit_saved`]).
pub fn emit_forward(e: &Elementwise, vars: &ElemVars, lit: &dyn Fn(f64) -> TokenStream) -> TokenStream {
    e.forward_with_saved.to_tokens(lit, &|v| var_tokens(v, vars))
}

/// Emits the saved sub-expressions of one element, each as an expression of x.
pub fn emit_saved(e: &Elementwise, vars: &ElemVars, lit: &dyn Fn(f64) -> TokenStream) -> Vec<TokenStream> {
    e.saved.iter().map(|s| s.to_tokens(lit, &|v| var_tokens(v, vars))).collect()
}

/// Emits `f′` for one element from the values the trace holds.
pub fn emit_derivative(e: &Elementwise, vars: &ElemVars, lit: &dyn Fn(f64) -> TokenStream) -> TokenStream {
    e.derivative.to_tokens(lit, &|v| var_tokens(v, vars))
}

fn var_tokens(v: Var, vars: &ElemVars) -> TokenStream {
    match v {
        Var::X => vars.x.clone(),
        Var::Y => vars.y.clone(),
        Var::Saved(k) => vars.saved.get(k).cloned().unwrap_or_else(|| {
            // Unreachable for expressions from `compile_activation`; emit a compile error
            // rather than panicking in the macro.
            quote!(::core::compile_error!("internal error: unknown saved value"))
        }),
        Var::T => quote!(::core::compile_error!("internal error: target in an activation")),
    }
}

/// Emits softmax over the array `z` into a new array `y`, and (if `lse` is given) the
/// log-sum-exp `m + ln Σ e^(z−m)` into that trace slot, for a stable cross-entropy.
///
/// With `groups` > 1 (a softmax at every step of a sequence `[T][n / T]`) each step's
/// `n / T` values are normalized on their own, by the very statements of the one-group
/// form in a loop over the steps, and step `g`'s log-sum-exp goes to slot `lse + g`.
///
/// Subtracting the maximum keeps every exponent ≤ 0, so nothing overflows. The
/// exponentials have a loop of their own, apart from the sum: a loop that also added them
/// up in order would stay scalar (floating-point addition is not reassociated), while
/// this one runs several exponentials per vector instruction; the sum's order, and so
/// every result, is the same.
pub fn softmax_forward(
    z: &Ident,
    y: &Ident,
    n: usize,
    groups: usize,
    t: &TokenStream,
    lse: Option<usize>,
) -> TokenStream {
    let rt = crate::codegen::rt();
    let m = format_ident!("__m_{}", y);
    let s = format_ident!("__s_{}", y);
    if groups > 1 {
        let w = n / groups;
        let store_lse = lse.map(|i| quote! { __tr[#i + __g] = #m + #rt::Scalar::ln(#s); });
        return quote! {
            let mut #y: [#t; #n] = [0.0; #n];
            for __g in 0..#groups {
                let __o = __g * #w;
                let mut #m: #t = #z[__o];
                for __i in 1..#w {
                    #m = #rt::Scalar::max(#m, #z[__o + __i]);
                }
                for __i in 0..#w {
                    #y[__o + __i] = #rt::Scalar::exp(#z[__o + __i] - #m);
                }
                let mut #s: #t = 0.0;
                for __i in 0..#w {
                    #s += #y[__o + __i];
                }
                let __inv: #t = 1.0 / #s;
                for __v in #y[__o..__o + #w].iter_mut() {
                    *__v *= __inv;
                }
                #store_lse
            }
        };
    }
    let store_lse = lse.map(|i| quote! { __tr[#i] = #m + #rt::Scalar::ln(#s); });
    quote! {
        let mut #m: #t = #z[0];
        for __i in 1..#n {
            #m = #rt::Scalar::max(#m, #z[__i]);
        }
        let mut #y: [#t; #n] = [0.0; #n];
        for __i in 0..#n {
            #y[__i] = #rt::Scalar::exp(#z[__i] - #m);
        }
        let mut #s: #t = 0.0;
        for __v in #y.iter() {
            #s += *__v;
        }
        let __inv: #t = 1.0 / #s;
        for __v in #y.iter_mut() {
            *__v *= __inv;
        }
        #store_lse
    }
}

/// Emits the softmax Jacobian-vector product: `dz = y ⊙ (dy − ⟨dy, y⟩)`, from
/// `∂yᵢ/∂zⱼ = yᵢ·([i = j] − yⱼ)`; with `groups` > 1, within each step's `n / T` values
/// (the Jacobian is block-diagonal over the steps).
pub fn softmax_backward(
    dy: &TokenStream,
    y: &TokenStream,
    dz: &Ident,
    n: usize,
    groups: usize,
    t: &TokenStream,
) -> TokenStream {
    if groups > 1 {
        let w = n / groups;
        return quote! {
            let mut #dz: [#t; #n] = [0.0; #n];
            for __g in 0..#groups {
                let __o = __g * #w;
                let mut __dot: #t = 0.0;
                for __i in 0..#w {
                    __dot += #dy[__o + __i] * #y[__o + __i];
                }
                for __i in 0..#w {
                    #dz[__o + __i] = #y[__o + __i] * (#dy[__o + __i] - __dot);
                }
            }
        };
    }
    quote! {
        let mut __dot: #t = 0.0;
        for __i in 0..#n {
            __dot += #dy[__i] * #y[__i];
        }
        let mut #dz: [#t; #n] = [0.0; #n];
        for __i in 0..#n {
            #dz[__i] = #y[__i] * (#dy[__i] - __dot);
        }
    }
}

/// Index tokens for element `i` of a trace block at `base`: a literal when unrolled.
fn slot(base: usize, i: Option<usize>) -> TokenStream {
    match i {
        Some(i) => {
            let idx = base + i;
            quote!(__tr[#idx])
        }
        None => quote!(__tr[#base + __i]),
    }
}

/// Emits `y = f(z)` for an array `z` of `n` elements, binding `y: [T; n]`. In a training
/// forward (`slots` given) it writes the layer's trace: `y`, and `z` and the saved values
/// where the backward pass reads them; `lse` is the trace slot for softmax's log-sum-exp.
/// `groups` is [`crate::model::Layer::softmax_groups`]: a softmax normalizes each of that
/// many equal parts of `z` on its own (element-wise activations ignore it).
#[allow(clippy::too_many_arguments)]
pub fn emit_apply(
    g: &crate::codegen::Gen,
    act: &Activation,
    z: &Ident,
    y: &Ident,
    n: usize,
    groups: usize,
    unroll: bool,
    slots: Option<&crate::model::TraceSlots>,
    lse: Option<usize>,
) -> TokenStream {
    let t = &g.t;
    let lit = |v: f64| g.lit(v);
    let store_y = slots.and_then(|s| s.y).map(|y0| {
        let y1 = y0 + n;
        quote! { __tr[#y0..#y1].copy_from_slice(&#y); }
    });
    let store_z = slots.and_then(|s| s.z).map(|z0| {
        let z1 = z0 + n;
        quote! { __tr[#z0..#z1].copy_from_slice(&#z); }
    });
    let body = match &act.kind {
        ActKind::Softmax => softmax_forward(z, y, n, groups, t, lse),
        ActKind::Elementwise(_) if act.is_identity() => quote! { let #y: [#t; #n] = #z; },
        ActKind::Elementwise(e) => {
            let saved_slots: Vec<usize> = slots.map(|s| s.saved.clone()).unwrap_or_default();
            let element = |i: Option<usize>| {
                let idx = match i {
                    Some(i) => quote!(#i),
                    None => quote!(__i),
                };
                let names: Vec<Ident> = (0..e.saved.len()).map(|k| format_ident!("__s{}", k)).collect();
                let vars = ElemVars {
                    x: quote!(__x),
                    y: quote!(::core::compile_error!("internal error: y in a forward")),
                    saved: names.iter().map(|n| quote!(#n)).collect(),
                };
                let saved_values = emit_saved(e, &vars, &lit);
                let stores = saved_slots.iter().zip(&names).map(|(&base, name)| {
                    let place = slot(base, i);
                    quote! { #place = #name; }
                });
                let value = emit_forward(e, &vars, &lit);
                quote! {
                    {
                        let __x: #t = #z[#idx];
                        #(let #names: #t = #saved_values;)*
                        #(#stores)*
                        #y[#idx] = #value;
                    }
                }
            };
            if unroll {
                let elements = (0..n).map(|i| element(Some(i)));
                quote! {
                    let mut #y: [#t; #n] = [0.0; #n];
                    #(#elements)*
                }
            } else {
                let el = element(None);
                quote! {
                    let mut #y: [#t; #n] = [0.0; #n];
                    for __i in 0..#n {
                        #el
                    }
                }
            }
        }
    };
    quote! {
        #body
        #store_z
        #store_y
    }
}

/// Emits `δz = δy ⊙ f′` (or softmax's Jacobian-vector product), binding `d: [T; n]` from
/// `e` = ∂L/∂y, reading `z`, `y` and the saved values from the trace; a softmax over
/// `groups` parts as in [`emit_apply`].
#[allow(clippy::too_many_arguments)]
pub fn emit_backprop(
    g: &crate::codegen::Gen,
    act: &Activation,
    e: &Ident,
    d: &Ident,
    n: usize,
    groups: usize,
    unroll: bool,
    slots: &crate::model::TraceSlots,
) -> TokenStream {
    let t = &g.t;
    let lit = |v: f64| g.lit(v);
    match &act.kind {
        ActKind::Elementwise(_) if act.is_identity() => quote! { let #d: [#t; #n] = #e; },
        ActKind::Softmax => {
            let y0 = slots.y.unwrap_or(0);
            let y1 = y0 + n;
            let y = quote!(__tr[#y0..#y1]);
            softmax_backward(&quote!(#e), &y, d, n, groups, t)
        }
        ActKind::Elementwise(el) => {
            let element = |i: Option<usize>| {
                let vars = ElemVars {
                    x: slots
                        .z
                        .map_or_else(|| quote!(::core::compile_error!("internal error: z not kept")), |z0| slot(z0, i)),
                    y: slot(slots.y.unwrap_or(0), i),
                    saved: slots.saved.iter().map(|&s| slot(s, i)).collect(),
                };
                emit_derivative(el, &vars, &lit)
            };
            if unroll {
                let items = (0..n).map(|i| {
                    let f = element(Some(i));
                    quote!(#e[#i] * (#f))
                });
                quote! { let #d: [#t; #n] = [#(#items),*]; }
            } else {
                let f = element(None);
                quote! {
                    let mut #d: [#t; #n] = [0.0; #n];
                    for __i in 0..#n {
                        #d[__i] = #e[__i] * (#f);
                    }
                }
            }
        }
    }
}

/// The mini-batch form of [`emit_apply`] for an element-wise activation: `tile` (an
/// identifier of `[[T; N]; n]`, feature-major) holds the pre-activations of a tile of
/// samples. Per feature, `y = f(z)` runs over the tile's lanes (the samples: one vector
/// operation per step), then `y` (and `z` and the saved values where backward reads them)
/// go to the first `__n` traces `__trs` (nothing for batched inference, whose `slots` are
/// empty). With `keep`, `y` overwrites `z` in the tile (the next layer's input). `None`
/// for softmax, which is not element-wise.
pub fn emit_apply_tile(
    g: &crate::codegen::Gen,
    act: &Activation,
    tile: &Ident,
    n: usize,
    lanes: usize,
    slots: &crate::model::TraceSlots,
    keep: bool,
) -> Option<TokenStream> {
    let ActKind::Elementwise(e) = &act.kind else { return None };
    let t = &g.t;
    let lit = |v: f64| g.lit(v);
    let names: Vec<Ident> = (0..e.saved.len()).map(|k| format_ident!("__s{}", k)).collect();
    let tiles: Vec<Ident> = (0..e.saved.len()).map(|k| format_ident!("__st{}", k)).collect();
    let vars = ElemVars {
        x: quote!(__x),
        y: quote!(::core::compile_error!("internal error: y in a forward")),
        saved: names.iter().map(|n| quote!(#n)).collect(),
    };
    let saved_values = emit_saved(e, &vars, &lit);
    let value = if act.is_identity() { quote!(__x) } else { emit_forward(e, &vars, &lit) };
    let mut stores = Vec::new();
    if let Some(y0) = slots.y {
        stores.push(quote! { __trs[__s][#y0 + __f] = __yt[__s]; });
    }
    if let Some(z0) = slots.z {
        stores.push(quote! { __trs[__s][#z0 + __f] = __zt[__s]; });
    }
    for (&base, st) in slots.saved.iter().zip(&tiles) {
        stores.push(quote! { __trs[__s][#base + __f] = #st[__s]; });
    }
    let keep = keep.then(|| quote! { #tile[__f] = __yt; });
    // Inference (no trace slots) stores nothing per sample.
    let stores = (!stores.is_empty()).then(|| {
        quote! {
            for __s in 0..__n {
                #(#stores)*
            }
        }
    });
    Some(quote! {
        for __f in 0..#n {
            let __zt: [#t; #lanes] = #tile[__f];
            let mut __yt: [#t; #lanes] = [0.0; #lanes];
            #(let mut #tiles: [#t; #lanes] = [0.0; #lanes];)*
            for __k in 0..#lanes {
                let __x: #t = __zt[__k];
                #(let #names: #t = #saved_values;)*
                #(#tiles[__k] = #names;)*
                __yt[__k] = #value;
            }
            #keep
            #stores
        }
    })
}

/// The mini-batch form of [`emit_backprop`] for an element-wise activation: `tile`
/// (`[[T; N]; n]`) holds ∂L/∂y of a tile of samples and is overwritten with δ = ∂L/∂y ⊙ f′,
/// f′ evaluated per lane from the values the traces `__trs` kept (lanes past the batch read
/// stale traces; their δ is never counted). `None` for softmax.
pub fn emit_backprop_tile(
    g: &crate::codegen::Gen,
    act: &Activation,
    tile: &Ident,
    n: usize,
    lanes: usize,
    slots: &crate::model::TraceSlots,
) -> Option<TokenStream> {
    let ActKind::Elementwise(el) = &act.kind else { return None };
    if act.is_identity() {
        return Some(TokenStream::new());
    }
    let t = &g.t;
    let lit = |v: f64| g.lit(v);
    let lane = |base: usize| quote!(__trs[__k][#base + __f]);
    let vars = ElemVars {
        x: slots.z.map_or_else(|| quote!(::core::compile_error!("internal error: z not kept")), lane),
        y: lane(slots.y.unwrap_or(0)),
        saved: slots.saved.iter().map(|&s| lane(s)).collect(),
    };
    let f = emit_derivative(el, &vars, &lit);
    Some(quote! {
        for __f in 0..#n {
            let __et: [#t; #lanes] = #tile[__f];
            let mut __dt: [#t; #lanes] = [0.0; #lanes];
            for __k in 0..#lanes {
                __dt[__k] = __et[__k] * (#f);
            }
            #tile[__f] = __dt;
        }
    })
}
