//! The Hessian-vector product of the loss with respect to the parameters, `H·v`, by
//! Pearlmutter's R-operator (forward-over-reverse), generated for networks whose every
//! layer kind has an R-pass ([`crate::layers::Kind::r_pass`]: dense, convolution,
//! pooling; a `Flatten` is a reshape).
//!
//! `R{·}` is the directional derivative `d/dε (·)(θ + ε·v)` at ε = 0. This module owns
//! what is the same for every kind — the activations, the loss and the order of the
//! passes; each kind emits its own linear part (`Kind::emit_r_forward`,
//! `Kind::emit_r_backward`). With `V` the part of `v` that belongs to layer `l`'s
//! weights (`V_W`, `V_b`):
//!
//! ```text
//! forward    z = W·a + b                      R{z} = W·R{a} + V_W·a + V_b      (R{x} = 0)
//!            z = W ⋆ a + b (convolution)      R{z} = W ⋆ R{a} + V_W ⋆ a + V_b
//!            max pooling                      R{out} = R{a} at each window's argmax of a
//!            average / global pooling         R{out} = pool(R{a})
//!            a = f(z)                         R{a} = f′(z) ⊙ R{z}
//!            softmax                          R{y} = y ⊙ (R{z} − yᵀR{z})
//! loss       g = ∂L/∂y = r·ℓ′(y)              R{g} = r·ℓ″(y) ⊙ R{y}
//!            fused on logits: δ = r·ℓ′(z)     R{δ} = r·ℓ″(z) ⊙ R{z}
//!            softmax + cross-entropy          δ = y·Σt − t,  R{δ} = R{y}·Σt
//! backward   δ = f′(z) ⊙ g                    R{δ} = f″(z) ⊙ R{z} ⊙ g + f′(z) ⊙ R{g}
//!            softmax: δ = y ⊙ (g − yᵀg)       R{δ} = R{y} ⊙ (g − yᵀg) + y ⊙ (R{g} − R{y}ᵀg − yᵀR{g})
//!            g_below = Wᵀ·δ                    R{g_below} = Wᵀ·R{δ} + V_Wᵀ·δ
//!            (convolution: the full correlation with the flipped W, and with V_W)
//!            pooling: route / spread δ         R{g_below} = route / spread R{δ} (the argmax
//!                                              does not move along v)
//! gradient   ∂L/∂W = δ·aᵀ, ∂L/∂b = δ          (H·v)_W = R{δ}·aᵀ + δ·R{a}ᵀ,  (H·v)_b = R{δ}
//!            convolution: a ⋆ δ, Σ δ          (H·v)_W = a ⋆ R{δ} + R{a} ⋆ δ, (H·v)_b = Σ R{δ}
//! ```
//!
//! Max pooling is twice differentiable wherever no two cells of a window tie (where the
//! gradient is defined at all); its second derivative there is zero, so its R-pass is
//! the routing of δ applied to `R{·}`.
//!
//! `r` is the loss's reduction (1/n for the means). `f′`, `f″` come from the symbolic
//! engine's compiled activation, `ℓ′`, `ℓ″` from differentiating the loss element twice:
//! nothing is written per activation or loss here. One product costs about two forward
//! and two backward passes: O(W).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::codegen::Gen;
use crate::layers::LayerCx;
use crate::layers::activation::{ActKind, ElemVars, emit_derivative, emit_forward, emit_saved};
use crate::loss::Loss;
use crate::model::size;
use crate::symbolic::{Expr, Var};

/// Which networks get `hessian_vector_product`: those whose every kind has an R-pass.
/// (A loss the engine could not differentiate twice would also leave it out; every
/// loss the spec allows can be.)
pub fn supported(g: &Gen) -> bool {
    let twice = g.net.loss == Loss::CrossEntropy || loss_derivatives(&g.net.loss).is_ok();
    twice && g.net.layers.iter().all(|l| l.kind.aliases_input() || l.kind.r_pass())
}

/// Per element of `z{l}`: binds `a{l}[i]`, `f1{l}[i]`, `f2{l}[i]` (value, f′, f″) and the
/// forward R `ra{l}[i]`; for softmax the vector rules.
fn activation_forward(g: &Gen, l: usize) -> TokenStream {
    let t = &g.t;
    let rt = crate::codegen::rt();
    let layer = &g.net.layers[l];
    let (z, rz, a, ra, f1, f2) = names(l);
    // A kind without an activation (pooling): its output is its forward.
    let Some(act) = layer.kind.activation() else {
        return quote! { let #a = #z; let #ra = #rz; };
    };
    let n = size(&layer.output);
    let lit = |v: f64| g.lit(v);
    match &act.kind {
        ActKind::Softmax => quote! {
            let mut __m = #z[0];
            for __i in 1..#n {
                if #z[__i] > __m { __m = #z[__i]; }
            }
            let mut #a: [#t; #n] = [0.0; #n];
            let mut __s: #t = 0.0;
            for __i in 0..#n {
                #a[__i] = #rt::Scalar::exp(#z[__i] - __m);
                __s += #a[__i];
            }
            let mut __yrz: #t = 0.0;
            for __i in 0..#n {
                #a[__i] /= __s;
                __yrz += #a[__i] * #rz[__i];
            }
            let mut #ra: [#t; #n] = [0.0; #n];
            for __i in 0..#n {
                #ra[__i] = #a[__i] * (#rz[__i] - __yrz);
            }
            let #f1: [#t; #n] = [0.0; #n];
            let #f2: [#t; #n] = [0.0; #n];
        },
        ActKind::Elementwise(el) => {
            let saved_names: Vec<_> = (0..el.saved.len()).map(|k| format_ident!("__s{}", k)).collect();
            let vars =
                ElemVars { x: quote!(__zx), y: quote!(__yv), saved: saved_names.iter().map(|s| quote!(#s)).collect() };
            let saved = emit_saved(el, &vars, &lit);
            let fwd = emit_forward(el, &vars, &lit);
            let d1 = emit_derivative(el, &vars, &lit);
            let d2 = el.second.to_tokens(&lit, &|v| match v {
                Var::X => quote!(__zx),
                Var::Y => quote!(__yv),
                Var::Saved(k) => saved_names.get(k).map_or_else(
                    || quote!(::core::compile_error!("internal error: unknown saved value")),
                    |s| quote!(#s),
                ),
                Var::T => quote!(::core::compile_error!("internal error: target in an activation")),
            });
            quote! {
                let mut #a: [#t; #n] = [0.0; #n];
                let mut #ra: [#t; #n] = [0.0; #n];
                let mut #f1: [#t; #n] = [0.0; #n];
                let mut #f2: [#t; #n] = [0.0; #n];
                for __i in 0..#n {
                    let __zx: #t = #z[__i];
                    #( let #saved_names: #t = #saved; )*
                    let __yv: #t = #fwd;
                    #a[__i] = __yv;
                    #f1[__i] = #d1;
                    #f2[__i] = #d2;
                    #ra[__i] = #f1[__i] * #rz[__i];
                }
                let _ = &#f2;
            }
        }
    }
}

fn names(l: usize) -> (syn::Ident, syn::Ident, syn::Ident, syn::Ident, syn::Ident, syn::Ident) {
    (
        format_ident!("__z{}", l),
        format_ident!("__rz{}", l),
        format_ident!("__a{}", l),
        format_ident!("__ra{}", l),
        format_ident!("__f1_{}", l),
        format_ident!("__f2_{}", l),
    )
}

/// From `g`, `rg` (∂L/∂a and its R) binds `__d{l}`, `__rd{l}` through the activation.
fn activation_backward(g: &Gen, l: usize, gy: &TokenStream, rgy: &TokenStream) -> TokenStream {
    let t = &g.t;
    let layer = &g.net.layers[l];
    let n = size(&layer.output);
    let (_, rz, a, ra, f1, f2) = names(l);
    let (d, rd) = (format_ident!("__d{}", l), format_ident!("__rd{}", l));
    match layer.kind.activation().map(|a| &a.kind) {
        None => quote! { let #d = #gy; let #rd = #rgy; },
        Some(ActKind::Softmax) => quote! {
            let mut __yg: #t = 0.0;
            let mut __ryg: #t = 0.0;
            let mut __yrg: #t = 0.0;
            for __i in 0..#n {
                __yg += #a[__i] * #gy[__i];
                __ryg += #ra[__i] * #gy[__i];
                __yrg += #a[__i] * #rgy[__i];
            }
            let mut #d: [#t; #n] = [0.0; #n];
            let mut #rd: [#t; #n] = [0.0; #n];
            for __i in 0..#n {
                #d[__i] = #a[__i] * (#gy[__i] - __yg);
                #rd[__i] = #ra[__i] * (#gy[__i] - __yg) + #a[__i] * (#rgy[__i] - __ryg - __yrg);
            }
        },
        _ => quote! {
            let mut #d: [#t; #n] = [0.0; #n];
            let mut #rd: [#t; #n] = [0.0; #n];
            for __i in 0..#n {
                #d[__i] = #f1[__i] * #gy[__i];
                #rd[__i] = #f2[__i] * #rz[__i] * #gy[__i] + #f1[__i] * #rgy[__i];
            }
        },
    }
}

/// `ℓ′` and `ℓ″` of the loss element with respect to its argument, in `X` and `T`.
pub fn loss_derivatives(loss: &Loss) -> Result<(Expr, Expr), String> {
    let el = loss.element().ok_or_else(|| "no element".to_owned())?;
    let d1 = el.diff(Var::X).map_err(|e| e.to_string())?.simplify();
    let d2 = d1.diff(Var::X).map_err(|e| e.to_string())?.simplify();
    Ok((d1, d2))
}

/// The method `hessian_vector_product`, or nothing for unsupported networks.
pub fn emit(g: &Gen) -> TokenStream {
    if !supported(g) {
        return TokenStream::new();
    }
    let t = &g.t;
    let net = g.net;
    let lit = |v: f64| g.lit(v);
    let (n_in, n_out, n_params) = (net.input_size(), net.output_size(), net.params);
    let computing: Vec<usize> = (0..net.layers.len()).filter(|&l| !net.layers[l].kind.aliases_input()).collect();
    let Some(&top) = computing.last() else { return TokenStream::new() };

    // Forward with R.
    let mut stmts = Vec::new();
    let mut prev: Option<usize> = None;
    for &l in &computing {
        let lc = LayerCx { g, layer: &net.layers[l] };
        let (z, rz, _, _, _, _) = names(l);
        let (a, ra) = match prev {
            Some(p) => (format_ident!("__a{}", p), format_ident!("__ra{}", p)),
            None => (format_ident!("__x0"), format_ident!("__rx0")),
        };
        stmts.push(lc.layer.kind.emit_r_forward(&lc, &quote!(#a), &quote!(#ra), &z, &rz));
        stmts.push(activation_forward(g, l));
        prev = Some(l);
    }

    // The loss delta and its R at the top.
    let (ztop, rztop, atop, ratop, _, _) = names(top);
    let (dtop, rdtop) = (format_ident!("__d{}", top), format_ident!("__rd{}", top));
    let red = g.lit(net.loss.reduction(n_out));
    match net.loss {
        Loss::CrossEntropy => stmts.push(quote! {
            let mut __tsum: #t = 0.0;
            for __i in 0..#n_out {
                __tsum += __t[__i];
            }
            let mut #dtop: [#t; #n_out] = [0.0; #n_out];
            let mut #rdtop: [#t; #n_out] = [0.0; #n_out];
            for __i in 0..#n_out {
                #dtop[__i] = #atop[__i] * __tsum - __t[__i];
                #rdtop[__i] = #ratop[__i] * __tsum;
            }
        }),
        loss => {
            let (d1, d2) = match loss_derivatives(&loss) {
                Ok(d) => d,
                Err(e) => {
                    let msg = format!("internal error: the loss cannot be differentiated twice: {e}");
                    return quote! { ::core::compile_error!(#msg); };
                }
            };
            let (arg, rarg) = if loss.needs_logits() { (&ztop, &rztop) } else { (&atop, &ratop) };
            let var = |v: Var| match v {
                Var::X => quote!(#arg[__i]),
                Var::T => quote!(__t[__i]),
                _ => quote!(::core::compile_error!("internal error: loss reads an unknown value")),
            };
            let (l1, l2) = (d1.to_tokens(&lit, &var), d2.to_tokens(&lit, &var));
            if loss.needs_logits() {
                stmts.push(quote! {
                    let mut #dtop: [#t; #n_out] = [0.0; #n_out];
                    let mut #rdtop: [#t; #n_out] = [0.0; #n_out];
                    for __i in 0..#n_out {
                        #dtop[__i] = (#l1) * #red;
                        #rdtop[__i] = (#l2) * #rarg[__i] * #red;
                    }
                });
            } else {
                stmts.push(quote! {
                    let mut __gy: [#t; #n_out] = [0.0; #n_out];
                    let mut __rgy: [#t; #n_out] = [0.0; #n_out];
                    for __i in 0..#n_out {
                        __gy[__i] = (#l1) * #red;
                        __rgy[__i] = (#l2) * #rarg[__i] * #red;
                    }
                });
                stmts.push(activation_backward(g, top, &quote!(__gy), &quote!(__rgy)));
            }
        }
    }

    // Backward with R, accumulating H·v, down to the lowest layer with parameters.
    let lowest = computing.iter().position(|&l| !net.layers[l].tensors.is_empty()).unwrap_or(0);
    for (idx, &l) in computing.iter().enumerate().rev().filter(|&(idx, _)| idx >= lowest) {
        let lc = LayerCx { g, layer: &net.layers[l] };
        let (d, rd) = (format_ident!("__d{}", l), format_ident!("__rd{}", l));
        let (a, ra) = match idx.checked_sub(1).map(|p| computing[p]) {
            Some(p) => (format_ident!("__a{}", p), format_ident!("__ra{}", p)),
            None => (format_ident!("__x0"), format_ident!("__rx0")),
        };
        let below = idx.checked_sub(1).filter(|_| idx > lowest).map(|p| computing[p]);
        let (e, re) = (format_ident!("__gb"), format_ident!("__rgb"));
        let pair = below.map(|_| (&e, &re));
        stmts.push(lc.layer.kind.emit_r_backward(&lc, &quote!(#a), &quote!(#ra), &d, &rd, pair));
        if let Some(p) = below {
            stmts.push(activation_backward(g, p, &quote!(__gb), &quote!(__rgb)));
        }
    }

    quote! {
        /// Adds `H·v` to `hv`: the product of the Hessian of this sample's loss with
        /// respect to the parameters (`∂²L/∂θ∂θ`, against the target `t`) and `v`, by
        /// Pearlmutter's R-operator, exactly (no finite differences) in O(PARAMS): one
        /// forward pass carrying `R{z}`, one backward pass carrying `R{δ}`. The equations
        /// are in the type's derivation. Call it with `v = eⱼ` for column `j` of the
        /// Hessian; the runtime's `hessian` and `hessian_diagonal` do that for a batch.
        pub fn hessian_vector_product(
            &self,
            __x: &[#t; #n_in],
            __t: &[#t; #n_out],
            __v: &[#t; #n_params],
            __hv: &mut [#t; #n_params],
        ) {
            let __p = &self.params;
            let __x0: &[#t; #n_in] = __x;
            let __rx0: [#t; #n_in] = [0.0; #n_in];
            #(#stmts)*
        }
    }
}

/// The runtime trait impl, for supported networks.
pub fn emit_trait(g: &Gen) -> TokenStream {
    if !supported(g) {
        return TokenStream::new();
    }
    let t = &g.t;
    let rt = crate::codegen::rt();
    let ident = &g.net.ident;
    let (n_in, n_out, n_params) = (g.net.input_size(), g.net.output_size(), g.net.params);
    quote! {
        #[automatically_derived]
        #[allow(clippy::all, clippy::pedantic, clippy::nursery)]
        impl #rt::HessianVector for #ident {
            fn hessian_vector_product(
                &self,
                x: &[#t; #n_in],
                t: &[#t; #n_out],
                v: &[#t; #n_params],
                hv: &mut [#t; #n_params],
            ) {
                #ident::hessian_vector_product(self, x, t, v, hv);
            }
        }
    }
}
