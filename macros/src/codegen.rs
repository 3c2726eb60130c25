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

use proc_macro2::TokenStream;
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
    /// Emitting a training forward that starts from a caller's recurrent state
    /// (`__state`, [`crate::stream`]) instead of the zero state.
    pub from_state: bool,
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
pub fn generate(spec: &Spec, net: &Network, weights: Option<&crate::weights::Weights>) -> TokenStream {
    let g = Gen { net, t: scalar_tokens(net.scalar), from_state: false };
    if net.batch_level() {
        return crate::batch_level::generate(spec, &g);
    }
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
    let dropout = dropout_items(&g, &forward_trace);
    let loss = loss::emit_loss(&g);
    let backward = backward_body(&g, Some(Mode::Accumulate));
    let backward_sgd = backward_body(&g, Some(Mode::Sgd));
    let input_backward = backward_body(&g, None);
    let batch = crate::batch::emit(&g);
    let jacobians = crate::jacobian::emit(&g);
    let hessian = crate::hessian::emit(&g);
    let hessian_trait = crate::hessian::emit_trait(&g);
    let layer_values = crate::explain::emit_trait(&g);
    let stream = crate::stream::emit(&g);
    let code = crate::doc::CodeSize {
        forward_tokens: count_tokens(forward.clone()),
        backward_tokens: count_tokens(backward.clone()),
    };
    let docs = crate::doc::derivation(net, code);
    let su = crate::stack::stack_use(net);
    let (st_fwd, st_bwd, st_with, st_step, st_try, st_batch, st_params) =
        (su.forward, su.backward, su.step_with, su.step, su.try_step, su.batch, su.params);
    let derivation = docs.join("\n");
    let trained = weights.map(|w| trained(&g, w));
    let Storage { storage, constness, zeros, from_params, into_params } = storage(&g);
    let DropoutItems { field, inherent: dropout_inherent, trait_items: dropout_trait, forward_trace, init_state } =
        dropout;

    quote! {
        #(#attrs)*
        #[doc = ""]
        #(#[doc = #docs])*
        #vis struct #ident {
            params: #storage,
            #field
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
                /// Bytes of stack `forward` and `forward_trace` declare.
                pub const STACK_FORWARD: usize = #st_fwd;
                /// Bytes of stack `backward`, `backward_sgd` and `input_backward` declare.
                pub const STACK_BACKWARD: usize = #st_bwd;
                /// Bytes of stack of `train_step` with plain SGD (fused), `train_step_with`,
                /// `try_train_step_with`, `gradient`, `loss` and `input_gradient`: a trace
                /// and the larger pass.
                pub const STACK_TRAIN_STEP_WITH: usize = #st_with;
                /// Bytes of stack of `train_step` with an optimizer that has state: also a
                /// gradient of [`Self::PARAMS_BYTES`].
                pub const STACK_TRAIN_STEP: usize = #st_step;
                /// Bytes of stack of `try_train_step`: also a gradient and a backup.
                pub const STACK_TRY_TRAIN_STEP: usize = #st_try;
                /// Bytes of stack of `train_batch` and `batch_gradient`.
                pub const STACK_BATCH: usize = #st_batch;
                /// Bytes of the parameters: the network itself, a gradient, one slot of
                /// optimizer state.
                pub const PARAMS_BYTES: usize = #st_params;

                /// A network whose parameters are all zero.
                #[must_use]
                pub #constness fn zeroed() -> Self {
                    #zeros
                }

                /// A network with the given flat parameters (layout: [`Self::LAYOUT`]).
                #[must_use]
                pub #constness fn from_params(params: [#t; #n_params]) -> Self {
                    #from_params
                }

                /// The flat parameters, by value.
                #[must_use]
                pub #constness fn into_params(self) -> [#t; #n_params] {
                    #into_params
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
                    #init_state
                }

                #dropout_inherent
                #layout
                #layers
                #views
                #trained
                #jacobians
                #hessian
                #stream
            }

            #hessian_trait
            #layer_values

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
                    #from_params
                }

                #[inline]
                fn zeroed() -> Self {
                    #ident::zeroed()
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

                #forward_trace
                #dropout_trait

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

            #rt::impl_serde!(#ident);
        };
    }
}

/// Number of tokens in a stream, counting each group's delimiters as one.
pub(crate) fn count_tokens(ts: TokenStream) -> usize {
    ts.into_iter()
        .map(|tt| match tt {
            proc_macro2::TokenTree::Group(g) => 1 + count_tokens(g.stream()),
            _ => 1,
        })
        .sum()
}

/// The `ParamInfo` entries of one layer's tensors.
pub(crate) fn param_infos(layer: &crate::model::Layer) -> Vec<TokenStream> {
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
pub(crate) fn layers(g: &Gen) -> TokenStream {
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

/// `TRAINED`: the network with the weights file's parameters, each written as the bits
/// of its value (exact, and a `const fn` since Rust 1.83), and an `include_bytes!` of the
/// file so that Cargo rebuilds when it changes.
pub(crate) fn trained(g: &Gen, w: &crate::weights::Weights) -> TokenStream {
    let t = &g.t;
    let values = w.values.iter().map(|&v| match g.net.scalar {
        ScalarTy::F32 => {
            let bits = proc_macro2::Literal::u32_suffixed((v as f32).to_bits());
            quote!(#t::from_bits(#bits))
        }
        ScalarTy::F64 => {
            let bits = proc_macro2::Literal::u64_suffixed(v.to_bits());
            quote!(#t::from_bits(#bits))
        }
    });
    let state = g.net.stochastic().then(|| quote!(, __dropout_state: 0));
    let path = &w.path;
    let doc = format!("The trained network: the parameters of `{path}`, read when this crate was built.");
    quote! {
        #[doc = #doc]
        pub const TRAINED: Self = {
            // Cargo tracks the file through this, so a changed file rebuilds the crate.
            const _: &[u8] = include_bytes!(#path);
            Self { params: [#(#values),*] #state }
        };
    }
}

/// How the parameters are kept: in the struct (`[T; P]`, built by `const fn`s), or in a
/// `Box` (`storage = boxed`: the zeros go straight into a fresh allocation).
pub(crate) struct Storage {
    pub storage: TokenStream,
    pub constness: TokenStream,
    pub zeros: TokenStream,
    pub from_params: TokenStream,
    pub into_params: TokenStream,
}

pub(crate) fn storage(g: &Gen) -> Storage {
    let (rt, t, n) = (rt(), &g.t, g.net.params);
    // A network with dropout starts from dropout state 0 (`seeded` and `init_with` draw it).
    let state = g.net.stochastic().then(|| quote!(, __dropout_state: 0));
    if g.net.boxed {
        Storage {
            storage: quote!(#rt::boxed_params!(type #t, #n)),
            constness: TokenStream::new(),
            zeros: quote!(Self { params: #rt::boxed_params!(zeroed #t, #n) #state }),
            from_params: quote!(Self { params: #rt::boxed_params!(new params) #state }),
            into_params: quote!(#rt::boxed_params!(into self.params)),
        }
    } else {
        Storage {
            storage: quote!([#t; #n]),
            constness: quote!(const),
            zeros: quote!(Self { params: [0.0; #n] #state }),
            from_params: quote!(Self { params #state }),
            into_params: quote!(self.params),
        }
    }
}

/// What a network with dropout layers adds, and its `forward_trace`.
struct DropoutItems {
    /// The struct's dropout state field.
    field: TokenStream,
    /// `set_dropout_seed`, `dropout_state`.
    inherent: TokenStream,
    /// `forward_trace_at`, `advance_dropout`.
    trait_items: TokenStream,
    /// The `Network::forward_trace` method.
    forward_trace: TokenStream,
    /// The end of `init_with`: the state drawn after the parameters.
    init_state: TokenStream,
}

/// Networks without dropout keep their struct and `forward_trace` as they are; with
/// dropout the struct carries the state the masks are drawn from (the rule is the
/// runtime's `dropout` module), the training forward is `forward_trace_at` (mode
/// `__sample`), and `advance_dropout` moves the state on after each training step.
fn dropout_items(g: &Gen, body: &TokenStream) -> DropoutItems {
    let (t, rt) = (&g.t, rt());
    let (n_in, n_out, n_trace) = (g.net.input_size(), g.net.output_size(), g.net.trace_len);
    if !g.net.stochastic() {
        return DropoutItems {
            field: TokenStream::new(),
            inherent: TokenStream::new(),
            trait_items: TokenStream::new(),
            forward_trace: quote! {
                #[inline]
                fn forward_trace(&self, __x: &[#t; #n_in], __tr: &mut [#t; #n_trace]) -> [#t; #n_out] {
                    let __p = &self.params;
                    #body
                }
            },
            init_state: TokenStream::new(),
        };
    }
    DropoutItems {
        field: quote!(__dropout_state: u64,),
        inherent: quote! {
            /// Sets the state the dropout masks are drawn from (see the runtime's
            /// `dropout` module for the rule): two networks with the same parameters and
            /// state train identically. `seeded(seed)` and `init_with` draw it after the
            /// parameters; `zeroed` and `from_params` start from 0.
            #[inline]
            pub fn set_dropout_seed(&mut self, seed: u64) {
                self.__dropout_state = seed;
            }

            /// The current dropout state: the training methods that take `&mut self`
            /// move it on after every step.
            #[inline]
            #[must_use]
            pub fn dropout_state(&self) -> u64 {
                self.__dropout_state
            }
        },
        trait_items: quote! {
            #[inline]
            fn forward_trace_at(
                &self,
                __x: &[#t; #n_in],
                __tr: &mut [#t; #n_trace],
                __sample: ::core::option::Option<usize>,
            ) -> [#t; #n_out] {
                let __p = &self.params;
                #body
            }

            #[inline]
            fn advance_dropout(&mut self) {
                self.__dropout_state = #rt::dropout::next_state(self.__dropout_state);
            }
        },
        forward_trace: quote! {
            /// Training mode with the masks of sample 0.
            #[inline]
            fn forward_trace(&self, __x: &[#t; #n_in], __tr: &mut [#t; #n_trace]) -> [#t; #n_out] {
                <Self as #rt::Network>::forward_trace_at(self, __x, __tr, ::core::option::Option::Some(0))
            }
        },
        init_state: quote! { self.__dropout_state = #rt::rand_core::Rng::next_u64(rng); },
    }
}

/// `LAYOUT`: the named parameter tensors.
pub(crate) fn layout(g: &Gen) -> TokenStream {
    let rt = rt();
    let entries: Vec<TokenStream> = g.net.layers.iter().flat_map(param_infos).collect();
    quote! {
        /// The named parameter tensors in layout order, PyTorch names and shapes.
        pub const LAYOUT: &'static [#rt::ParamInfo] = &[#(#entries),*];
    }
}

/// The layers' typed accessors (`net.hidden()` / `net.hidden_mut()`).
pub(crate) fn views(g: &Gen) -> TokenStream {
    let out = g.net.layers.iter().map(|layer| layer.kind.emit_accessors(&LayerCx { g, layer }));
    quote!(#(#out)*)
}

/// The body of `init_with`: every tensor in layout order.
pub(crate) fn init(g: &Gen) -> TokenStream {
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
                TensorInit::Ones => quote! { self.params[#t0..#t1].fill(1.0); },
                TensorInit::Zeros => quote! { self.params[#t0..#t1].fill(0.0); },
            });
        }
    }
    quote!(#(#out)*)
}

/// The forward pass, binding `__y{l}` per layer and ending with the output. Kinds with an
/// activation bind their pre-activation `__z{l}`; the activation (and, in a training
/// forward, its trace slots) follows here.
pub(crate) fn forward_body(g: &Gen, train: bool) -> TokenStream {
    forward_from(g, train, 0, quote!(__x))
}

/// The forward pass from layer `from` on, its input bound as `prev` (`__x`, the network
/// input, or `__y{from − 1}`), ending with the output.
pub fn forward_from(g: &Gen, train: bool, from: usize, prev: TokenStream) -> TokenStream {
    forward_recorded_from(g, train, from, prev, &|_| TokenStream::new())
}

/// [`forward_body`], with `record(l)` after each layer `l` that computes (it may read
/// `__z{l}` for kinds with an activation and `__y{l}`).
pub fn forward_recorded(g: &Gen, train: bool, record: &dyn Fn(usize) -> TokenStream) -> TokenStream {
    forward_recorded_from(g, train, 0, quote!(__x), record)
}

/// [`forward_from`] with `record` as in [`forward_recorded`].
fn forward_recorded_from(
    g: &Gen,
    train: bool,
    from: usize,
    prev: TokenStream,
    record: &dyn Fn(usize) -> TokenStream,
) -> TokenStream {
    let net = g.net;
    let mut stmts = Vec::new();
    let mut prev = prev;
    let mut last = if prev.to_string() == "__x" { quote!(*__x) } else { prev.clone() };
    for (l, layer) in net.layers.iter().enumerate().skip(from) {
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
            stmts.push(activation::emit_apply(g, act, &z, &y, width, layer.softmax_groups(), layer.unroll, slots, lse));
            stmts.push(record(l));
            last = quote!(#y);
        } else {
            stmts.push(layer.kind.emit_forward(&lc, &prev, &y, train));
            if let (true, Some(y0)) = (train, layer.trace.y) {
                let y1 = y0 + width;
                stmts.push(quote! { __tr[#y0..#y1].copy_from_slice(&#y); });
            }
            stmts.push(record(l));
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
        Some(act) => activation::emit_backprop(
            g,
            act,
            e,
            &dk,
            size(&layer.output),
            layer.softmax_groups(),
            layer.unroll,
            &layer.trace,
        ),
        None => quote! { let #dk = #e; },
    }
}

/// ∂L/∂x alone from the delta `__d{from}` down through every layer to the input,
/// binding `__gx`.
fn input_chain(g: &Gen, from: usize, stmts: &mut Vec<TokenStream>, record: &dyn Fn(usize) -> TokenStream) {
    for l in (0..=from).rev() {
        let layer = &g.net.layers[l];
        let lc = LayerCx { g, layer };
        let inp = backward_input(g, l, layer.kind.input_delta_reads_input(), stmts);
        let d = format_ident!("__d{}", l);
        let e = if l == 0 { format_ident!("__gx") } else { format_ident!("__gy{}", l) };
        stmts.push(layer.kind.emit_input_delta(&lc, &inp, &d, &e));
        if l > 0 {
            stmts.push(delta_below(g, l - 1, &e));
            stmts.push(record(l - 1));
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
    backward_recorded(g, mode, seed, &|_| TokenStream::new())
}

/// [`backward_seeded`], with `record(l)` after the delta `__d{l}` of each layer is bound.
pub fn backward_recorded(
    g: &Gen,
    mode: Option<Mode>,
    seed: &dyn Fn(usize) -> TokenStream,
    record: &dyn Fn(usize) -> TokenStream,
) -> TokenStream {
    let net = g.net;
    let Some(top) = (0..net.layers.len()).rev().find(|&k| net.layers[k].kind.activation().is_some()) else {
        return TokenStream::new();
    };
    let mut stmts = vec![seed(top), record(top)];
    let Some(mode) = mode else {
        input_chain(g, top, &mut stmts, record);
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
            stmts.push(record(l - 1));
            continue;
        }
        if mode == Mode::Accumulate {
            // Below the lowest layer with parameters only ∂L/∂x is left, when asked for.
            let n_in = net.input_size();
            let mut tail = Vec::new();
            input_chain(g, l, &mut tail, record);
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

/// Items for a spec with errors: the struct with the real constructors, constants and
/// [`Network`](::stackprop::Network) impl, every signature with the types the spec
/// would have given, so the user's code after the spec type-checks and the user sees
/// the spec's errors alone. Bodies that would need the network are `unreachable!()`
/// (never run: the crate does not build).
///
/// Sizes come from the model where it has them, else from what was written: a
/// negative size by its magnitude, a named constant by its name, anything else 1.
/// With `unit_fields` (a `#[derive]` above the attribute) the struct keeps the layer
/// names as `()` fields, which is what that derive's code reads.
pub fn fallback(
    spec: Option<&Spec>,
    net: Option<&Network>,
    options: &[crate::parse::Opt],
    error: syn::Error,
    unit_fields: bool,
) -> TokenStream {
    let compile_errors = error.to_compile_error();
    let Some(spec) = spec else { return compile_errors };
    let rt = rt();
    let ident = &spec.ident;
    let vis = &spec.vis;
    let attrs = &spec.attrs;
    let scalar = net.map_or(ScalarTy::F32, |n| n.scalar);
    let t = scalar_tokens(scalar);
    let input_term = options.iter().find(|o| o.name == "input").map(|o| &o.value);
    // With no size to go by, the methods that take an input take any array, so the
    // user's calls type-check whatever size they pass.
    let guessed_in = input_term.and_then(guess_size);
    let input_unknown = guessed_in.is_none();
    let n_in = guessed_in.unwrap_or_else(|| quote!(1usize));
    let last_ok = match (net.and_then(|n| n.layers.last()), spec.layers.last()) {
        (Some(l), Some(a)) => l.name == a.name && !l.output.is_empty(),
        _ => false,
    };
    let n_out = if last_ok {
        let v = net.map_or(1, Network::output_size);
        quote!(#v)
    } else {
        spec.layers
            .last()
            .and_then(|a| match &a.spec {
                crate::parse::Term::Call { args, .. } => {
                    args.iter().find(|a| a.name.is_none()).and_then(|a| guess_size(&a.value))
                }
                _ => None,
            })
            .unwrap_or_else(|| quote!(1usize))
    };
    let (n_params, n_trace) = net.map_or((0, 0), |n| (n.params, n.trace_len));
    // One stub per distinct layer name that is not already generated, so a duplicate
    // or reserved name gives only the spec's error, not rustc's "duplicate definitions".
    let mut names: Vec<&Ident> = Vec::new();
    for l in &spec.layers {
        let taken = crate::check::RESERVED.iter().any(|c| l.name == c);
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
    let any_input = if input_unknown {
        quote! {
            #[doc(hidden)]
            pub fn forward<const __N: usize>(&self, x: &[#t; __N]) -> [#t; #n_out] {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn loss<const __N: usize, __G>(&self, x: &[#t; __N], t: &__G) -> #t {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn gradient<const __N: usize, __G>(&self, x: &[#t; __N], t: &__G, g: &mut [#t; #n_params]) -> #t {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn input_gradient<const __N: usize, __G>(&self, x: &[#t; __N], t: &__G) -> [#t; __N] {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn train_step<const __N: usize, __G, __O: #rt::Optimizer<[#t; #n_params]>>(
                &mut self,
                x: &[#t; __N],
                t: &__G,
                opt: &mut __O,
            ) -> #t {
                ::core::unreachable!()
            }
        }
    } else {
        quote!()
    };
    let mut field_names: Vec<&Ident> = Vec::new();
    for l in &spec.layers {
        if !field_names.contains(&&l.name) {
            field_names.push(&l.name);
        }
    }
    let (fields, init, params_get, params_mut, from_params, into_params) = if unit_fields {
        (
            quote!(#(#field_names: ()),*),
            quote!(Self { #(#field_names: ()),* }),
            quote!(::core::unreachable!()),
            quote!(::core::unreachable!()),
            quote!({
                let _ = params;
                Self::zeroed()
            }),
            quote!(::core::unreachable!()),
        )
    } else {
        (
            quote!(params: [#t; #n_params]),
            quote!(Self { params: [0.0; #n_params] }),
            quote!(&self.params),
            quote!(&mut self.params),
            quote!(Self { params }),
            quote!(self.params),
        )
    };
    quote! {
        #compile_errors
        #(#attrs)*
        #vis struct #ident { #fields }

        const _: () = {
            #[allow(dead_code, unused, clippy::all)]
            impl #ident {
                pub const INPUT: usize = #n_in;
                pub const OUTPUT: usize = #n_out;
                pub const PARAMS: usize = #n_params;
                pub const TRACE: usize = #n_trace;
                pub const DERIVATION: &'static str = "";
                #[doc(hidden)]
                pub const TRAINED: Self = Self::zeroed();
                pub const STACK_FORWARD: usize = 0;
                pub const STACK_BACKWARD: usize = 0;
                pub const STACK_TRAIN_STEP_WITH: usize = 0;
                pub const STACK_TRAIN_STEP: usize = 0;
                pub const STACK_TRY_TRAIN_STEP: usize = 0;
                pub const STACK_BATCH: usize = 0;
                pub const PARAMS_BYTES: usize = 0;

                pub const LAYOUT: &'static [#rt::ParamInfo] = &[];
                pub const LAYERS: &'static [#rt::LayerInfo] = &[];
                pub const fn zeroed() -> Self { #init }
                pub const fn from_params(params: [#t; #n_params]) -> Self { #from_params }
                pub fn into_params(self) -> [#t; #n_params] { #into_params }
                pub fn seeded(seed: u64) -> Self { Self::zeroed() }
                pub fn init_with<R: #rt::rand_core::Rng + ?Sized>(&mut self, rng: &mut R) {}
                pub fn input_jacobian(&self, x: &[#t; #n_in]) -> [[#t; #n_in]; #n_out] {
                    ::core::unreachable!()
                }
                pub fn param_jacobian(&self, x: &[#t; #n_in], jac: &mut [[#t; #n_params]; #n_out]) -> [#t; #n_out] {
                    ::core::unreachable!()
                }
                pub fn hessian_vector_product(
                    &self,
                    x: &[#t; #n_in],
                    t: &[#t; #n_out],
                    v: &[#t; #n_params],
                    hv: &mut [#t; #n_params],
                ) {
                    ::core::unreachable!()
                }
                #(#layers)*
                #any_input
            }

            #[allow(dead_code, unused, clippy::all)]
            impl #rt::ParamJacobian for #ident {
                fn param_jacobian_into(&self, x: &[#t; #n_in], jac: &mut [#t]) -> ::core::option::Option<[#t; #n_out]> {
                    ::core::unreachable!()
                }
            }

            #[allow(dead_code, unused, clippy::all)]
            impl #rt::LayerValues for #ident {
                const VALUES: usize = 0;
                fn layer_values(
                    &self,
                    x: &[#t; #n_in],
                    t: &[#t; #n_out],
                    g: &mut [#t; #n_params],
                    values: &mut [#t],
                ) -> ::core::option::Option<#t> {
                    ::core::unreachable!()
                }
            }

            #[allow(dead_code, unused, clippy::all)]
            impl #rt::Network for #ident {
                type Scalar = #t;
                type Input = [#t; #n_in];
                type Output = [#t; #n_out];
                type Params = [#t; #n_params];
                type Trace = [#t; #n_trace];
                const INPUT: usize = #n_in;
                const OUTPUT: usize = #n_out;
                const PARAMS: usize = #n_params;
                const LAYOUT: &'static [#rt::ParamInfo] = &[];
                fn from_params(params: [#t; #n_params]) -> Self { #from_params }
                fn init_with<R: #rt::rand_core::Rng + ?Sized>(&mut self, rng: &mut R) {}
                fn params(&self) -> &[#t; #n_params] { #params_get }
                fn params_mut(&mut self) -> &mut [#t; #n_params] { #params_mut }
                fn forward(&self, x: &[#t; #n_in]) -> [#t; #n_out] { ::core::unreachable!() }
                fn forward_trace(&self, x: &[#t; #n_in], tr: &mut [#t; #n_trace]) -> [#t; #n_out] {
                    ::core::unreachable!()
                }
                fn trace_loss(&self, tr: &[#t; #n_trace], t: &[#t; #n_out]) -> #t { ::core::unreachable!() }
                fn backward(
                    &self,
                    x: &[#t; #n_in],
                    tr: &[#t; #n_trace],
                    t: &[#t; #n_out],
                    scale: #t,
                    g: &mut [#t; #n_params],
                    input_grad: ::core::option::Option<&mut [#t; #n_in]>,
                ) -> #t {
                    ::core::unreachable!()
                }
                fn input_backward(&self, x: &[#t; #n_in], tr: &[#t; #n_trace], t: &[#t; #n_out]) -> [#t; #n_in] {
                    ::core::unreachable!()
                }
                fn backward_sgd(&mut self, x: &[#t; #n_in], tr: &[#t; #n_trace], t: &[#t; #n_out], lr: #t) -> #t {
                    ::core::unreachable!()
                }
            }
        };
    }
}

/// A size as written, for the fallback: a positive integer as is, a negative one by its
/// magnitude, a list by its product, a name (a constant) by the name.
fn guess_size(t: &crate::parse::Term) -> Option<TokenStream> {
    use crate::parse::Term;
    match t {
        Term::Int { value, .. } | Term::NegInt { value, .. } if *value > 0 && *value <= (1u128 << 32) => {
            let v = usize::try_from(*value).ok()?;
            Some(quote!(#v))
        }
        Term::List { items, .. } if !items.is_empty() => {
            let parts: Option<Vec<TokenStream>> = items.iter().map(guess_size).collect();
            let parts = parts?;
            Some(quote!((1usize #(* #parts)*)))
        }
        Term::Call { name, args, .. } if args.is_empty() => Some(quote!(#name)),
        Term::Expr(e) => match &**e {
            syn::Expr::Path(p) => Some(quote!(#p)),
            _ => None,
        },
        _ => None,
    }
}
