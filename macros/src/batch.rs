//! The tiled mini-batch gradient: `Network::batch_gradient` for networks with a layer
//! emitted as loops, processing the batch in tiles of 16, 8 or 4 samples ([`tile_size`]).
//!
//! Per tile, each layer with tile forms ([`TileKind`](crate::layers::TileKind): dense,
//! convolution, pooling) runs the runtime's tile kernels (`kernels::tile_*`,
//! `kernels::conv_tile_*`, `kernels::*_pool_tile_*`) on feature-major tiles
//! (`[feature][sample]`, the samples the vector dimension); a dense layer's weight
//! gradient reads the sample-major trace rows. Element-wise activations and their
//! derivatives run on the tiles too, per feature over the samples, from the same
//! symbolic expressions as the per-sample passes; softmax, the loss delta and layers
//! without tile forms run once per sample of the tile on that sample's trace. The two
//! paths compute the same functions and differ only in summation order.
//!
//! One buffer of a tile of values per feature serves each layer: the forward product
//! writes pre-activations into it, the activation overwrites them with outputs (the
//! next layer's input tile), and backward reuses it for the layer's deltas; the input
//! delta of layer `l` lands in the buffer of the layer below, where that layer's
//! activation derivative turns it into its delta in place.
//!
//! A network whose tile buffers would take more than [`STACK_BUDGET`] bytes even with
//! tiles of 4 keeps the trait's per-sample `batch_gradient` (no megabytes on the stack).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::codegen::{Gen, rt};
use crate::layers::{LayerCx, Mode, TileInput, activation};
use crate::model::{Network, ScalarTy, size};

/// Samples per tile: the largest of these whose buffers fit [`STACK_BUDGET`]. The first
/// equals the runtime's `kernels::TILE` (checked by a const assertion in the generated
/// code); 16 `f32` lanes fill an AVX-512 register or two AVX ones, 4 an SSE2 register.
pub const TILES: [usize; 3] = [16, 8, 4];

/// Largest stack use of the tiled path, in bytes.
pub const STACK_BUDGET: usize = 256 * 1024;

/// Indices of the layers that compute (every layer but reshapes).
fn computing(net: &Network) -> Vec<usize> {
    (0..net.layers.len()).filter(|&l| !net.layers[l].kind.aliases_input()).collect()
}

/// Bytes of stack the buffers of a tile of `tile` samples take: the traces, and a tile
/// per feature of the input and of every computing layer's output.
pub fn stack_bytes(net: &Network, tile: usize) -> usize {
    let scalar = match net.scalar {
        ScalarTy::F32 => 4,
        ScalarTy::F64 => 8,
    };
    let features: usize = net.input_size() + computing(net).iter().map(|&l| size(&net.layers[l].output)).sum::<usize>();
    tile.saturating_mul(net.trace_len.saturating_add(features)).saturating_mul(scalar)
}

/// The tile size of the network's tiled path, or `None` where it keeps the per-sample
/// passes: no layer with tile forms is emitted as loops (straight-line networks are
/// small enough that per-sample passes are as fast), or the largest tile within the budget
/// is smaller than a tiled layer's [`min_tile`](crate::layers::TileKind::min_tile).
/// Layers without tile forms (max pooling with overlapping windows) run per sample inside
/// each tile.
pub fn tile_size(net: &Network) -> Option<usize> {
    let layers = computing(net);
    if !layers.iter().any(|&l| net.layers[l].kind.tile().is_some() && !net.layers[l].unroll) {
        return None;
    }
    let least = layers.iter().filter_map(|&l| net.layers[l].kind.tile()).map(|t| t.min_tile()).max().unwrap_or(1);
    TILES.into_iter().find(|&tile| stack_bytes(net, tile) <= STACK_BUDGET).filter(|&tile| tile >= least)
}

/// The nearest computing layer below `l`.
fn below(net: &Network, l: usize) -> Option<usize> {
    (0..l).rev().find(|&k| !net.layers[k].kind.aliases_input())
}

fn is_tile(net: &Network, l: usize) -> bool {
    net.layers[l].kind.tile().is_some()
}

/// The `batch_gradient` and `forward_batch` methods, or nothing if the tiled path does
/// not apply.
pub fn emit(g: &Gen<'_>) -> TokenStream {
    let gradient = emit_gradient(g);
    let forward = emit_forward_batch(g);
    quote! {
        #gradient
        #forward
    }
}

/// The `batch_gradient` method, or nothing if the tiled path does not apply.
fn emit_gradient(g: &Gen<'_>) -> TokenStream {
    let net = g.net;
    let Some(tile_n) = tile_size(net) else {
        return TokenStream::new();
    };
    let max_tile = TILES[0];
    let t = &g.t;
    let rt = rt();
    let (n_in, n_out, n_params, n_trace) = (net.input_size(), net.output_size(), net.params, net.trace_len);
    let layers = computing(net);
    let Some(&top) = layers.last() else { return TokenStream::new() };
    let lowest = layers.iter().copied().find(|&l| !net.layers[l].tensors.is_empty()).unwrap_or(top);

    // Buffers: the input tile (if a tiled layer reads the input), one per tiled layer,
    // and a gathered input tile for a tiled layer above a per-sample one.
    let input_tile = layers.iter().any(|&l| is_tile(net, l) && below(net, l).is_none());
    let mut decls = Vec::new();
    if input_tile {
        decls.push(quote! { let mut __xt: [[#t; #tile_n]; #n_in] = [[0.0; #tile_n]; #n_in]; });
    }
    for &l in layers.iter().filter(|&&l| is_tile(net, l)) {
        let b = format_ident!("__bt{}", l);
        let n = size(&net.layers[l].output);
        decls.push(quote! { let mut #b: [[#t; #tile_n]; #n] = [[0.0; #tile_n]; #n]; });
        if below(net, l).is_some_and(|k| !is_tile(net, k)) {
            let it = format_ident!("__it{}", l);
            let m = size(&net.layers[l].input);
            decls.push(quote! { let mut #it: [[#t; #tile_n]; #m] = [[0.0; #tile_n]; #m]; });
        }
    }

    // The tile holding a tiled layer `l`'s input, and where its sample-major rows lie.
    let input_of = |l: usize| -> (TokenStream, TokenStream, usize, usize) {
        match below(net, l) {
            Some(k) => {
                let b = if is_tile(net, k) { format_ident!("__bt{}", k) } else { format_ident!("__it{}", l) };
                let y0 = net.layers[k].trace.y.unwrap_or(0);
                (quote!(#b), quote!(__trs.as_flattened()), y0, n_trace)
            }
            None => (quote!(__xt), quote!(__xc.as_flattened()), 0, n_in),
        }
    };

    let mut forward = Vec::new();
    for &l in &layers {
        let layer = &net.layers[l];
        let lc = LayerCx { g, layer };
        let width = size(&layer.output);
        let z = format_ident!("__z{}", l);
        let y = format_ident!("__y{}", l);
        let lse = if l == top { net.trace_lse } else { None };
        let Some(tile) = layer.kind.tile() else {
            // Per sample, on that sample's trace: the very code of the training forward.
            let m = size(&layer.input);
            let inp = match layer.trace.input {
                Some(y0) => {
                    let y1 = y0 + m;
                    quote! { let __in: [#t; #m] = *#rt::view::array::<#t, #m>(&__tr[#y0..#y1]); }
                }
                None => quote! { let __in: &[#t; #m] = &__xc[__s]; },
            };
            let body = match layer.kind.activation() {
                Some(act) => {
                    let f = layer.kind.emit_forward(&lc, &quote!(__in), &z, true);
                    let apply = activation::emit_apply(
                        g,
                        act,
                        &z,
                        &y,
                        width,
                        layer.softmax_groups(),
                        layer.unroll,
                        Some(&layer.trace),
                        lse,
                    );
                    quote! { #f #apply }
                }
                None => {
                    let f = layer.kind.emit_forward(&lc, &quote!(__in), &y, true);
                    let y0 = layer.trace.y.unwrap_or(0);
                    let y1 = y0 + width;
                    quote! { #f __tr[#y0..#y1].copy_from_slice(&#y); }
                }
            };
            // Dropout draws the masks of the sample's index in the whole batch.
            let sample = layer.kind.stochastic().then(|| {
                quote! { let __sample = ::core::option::Option::Some(__base + __s); }
            });
            forward.push(quote! {
                for __s in 0..__n {
                    let __tr = &mut __trs[__s];
                    #sample
                    #inp
                    #body
                }
            });
            continue;
        };
        let (inp, _, row0, _) = input_of(l);
        // A tiled layer above a per-sample one gathers its input from the traces.
        let gather = below(net, l).filter(|&k| !is_tile(net, k)).map(|_| {
            let m = size(&layer.input);
            quote! {
                for __s in 0..__n {
                    for __i in 0..#m {
                        #inp[__i][__s] = __trs[__s][#row0 + __i];
                    }
                }
            }
        });
        let bt = format_ident!("__bt{}", l);
        let product = tile.emit_tile_forward(&lc, &inp, &bt);
        let Some(act) = layer.kind.activation() else {
            // The product is the output: keep it in the tile, and in the traces for the
            // per-sample code and sample-major reads above.
            let y0 = layer.trace.y.unwrap_or(0);
            forward.push(quote! {
                #gather
                #product
                for __s in 0..__n {
                    for __o in 0..#width {
                        __trs[__s][#y0 + __o] = #bt[__o][__s];
                    }
                }
            });
            continue;
        };
        // Element-wise activations run on the tile, a vector operation over the samples
        // per feature; softmax (the output layer's) per sample.
        if let Some(apply) = activation::emit_apply_tile(g, act, &bt, width, tile_n, &layer.trace, l != top) {
            forward.push(quote! {
                #gather
                #product
                #apply
            });
            continue;
        }
        let apply = activation::emit_apply(
            g,
            act,
            &z,
            &y,
            width,
            layer.softmax_groups(),
            layer.unroll,
            Some(&layer.trace),
            lse,
        );
        let keep = (l != top).then(|| {
            quote! {
                for __o in 0..#width {
                    #bt[__o][__s] = #y[__o];
                }
            }
        });
        forward.push(quote! {
            #gather
            #product
            for __s in 0..__n {
                let __tr = &mut __trs[__s];
                let mut #z: [#t; #width] = [0.0; #width];
                for __o in 0..#width {
                    #z[__o] = #bt[__o][__s];
                }
                #apply
                #keep
            }
        });
    }

    // Backward: the loss delta per sample, then each layer from the top; tiled layers on
    // their tiles, runs of per-sample layers once per sample.
    let top_layer = &net.layers[top];
    let d_top = format_ident!("__d{}", top);
    let delta = crate::loss::emit_delta(g, top, top_layer);
    let sample_target = quote! {
        let __tv: [#t; #n_out] = #rt::Target::to_target(&__tc[__s]);
        let __t = &__tv;
        __loss += <Self as #rt::Network>::trace_loss(self, __tr, __t);
    };
    let mut backward = Vec::new();
    if is_tile(net, top) {
        let top_bt = format_ident!("__bt{}", top);
        backward.push(quote! {
            for __s in 0..#tile_n {
                if __s < __n {
                    let __tr = &__trs[__s];
                    #sample_target
                    #delta
                    for __o in 0..#n_out {
                        #top_bt[__o][__s] = #d_top[__o];
                    }
                } else {
                    for __o in 0..#n_out {
                        #top_bt[__o][__s] = 0.0;
                    }
                }
            }
        });
    }
    let mut i = layers.len();
    while i > 0 {
        i -= 1;
        let l = layers[i];
        let layer = &net.layers[l];
        let lc = LayerCx { g, layer };
        if let Some(tile) = layer.kind.tile() {
            let fan_in = size(&layer.input);
            let bt = format_ident!("__bt{}", l);
            let (inp, rows, row0, stride) = input_of(l);
            let input = TileInput { at: inp.clone(), rows, row0, stride };
            backward.push(tile.emit_tile_weight_grad(&lc, &bt, &input));
            // Nothing below the lowest layer with parameters needs a delta.
            let Some(k) = below(net, l).filter(|_| l > lowest) else { break };
            let product = tile.emit_tile_input_grad(&lc, &bt, &inp);
            if !is_tile(net, k) {
                // The per-sample run below reads ∂L/∂y from the gathered tile.
                backward.push(product);
                continue;
            }
            let below_layer = &net.layers[k];
            let Some(act) = below_layer.kind.activation() else {
                // A layer without activation (pooling): ∂L/∂y is its delta.
                backward.push(product);
                continue;
            };
            let bk = format_ident!("__bt{}", k);
            if let Some(backprop) = activation::emit_backprop_tile(g, act, &bk, fan_in, tile_n, &below_layer.trace) {
                backward.push(quote! {
                    #product
                    #backprop
                });
                continue;
            }
            let e = format_ident!("__gy{}", l);
            let dk = format_ident!("__d{}", k);
            let backprop = activation::emit_backprop(
                g,
                act,
                &e,
                &dk,
                fan_in,
                below_layer.softmax_groups(),
                below_layer.unroll,
                &below_layer.trace,
            );
            backward.push(quote! {
                #product
                for __s in 0..__n {
                    let __tr = &__trs[__s];
                    let mut #e: [#t; #fan_in] = [0.0; #fan_in];
                    for __i in 0..#fan_in {
                        #e[__i] = #inp[__i][__s];
                    }
                    #backprop
                    for __i in 0..#fan_in {
                        #inp[__i][__s] = #dk[__i];
                    }
                }
            });
            continue;
        }
        // A run of per-sample layers, from `l` down to the first tiled layer below it
        // (or the lowest layer with parameters), once per sample.
        let mut run = Vec::new();
        // δ of the run's top layer: the loss delta, or ∂L/∂y from the tile above
        // through the layer's activation.
        if l == top {
            run.push(sample_target.clone());
            run.push(delta.clone());
        } else {
            let above = layers[i + 1];
            let it = format_ident!("__it{}", above);
            let m = size(&layer.output);
            let e = format_ident!("__gy{}", above);
            run.push(quote! {
                let mut #e: [#t; #m] = [0.0; #m];
                for __i in 0..#m {
                    #e[__i] = #it[__i][__s];
                }
            });
            run.push(crate::codegen::delta_below(g, l, &e));
        }
        let mut j = i;
        loop {
            let m = layers[j];
            let mlayer = &net.layers[m];
            let mlc = LayerCx { g, layer: mlayer };
            let d = format_ident!("__d{}", m);
            let inp = crate::codegen::backward_input(g, m, mlayer.kind.backward_reads_input(), &mut run);
            let k = below(net, m);
            if m <= lowest || k.is_none() {
                run.push(mlayer.kind.emit_backward(&mlc, &inp, &d, Mode::Accumulate, None));
                i = 0;
                break;
            }
            let e = format_ident!("__gy{}", m);
            run.push(mlayer.kind.emit_backward(&mlc, &inp, &d, Mode::Accumulate, Some(&e)));
            // ∂L/∂y of the layer below, through the aliases between them.
            let k = k.unwrap_or(0);
            if is_tile(net, k) {
                let kl = &net.layers[k];
                let dk = format_ident!("__d{}", k);
                let bt = format_ident!("__bt{}", k);
                let w = size(&kl.output);
                run.push(crate::codegen::delta_below(g, k, &e));
                run.push(quote! {
                    for __o in 0..#w {
                        #bt[__o][__s] = #dk[__o];
                    }
                });
                i = j;
                break;
            }
            run.push(crate::codegen::delta_below(g, k, &e));
            j -= 1;
        }
        // Not every run reads the trace or the input.
        backward.push(quote! {
            for __s in 0..__n {
                #[allow(unused_variables)]
                let __tr = &__trs[__s];
                #[allow(unused_variables)]
                let __x: &[#t; #n_in] = &__xc[__s];
                #(#run)*
            }
        });
    }
    let transpose = input_tile.then(|| {
        quote! {
            for (__s, __xr) in __xc.iter().enumerate() {
                for __i in 0..#n_in {
                    __xt[__i][__s] = __xr[__i];
                }
            }
        }
    });

    let (chunk, enumerate, base) = if net.stochastic() {
        (quote!((__chunk, (__xc, __tc))), quote!(.enumerate()), quote!(let __base = __chunk * #tile_n;))
    } else {
        (quote!((__xc, __tc)), TokenStream::new(), TokenStream::new())
    };
    let doc = format!(
        " The mean gradient over a batch, computed in tiles of {tile_n} samples with matrix–matrix kernels (see the runtime's `kernels` module); {} KiB of stack.",
        stack_bytes(net, tile_n).div_ceil(1024)
    );
    quote! {
        #[doc = #doc]
        fn batch_gradient<__G: #rt::Target<[#t; #n_out]>>(
            &self,
            __xs: &[[#t; #n_in]],
            __ts: &[__G],
            __g: &mut [#t; #n_params],
        ) -> #t {
            const _: () = ::core::assert!(#rt::kernels::TILE == #max_tile);
            ::core::assert_eq!(__xs.len(), __ts.len(), "inputs and targets differ in length");
            __g.fill(0.0);
            if __xs.is_empty() {
                return 0.0;
            }
            let __scale: #t = 1.0 / (__xs.len() as #t);
            let __p = &self.params;
            let mut __loss: #t = 0.0;
            let mut __trs: [[#t; #n_trace]; #tile_n] = [[0.0; #n_trace]; #tile_n];
            #(#decls)*
            for #chunk in __xs.chunks(#tile_n).zip(__ts.chunks(#tile_n))#enumerate {
                let __n = __xc.len();
                #base
                #transpose
                #(#forward)*
                #(#backward)*
            }
            __loss * __scale
        }
    }
}

/// Bytes of stack the tiles of batched inference take for a tile of `tile` samples: a
/// tile per feature of the input (if a tiled layer reads it) and of every computing
/// layer's output but a top layer run per sample. No traces.
pub fn forward_stack_bytes(net: &Network, tile: usize) -> usize {
    let scalar = match net.scalar {
        ScalarTy::F32 => 4,
        ScalarTy::F64 => 8,
    };
    let layers = computing(net);
    let top = layers.last().copied();
    let input = if layers.iter().any(|&l| is_tile(net, l) && below(net, l).is_none()) { net.input_size() } else { 0 };
    let features: usize = input
        + layers
            .iter()
            .filter(|&&l| Some(l) != top || is_tile(net, l))
            .map(|&l| size(&net.layers[l].output))
            .sum::<usize>();
    tile.saturating_mul(features).saturating_mul(scalar)
}

/// The `forward_batch` method (batched inference), or nothing where the tiled path does
/// not apply (the trait's per-sample loop then serves).
///
/// The tile size is the mini-batch gradient's ([`tile_size`]), whose buffers (traces
/// included) bound these. Every computing layer writes its output into a feature-major
/// tile `__bt{l}`: a layer with tile forms by its tile kernel, an element-wise activation
/// over the tile; a layer without tile forms, and softmax, once per sample of the tile on
/// that sample's column, with the very code of the per-sample inference `forward`. The
/// top layer's outputs go to the caller's rows.
fn emit_forward_batch(g: &Gen<'_>) -> TokenStream {
    let net = g.net;
    let Some(tile_n) = tile_size(net) else {
        return TokenStream::new();
    };
    let max_tile = TILES[0];
    let t = &g.t;
    let rt = rt();
    let (n_in, n_out) = (net.input_size(), net.output_size());
    let layers = computing(net);
    let Some(&top) = layers.last() else { return TokenStream::new() };
    let no_slots = crate::model::TraceSlots::default();

    let input_tile = layers.iter().any(|&l| is_tile(net, l) && below(net, l).is_none());
    let mut decls = Vec::new();
    if input_tile {
        decls.push(quote! { let mut __xt: [[#t; #tile_n]; #n_in] = [[0.0; #tile_n]; #n_in]; });
    }
    for &l in layers.iter().filter(|&&l| l != top || is_tile(net, l)) {
        let b = format_ident!("__bt{}", l);
        let n = size(&net.layers[l].output);
        decls.push(quote! { let mut #b: [[#t; #tile_n]; #n] = [[0.0; #tile_n]; #n]; });
    }

    let mut body = Vec::new();
    for &l in &layers {
        let layer = &net.layers[l];
        let lc = LayerCx { g, layer };
        let width = size(&layer.output);
        let m = size(&layer.input);
        let bt = format_ident!("__bt{}", l);
        let z = format_ident!("__z{}", l);
        let y = format_ident!("__y{}", l);
        // Where sample `__s`'s result goes, if the layer runs per sample.
        let store = if l == top {
            quote! { __oc[__s] = #y; }
        } else {
            quote! {
                for __o in 0..#width {
                    #bt[__o][__s] = #y[__o];
                }
            }
        };
        let Some(tile) = layer.kind.tile() else {
            // Per sample, on the sample's column of the input tile (or its input row).
            let inp = match below(net, l) {
                Some(k) => {
                    let bk = format_ident!("__bt{}", k);
                    quote! {
                        let mut __in: [#t; #m] = [0.0; #m];
                        for __i in 0..#m {
                            __in[__i] = #bk[__i][__s];
                        }
                    }
                }
                None => quote! { let __in: &[#t; #m] = &__xc[__s]; },
            };
            let f = match layer.kind.activation() {
                Some(act) => {
                    let f = layer.kind.emit_forward(&lc, &quote!(__in), &z, false);
                    let apply =
                        activation::emit_apply(g, act, &z, &y, width, layer.softmax_groups(), layer.unroll, None, None);
                    quote! { #f #apply }
                }
                None => layer.kind.emit_forward(&lc, &quote!(__in), &y, false),
            };
            body.push(quote! {
                for __s in 0..__n {
                    #inp
                    #f
                    #store
                }
            });
            continue;
        };
        let inp = match below(net, l) {
            Some(k) => {
                let bk = format_ident!("__bt{}", k);
                quote!(#bk)
            }
            None => quote!(__xt),
        };
        let product = tile.emit_tile_forward(&lc, &inp, &bt);
        let tiled =
            layer.kind.activation().map(|act| activation::emit_apply_tile(g, act, &bt, width, tile_n, &no_slots, true));
        let (apply, in_tile) = match (layer.kind.activation(), tiled) {
            (Some(_), Some(Some(apply))) => (apply, true),
            (Some(act), _) => {
                // Softmax: per sample, on the sample's column of pre-activations.
                let apply =
                    activation::emit_apply(g, act, &z, &y, width, layer.softmax_groups(), layer.unroll, None, None);
                let per_sample = quote! {
                    for __s in 0..__n {
                        let mut #z: [#t; #width] = [0.0; #width];
                        for __o in 0..#width {
                            #z[__o] = #bt[__o][__s];
                        }
                        #apply
                        #store
                    }
                };
                (per_sample, false)
            }
            (None, _) => (TokenStream::new(), true),
        };
        // A top layer whose output stayed in its tile: to the caller's rows.
        let out = (l == top && in_tile).then(|| {
            quote! {
                for (__s, __yr) in __oc.iter_mut().enumerate() {
                    for __o in 0..#n_out {
                        __yr[__o] = #bt[__o][__s];
                    }
                }
            }
        });
        body.push(quote! {
            #product
            #apply
            #out
        });
    }
    let transpose = input_tile.then(|| {
        quote! {
            for (__s, __xr) in __xc.iter().enumerate() {
                for __i in 0..#n_in {
                    __xt[__i][__s] = __xr[__i];
                }
            }
        }
    });
    let doc = format!(
        " Batched inference in tiles of {tile_n} samples with matrix–matrix kernels (see the runtime's `kernels` module); {} KiB of stack.",
        forward_stack_bytes(net, tile_n).div_ceil(1024)
    );
    quote! {
        #[doc = #doc]
        fn forward_batch(&self, __xs: &[[#t; #n_in]], __out: &mut [[#t; #n_out]]) {
            const _: () = ::core::assert!(#rt::kernels::TILE == #max_tile);
            ::core::assert_eq!(__xs.len(), __out.len(), "inputs and outputs differ in length");
            let __p = &self.params;
            #(#decls)*
            for (__xc, __oc) in __xs.chunks(#tile_n).zip(__out.chunks_mut(#tile_n)) {
                let __n = __xc.len();
                #transpose
                #(#body)*
            }
        }
    }
}
