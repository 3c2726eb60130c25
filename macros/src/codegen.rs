//! The model → the generated items: the struct (one flat parameter array), its inherent
//! impl (sizes, constructors, initialization, typed layer views) and its impl of the
//! runtime's `Network` trait (forward, training forward, loss, backward, fused SGD
//! backward). Layer kinds emit their own forward and backward (`layers/`); the loss emits
//! the output delta (`loss.rs`); this module wires them in order and adds the docs.
//!
//! Entry points: [`generate`] and, for a spec with errors, [`fallback`].
//!
//! Hygiene: every path is absolute (`::stackprop::__private::...`), every local starts
//! with `__`, and the impls sit in `const _: () = { ... };`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;

use crate::layers::activation::{self, Init};
use crate::layers::{LayerCx, Mode, TensorInit};
use crate::loss;
use crate::model::{Network, ScalarTy, size};
use crate::parse::Spec;

/// The runtime's re-exports for generated code.
pub fn rt() -> TokenStream {
    quote!(::stackprop::__private)
}

/// What every emitter needs: the network and its scalar type.
pub struct Gen<'a> {
    pub net: &'a Network,
    pub t: TokenStream,
}

impl Gen<'_> {
    /// A float literal of the network's scalar type; non-finite values become the
    /// type's constants (a literal cannot spell them).
    pub fn lit(&self, v: f64) -> TokenStream {
        lit(self.net.scalar, v)
    }
}

/// A float literal of the given scalar type (`0.5_f32`), or its non-finite constant.
pub fn lit(scalar: ScalarTy, v: f64) -> TokenStream {
    let t = scalar_tokens(scalar);
    let narrowed = match scalar {
        ScalarTy::F32 => f64::from(v as f32),
        ScalarTy::F64 => v,
    };
    if narrowed.is_nan() {
        return quote!(#t::NAN);
    }
    if narrowed.is_infinite() {
        return if narrowed > 0.0 { quote!(#t::INFINITY) } else { quote!(#t::NEG_INFINITY) };
    }
    let lit = match scalar {
        ScalarTy::F32 => proc_macro2::Literal::f32_suffixed(narrowed.abs() as f32),
        ScalarTy::F64 => proc_macro2::Literal::f64_suffixed(narrowed.abs()),
    };
    // A negative literal is emitted as `(-1.0_f32)` so it binds as one operand anywhere.
    if narrowed.is_sign_negative() && narrowed != 0.0 { quote!((-#lit)) } else { quote!(#lit) }
}

fn scalar_tokens(s: ScalarTy) -> TokenStream {
    match s {
        ScalarTy::F32 => quote!(f32),
        ScalarTy::F64 => quote!(f64),
    }
}

/// Generates every item for a checked model.
pub fn generate(spec: &Spec, net: &Network) -> TokenStream {
    let g = Gen { net, t: scalar_tokens(net.scalar) };
    let t = &g.t;
    let rt = rt();
    let ident = &net.ident;
    let vis = &spec.vis;
    let attrs = &spec.attrs;
    let (n_in, n_out, n_params, n_trace) = (net.input_size(), net.output_size(), net.params, net.trace_len);

    let layout = layout(&g);
    let layers = layers(&g);
    let views = views(&g);
    let init = init(&g);
    let forward = forward_body(&g, false);
    let forward_trace = forward_body(&g, true);
    let loss = loss::emit_loss(&g);
    let backward = backward_body(&g, Some(Mode::Accumulate));
    let backward_sgd = backward_body(&g, Some(Mode::Sgd));
    let input_backward = backward_body(&g, None);
    let batch = crate::batch::emit(&g);
    let jacobians = crate::jacobian::emit(&g);
    let hessian = crate::hessian::emit(&g);
    let hessian_trait = crate::hessian::emit_trait(&g);
    let code = crate::doc::CodeSize {
        forward_tokens: count_tokens(forward.clone()),
        backward_tokens: count_tokens(backward.clone()),
    };
    let docs = crate::doc::derivation(net, code);
    let derivation = docs.join("\n");

    quote! {
        #(#attrs)*
        #[doc = ""]
        #(#[doc = #docs])*
        #vis struct #ident {
            params: [#t; #n_params],
        }

        const _: () = {
            #[automatically_derived]
            #[allow(clippy::all, clippy::pedantic, clippy::nursery)]
            impl #ident {
                /// Number of inputs.
                pub const INPUT: usize = #n_in;
                /// Number of outputs.
                pub const OUTPUT: usize = #n_out;
                /// Number of parameters (weights and biases) in the flat array.
                pub const PARAMS: usize = #n_params;
                /// Number of scalars the training forward keeps for backward.
                pub const TRACE: usize = #n_trace;
                /// The derivation the macro produced for this network (also in the
                /// type's documentation).
                pub const DERIVATION: &'static str = #derivation;

                /// A network whose parameters are all zero.
                #[must_use]
                pub const fn zeroed() -> Self {
                    Self { params: [0.0; #n_params] }
                }

                /// A network with the given flat parameters (layout: [`Self::LAYOUT`]).
                #[must_use]
                pub const fn from_params(params: [#t; #n_params]) -> Self {
                    Self { params }
                }

                /// The flat parameters, by value.
                #[must_use]
                pub const fn into_params(self) -> [#t; #n_params] {
                    self.params
                }

                /// A network initialized from `seed` (Glorot uniform for sigmoid/tanh-like
                /// layers, He uniform for relu-like ones, biases zero).
                #[must_use]
                pub fn seeded(seed: u64) -> Self {
                    let mut net = Self::zeroed();
                    net.init_with(&mut #rt::SplitMix64::new(seed));
                    net
                }

                /// Re-initializes every layer in place from `rng`, layer by layer, weights
                /// row by row; biases become zero.
                pub fn init_with<R: #rt::rand_core::Rng + ?Sized>(&mut self, rng: &mut R) {
                    #init
                }

                #layout
                #layers
                #views
                #jacobians
                #hessian
            }

            #hessian_trait

            #[automatically_derived]
            #[allow(clippy::all, clippy::pedantic, clippy::nursery)]
            impl #rt::ParamJacobian for #ident {
                fn param_jacobian_into(
                    &self,
                    x: &[#t; #n_in],
                    jac: &mut [#t],
                ) -> ::core::option::Option<[#t; #n_out]> {
                    let (rows, rest) = jac.as_chunks_mut::<#n_params>();
                    if !rest.is_empty() {
                        return ::core::option::Option::None;
                    }
                    let rows: &mut [[#t; #n_params]; #n_out] = rows.try_into().ok()?;
                    ::core::option::Option::Some(#ident::param_jacobian(self, x, rows))
                }
            }

            #[automatically_derived]
            #[allow(clippy::all, clippy::pedantic, clippy::nursery)]
            impl #rt::Network for #ident {
                type Scalar = #t;
                type Input = [#t; #n_in];
                type Output = [#t; #n_out];
                type Params = [#t; #n_params];
                type Trace = [#t; #n_trace];
                const INPUT: usize = #n_in;
                const OUTPUT: usize = #n_out;
                const PARAMS: usize = #n_params;
                const LAYOUT: &'static [#rt::ParamInfo] = Self::LAYOUT;
                const LAYERS: &'static [#rt::LayerInfo] = Self::LAYERS;

                #[inline]
                fn from_params(params: [#t; #n_params]) -> Self {
                    Self { params }
                }

                fn init_with<R: #rt::rand_core::Rng + ?Sized>(&mut self, rng: &mut R) {
                    #ident::init_with(self, rng);
                }

                #[inline]
                fn params(&self) -> &[#t; #n_params] {
                    &self.params
                }

                #[inline]
                fn params_mut(&mut self) -> &mut [#t; #n_params] {
                    &mut self.params
                }

                #[inline]
                fn forward(&self, __x: &[#t; #n_in]) -> [#t; #n_out] {
                    let __p = &self.params;
                    #forward
                }

                #[inline]
                fn forward_trace(&self, __x: &[#t; #n_in], __tr: &mut [#t; #n_trace]) -> [#t; #n_out] {
                    let __p = &self.params;
                    #forward_trace
                }

                #[inline]
                fn trace_loss(&self, __tr: &[#t; #n_trace], __t: &[#t; #n_out]) -> #t {
                    #loss
                }

                #[inline]
                fn backward(
                    &self,
                    __x: &[#t; #n_in],
                    __tr: &[#t; #n_trace],
                    __t: &[#t; #n_out],
                    __scale: #t,
                    __g: &mut [#t; #n_params],
                    __input_grad: ::core::option::Option<&mut [#t; #n_in]>,
                ) -> #t {
                    let __loss = <Self as #rt::Network>::trace_loss(self, __tr, __t);
                    let __p = &self.params;
                    #backward
                    __loss
                }

                #[inline]
                fn input_backward(&self, __x: &[#t; #n_in], __tr: &[#t; #n_trace], __t: &[#t; #n_out]) -> [#t; #n_in] {
                    let __scale: #t = 1.0;
                    let __p = &self.params;
                    #input_backward
                }

                #[inline]
                fn backward_sgd(
                    &mut self,
                    __x: &[#t; #n_in],
                    __tr: &[#t; #n_trace],
                    __t: &[#t; #n_out],
                    __lr: #t,
                ) -> #t {
                    let __loss = <Self as #rt::Network>::trace_loss(self, __tr, __t);
                    let __scale: #t = 1.0;
                    let __p = &mut self.params;
                    #backward_sgd
                    __loss
                }

                #batch
            }
        };
    }
}

/// Number of tokens in a stream, counting each group's delimiters as one.
fn count_tokens(ts: TokenStream) -> usize {
    ts.into_iter()
        .map(|tt| match tt {
            proc_macro2::TokenTree::Group(g) => 1 + count_tokens(g.stream()),
            _ => 1,
        })
        .sum()
}

/// The `ParamInfo` entries of one layer's tensors.
fn param_infos(layer: &crate::model::Layer) -> Vec<TokenStream> {
    let rt = rt();
    let mut entries = Vec::new();
    let mut off = layer.offset;
    for tensor in &layer.tensors {
        let name = format!("{}.{}", layer.name, tensor.suffix);
        let shape = &tensor.shape;
        entries.push(quote!(#rt::ParamInfo { name: #name, offset: #off, shape: &[#(#shape),*] }));
        off += tensor.len();
    }
    entries
}

/// `LAYERS`: each layer as the runtime's gradient-flow diagnostics see it.
fn layers(g: &Gen) -> TokenStream {
    let rt = rt();
    let entries = g.net.layers.iter().map(|layer| {
        let name = layer.name.to_string();
        let kind = layer.kind.name();
        let act = layer.kind.activation();
        let act_name = act.map_or(String::new(), |a| a.name.clone());
        let family = format_ident!("{}", act.map_or("None", activation::Activation::family));
        let width = size(&layer.output);
        let output = match layer.trace.y {
            Some(y) => quote!(::core::option::Option::Some(#y)),
            None => quote!(::core::option::Option::None),
        };
        let params = param_infos(layer);
        quote! {
            #rt::LayerInfo {
                name: #name,
                kind: #kind,
                activation_name: #act_name,
                activation: #rt::ActivationFamily::#family,
                width: #width,
                output: #output,
                params: &[#(#params),*],
            }
        }
    });
    quote! {
        /// The layers in order, as the gradient-flow diagnostics see them: name,
        /// activation, width, where the outputs lie in the trace, parameter tensors.
        pub const LAYERS: &'static [#rt::LayerInfo] = &[#(#entries),*];
    }
}

/// `LAYOUT`: the named parameter tensors.
fn layout(g: &Gen) -> TokenStream {
    let rt = rt();
    let entries: Vec<TokenStream> = g.net.layers.iter().flat_map(param_infos).collect();
    quote! {
        /// The named parameter tensors in layout order, PyTorch names and shapes.
        pub const LAYOUT: &'static [#rt::ParamInfo] = &[#(#entries),*];
    }
}

/// The layers' typed accessors (`net.hidden()` / `net.hidden_mut()`).
fn views(g: &Gen) -> TokenStream {
    let out = g.net.layers.iter().map(|layer| layer.kind.emit_accessors(&LayerCx { g, layer }));
    quote!(#(#out)*)
}

/// The body of `init_with`: every tensor in layout order.
fn init(g: &Gen) -> TokenStream {
    let rt = rt();
    let mut out = Vec::new();
    for layer in &g.net.layers {
        let mut off = layer.offset;
        for tensor in &layer.tensors {
            let (t0, t1) = (off, off + tensor.len());
            off = t1;
            out.push(match tensor.init {
                TensorInit::Draw { init, fan_in, fan_out } => {
                    let kind = format_ident!("{}", init.runtime_name());
                    quote! { #rt::Init::#kind.fill(&mut self.params[#t0..#t1], #fan_in, #fan_out, rng); }
                }
                TensorInit::Bias { init: Init::Torch, fan_in, fan_out } => quote! {
                    #rt::Init::TorchDefault.fill_bias(&mut self.params[#t0..#t1], #fan_in, #fan_out, rng);
                },
                TensorInit::Bias { .. } => quote! { self.params[#t0..#t1].fill(0.0); },
            });
        }
    }
    quote!(#(#out)*)
}

/// The forward pass, binding `__y{l}` per layer and ending with the output. Kinds with an
/// activation bind their pre-activation `__z{l}`; the activation (and, in a training
/// forward, its trace slots) follows here.
fn forward_body(g: &Gen, train: bool) -> TokenStream {
    let net = g.net;
    let mut stmts = Vec::new();
    let mut prev = quote!(__x);
    let mut last = quote!(*__x);
    for (l, layer) in net.layers.iter().enumerate() {
        let lc = LayerCx { g, layer };
        let y = format_ident!("__y{}", l);
        let width = size(&layer.output);
        if layer.kind.aliases_input() {
            stmts.push(layer.kind.emit_forward(&lc, &prev, &y, train));
            last = if prev.to_string() == "__x" { quote!(*#y) } else { quote!(#y) };
        } else if let Some(act) = layer.kind.activation() {
            let z = format_ident!("__z{}", l);
            stmts.push(layer.kind.emit_forward(&lc, &prev, &z, train));
            let lse = if train && l + 1 == net.layers.len() { net.trace_lse } else { None };
            let slots = train.then_some(&layer.trace);
            stmts.push(activation::emit_apply(g, act, &z, &y, width, layer.unroll, slots, lse));
            last = quote!(#y);
        } else {
            stmts.push(layer.kind.emit_forward(&lc, &prev, &y, train));
            if let (true, Some(y0)) = (train, layer.trace.y) {
                let y1 = y0 + width;
                stmts.push(quote! { __tr[#y0..#y1].copy_from_slice(&#y); });
            }
            last = quote!(#y);
        }
        prev = quote!(#y);
    }
    quote! {
        #(#stmts)*
        #last
    }
}

/// The layer's input for backward: a view of the trace slot of the layer below, bound
/// as `__a{l}`, or the network input `__x`.
pub fn backward_input(g: &Gen, l: usize, reads: bool, stmts: &mut Vec<TokenStream>) -> TokenStream {
    let layer = &g.net.layers[l];
    let t = &g.t;
    let rt = rt();
    match layer.trace.input {
        Some(y0) if reads => {
            let n = size(&layer.input);
            let y1 = y0 + n;
            let a = format_ident!("__a{}", l);
            stmts.push(quote! { let #a = #rt::view::array::<#t, #n>(&__tr[#y0..#y1]); });
            quote!(#a)
        }
        _ => quote!(__x),
    }
}

/// Turns `e` = ∂L/∂y of layer `k` into its delta `__d{k}`: through the activation's
/// derivative, or as it is for kinds without one.
pub fn delta_below(g: &Gen, k: usize, e: &Ident) -> TokenStream {
    let layer = &g.net.layers[k];
    let dk = format_ident!("__d{}", k);
    match layer.kind.activation() {
        Some(act) => activation::emit_backprop(g, act, e, &dk, size(&layer.output), layer.unroll, &layer.trace),
        None => quote! { let #dk = #e; },
    }
}

/// ∂L/∂x alone from the delta `__d{from}` down through every layer to the input,
/// binding `__gx`.
fn input_chain(g: &Gen, from: usize, stmts: &mut Vec<TokenStream>) {
    for l in (0..=from).rev() {
        let layer = &g.net.layers[l];
        let lc = LayerCx { g, layer };
        let inp = backward_input(g, l, layer.kind.input_delta_reads_input(), stmts);
        let d = format_ident!("__d{}", l);
        let e = if l == 0 { format_ident!("__gx") } else { format_ident!("__gy{}", l) };
        stmts.push(layer.kind.emit_input_delta(&lc, &inp, &d, &e));
        if l > 0 {
            stmts.push(delta_below(g, l - 1, &e));
        }
    }
}

/// The backward pass: the loss delta, then every layer from the top, each passing
/// `∂L/∂input` down through the activation derivative of the layer below.
///
/// With `mode` `None` only `∂L/∂x` is computed (no parameter gradient) and is the value
/// of the emitted block: the input gradient needs no parameter-sized buffer. Otherwise
/// deltas go down to the lowest layer with parameters; below it only when the caller
/// asks for ∂L/∂x.
fn backward_body(g: &Gen, mode: Option<Mode>) -> TokenStream {
    backward_seeded(g, mode, &|top| loss::emit_delta(g, top, &g.net.layers[top]))
}

/// [`backward_body`] from any delta at the top layer: `seed(top)` binds `__d{top}`
/// (the loss delta, or a unit vector through the output activation for Jacobians).
pub fn backward_seeded(g: &Gen, mode: Option<Mode>, seed: &dyn Fn(usize) -> TokenStream) -> TokenStream {
    let net = g.net;
    let Some(top) = (0..net.layers.len()).rev().find(|&k| net.layers[k].kind.activation().is_some()) else {
        return TokenStream::new();
    };
    let mut stmts = vec![seed(top)];
    let Some(mode) = mode else {
        input_chain(g, top, &mut stmts);
        stmts.push(quote!(__gx));
        return quote!(#(#stmts)*);
    };
    let lowest = (0..=top).find(|&k| !net.layers[k].tensors.is_empty()).unwrap_or(top);
    for l in (lowest..=top).rev() {
        let layer = &net.layers[l];
        let lc = LayerCx { g, layer };
        let d = format_ident!("__d{}", l);
        let inp = backward_input(g, l, layer.kind.backward_reads_input(), &mut stmts);
        if l > lowest {
            let e = format_ident!("__gy{}", l);
            stmts.push(layer.kind.emit_backward(&lc, &inp, &d, mode, Some(&e)));
            stmts.push(delta_below(g, l - 1, &e));
            continue;
        }
        if mode == Mode::Accumulate {
            // Below the lowest layer with parameters only ∂L/∂x is left, when asked for.
            let n_in = net.input_size();
            let mut tail = Vec::new();
            input_chain(g, l, &mut tail);
            stmts.push(quote! {
                if let ::core::option::Option::Some(__dx) = __input_grad {
                    #(#tail)*
                    for __i in 0..#n_in {
                        __dx[__i] += __gx[__i];
                    }
                }
            });
        }
        stmts.push(layer.kind.emit_backward(&lc, &inp, &d, mode, None));
    }
    quote!(#(#stmts)*)
}

/// Items for a spec with errors: the struct and inherent stubs whose calls type-check
/// anywhere (they return `!`), so the user sees the spec's errors and not a cascade of
/// "no method named ..." at every use.
pub fn fallback(spec: Option<&Spec>, error: syn::Error) -> TokenStream {
    let compile_errors = error.to_compile_error();
    let Some(spec) = spec else { return compile_errors };
    let ident = &spec.ident;
    let vis = &spec.vis;
    let attrs = &spec.attrs;
    // (name, number of arguments after the receiver)
    let stubs: [(&str, usize); 20] = [
        ("forward", 1),
        ("forward_trace", 2),
        ("input_backward", 3),
        ("loss", 2),
        ("mean_loss", 2),
        ("train_step", 3),
        ("train_batch", 4),
        ("batch_gradient", 3),
        ("gradient", 3),
        ("input_gradient", 2),
        ("backward", 6),
        ("backward_sgd", 4),
        ("trace_loss", 2),
        ("params", 0),
        ("params_mut", 0),
        ("into_params", 0),
        ("init_with", 1),
        ("input_jacobian", 1),
        ("param_jacobian", 2),
        ("hessian_vector_product", 4),
    ];
    let methods = stubs.iter().map(|(m, n)| {
        let m = Ident::new(m, Span::call_site());
        let generics: Vec<Ident> = (0..*n).map(|i| format_ident!("__A{}", i)).collect();
        quote! {
            #[doc(hidden)]
            pub fn #m<#(#generics),*>(&self, #(_: #generics),*) -> ! {
                ::core::unreachable!()
            }
        }
    });
    let ctors = [("zeroed", 0usize), ("seeded", 1), ("from_params", 1)].map(|(c, n)| {
        let c = Ident::new(c, Span::call_site());
        let generics: Vec<Ident> = (0..n).map(|i| format_ident!("__A{}", i)).collect();
        quote! {
            #[doc(hidden)]
            pub fn #c<#(#generics),*>(#(_: #generics),*) -> Self {
                ::core::unreachable!()
            }
        }
    });
    // One stub per distinct layer name that is not already a stub method, so a duplicate
    // or reserved name gives only the spec's error, not rustc's "duplicate definitions".
    let mut names: Vec<&Ident> = Vec::new();
    for l in &spec.layers {
        let taken =
            stubs.iter().any(|(m, _)| l.name == m) || ["zeroed", "seeded", "from_params"].iter().any(|c| l.name == c);
        let mut_clash =
            names.iter().any(|n| format_ident!("{}_mut", n) == l.name || format_ident!("{}_mut", l.name) == **n);
        if !taken && !mut_clash && !names.contains(&&l.name) {
            names.push(&l.name);
        }
    }
    let layers = names.iter().map(|n| {
        let nm = format_ident!("{}_mut", n);
        quote! {
            #[doc(hidden)]
            pub fn #n(&self) -> ! { ::core::unreachable!() }
            #[doc(hidden)]
            pub fn #nm(&mut self) -> ! { ::core::unreachable!() }
        }
    });
    quote! {
        #compile_errors
        #(#attrs)*
        #vis struct #ident {}

        const _: () = {
            #[allow(dead_code, clippy::all)]
            impl #ident {
                pub const INPUT: usize = 0;
                pub const OUTPUT: usize = 0;
                pub const PARAMS: usize = 0;
                pub const TRACE: usize = 0;
                #(#ctors)*
                #(#methods)*
                #(#layers)*
            }
        };
    }
}
