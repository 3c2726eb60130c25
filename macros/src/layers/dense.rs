//! `Dense<WIDTH, Activation>`: a fully connected layer.
//!
//! ```text
//! forward    z = W·x + b            W: [out][in] (PyTorch order), b: [out]
//!            y = f(z)
//! backward   δ = ∂L/∂z              (from the layer above, through f′)
//!            ∂L/∂W = δ·xᵀ           ∂L/∂b = δ
//!            ∂L/∂x = Wᵀ·δ
//! ```
//!
//! Small layers are emitted as straight-line code with literal indices; larger ones as
//! calls to the runtime's row kernels (`kernels::matvec`, `kernels::backward_*`,
//! `kernels::input_delta`), whose inner loops run over contiguous rows of the weights,
//! four rows per pass so each loaded input or delta vector serves four rows. Rows with
//! a zero delta (inactive relu units) are left out of backward when rows are long.
//! Options: `bias = false`, `unroll = true | false | N`, `init = glorot | he`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;

use super::activation::{self, Activation, Init};
use crate::codegen::{Gen, rt};
use crate::ctxt::Ctxt;
use crate::model::{Customs, Layer, Unroll, positive_int, resolve_unroll};
use crate::parse::{Term, TermArg};

/// Rows at least this long are skipped in backward when their delta is zero.
const SKIP_ZERO_ROWS: usize = 64;

/// A resolved dense layer.
#[derive(Clone, Debug)]
pub struct Dense {
    pub width: usize,
    pub width_span: Span,
    pub act: Activation,
    pub bias: bool,
    pub unroll: Option<Unroll>,
    pub init: Init,
}

impl Dense {
    pub fn param_count(&self, fan_in: usize) -> usize {
        fan_in.saturating_mul(self.width).saturating_add(if self.bias { self.width } else { 0 })
    }
}

/// Resolves `Dense<width, Activation, bias = .., unroll = .., init = ..>`.
pub fn resolve(cx: &mut Ctxt, layer: &Ident, kind: &Ident, args: &[TermArg], customs: &Customs) -> Option<Dense> {
    let mut positional = Vec::new();
    let mut bias = true;
    let mut unroll = None;
    let mut init = None;
    let mut seen: Vec<&Ident> = Vec::new();
    let mut ok = true;
    for a in args {
        let Some(name) = &a.name else {
            positional.push(&a.value);
            continue;
        };
        if seen.contains(&name) {
            cx.error(name, format!("option `{name}` of layer `{layer}` is given twice"));
            ok = false;
            continue;
        }
        seen.push(name);
        match name.to_string().as_str() {
            "bias" => match &a.value {
                Term::Bool { value, .. } => bias = *value,
                other => {
                    cx.error_at(
                        other.span(),
                        format!("expected `bias = true` or `bias = false`, found {}", other.describe()),
                    );
                    ok = false;
                }
            },
            "unroll" => match resolve_unroll(cx, &a.value) {
                Some(u) => unroll = Some(u),
                None => ok = false,
            },
            "init" => match &a.value {
                Term::Call { name: n, args, .. } if args.is_empty() && (n == "glorot" || n == "Glorot") => {
                    init = Some(Init::Glorot);
                }
                Term::Call { name: n, args, .. } if args.is_empty() && (n == "he" || n == "He") => {
                    init = Some(Init::He);
                }
                other => {
                    cx.error_at(
                        other.span(),
                        format!("expected `init = glorot` or `init = he`, found {}", other.describe()),
                    );
                    ok = false;
                }
            },
            other => {
                cx.error(name, format!("unknown option `{other}` of `Dense`; expected `bias`, `unroll` or `init`"));
                ok = false;
            }
        }
    }
    let Some(width_term) = positional.first() else {
        cx.error(kind, format!("layer `{layer}` needs a width, as in `Dense<32, Relu>`"));
        return None;
    };
    let width = match width_term {
        Term::Int { value: 0, .. } => 0, // reported by `check_widths`, with the rule's wording
        t => match positive_int(t) {
            Some(w) => w,
            None => {
                cx.error_at(
                    t.span(),
                    format!("expected the width of layer `{layer}` as a positive integer, found {}", t.describe()),
                );
                return None;
            }
        },
    };
    let act = match positional.get(1) {
        Some(t) => activation::resolve(cx, t, customs)?,
        None => activation::resolve(
            cx,
            &Term::Call { name: Ident::new("Identity", kind.span()), args: Vec::new(), span: kind.span() },
            customs,
        )?,
    };
    if let Some(extra) = positional.get(2) {
        cx.error_at(
            extra.span(),
            format!(
                "`Dense` takes a width and an activation, then named options; found {} as a third argument",
                extra.describe()
            ),
        );
        return None;
    }
    let init = init.unwrap_or(act.init);
    ok.then_some(Dense { width, width_span: width_term.span(), act, bias, unroll, init })
}

/// Where the weights of a dense layer lie in the flat arrays.
struct Offsets {
    w: usize,
    b: usize,
    fan_in: usize,
    width: usize,
}

impl Offsets {
    fn new(layer: &Layer, d: &Dense) -> Self {
        let fan_in = crate::model::size(&layer.input);
        let w = layer.offset;
        Offsets { w, b: w + fan_in * d.width, fan_in, width: d.width }
    }

    fn weight(&self, o: usize, i: usize) -> usize {
        self.w + o * self.fan_in + i
    }
}

/// Emits the forward pass: binds `__y{l}: [T; OUT]` from the input array `inp`, and in a
/// training forward writes the layer's trace slots.
pub fn emit_forward(g: &Gen, l: usize, layer: &Layer, d: &Dense, inp: &TokenStream, train: bool) -> TokenStream {
    let t = &g.t;
    let rt = rt();
    let off = Offsets::new(layer, d);
    let (fan_in, width) = (off.fan_in, off.width);
    let z = format_ident!("__z{}", l);
    let affine = if layer.unroll {
        let rows = (0..width).map(|o| {
            let terms = (0..fan_in).map(|i| {
                let wi = off.weight(o, i);
                quote!(__p[#wi] * #inp[#i])
            });
            let bias = d.bias.then(|| {
                let bi = off.b + o;
                quote!(+ __p[#bi])
            });
            quote!(#(#terms)+* #bias)
        });
        quote! { let #z: [#t; #width] = [#(#rows),*]; }
    } else {
        let (w0, w1) = (off.w, off.b);
        let bias = d.bias.then(|| {
            let (b0, b1) = (off.b, off.b + width);
            quote! {
                let __b = #rt::view::array::<#t, #width>(&__p[#b0..#b1]);
                for __o in 0..#width {
                    #z[__o] += __b[__o];
                }
            }
        });
        quote! {
            let mut #z: [#t; #width] = [0.0; #width];
            {
                #rt::kernels::matvec(&__p[#w0..#w1], &#inp[..], &mut #z);
                #bias
            }
        }
    };
    let y = format_ident!("__y{}", l);
    let last = l + 1 == g.net.layers.len();
    let lse = if train && last { g.net.trace_lse } else { None };
    let act = activation::emit_apply(g, &d.act, &z, &y, width, layer.unroll, train.then_some(&layer.trace), lse);
    quote! {
        #affine
        #act
    }
}

/// How backward delivers the weight gradient.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `__g[..] += ∂L/∂θ` (a caller-owned buffer).
    Accumulate,
    /// `__p[..] -= __lr · ∂L/∂θ`, after the layer's input delta has been computed.
    Sgd,
}

/// Emits the backward pass of a dense layer from its delta `__d{l}` (∂L/∂z) and its input
/// `inp`: the weight gradient per `mode`, and, if `input_delta` is given, binds it to
/// `Wᵀ·δ` (∂L/∂input) using the weights as they were before any update.
pub fn emit_backward(
    g: &Gen,
    l: usize,
    layer: &Layer,
    d: &Dense,
    inp: &TokenStream,
    mode: Mode,
    input_delta: Option<&Ident>,
) -> TokenStream {
    let t = &g.t;
    let rt = rt();
    let off = Offsets::new(layer, d);
    let (fan_in, width) = (off.fan_in, off.width);
    let delta = format_ident!("__d{}", l);
    if layer.unroll {
        let e = input_delta.map(|e| emit_input_delta(g, l, layer, d, e));
        let mut updates = Vec::new();
        for o in 0..width {
            for i in 0..fan_in {
                let wi = off.weight(o, i);
                updates.push(match mode {
                    Mode::Accumulate => quote!(__g[#wi] += #delta[#o] * #inp[#i];),
                    Mode::Sgd => quote!(__p[#wi] -= __lr * (#delta[#o] * #inp[#i]);),
                });
            }
            if d.bias {
                let bi = off.b + o;
                updates.push(match mode {
                    Mode::Accumulate => quote!(__g[#bi] += #delta[#o];),
                    Mode::Sgd => quote!(__p[#bi] -= __lr * #delta[#o];),
                });
            }
        }
        return quote! {
            #e
            #(#updates)*
        };
    }
    let (w0, w1) = (off.w, off.b);
    let (b0, b1) = (off.b, off.b + width);
    let e_decl = input_delta.map(|e| quote! { let mut #e: [#t; #fan_in] = [0.0; #fan_in]; });
    let e_arg = match input_delta {
        Some(e) => quote!(::core::option::Option::Some(&mut #e[..])),
        None => quote!(::core::option::Option::None),
    };
    // A zero delta (an inactive relu) adds nothing: leaving its row out pays for long
    // rows, while for short ones the bookkeeping costs more than the row.
    let skip = fan_in >= SKIP_ZERO_ROWS;
    let bias_grad = d.bias.then(|| {
        quote! {
            let __gb = #rt::view::array_mut::<#t, #width>(&mut __g[#b0..#b1]);
            for (__gbo, &__dv) in __gb.iter_mut().zip(#delta.iter()) {
                *__gbo += __dv;
            }
        }
    });
    let bias_sgd = d.bias.then(|| {
        quote! {
            let __pb = #rt::view::array_mut::<#t, #width>(&mut __p[#b0..#b1]);
            for (__pbo, &__dv) in __pb.iter_mut().zip(#delta.iter()) {
                *__pbo -= __lr * __dv;
            }
        }
    });
    match mode {
        Mode::Accumulate => quote! {
            #e_decl
            #rt::kernels::backward_accumulate(&__p[#w0..#w1], &mut __g[#w0..#w1], &#inp[..], &#delta[..], #e_arg, #skip);
            #bias_grad
        },
        Mode::Sgd => quote! {
            #e_decl
            #rt::kernels::backward_sgd(&mut __p[#w0..#w1], &#inp[..], &#delta[..], __lr, #e_arg, #skip);
            #bias_sgd
        },
    }
}

/// Emits `Wᵀ·δ` alone, binding `e: [T; IN]` (the first layer's input gradient).
pub fn emit_input_delta(g: &Gen, l: usize, layer: &Layer, d: &Dense, e: &Ident) -> TokenStream {
    let t = &g.t;
    let rt = rt();
    let off = Offsets::new(layer, d);
    let (fan_in, width) = (off.fan_in, off.width);
    let delta = format_ident!("__d{}", l);
    if layer.unroll {
        let cols = (0..fan_in).map(|i| {
            let terms = (0..width).map(|o| {
                let wi = off.weight(o, i);
                quote!(__p[#wi] * #delta[#o])
            });
            quote!(#(#terms)+*)
        });
        return quote! { let #e: [#t; #fan_in] = [#(#cols),*]; };
    }
    let (w0, w1) = (off.w, off.b);
    let skip = fan_in >= SKIP_ZERO_ROWS;
    quote! {
        let mut #e: [#t; #fan_in] = [0.0; #fan_in];
        #rt::kernels::input_delta(&__p[#w0..#w1], &#delta[..], &mut #e, #skip);
    }
}
