//! Layer kinds: the [`Kind`] interface, the one place where a kind's knowledge lives, and
//! the registry of kinds a spec may name.
//!
//! Each kind is one file: it resolves its spec and options (with spanned errors), maps
//! an input shape to its output shape (reporting impossible shapes at the offending
//! token), lists its parameter tensors with their PyTorch names, shapes and
//! initialization, and emits its per-sample forward, its backward (parameter gradient,
//! input delta, fused SGD), its part of the mini-batch path and its lines of the
//! derivation docs. The pipeline (`model`, `codegen`, `batch`, `doc`) calls these
//! methods in layer order and names no kind.
//!
//! Adding a kind: a new file implementing [`Kind`] and one line in [`KINDS`].
//!
//! Entry point: [`resolve`] (a spec term → a boxed [`Kind`]).

pub mod activation;
pub mod batchnorm;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod flatten;
pub mod layernorm;
pub mod pool;
pub mod recurrent;
pub mod seq_dense;

use proc_macro2::{Span, TokenStream};
use syn::Ident;

use crate::codegen::Gen;
use crate::ctxt::Ctxt;
use crate::model::{Customs, Layer, Shape, Unroll};
use crate::parse::{Term, TermArg};
use activation::{Activation, Init};

/// Resolves a kind's spec arguments: `(cx, layer name, kind name as written, arguments,
/// custom activations)`.
pub type Resolver = fn(&mut Ctxt, &Ident, &Ident, &[TermArg], &Customs) -> Option<Box<dyn Kind>>;

/// Every layer kind a spec may name: its name, how it is written (for messages), and its
/// resolver. Registering a kind is one line here.
pub const KINDS: &[(&str, &str, Resolver)] = &[
    ("Dense", "`Dense<width, Activation>`", dense::resolve),
    ("Conv1d", "`Conv1d<channels, Activation, { kernel = k }>`", conv::resolve_1d),
    ("Conv2d", "`Conv2d<..>`", conv::resolve_2d),
    ("MaxPool1d", "`MaxPool1d<kernel>`", pool::resolve_max_1d),
    ("MaxPool2d", "`MaxPool2d<..>`", pool::resolve_max_2d),
    ("AvgPool1d", "`AvgPool1d<..>`", pool::resolve_avg_1d),
    ("AvgPool2d", "`AvgPool2d<..>`", pool::resolve_avg_2d),
    ("GlobalAvgPool", "`GlobalAvgPool`", pool::resolve_global_avg),
    ("Flatten", "`Flatten`", flatten::resolve),
    ("BatchNorm", "`BatchNorm`", batchnorm::resolve),
    ("LayerNorm", "`LayerNorm`", layernorm::resolve),
    ("Dropout", "`Dropout<p>`", dropout::resolve),
    ("Rnn", "`Rnn<hidden>`", recurrent::resolve_rnn),
    ("Gru", "`Gru<hidden>`", recurrent::resolve_gru),
    ("Lstm", "`Lstm<hidden>`", recurrent::resolve_lstm),
];

/// Every kind as written, for "expected ..." in messages: "`A`, `B` or `C`".
pub fn names() -> String {
    let all: Vec<&str> = KINDS.iter().map(|(_, usage, _)| *usage).collect();
    match all.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// How backward delivers the parameter gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `__g[..] += ∂L/∂θ` (a caller-owned buffer).
    Accumulate,
    /// `__p[..] -= __lr · ∂L/∂θ`, after the layer's input delta has been computed.
    Sgd,
}

/// How one parameter tensor starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorInit {
    /// Drawn by the runtime's `Init::fill` with the given fans.
    Draw { init: Init, fan_in: usize, fan_out: usize },
    /// Drawn by `Init::fill_bias` (drawn for the PyTorch default, zero otherwise).
    Bias { init: Init, fan_in: usize, fan_out: usize },
    /// Every element 1 (a normalization's γ).
    Ones,
    /// Every element 0 (a normalization's β).
    Zeros,
}

/// One buffer of a layer: state saved and loaded with the weights, never trained
/// (running statistics).
#[derive(Clone, Debug, PartialEq)]
pub struct BufferTensor {
    /// PyTorch's name within the layer: `running_mean`.
    pub suffix: &'static str,
    /// Shape, outermost first (`[]` for a scalar such as `num_batches_tracked`).
    pub shape: Vec<usize>,
    /// The value every element starts at (and returns to on reset).
    pub init: f64,
    /// An integer counter (`num_batches_tracked`, PyTorch's `int64`), kept apart from
    /// the float buffers.
    pub integer: bool,
}

impl BufferTensor {
    pub fn len(&self) -> usize {
        crate::model::size(&self.shape)
    }
}

/// One parameter tensor of a layer, in layout order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    /// PyTorch's name within the layer: `weight`, `bias`.
    pub suffix: &'static str,
    /// Shape, outermost first (`[out, in]`, `[out, in, kh, kw]`).
    pub shape: Vec<usize>,
    pub init: TensorInit,
}

impl Tensor {
    pub fn len(&self) -> usize {
        crate::model::size(&self.shape)
    }
}

/// What an emitter of a layer sees: the generator and the layer.
pub struct LayerCx<'a> {
    pub g: &'a Gen<'a>,
    pub layer: &'a Layer,
}

impl LayerCx<'_> {
    pub fn in_size(&self) -> usize {
        crate::model::size(&self.layer.input)
    }

    pub fn out_size(&self) -> usize {
        crate::model::size(&self.layer.output)
    }
}

/// Names the derivation docs use for layer `k` (1-based among layers that compute).
pub struct DocNames {
    /// The layer's number as a subscript: `₂`.
    pub k: String,
    /// Its input: `x` or `a₁`.
    pub input: String,
    /// Its pre-activation (kinds with an activation) or output: `z₂` or `a₂`.
    pub out: String,
}

/// A layer kind. Methods with defaults describe a kind without parameters, activation or
/// trace slots of its own.
pub trait Kind: std::fmt::Debug {
    /// The kind's name as written in specs: `Dense`.
    fn name(&self) -> &'static str;

    /// The output shape for `input`, or `None` after reporting why the shape is
    /// impossible (at the offending token; `span` is the layer's spec).
    fn output_shape(&self, cx: &mut Ctxt, layer: &Ident, span: Span, input: &[usize]) -> Option<Shape>;

    /// The parameter tensors, in layout order.
    fn tensors(&self, _input: &[usize], _output: &[usize]) -> Vec<Tensor> {
        Vec::new()
    }

    /// The activation applied after the layer's linear part: the pipeline emits it, its
    /// derivative and its trace slots. `None` for kinds whose forward is their output.
    fn activation(&self) -> Option<&Activation> {
        None
    }

    /// The layer's own `unroll = ...`, if given.
    fn unroll_option(&self) -> Option<Unroll> {
        None
    }

    /// Multiply-adds (or comparisons) per sample: the code-size estimate of a
    /// straight-line emission, which decides unrolling.
    fn code_size(&self, _input: &[usize], _output: &[usize]) -> usize {
        0
    }

    /// Straight-line by default (no explicit `unroll`)? `threshold` is the default
    /// weight count.
    fn default_unroll(&self, input: &[usize], output: &[usize], threshold: usize) -> bool {
        self.code_size(input, output) <= threshold
    }

    /// The output is the input unchanged (a reshape): no code, no trace slot.
    fn aliases_input(&self) -> bool {
        false
    }

    /// Backward (parameter gradient and input delta) reads the layer's input.
    fn backward_reads_input(&self) -> bool {
        true
    }

    /// The input delta alone reads the layer's input (max pooling's argmax).
    fn input_delta_reads_input(&self) -> bool {
        false
    }

    /// Extra trace scalars the kind keeps for its backward (beyond output, pre-activation
    /// and the activation's saved values).
    fn trace_extra(&self, _input: &[usize], _output: &[usize]) -> usize {
        0
    }

    /// The training forward draws from the network's dropout state (dropout): the
    /// network then carries that state, and the training forward binds `__sample`
    /// (`Option<usize>`: the sample's index in its batch, `None` in inference mode).
    fn stochastic(&self) -> bool {
        false
    }

    /// Scalars of stack scratch the kind's backward declares beyond its delta and input
    /// delta (a recurrent layer's per-step gate deltas for fused SGD).
    fn backward_scratch(&self, _input: &[usize], _output: &[usize]) -> usize {
        0
    }

    /// A recurrent kind, which carries state across steps: the streaming step API
    /// ([`crate::stream`]) uses it. `None` for kinds without state.
    fn step_state(&self) -> Option<&recurrent::Recurrent> {
        None
    }

    /// The layer's output is a sequence `[T][..]` whose steps later layers treat one by
    /// one (a recurrent layer with `sequence = true`, a per-step `Dense`), given whether
    /// its input is one. A kind that mixes steps, or is not about sequences, ends it.
    fn sequence_output(&self, _input_sequence: bool) -> bool {
        false
    }

    /// The kind that takes this one's place on a sequence input, applying it at every
    /// step (`Dense` becomes [`seq_dense::SeqDense`]); `None` keeps this kind.
    fn per_step(&self) -> Option<Box<dyn Kind>> {
        None
    }

    /// The layer on one step of a sequence, for the streaming `step` of a network whose
    /// recurrent layers end with `sequence = true`: binds `out` (the pre-activation for
    /// kinds with an activation, else the output) from `inp`, an array of one step's
    /// values, with the very arithmetic of [`Kind::emit_forward`] at each step. `None`
    /// for kinds without a per-step form.
    fn emit_step_forward(&self, _lc: &LayerCx, _inp: &TokenStream, _out: &Ident) -> Option<TokenStream> {
        None
    }

    /// Binds `out: [T; OUT]` (the pre-activation for kinds with an activation, else the
    /// output) from `inp`, an array or a reference to one. In a training forward
    /// (`train`), may write the kind's extra trace slots.
    fn emit_forward(&self, lc: &LayerCx, inp: &TokenStream, out: &Ident, train: bool) -> TokenStream;

    /// From `delta` (∂L/∂out) and the layer's input `inp`: the parameter gradient per
    /// `mode` and, if `input_delta` is given, binds it to ∂L/∂input, computed from the
    /// parameters as they were before any update. The default, for kinds without
    /// parameters, is the input delta alone.
    fn emit_backward(
        &self,
        lc: &LayerCx,
        inp: &TokenStream,
        delta: &Ident,
        mode: Mode,
        input_delta: Option<&Ident>,
    ) -> TokenStream {
        let _ = mode;
        match input_delta {
            Some(e) => self.emit_input_delta(lc, inp, delta, e),
            None => TokenStream::new(),
        }
    }

    /// Binds `e: [T; IN]` = ∂L/∂input alone, from `delta` (and the input `inp` if the
    /// kind reads it).
    fn emit_input_delta(&self, lc: &LayerCx, inp: &TokenStream, delta: &Ident, e: &Ident) -> TokenStream;

    /// Has an R-pass (Pearlmutter's R-operator, [`crate::hessian`]): networks whose
    /// every kind has one get `hessian_vector_product`.
    fn r_pass(&self) -> bool {
        false
    }

    /// The R-pass forward: binds `z` (as [`Kind::emit_forward`]) and `rz` = R{z}, the
    /// directional derivative along `__v` (laid out like `__p`), from the input `inp` and
    /// its R `rinp` (arrays or references to arrays).
    fn emit_r_forward(
        &self,
        _lc: &LayerCx,
        _inp: &TokenStream,
        _rinp: &TokenStream,
        _z: &Ident,
        _rz: &Ident,
    ) -> TokenStream {
        quote::quote! { ::core::compile_error!("internal error: a layer kind without an R-pass"); }
    }

    /// The R-pass backward: from `delta` (∂L/∂out) and `rdelta` = R{δ}, with the input
    /// `inp` and its R `rinp`, adds the kind's part of `H·v` to `__hv`; if `below` is
    /// given, binds `(e, re)` to ∂L/∂input and its R.
    fn emit_r_backward(
        &self,
        _lc: &LayerCx,
        _inp: &TokenStream,
        _rinp: &TokenStream,
        _delta: &Ident,
        _rdelta: &Ident,
        _below: Option<(&Ident, &Ident)>,
    ) -> TokenStream {
        quote::quote! { ::core::compile_error!("internal error: a layer kind without an R-pass"); }
    }

    /// The derivation's R-pass forward line: `R{z₂} = W₂·R{a₁} + V_W₂·a₁ + V_b₂` (the
    /// first layer's input has `R{x} = 0`, `first`).
    fn doc_r_forward(&self, n: &DocNames, first: bool) -> String {
        let _ = first;
        format!("R{{{}}} = R-pass of {}", n.out, self.doc_forward(n))
    }

    /// R{∂L/∂input} from `delta` and `rdelta`: `W₂ᵀ·R{δ₂} + V_W₂ᵀ·δ₂`.
    fn doc_r_input_delta(&self, n: &DocNames, delta: &str, rdelta: &str) -> String {
        let _ = delta;
        self.doc_input_delta(n, rdelta)
    }

    /// The kind's part of `H·v`: `(H·v)_W₂ = R{δ₂}·a₁ᵀ + δ₂·R{a₁}ᵀ`.
    fn doc_r_param_grads(&self, _n: &DocNames, _first: bool) -> Vec<String> {
        Vec::new()
    }

    /// The layer's buffers (state saved with the weights, never trained), in layout order.
    fn buffers(&self, _input: &[usize], _output: &[usize]) -> Vec<BufferTensor> {
        Vec::new()
    }

    /// Training needs the statistics of the whole mini-batch at once (batch
    /// normalization): the network then trains on mini-batches only, layer by layer over
    /// the batch ([`crate::batch_level`]), and has no per-sample training entry points.
    fn batch_level(&self) -> bool {
        false
    }

    /// Scalars of per-batch statistics a batch-level kind keeps between its batch
    /// forward and its batch backward.
    fn batch_stats(&self, _input: &[usize], _output: &[usize]) -> usize {
        0
    }

    /// The batch-level forward over the whole mini-batch ([`crate::batch_level`] states
    /// the names in scope).
    fn emit_batch_forward(&self, lc: &LayerCx, input: &BatchInput) -> TokenStream {
        let _ = (lc, input);
        quote::quote! { ::core::compile_error!("internal error: a per-sample kind has no batch forward"); }
    }

    /// The batch-level backward over the whole mini-batch: parameter gradients, and
    /// with `input_delta` each sample's ∂L/∂input written over its delta row.
    fn emit_batch_backward(&self, lc: &LayerCx, input_delta: bool) -> TokenStream {
        let _ = (lc, input_delta);
        quote::quote! { ::core::compile_error!("internal error: a per-sample kind has no batch backward"); }
    }

    /// Typed accessors for the layer's parameters (`net.hidden()`).
    fn emit_accessors(&self, _lc: &LayerCx) -> TokenStream {
        TokenStream::new()
    }

    /// Matrix–matrix forms for the mini-batch path ([`crate::batch`]); `None` runs the
    /// layer per sample inside each tile.
    fn tile(&self) -> Option<&dyn TileKind> {
        None
    }

    /// The derivation's forward line: `z₁ = W₁·x + b₁`.
    fn doc_forward(&self, n: &DocNames) -> String;

    /// ∂L/∂input from `delta` (∂L/∂out): `W₂ᵀ·δ₂`.
    fn doc_input_delta(&self, n: &DocNames, delta: &str) -> String;

    /// The layer's factor in a chain-rule product: `W₂`.
    fn doc_factor(&self, n: &DocNames) -> String;

    /// What the layer's factor in the chain rule does to the gradient passing down
    /// through it, and which diagnostics warning that causes: the "Gradient flow" lines
    /// of the derivation. `None` for a factor that leaves its size alone.
    fn doc_flow(&self, _n: &DocNames) -> Option<String> {
        None
    }

    /// The parameter gradients: `∂L/∂W₁ = δ₁·xᵀ`.
    fn doc_param_grads(&self, _n: &DocNames, _delta: &str) -> Vec<String> {
        Vec::new()
    }

    /// What the code section says of the layer: "`hidden`: 12 multiply-adds, unrolled".
    fn doc_code(&self, layer: &Layer) -> Option<String> {
        let _ = layer;
        None
    }
}

/// The mini-batch forms of a kind: products over a tile of samples, feature-major
/// (`[feature][sample]`).
pub trait TileKind {
    /// `zt = W·at (+ b)` over the tile.
    fn emit_tile_forward(&self, lc: &LayerCx, at: &TokenStream, zt: &Ident) -> TokenStream;
    /// `__g += ∂L/∂θ` over the first `__n` samples, from the delta tile `dt` and the
    /// layer's input, given both ways: the feature-major input tile `at`, and the
    /// sample-major rows (`rows`, `row0` the first input scalar of sample 0, `stride`
    /// between samples). Columns of `dt` past `__n` may hold anything.
    fn emit_tile_weight_grad(&self, lc: &LayerCx, dt: &Ident, input: &TileInput) -> TokenStream;
    /// `et = Wᵀ·dt` over the tile.
    fn emit_tile_input_grad(&self, lc: &LayerCx, dt: &Ident, et: &TokenStream) -> TokenStream;

    /// The smallest tile at which the tile form beats running the layer per sample: a
    /// network whose largest tile within the budget is smaller keeps the per-sample passes.
    fn min_tile(&self) -> usize {
        1
    }
}

/// Where a batch-level layer reads sample `__s`'s input in the mini-batch path.
pub struct BatchInput {
    /// An expression of type `&[T; IN]` for sample `__s`, reading `__xs` or the
    /// immutable row `__ws[__s]`.
    pub row: TokenStream,
}

/// A tiled layer's input in the mini-batch path, feature-major and sample-major.
pub struct TileInput {
    /// The feature-major tile `[[T; TILE]; IN]`.
    pub at: TokenStream,
    /// The sample-major rows.
    pub rows: TokenStream,
    /// The first input scalar of sample 0 in `rows`.
    pub row0: usize,
    /// Scalars between samples in `rows`.
    pub stride: usize,
}

/// The typed accessors of a layer whose parameters are a `[rows][row]` weight matrix and
/// an optional bias of `rows` (`net.hidden()`, `net.hidden_mut()`): `summary` opens the
/// doc, the field's own doc comment follows it.
pub fn matrix_accessors(lc: &LayerCx, row: usize, rows: usize, bias: bool, summary: String) -> TokenStream {
    let rt = crate::codegen::rt();
    let t = &lc.g.t;
    let layer = lc.layer;
    let (o0, o1) = (layer.offset, layer.offset + row * rows + if bias { rows } else { 0 });
    let name = &layer.name;
    let name_mut = quote::format_ident!("{}_mut", name);
    let mut doc = summary;
    // The field's own doc comment follows, so `cargo doc` keeps what the user wrote.
    for line in &layer.docs {
        doc.push('\n');
        doc.push_str(line);
    }
    let doc_mut = format!("Layer `{name}`, mutably.");
    quote::quote! {
        #[doc = #doc]
        #[inline]
        #[must_use]
        pub fn #name(&self) -> #rt::DenseRef<'_, #t, #row, #rows> {
            #rt::DenseRef::new(&self.params[#o0..#o1], #bias)
        }

        #[doc = #doc_mut]
        #[inline]
        #[must_use]
        pub fn #name_mut(&mut self) -> #rt::DenseMut<'_, #t, #row, #rows> {
            #rt::DenseMut::new(&mut self.params[#o0..#o1], #bias)
        }
    }
}

/// The "Gradient flow" line of a kind whose chain-rule factor is a weight tensor `W` (as
/// [`Kind::doc_factor`] writes it): products of such factors grow or shrink geometrically.
pub fn weights_flow(factor: &str) -> String {
    format!(
        "[{factor}ᵀ]: δ is multiplied by the transposed weights; over several layers, weights of norm above 1 compound (`ExplodingGradient`), below 1 shrink (`VanishingGradient`)"
    )
}

/// Resolves a field's spec (`Dense<8, Relu>`) into a layer kind.
pub fn resolve(cx: &mut Ctxt, layer: &Ident, spec: &Term, customs: &Customs) -> Option<Box<dyn Kind>> {
    let Term::Call { name, args, .. } = spec else {
        cx.error_at(spec.span(), format!("expected a layer such as {}, found {}", names(), spec.describe()));
        return None;
    };
    let written = name.to_string();
    if let Some((_, _, resolve)) = KINDS.iter().find(|(kind, _, _)| *kind == written) {
        return resolve(cx, layer, name, args, customs);
    }
    let hint = if activation::NAMES.contains(&format!("`{written}`")) {
        format!("; an activation goes inside a layer, as in `Dense<8, {written}>`")
    } else {
        String::new()
    };
    cx.error(name, format!("unknown layer `{written}`; expected {}{hint}", names()));
    None
}
