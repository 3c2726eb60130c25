//! Spec AST → the model (IR): options resolved with their defaults, each layer with its
//! kind, activation, input and output shapes, its offset in the flat parameter array and
//! its slots in the trace, and the loss. Every node keeps the span of the tokens it came
//! from, so [`crate::check`] and the code generator can point at them.
//!
//! Entry point: [`build`]. Names that mean nothing (an unknown layer, activation, loss or
//! option) are reported here; rules about how layers fit together are in `check`.

use proc_macro2::Span;
use syn::Ident;

use crate::ctxt::Ctxt;
use crate::layers::activation::{self, Activation};
use crate::layers::{self, BufferTensor, Kind, Tensor};
use crate::loss::{self, Loss};
use crate::parse::{NamedActivation, Opt, Spec, Term};

/// Layers with at most this many weights are emitted as straight-line code by default.
/// Chosen from the width sweep benchmark (`benches/sweep.rs`); see the README.
pub const DEFAULT_UNROLL: usize = 1024;

/// With the default threshold, layers with more inputs than this (longer rows) are
/// emitted as loops whatever their weight count.
pub const DEFAULT_UNROLL_ROW: usize = 128;

/// The share of multiply-adds in looped layers above which the default emits the whole
/// network as loops (see [`loops_dominate`]).
pub const LOOPS_DOMINATE: f64 = 0.95;

/// The scalar type of a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarTy {
    F32,
    F64,
}

impl ScalarTy {
    pub fn name(self) -> &'static str {
        match self {
            ScalarTy::F32 => "f32",
            ScalarTy::F64 => "f64",
        }
    }
}

/// `unroll = ...`: a weight-count threshold, or always / never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unroll {
    Threshold(usize),
    Always,
    Never,
}

impl Unroll {
    pub fn decide(self, weights: usize) -> bool {
        match self {
            Unroll::Threshold(n) => weights <= n,
            Unroll::Always => true,
            Unroll::Never => false,
        }
    }
}

/// A shape: dimensions, outermost first. Dense layers see the flattened size.
pub type Shape = Vec<usize>;

/// The number of scalars in a shape.
pub fn size(shape: &[usize]) -> usize {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).unwrap_or(usize::MAX)
}

/// One layer of the model.
#[derive(Debug)]
pub struct Layer {
    pub name: Ident,
    pub docs: Vec<String>,
    /// The span of the layer's spec (its type).
    pub span: Span,
    pub kind: Box<dyn Kind>,
    pub input: Shape,
    pub output: Shape,
    /// The parameter tensors, in layout order from `offset`.
    pub tensors: Vec<Tensor>,
    /// Offset of the layer's first parameter in the flat array.
    pub offset: usize,
    /// Emitted as straight-line code with literal indices.
    pub unroll: bool,
    /// Trace slots: where this layer's output, pre-activation and saved values live.
    pub trace: TraceSlots,
    /// The buffers (state saved with the weights, never trained), in layout order.
    pub buffers: Vec<BufferTensor>,
    /// Offset of the layer's first float buffer in the network's float buffers.
    pub buffer_offset: usize,
    /// Offset of the layer's first integer buffer in the network's counters.
    pub count_offset: usize,
    /// Offset of the layer's per-batch statistics in the mini-batch path's statistics.
    pub stat_offset: usize,
    /// The output is a sequence `[T][..]` of independent steps ([`Kind::sequence_output`]):
    /// a `Dense` above it applies at every step.
    pub sequence: bool,
}

impl Layer {
    /// The groups a `Softmax` on this layer normalizes separately: `T` on a sequence
    /// output `[T][OUT]` (a softmax at every step, over that step's `OUT` values), else 1.
    pub fn softmax_groups(&self) -> usize {
        match self.output.as_slice() {
            [steps, _] if self.sequence => (*steps).max(1),
            _ => 1,
        }
    }
}

/// Where a layer's values live in the trace.
#[derive(Clone, Debug, Default)]
pub struct TraceSlots {
    /// The layer's output (always kept: it is the next layer's input); `None` for a
    /// layer whose output is its input unchanged all the way back to the network input.
    pub y: Option<usize>,
    /// The pre-activation, kept when the activation's derivative or the loss needs it.
    pub z: Option<usize>,
    /// Saved forward sub-expressions of the activation, one block of `width` each.
    pub saved: Vec<usize>,
    /// The kind's own values ([`Kind::trace_extra`] scalars).
    pub extra: Option<usize>,
    /// Where the layer's input lies: the output slot of the layer below, or `None` for
    /// the network input.
    pub input: Option<usize>,
}

/// The whole network.
#[derive(Debug)]
pub struct Network {
    pub ident: Ident,
    pub scalar: ScalarTy,
    pub input: Shape,
    pub layers: Vec<Layer>,
    pub loss: Loss,
    pub loss_span: Span,
    pub params: usize,
    pub trace_len: usize,
    /// Trace slot of the log-sum-exp of the output logits (cross-entropy only): one per
    /// step of a per-step softmax output ([`Layer::softmax_groups`] slots).
    pub trace_lse: Option<usize>,
    /// `weights = "path"`: a file of trained weights to compile in.
    pub weights: Option<syn::LitStr>,
    /// `storage = boxed`: the parameters in a `Box` (the struct is one pointer).
    pub boxed: bool,
    /// Float buffers (running statistics), all layers.
    pub buffers: usize,
    /// Integer buffers (`num_batches_tracked`), all layers.
    pub counts: usize,
    /// Scalars of per-batch statistics the mini-batch path keeps between its forward
    /// and backward passes.
    pub stats: usize,
}

impl Network {
    pub fn input_size(&self) -> usize {
        size(&self.input)
    }

    /// A layer draws from the dropout state: the struct carries one.
    pub fn stochastic(&self) -> bool {
        self.layers.iter().any(|l| l.kind.stochastic())
    }

    pub fn output_size(&self) -> usize {
        self.layers.last().map_or(self.input_size(), |l| size(&l.output))
    }

    /// A layer needs the whole mini-batch at once (batch normalization): the network
    /// trains on mini-batches only.
    pub fn batch_level(&self) -> bool {
        self.layers.iter().any(|l| l.kind.batch_level())
    }
}

#[derive(Default)]
struct Options {
    /// Names of options given (valid or not), so a bad value is not also "missing".
    given: Vec<String>,
    input: Option<(Shape, Span)>,
    loss: Option<(Loss, Span)>,
    scalar: Option<ScalarTy>,
    unroll: Option<Unroll>,
    weights: Option<syn::LitStr>,
    /// `storage = boxed`, with the span of its value.
    boxed: Option<(bool, Span)>,
}

/// Builds the model from the parsed spec. Returns `None` only if nothing usable is left;
/// errors are in `cx` either way.
pub fn build(cx: &mut Ctxt, spec: &Spec, opts: &[Opt], attr_span: Span) -> Option<Network> {
    let options = resolve_options(cx, opts);
    let customs = activation::compile_named(cx, &spec.activations);

    let given = |name: &str| options.given.iter().any(|g| g == name);
    let input = match &options.input {
        Some((shape, _)) => shape.clone(),
        None => {
            if !given("input") {
                cx.error_at(
                    attr_span,
                    "missing option `input`: give the input size, e.g. `#[network(input = 4, loss = mse)]`",
                );
            }
            // Go on with a placeholder so the layers are still checked.
            vec![1]
        }
    };

    let mut layers = Vec::new();
    // `None` once a layer's shape was impossible: later layers are not shape-checked
    // against a made-up shape, so one mistake gives one error.
    let mut shape = Some(input.clone());
    let mut offset = 0usize;
    let (mut buffer_offset, mut count_offset, mut stat_offset) = (0usize, 0usize, 0usize);
    // Layers whose form is the default's choice (no `unroll` of their own or the struct's).
    let mut defaulted = Vec::new();
    // The previous layer's output is a sequence of steps (`sequence = true`).
    let mut sequence = false;
    for ast in &spec.layers {
        let Some(kind) = layers::resolve(cx, &ast.name, &ast.spec, &customs) else {
            continue;
        };
        let kind = match sequence.then(|| kind.per_step()).flatten() {
            Some(step) => step,
            None => kind,
        };
        let span = ast.spec.span();
        let input_shape = shape.clone().unwrap_or_default();
        let output = shape.as_ref().and_then(|s| kind.output_shape(cx, &ast.name, span, s));
        let out_shape = output.clone().unwrap_or_default();
        let tensors = if output.is_some() { kind.tensors(&input_shape, &out_shape) } else { Vec::new() };
        let params = tensors.iter().fold(0usize, |acc, t| acc.saturating_add(t.len()));
        let buffers = if output.is_some() { kind.buffers(&input_shape, &out_shape) } else { Vec::new() };
        let stats = if output.is_some() { kind.batch_stats(&input_shape, &out_shape) } else { 0 };
        let unroll = match kind.unroll_option().or(options.unroll) {
            Some(u) => u.decide(kind.code_size(&input_shape, &out_shape)),
            None => {
                defaulted.push(layers.len());
                kind.default_unroll(&input_shape, &out_shape, DEFAULT_UNROLL)
            }
        };
        let kind_sequence = kind.sequence_output(sequence);
        sequence = output.is_some() && kind_sequence;
        layers.push(Layer {
            name: ast.name.clone(),
            docs: ast.docs.clone(),
            span,
            kind,
            input: input_shape,
            output: out_shape,
            tensors,
            offset,
            unroll,
            trace: TraceSlots::default(),
            buffers: buffers.clone(),
            buffer_offset,
            count_offset,
            stat_offset,
            sequence: output.is_some() && kind_sequence,
        });
        offset = offset.saturating_add(params);
        for b in &buffers {
            if b.integer {
                count_offset = count_offset.saturating_add(b.len());
            } else {
                buffer_offset = buffer_offset.saturating_add(b.len());
            }
        }
        stat_offset = stat_offset.saturating_add(stats);
        shape = output;
    }
    loops_dominate(&mut layers, &defaulted);
    if spec.layers.is_empty() {
        cx.error(
            &spec.ident,
            format!("network `{}` has no layers; add fields such as `hidden: Dense<8, Relu>`", spec.ident),
        );
        return None;
    }
    let (loss, loss_span) = match options.loss {
        Some(l) => l,
        None => {
            if !given("loss") {
                cx.error_at(attr_span, format!("missing option `loss`; expected one of {}", loss::NAMES));
            }
            // A placeholder with no requirements, so the layers are still checked.
            (Loss::HalfSse, attr_span)
        }
    };
    let mut net = Network {
        ident: spec.ident.clone(),
        scalar: options.scalar.unwrap_or(ScalarTy::F32),
        input,
        layers,
        loss,
        loss_span,
        params: offset,
        trace_len: 0,
        trace_lse: None,
        weights: options.weights,
        boxed: options.boxed.is_some_and(|(b, _)| b),
        buffers: buffer_offset,
        counts: count_offset,
        stats: stat_offset,
    };
    if let (Some((true, span)), Some(_)) = (options.boxed, &net.weights) {
        cx.error_at(
            span,
            "`storage = boxed` cannot be combined with `weights`: compiled-in weights are a constant, \
             and a `Box` cannot be one",
        );
    }
    layout_trace(&mut net);
    Some(net)
}

/// The default emits every layer as loops when layers emitted as loops already carry at
/// least [`LOOPS_DOMINATE`] of the network's multiply-adds: the straight-line rest would
/// save a small share of a step and cost most of the build (LeNet-5's 84→10 output
/// layer took 4 of its 10 s, benches/RESULTS.md). Only `defaulted` layers change.
fn loops_dominate(layers: &mut [Layer], defaulted: &[usize]) {
    let cost = |l: &Layer| l.kind.code_size(&l.input, &l.output) as f64;
    let total: f64 = layers.iter().map(cost).sum();
    let looped: f64 = layers.iter().filter(|l| !l.unroll).map(cost).sum();
    if total > 0.0 && looped >= LOOPS_DOMINATE * total {
        for &i in defaulted {
            layers[i].unroll = false;
        }
    }
}

/// Assigns trace slots: every layer's output; its pre-activation if the activation's
/// derivative reads `z` or the loss reads the logits; its saved sub-expressions.
fn layout_trace(net: &mut Network) {
    let mut next = 0usize;
    let last = net.layers.len().saturating_sub(1);
    let loss_needs_logits = net.loss.needs_logits();
    let mut prev_y = None;
    let mut take = |n: usize| {
        let at = next;
        next = next.saturating_add(n);
        at
    };
    for (i, layer) in net.layers.iter_mut().enumerate() {
        let width = size(&layer.output);
        if layer.kind.aliases_input() {
            // Same values, new shape: alias the previous output.
            layer.trace = TraceSlots { y: prev_y, input: prev_y, ..TraceSlots::default() };
            continue;
        }
        let mut slots = TraceSlots { y: Some(take(width)), input: prev_y, ..TraceSlots::default() };
        prev_y = slots.y;
        if let Some(act) = layer.kind.activation() {
            let needs_z = act.derivative_needs_z() || (i == last && loss_needs_logits);
            if needs_z {
                slots.z = Some(take(width));
            }
            for _ in 0..act.saved_count() {
                slots.saved.push(take(width));
            }
        }
        let extra = layer.kind.trace_extra(&layer.input, &layer.output);
        if extra > 0 {
            slots.extra = Some(take(extra));
        }
        layer.trace = slots;
    }
    if matches!(net.loss, Loss::CrossEntropy) {
        let groups = net.layers.last().map_or(1, Layer::softmax_groups);
        net.trace_lse = Some(take(groups));
    }
    // A zero-length trace would make `[T; 0]`, which is fine, but keep one slot so the
    // trace type is never empty for networks whose layers keep nothing.
    net.trace_len = next.max(1);
}

fn resolve_options(cx: &mut Ctxt, opts: &[Opt]) -> Options {
    let mut out = Options::default();
    let mut seen: Vec<&Ident> = Vec::new();
    for opt in opts {
        let name = opt.name.to_string();
        if let Some(first) = seen.iter().find(|s| **s == &opt.name) {
            cx.error(&opt.name, format!("option `{name}` is given twice"));
            cx.error(first, format!("option `{name}` first given here"));
            continue;
        }
        seen.push(&opt.name);
        out.given.push(name.clone());
        match name.as_str() {
            "input" => out.input = resolve_input(cx, &opt.value).map(|s| (s, opt.value.span())),
            "loss" => out.loss = loss::resolve(cx, &opt.value).map(|l| (l, opt.value.span())),
            "scalar" => out.scalar = resolve_scalar(cx, &opt.value),
            "unroll" => out.unroll = resolve_unroll(cx, &opt.value),
            "weights" => out.weights = resolve_weights(cx, &opt.value),
            "storage" => out.boxed = resolve_storage(cx, &opt.value).map(|b| (b, opt.value.span())),
            _ => cx.error(
                &opt.name,
                format!(
                    "unknown option `{name}`; expected `input`, `loss`, `scalar`, `storage`, `unroll` or `weights`"
                ),
            ),
        }
    }
    out
}

/// Reads `storage = inline | boxed`; `true` for boxed.
fn resolve_storage(cx: &mut Ctxt, v: &Term) -> Option<bool> {
    match v {
        Term::Call { name, args, .. } if args.is_empty() && name == "inline" => Some(false),
        Term::Call { name, args, .. } if args.is_empty() && name == "boxed" => Some(true),
        _ => {
            cx.error_at(v.span(), format!("expected `storage = inline` or `storage = boxed`, found {}", v.describe()));
            None
        }
    }
}

fn resolve_weights(cx: &mut Ctxt, v: &Term) -> Option<syn::LitStr> {
    if let Term::Expr(e) = v
        && let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = &**e
    {
        return Some(s.clone());
    }
    cx.error_at(v.span(), "option `weights` takes a path in quotes, e.g. `weights = \"model.safetensors\"`");
    None
}

fn resolve_input(cx: &mut Ctxt, v: &Term) -> Option<Shape> {
    let dims: Vec<&Term> = match v {
        Term::List { items, .. } if !items.is_empty() => items.iter().collect(),
        Term::Int { .. } | Term::NegInt { .. } => vec![v],
        _ => {
            cx.error_at(
                v.span(),
                format!(
                    "expected `input` as a size such as `4` or a shape such as `[1, 8, 8]`, found {}{}",
                    v.describe(),
                    literal_hint(v)
                ),
            );
            return None;
        }
    };
    let mut shape = Vec::new();
    for d in dims {
        match positive_int(d) {
            Some(n) => shape.push(n),
            None => {
                cx.error_at(
                    d.span(),
                    format!(
                        "expected `input` dimensions as positive integers, found {}{}",
                        d.describe(),
                        literal_hint(d)
                    ),
                );
                return None;
            }
        }
    }
    Some(shape)
}

/// For a size written as a name or an expression (`WIDTH`, `N * 2`): why the macro
/// cannot take it. Empty for anything else.
pub fn literal_hint(t: &Term) -> String {
    // A name in the constants' case, or an expression of names and numbers.
    let named = match t {
        Term::Call { name, args, .. } => {
            args.is_empty()
                && name.to_string().chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        }
        Term::Expr(e) => matches!(**e, syn::Expr::Path(_) | syn::Expr::Binary(_) | syn::Expr::Call(_)),
        _ => false,
    };
    if named {
        format!(
            "; the macro needs an integer literal here, such as `16`: it lays out the parameters and writes \
             the code while it expands, before Rust evaluates constants such as {}",
            t.describe()
        )
    } else {
        String::new()
    }
}

/// A positive integer that fits `usize` (and a sane array size).
pub fn positive_int(t: &Term) -> Option<usize> {
    match t {
        Term::Int { value, .. } if *value > 0 && *value <= (1u128 << 32) => usize::try_from(*value).ok(),
        _ => None,
    }
}

fn resolve_scalar(cx: &mut Ctxt, v: &Term) -> Option<ScalarTy> {
    match v {
        Term::Call { name, args, .. } if args.is_empty() && name == "f32" => Some(ScalarTy::F32),
        Term::Call { name, args, .. } if args.is_empty() && name == "f64" => Some(ScalarTy::F64),
        _ => {
            cx.error_at(v.span(), format!("expected `scalar = f32` or `scalar = f64`, found {}", v.describe()));
            None
        }
    }
}

/// Reads `unroll = true | false | N` (shared by the struct option and the layer option).
pub fn resolve_unroll(cx: &mut Ctxt, v: &Term) -> Option<Unroll> {
    match v {
        Term::Bool { value: true, .. } => Some(Unroll::Always),
        Term::Bool { value: false, .. } => Some(Unroll::Never),
        Term::Int { value, .. } => Some(Unroll::Threshold(usize::try_from(*value).unwrap_or(usize::MAX))),
        _ => {
            cx.error_at(
                v.span(),
                format!(
                    "expected `unroll = true`, `unroll = false` or a weight count such as `unroll = 256`, found {}",
                    v.describe()
                ),
            );
            None
        }
    }
}

/// Custom activations declared on the struct, compiled, by name.
pub type Customs = Vec<(Ident, Activation)>;

/// Finds a named custom activation.
pub fn find_custom<'a>(customs: &'a Customs, name: &Ident) -> Option<&'a Activation> {
    customs.iter().find(|(n, _)| n == name).map(|(_, a)| a)
}

/// Used by `activation::compile_named`; re-exported here so the model owns the type.
pub type Named = NamedActivation;
