//! Tokens → spec AST. Syntax only: what the user wrote, with its spans, in a uniform
//! [`Term`] tree; what a name means (a layer kind, an activation, a loss) is decided by
//! [`crate::model`].
//!
//! Entry points: [`parse_options`] for the attribute's arguments and [`parse_item`] for
//! the struct. A layer's type (`Dense<32, LeakyRelu<0.01>, bias = false>`) and an option's
//! value (`huber(delta = 0.5)`, `[1, 8, 8]`) both become [`Term`]s, so the model reads them
//! one way.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, GenericArgument, Ident, Lit, PathArguments, Token, Type, UnOp};

use crate::ctxt::Ctxt;

/// A name with arguments, a number, a list, or a raw expression, with its span.
#[derive(Clone, Debug)]
pub enum Term {
    /// `Name`, `Name<args>` (type syntax) or `name(args)` (expression syntax).
    Call { name: Ident, args: Vec<TermArg>, span: Span },
    /// An integer literal.
    Int { value: u128, span: Span },
    /// A negated integer literal (`-4`), kept apart from floats so messages quote it
    /// as written.
    NegInt { value: u128, span: Span },
    /// A float literal, or a negated float.
    Float { value: f64, span: Span },
    /// `true` / `false`.
    Bool { value: bool, span: Span },
    /// `[a, b, c]`.
    List { items: Vec<Term>, span: Span },
    /// Any other expression, kept whole (custom activation bodies).
    Expr(Box<Expr>),
}

/// One argument of a [`Term::Call`]: positional, or `name = value`.
#[derive(Clone, Debug)]
pub struct TermArg {
    pub name: Option<Ident>,
    pub value: Term,
}

impl Term {
    /// The span of the whole term, for error messages.
    pub fn span(&self) -> Span {
        match self {
            Term::Call { span, .. }
            | Term::Int { span, .. }
            | Term::NegInt { span, .. }
            | Term::Float { span, .. }
            | Term::Bool { span, .. }
            | Term::List { span, .. } => *span,
            Term::Expr(e) => e.span(),
        }
    }

    /// A short description of what the term is, for "found ..." in messages.
    pub fn describe(&self) -> String {
        match self {
            Term::Call { name, .. } => format!("`{name}`"),
            Term::Int { value, .. } => format!("`{value}`"),
            Term::NegInt { value, .. } => format!("`-{value}`"),
            Term::Float { value, .. } => format!("`{value:?}`"),
            Term::Bool { value, .. } => format!("`{value}`"),
            Term::List { .. } => "a list".to_owned(),
            Term::Expr(e) => {
                let text = e.to_token_stream().to_string();
                if text.len() > 40 { "an expression".to_owned() } else { format!("`{text}`") }
            }
        }
    }

    /// The term as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Term::Int { value, .. } => Some(*value as f64),
            Term::NegInt { value, .. } => Some(-(*value as f64)),
            Term::Float { value, .. } => Some(*value),
            _ => None,
        }
    }
}

/// One `name = value` argument of `#[network(...)]`.
#[derive(Clone, Debug)]
pub struct Opt {
    pub name: Ident,
    pub value: Term,
}

/// A `#[activation(Name = expr)]` attribute on the struct: a custom activation by name.
#[derive(Clone, Debug)]
pub struct NamedActivation {
    pub name: Ident,
    pub body: Expr,
}

/// One field of the struct: a named layer.
#[derive(Clone, Debug)]
pub struct LayerAst {
    pub name: Ident,
    pub docs: Vec<String>,
    pub spec: Term,
}

/// The struct the attribute is on.
#[derive(Clone, Debug)]
pub struct Spec {
    pub attrs: Vec<Attribute>,
    pub vis: syn::Visibility,
    pub ident: Ident,
    pub activations: Vec<NamedActivation>,
    pub layers: Vec<LayerAst>,
}

struct OptList(Vec<OptOrErr>);

enum OptOrErr {
    Opt(Ident, Expr),
    Bare(Ident),
}

impl Parse for OptList {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let name: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                let value: Expr = input.parse()?;
                out.push(OptOrErr::Opt(name, value));
            } else {
                out.push(OptOrErr::Bare(name));
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(OptList(out))
    }
}

/// Parses the attribute's arguments: `input = 2, loss = half_sse, ...`.
pub fn parse_options(cx: &mut Ctxt, args: TokenStream) -> Vec<Opt> {
    let list = match OptList::parse.parse2(args) {
        Ok(list) => list,
        Err(e) => {
            cx.push(syn::Error::new(
                e.span(),
                format!("{e}; `#[network]` takes options as `name = value`, e.g. `#[network(input = 2, loss = mse)]`"),
            ));
            return Vec::new();
        }
    };
    let mut opts = Vec::new();
    for item in list.0 {
        match item {
            OptOrErr::Opt(name, value) => {
                if let Some(value) = term_from_expr(cx, &value) {
                    opts.push(Opt { name, value });
                }
            }
            OptOrErr::Bare(name) => cx.error(&name, format!("option `{name}` needs a value, as in `{name} = ...`")),
        }
    }
    opts
}

/// Parses the item: a struct with named fields, each a layer.
pub fn parse_item(cx: &mut Ctxt, item: TokenStream) -> Option<Spec> {
    let item: syn::Item = match syn::parse2(item) {
        Ok(item) => item,
        Err(e) => {
            cx.push(e);
            return None;
        }
    };
    let s = match item {
        syn::Item::Struct(s) => s,
        other => {
            cx.error(item_keyword(&other), "`#[network]` goes on a struct with named fields, one per layer");
            return None;
        }
    };
    if !s.generics.params.is_empty() {
        cx.error(
            &s.generics,
            "a network cannot have generic parameters; choose the scalar with `scalar = f32` or `scalar = f64`",
        );
    } else if let Some(w) = &s.generics.where_clause {
        cx.error(w, "a network cannot have a `where` clause: its sizes and scalar type are fixed by the spec");
    }
    let mut attrs = Vec::new();
    let mut activations = Vec::new();
    for attr in s.attrs {
        if attr.path().is_ident("activation") {
            parse_activation_attr(cx, &attr, &mut activations);
        } else if attr.path().segments.last().is_some_and(|seg| seg.ident == "network") {
            // Dropped, so the second attribute never runs: one error, not one per item.
            cx.error(&attr, "`#[network]` is given twice; keep one");
        } else {
            attrs.push(attr);
        }
    }
    let fields = match s.fields {
        syn::Fields::Named(named) => named.named,
        syn::Fields::Unnamed(unnamed) => {
            cx.error(
                &unnamed,
                "`#[network]` needs named fields, one per layer, e.g. `hidden: Dense<8, Relu>`; found a tuple struct",
            );
            return None;
        }
        syn::Fields::Unit => {
            cx.error(
                &s.ident,
                "`#[network]` needs named fields, one per layer, e.g. `hidden: Dense<8, Relu>`; found a unit struct",
            );
            return None;
        }
    };
    let mut layers = Vec::new();
    for field in fields {
        let Some(name) = field.ident.clone() else { continue };
        let mut docs = Vec::new();
        for attr in &field.attrs {
            if let Some(doc) = doc_text(attr) {
                docs.push(doc);
            } else {
                cx.error(attr, "layers take no attributes other than doc comments");
            }
        }
        if let syn::Visibility::Public(_) | syn::Visibility::Restricted(_) = field.vis {
            cx.error(&field.vis, format!("layer `{name}` cannot be `pub`: layers are reached through `net.{name}()`"));
        }
        if let Some(spec) = term_from_type(cx, &field.ty) {
            layers.push(LayerAst { name, docs, spec });
        }
    }
    Some(Spec { attrs, vis: s.vis, ident: s.ident, activations, layers })
}

fn item_keyword(item: &syn::Item) -> TokenStream {
    match item {
        syn::Item::Enum(e) => e.enum_token.to_token_stream(),
        syn::Item::Fn(f) => f.sig.fn_token.to_token_stream(),
        syn::Item::Union(u) => u.union_token.to_token_stream(),
        syn::Item::Trait(t) => t.trait_token.to_token_stream(),
        syn::Item::Impl(i) => i.impl_token.to_token_stream(),
        syn::Item::Mod(m) => m.mod_token.to_token_stream(),
        other => other.to_token_stream(),
    }
}

fn doc_text(attr: &Attribute) -> Option<String> {
    if !attr.path().is_ident("doc") {
        return None;
    }
    let syn::Meta::NameValue(nv) = &attr.meta else { return None };
    match &nv.value {
        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => Some(s.value()),
        _ => None,
    }
}

fn parse_activation_attr(cx: &mut Ctxt, attr: &Attribute, out: &mut Vec<NamedActivation>) {
    let parser = |input: ParseStream| -> syn::Result<Vec<(Ident, Expr)>> {
        let list = Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated(input)?;
        let mut pairs = Vec::new();
        for nv in list {
            let Some(name) = nv.path.get_ident().cloned() else {
                return Err(syn::Error::new_spanned(
                    &nv.path,
                    "a custom activation is named by one identifier, as in `#[activation(Swish = x * x.logistic())]`",
                ));
            };
            pairs.push((name, nv.value));
        }
        Ok(pairs)
    };
    match attr.parse_args_with(parser) {
        Ok(pairs) => {
            for (name, body) in pairs {
                out.push(NamedActivation { name, body });
            }
        }
        Err(e) => cx.push(syn::Error::new(
            e.span(),
            format!("{e}; write custom activations as `#[activation(Name = <expression of x>)]`"),
        )),
    }
}

/// Reads a layer or activation written in type syntax: `Dense<32, Relu, bias = false>`.
pub fn term_from_type(cx: &mut Ctxt, ty: &Type) -> Option<Term> {
    match ty {
        Type::Paren(p) => term_from_type(cx, &p.elem),
        Type::Group(g) => term_from_type(cx, &g.elem),
        Type::Path(tp) if tp.qself.is_none() => {
            let Some(seg) = tp.path.segments.last() else {
                cx.error(ty, "expected a layer such as `Dense<32, Relu>`");
                return None;
            };
            let mut args = Vec::new();
            match &seg.arguments {
                PathArguments::None => {}
                PathArguments::AngleBracketed(ab) => {
                    for arg in &ab.args {
                        args.extend(term_args_from_generic(cx, arg));
                    }
                }
                PathArguments::Parenthesized(p) => {
                    cx.error(p, format!("expected `{}<...>`, found parentheses", seg.ident));
                    return None;
                }
            }
            Some(Term::Call { name: seg.ident.clone(), args, span: ty.span() })
        }
        other => {
            cx.error(other, format!("expected a layer such as `Dense<32, Relu>`, found `{}`", other.to_token_stream()));
            None
        }
    }
}

/// Reads one generic argument of a layer or activation. Named options are written
/// `{ bias = false }` (a block is a stable const argument; `bias = false` bare is
/// associated-const syntax, which stable Rust rejects before any macro runs), or
/// `init = he` when the value is a name (associated-type syntax, stable).
fn term_args_from_generic(cx: &mut Ctxt, arg: &GenericArgument) -> Vec<TermArg> {
    match arg {
        GenericArgument::Type(t) => {
            term_from_type(cx, t).map(|value| TermArg { name: None, value }).into_iter().collect()
        }
        GenericArgument::Const(Expr::Block(b)) if is_option_block(&b.block) => {
            let mut out = Vec::new();
            for stmt in &b.block.stmts {
                let e = match stmt {
                    syn::Stmt::Expr(e, _) => e,
                    other => {
                        cx.error(other, "expected a layer option such as `{ bias = false }`");
                        continue;
                    }
                };
                if let Some(a) = named_arg(cx, e) {
                    out.push(a);
                }
            }
            out
        }
        GenericArgument::Const(e) => {
            term_from_expr(cx, e).map(|value| TermArg { name: None, value }).into_iter().collect()
        }
        GenericArgument::AssocType(at) => term_from_type(cx, &at.ty)
            .map(|value| TermArg { name: Some(at.ident.clone()), value })
            .into_iter()
            .collect(),
        GenericArgument::AssocConst(ac) => {
            // Stable Rust has already rejected this form; say how to write it anyway.
            cx.error(ac, format!("write this option as `{{ {} = ... }}`: braces make it stable Rust syntax", ac.ident));
            Vec::new()
        }
        other => {
            cx.error(other, format!("unexpected `{}` in a layer spec", other.to_token_stream()));
            Vec::new()
        }
    }
}

/// `{ name = value }` or `{ a = 1; b = 2 }`: every statement an assignment to a name.
fn is_option_block(block: &syn::Block) -> bool {
    !block.stmts.is_empty()
        && block
            .stmts
            .iter()
            .all(|s| matches!(s, syn::Stmt::Expr(Expr::Assign(a), _) if matches!(&*a.left, Expr::Path(_))))
}

/// `name = value` as a named argument.
fn named_arg(cx: &mut Ctxt, e: &Expr) -> Option<TermArg> {
    let Expr::Assign(asg) = e else {
        cx.error(e, "expected a layer option such as `{ bias = false }`");
        return None;
    };
    let name = match &*asg.left {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident().cloned(),
        _ => None,
    };
    let Some(name) = name else {
        cx.error(&asg.left, "expected an option name before `=`");
        return None;
    };
    let value = term_from_expr(cx, &asg.right)?;
    Some(TermArg { name: Some(name), value })
}

/// Reads an option value or a const argument: `2`, `[1, 8, 8]`, `huber(delta = 0.5)`,
/// `-0.5`, `{ 1.0 }`; anything else is kept as [`Term::Expr`].
pub fn term_from_expr(cx: &mut Ctxt, e: &Expr) -> Option<Term> {
    let span = e.span();
    match e {
        Expr::Lit(l) if matches!(l.lit, Lit::Int(_) | Lit::Float(_) | Lit::Bool(_)) => term_from_lit(cx, &l.lit),
        Expr::Paren(p) => term_from_expr(cx, &p.expr),
        Expr::Group(g) => term_from_expr(cx, &g.expr),
        Expr::Block(b) if b.block.stmts.len() == 1 && b.label.is_none() => {
            match &b.block.stmts[0] {
                syn::Stmt::Expr(inner, None) => match term_from_expr(cx, inner)? {
                    // A block around a number or name is only there for Rust's syntax.
                    t @ (Term::Int { .. } | Term::NegInt { .. } | Term::Float { .. } | Term::Bool { .. }) => Some(t),
                    _ => Some(Term::Expr(Box::new(inner.clone()))),
                },
                _ => Some(Term::Expr(Box::new(e.clone()))),
            }
        }
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => match term_from_expr(cx, &u.expr)? {
            Term::Int { value, .. } => Some(Term::NegInt { value, span }),
            Term::NegInt { value, .. } => Some(Term::Int { value, span }),
            Term::Float { value, .. } => Some(Term::Float { value: -value, span }),
            _ => Some(Term::Expr(Box::new(e.clone()))),
        },
        Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
            let name = p.path.get_ident()?.clone();
            Some(Term::Call { name, args: Vec::new(), span })
        }
        Expr::Call(c) => {
            let Expr::Path(fp) = &*c.func else {
                return Some(Term::Expr(Box::new(e.clone())));
            };
            let Some(name) = fp.path.get_ident().cloned() else {
                return Some(Term::Expr(Box::new(e.clone())));
            };
            let mut args = Vec::new();
            for a in &c.args {
                match a {
                    Expr::Assign(_) => args.extend(named_arg(cx, a)),
                    other => {
                        if let Some(v) = term_from_expr(cx, other) {
                            args.push(TermArg { name: None, value: v });
                        }
                    }
                }
            }
            Some(Term::Call { name, args, span })
        }
        Expr::Array(a) => {
            let mut items = Vec::new();
            for el in &a.elems {
                items.push(term_from_expr(cx, el)?);
            }
            Some(Term::List { items, span })
        }
        _ => Some(Term::Expr(Box::new(e.clone()))),
    }
}

fn term_from_lit(cx: &mut Ctxt, lit: &Lit) -> Option<Term> {
    let span = lit.span();
    match lit {
        // `syn` reads `-4` in a generic argument as one negative literal.
        Lit::Int(i) if i.base10_digits().starts_with('-') => match i.base10_digits()[1..].parse::<u128>() {
            Ok(value) => Some(Term::NegInt { value, span }),
            Err(_) => {
                cx.error(i, format!("`{i}` is too large"));
                None
            }
        },
        Lit::Int(i) => match i.base10_parse::<u128>() {
            Ok(value) => Some(Term::Int { value, span }),
            Err(_) => {
                cx.error(i, format!("`{i}` is too large"));
                None
            }
        },
        Lit::Float(f) => match f.base10_parse::<f64>() {
            Ok(value) if value.is_finite() => Some(Term::Float { value, span }),
            _ => {
                cx.error(f, format!("expected a finite number, found `{f}`"));
                None
            }
        },
        Lit::Bool(b) => Some(Term::Bool { value: b.value, span }),
        other => {
            cx.error(other, format!("expected a number, found `{}`", other.to_token_stream()));
            None
        }
    }
}
