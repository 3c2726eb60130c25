//! safetensors files, read and written under PyTorch's names and shapes (feature
//! `safetensors`).
//!
//! Entry points: [`save`] / [`SaveOptions`], [`load`] / [`LoadOptions`], [`name_map`],
//! and the format itself: [`parse`] (a file → [`SafeTensors`]) and [`serialize`].
//!
//! # Format
//!
//! An 8-byte little-endian header length `n`, then `n` bytes of JSON
//! `{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}` with
//! an optional `"__metadata__": {"key": "value"}`, padded with spaces, then the data;
//! offsets are relative to the start of the data. [`parse`] checks everything the
//! reference implementation checks: the header fits the file, it is JSON of this shape
//! (no duplicate keys), every dtype is known, every tensor's byte length is its element
//! count times its element size (with overflow checked), and the tensors cover the data
//! exactly, in order, without gaps or overlaps. A malformed file is an [`FormatError`],
//! never a panic; nothing is allocated from a size the file declares (the tensors are
//! borrowed from the caller's bytes, and the header is at most [`MAX_HEADER`] bytes and
//! no longer than the file).
//!
//! # Loading
//!
//! [`load`] is strict by default: every missing tensor, unexpected tensor, wrong shape and
//! unsupported dtype is collected into one [`LoadError`] whose message names each of
//! them. `F16`, `BF16`, `F32` and `F64` convert to the network's scalar type (widened to
//! `f64` exactly, then rounded once). Nothing is written into the network unless every
//! check passed.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::dtype::Dtype;
use crate::network::Network;
use crate::scalar::Scalar;

/// The largest header [`parse`] accepts, as the reference implementation (100 MB).
pub const MAX_HEADER: usize = 100_000_000;

/// Nesting deeper than this in a header is refused (the format needs three levels).
const MAX_DEPTH: usize = 8;

/// Why bytes are not a valid safetensors file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    message: String,
}

impl FormatError {
    fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed safetensors file: {}", self.message)
    }
}

impl core::error::Error for FormatError {}

/// One tensor of a parsed file, its data borrowed from the file's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorView<'a> {
    /// The element type.
    pub dtype: Dtype,
    /// The shape, outermost first.
    pub shape: Vec<usize>,
    /// The raw little-endian data.
    pub data: &'a [u8],
}

impl TensorView<'_> {
    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// `true` if the tensor holds no element.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A parsed safetensors file: named tensors in header order, and the metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafeTensors<'a> {
    /// The tensors, in the order the header lists them.
    pub tensors: Vec<(String, TensorView<'a>)>,
    /// The `__metadata__` entries, in the order the header lists them.
    pub metadata: Vec<(String, String)>,
}

impl<'a> SafeTensors<'a> {
    /// The tensor of that name, if any.
    #[must_use]
    pub fn tensor(&self, name: &str) -> Option<&TensorView<'a>> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

// ---------------------------------------------------------------------------------------
// A JSON reader for the header: objects, arrays, strings and non-negative integers, which
// is all the format uses. Depth is bounded, so no input recurses deeply.

enum Json {
    Object(Vec<(String, Json)>),
    Array(Vec<Json>),
    String(String),
    Int(u64),
}

struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn err<T>(&self, what: &str) -> Result<T, FormatError> {
        Err(FormatError::new(format!("header JSON: {what} at byte {}", self.pos)))
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), FormatError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(&format!("expected `{}`", c as char))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, FormatError> {
        if depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b'0'..=b'9') => self.int(),
            Some(_) => self.err("unsupported value (only objects, arrays, strings and non-negative integers)"),
            None => self.err("unexpected end"),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, FormatError> {
        self.expect(b'{')?;
        let mut entries: Vec<(String, Json)> = Vec::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(entries));
        }
        loop {
            if self.peek() != Some(b'"') {
                return self.err("expected a key");
            }
            let key = self.string()?;
            if entries.iter().any(|(k, _)| *k == key) {
                return self.err(&format!("duplicate key {key:?}"));
            }
            self.expect(b':')?;
            let v = self.value(depth + 1)?;
            entries.push((key, v));
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(entries));
                }
                _ => return self.err("expected `,` or `}`"),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, FormatError> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return self.err("expected `,` or `]`"),
            }
        }
    }

    fn int(&mut self) -> Result<Json, FormatError> {
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = self.s.get(self.pos) {
            v = match v.checked_mul(10).and_then(|v| v.checked_add(u64::from(c - b'0'))) {
                Some(v) => v,
                None => return self.err("integer out of range"),
            };
            self.pos += 1;
        }
        if self.pos - start > 1 && self.s[start] == b'0' {
            return self.err("integer with a leading zero");
        }
        if let Some(b'.' | b'e' | b'E') = self.s.get(self.pos) {
            return self.err("expected an integer");
        }
        Ok(Json::Int(v))
    }

    fn hex4(&mut self) -> Result<u32, FormatError> {
        let mut v = 0;
        for _ in 0..4 {
            let d = match self.s.get(self.pos).and_then(|&c| (c as char).to_digit(16)) {
                Some(d) => d,
                None => return self.err("bad `\\u` escape"),
            };
            v = v * 16 + d;
            self.pos += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, FormatError> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else { return self.err("unterminated string") };
            self.pos += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else { return self.err("unterminated escape") };
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                if self.s.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return self.err("unpaired surrogate");
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return self.err("unpaired surrogate");
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            match char::from_u32(code) {
                                Some(ch) => out.push(ch),
                                None => return self.err("invalid `\\u` escape"),
                            }
                        }
                        _ => return self.err("unknown escape"),
                    }
                }
                0..=0x1f => return self.err("control character in string"),
                _ => {
                    // The header was checked to be UTF-8: copy the whole character.
                    let start = self.pos - 1;
                    let mut end = self.pos;
                    while end < self.s.len() && (self.s[end] & 0xc0) == 0x80 {
                        end += 1;
                    }
                    match core::str::from_utf8(&self.s[start..end]) {
                        Ok(ch) => out.push_str(ch),
                        Err(_) => return self.err("invalid UTF-8"),
                    }
                    self.pos = end;
                }
            }
        }
    }
}

fn usize_of(j: &Json) -> Option<usize> {
    match j {
        Json::Int(v) => usize::try_from(*v).ok(),
        _ => None,
    }
}

/// Parses a safetensors file, checking it completely (see the [module docs](self)).
///
/// # Errors
/// A [`FormatError`] saying what is malformed.
pub fn parse(bytes: &[u8]) -> Result<SafeTensors<'_>, FormatError> {
    let Some(len_bytes) = bytes.first_chunk::<8>() else {
        return Err(FormatError::new(format!("{} bytes are too few for the 8-byte header length", bytes.len())));
    };
    let n = u64::from_le_bytes(*len_bytes);
    let rest = &bytes[8..];
    if n > MAX_HEADER as u64 {
        return Err(FormatError::new(format!("header length {n} exceeds the limit of {MAX_HEADER} bytes")));
    }
    if n > rest.len() as u64 {
        return Err(FormatError::new(format!("header length {n} exceeds the {} bytes that follow it", rest.len())));
    }
    let (header, data) = rest.split_at(n as usize);
    if core::str::from_utf8(header).is_err() {
        return Err(FormatError::new("header is not UTF-8"));
    }
    if header.first() != Some(&b'{') {
        return Err(FormatError::new("header does not start with `{`"));
    }
    let mut r = Reader { s: header, pos: 0 };
    let root = r.value(0)?;
    r.ws();
    if r.pos != header.len() {
        return r.err("trailing characters");
    }
    let Json::Object(entries) = root else { return Err(FormatError::new("header is not an object")) };

    let mut metadata = Vec::new();
    let mut infos: Vec<(String, Dtype, Vec<usize>, usize, usize)> = Vec::new();
    for (name, value) in entries {
        if name == "__metadata__" {
            let Json::Object(m) = value else {
                return Err(FormatError::new("`__metadata__` is not an object"));
            };
            for (k, v) in m {
                let Json::String(v) = v else {
                    return Err(FormatError::new(format!("metadata {k:?} is not a string")));
                };
                metadata.push((k, v));
            }
            continue;
        }
        let Json::Object(fields) = value else {
            return Err(FormatError::new(format!("tensor {name:?} is not an object")));
        };
        let (mut dtype, mut shape, mut offsets) = (None, None, None);
        for (k, v) in &fields {
            match k.as_str() {
                "dtype" => match v {
                    Json::String(s) => match Dtype::parse(s) {
                        Some(d) => dtype = Some(d),
                        None => return Err(FormatError::new(format!("tensor {name:?} has unknown dtype {s:?}"))),
                    },
                    _ => return Err(FormatError::new(format!("tensor {name:?}: `dtype` is not a string"))),
                },
                "shape" => match v {
                    Json::Array(dims) => {
                        let dims: Option<Vec<usize>> = dims.iter().map(usize_of).collect();
                        match dims {
                            Some(d) => shape = Some(d),
                            None => {
                                return Err(FormatError::new(format!(
                                    "tensor {name:?}: `shape` holds something other than sizes"
                                )));
                            }
                        }
                    }
                    _ => return Err(FormatError::new(format!("tensor {name:?}: `shape` is not an array"))),
                },
                "data_offsets" => match v {
                    Json::Array(o) if o.len() == 2 => match (usize_of(&o[0]), usize_of(&o[1])) {
                        (Some(b), Some(e)) => offsets = Some((b, e)),
                        _ => return Err(FormatError::new(format!("tensor {name:?}: bad `data_offsets`"))),
                    },
                    _ => {
                        return Err(FormatError::new(format!("tensor {name:?}: `data_offsets` is not two integers")));
                    }
                },
                other => return Err(FormatError::new(format!("tensor {name:?}: unknown field {other:?}"))),
            }
        }
        let (Some(dtype), Some(shape), Some((begin, end))) = (dtype, shape, offsets) else {
            return Err(FormatError::new(format!("tensor {name:?} lacks one of `dtype`, `shape`, `data_offsets`")));
        };
        infos.push((name, dtype, shape, begin, end));
    }

    // The reference implementation's rule: sorted by offset, the tensors tile the data.
    let mut order: Vec<usize> = (0..infos.len()).collect();
    order.sort_by_key(|&i| (infos[i].3, infos[i].4));
    let mut at = 0usize;
    for &i in &order {
        let (name, dtype, shape, begin, end) = &infos[i];
        if *begin != at || end < begin {
            return Err(FormatError::new(format!(
                "tensor {name:?}: data_offsets [{begin}, {end}] do not continue at byte {at} (gap, overlap or reversed)"
            )));
        }
        let bytes_needed = shape.iter().try_fold(dtype.size(), |acc, &d| acc.checked_mul(d));
        if bytes_needed != Some(end - begin) {
            return Err(FormatError::new(format!(
                "tensor {name:?}: shape {shape:?} of {dtype} does not take the {} bytes of its data_offsets",
                end - begin
            )));
        }
        at = *end;
    }
    if at != data.len() {
        return Err(FormatError::new(format!("the tensors cover {at} bytes of data, the file holds {}", data.len())));
    }
    let tensors = infos
        .into_iter()
        .map(|(name, dtype, shape, begin, end)| (name, TensorView { dtype, shape, data: &data[begin..end] }))
        .collect();
    Ok(SafeTensors { tensors, metadata })
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes a safetensors file: the tensors in the given order, then the metadata (if any)
/// under `__metadata__`; the header is padded with spaces to a multiple of 8 bytes, as
/// the reference implementation does.
///
/// # Panics
/// If a tensor's data length is not its shape's element count times the dtype's size.
#[must_use]
pub fn serialize(tensors: &[(&str, Dtype, &[usize], &[u8])], metadata: &[(&str, &str)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut first = true;
    if !metadata.is_empty() {
        header.push_str("\"__metadata__\":{");
        for (i, (k, v)) in metadata.iter().enumerate() {
            if i > 0 {
                header.push(',');
            }
            json_string(&mut header, k);
            header.push(':');
            json_string(&mut header, v);
        }
        header.push('}');
        first = false;
    }
    let mut offset = 0usize;
    for (name, dtype, shape, data) in tensors {
        let n: usize = shape.iter().product();
        assert_eq!(n * dtype.size(), data.len(), "tensor {name}: data length does not match its shape");
        if !first {
            header.push(',');
        }
        first = false;
        json_string(&mut header, name);
        let dims: Vec<String> = shape.iter().map(|d| format!("{d}")).collect();
        header.push_str(&format!(
            ":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            dtype.name(),
            dims.join(","),
            offset,
            offset + data.len()
        ));
        offset += data.len();
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for (_, _, _, data) in tensors {
        out.extend_from_slice(data);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Networks.

/// The float type [`save`] writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SaveDtype {
    /// The network's own scalar type (exact).
    #[default]
    Native,
    /// `F32` (rounds an `f64` network's parameters to nearest).
    F32,
    /// `F64` (exact for both scalar types).
    F64,
}

/// How [`save`] writes a network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SaveOptions {
    /// The element type of the file.
    pub dtype: SaveDtype,
    /// Prepended to every tensor name (`"model.encoder."`); empty by default.
    pub prefix: String,
    /// `__metadata__` entries.
    pub metadata: Vec<(String, String)>,
}

/// A network's parameters as a safetensors file, one tensor per entry of `N::LAYOUT`
/// under its PyTorch name and shape, in layout order.
#[must_use]
pub fn save<N: Network>(net: &N, options: &SaveOptions) -> Vec<u8> {
    let dtype = match options.dtype {
        SaveDtype::Native if core::mem::size_of::<N::Scalar>() == 4 => Dtype::F32,
        SaveDtype::Native | SaveDtype::F64 => Dtype::F64,
        SaveDtype::F32 => Dtype::F32,
    };
    let params = net.params().as_ref();
    let names: Vec<String> = N::LAYOUT.iter().map(|info| format!("{}{}", options.prefix, info.name)).collect();
    let datas: Vec<Vec<u8>> = N::LAYOUT
        .iter()
        .map(|info| {
            let mut data = Vec::with_capacity(info.len() * dtype.size());
            for p in &params[info.range()] {
                match dtype {
                    Dtype::F32 => data.extend_from_slice(&(p.to_f64() as f32).to_le_bytes()),
                    _ => data.extend_from_slice(&p.to_f64().to_le_bytes()),
                }
            }
            data
        })
        .collect();
    let tensors: Vec<(&str, Dtype, &[usize], &[u8])> = N::LAYOUT
        .iter()
        .zip(&names)
        .zip(&datas)
        .map(|((info, name), data)| (name.as_str(), dtype, info.shape, data.as_slice()))
        .collect();
    let metadata: Vec<(&str, &str)> = options.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    serialize(&tensors, &metadata)
}

/// How the file's tensor names map onto the network's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Naming {
    /// The same names (`hidden.weight`), after the prefix is removed.
    #[default]
    Exact,
    /// PyTorch's `nn.Sequential` numbering: the file's module indices (`0.weight`,
    /// `2.weight`, ...), in numeric order, are the network's layers with parameters, in
    /// order (an index without parameters, such as an activation module, is skipped).
    Sequential,
}

/// How [`load`] matches a file against a network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Accept a file that lacks some of the network's tensors; those keep their values.
    pub allow_missing: bool,
    /// Accept tensors in the file that the network does not have; they are ignored.
    pub allow_unexpected: bool,
    /// Removed from the start of every file name before matching (`"model.encoder."`);
    /// a name without it is unexpected.
    pub prefix: String,
    /// How the remaining names map onto the network's.
    pub naming: Naming,
}

impl LoadOptions {
    /// Strict loading (the default): every tensor present, nothing more, same names.
    #[must_use]
    pub fn strict() -> Self {
        Self::default()
    }
}

/// One way a file does not fit a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The network's tensor is not in the file.
    Missing {
        /// The network's name.
        name: &'static str,
        /// The network's shape.
        shape: &'static [usize],
    },
    /// The file's tensor is not in the network.
    Unexpected {
        /// The file's name.
        name: String,
    },
    /// The shapes differ.
    Shape {
        /// The file's name.
        file_name: String,
        /// The network's name.
        name: &'static str,
        /// The file's shape.
        file: Vec<usize>,
        /// The network's shape.
        network: &'static [usize],
    },
    /// The file's dtype does not convert to a float.
    Dtype {
        /// The file's name.
        file_name: String,
        /// The dtype.
        dtype: Dtype,
    },
    /// Two of the file's tensors map onto the same network tensor (`0.weight` and
    /// `00.weight` under `nn.Sequential` numbering); never allowed.
    Duplicate {
        /// The file's name that came second.
        file_name: String,
        /// The file's name that came first.
        first: String,
        /// The network's name.
        name: &'static str,
    },
    /// `nn.Sequential` numbering found a different number of modules than the network
    /// has layers with parameters.
    Sequential {
        /// Module indices in the file.
        file: usize,
        /// The network's layers with parameters.
        network: usize,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { name, shape } => write!(f, "missing tensor `{name}` (shape {shape:?})"),
            Self::Unexpected { name } => write!(f, "unexpected tensor `{name}`"),
            Self::Shape { file_name, name, file, network } => {
                if file_name == name {
                    write!(f, "tensor `{name}` has shape {file:?} in the file, the network expects {network:?}")
                } else {
                    write!(
                        f,
                        "tensor `{file_name}` (for `{name}`) has shape {file:?} in the file, the network expects {network:?}"
                    )
                }
            }
            Self::Dtype { file_name, dtype } => {
                write!(f, "tensor `{file_name}` has dtype {dtype}, expected F16, BF16, F32 or F64")
            }
            Self::Duplicate { file_name, first, name } => {
                write!(f, "tensors `{first}` and `{file_name}` both map onto `{name}`")
            }
            Self::Sequential { file, network } => write!(
                f,
                "`nn.Sequential` numbering: the file has {file} numbered modules, the network {network} layers with parameters"
            ),
        }
    }
}

/// Why [`load`] refused a file; the network is unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The bytes are not a valid safetensors file.
    Format(FormatError),
    /// The file is valid but does not fit the network: every problem found.
    Mismatch(Vec<Problem>),
    /// The file could not be read.
    Io(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format(e) => e.fmt(f),
            Self::Io(e) => f.write_str(e),
            Self::Mismatch(problems) => {
                write!(f, "the file does not fit the network ({} problems):", problems.len())?;
                for p in problems {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

impl core::error::Error for LoadError {}

impl From<FormatError> for LoadError {
    fn from(e: FormatError) -> Self {
        Self::Format(e)
    }
}

/// Which file tensor feeds which network tensor: the result of [`name_map`], printable
/// one `file name -> network name` line per tensor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameMap {
    /// `(file name, index into N::LAYOUT)` for every matched tensor, in file order.
    pub pairs: Vec<(String, usize)>,
    /// The network's names, by layout index.
    names: Vec<&'static str>,
    /// File tensors that map onto nothing.
    pub unexpected: Vec<String>,
    /// Layout indices no file tensor maps onto.
    pub missing: Vec<usize>,
    /// File tensors that map onto a network tensor another file tensor already took.
    pub duplicates: Vec<(String, usize)>,
}

impl fmt::Display for NameMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (file, i) in &self.pairs {
            writeln!(f, "{file} -> {}", self.names[*i])?;
        }
        for file in &self.unexpected {
            writeln!(f, "{file} -> (unexpected)")?;
        }
        for (file, i) in &self.duplicates {
            writeln!(f, "{file} -> {} (duplicate)", self.names[*i])?;
        }
        for &i in &self.missing {
            writeln!(f, "(missing) -> {}", self.names[i])?;
        }
        Ok(())
    }
}

/// The layer part of a layout name: `hidden` of `hidden.weight`.
fn layer_of(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(layer, _)| layer)
}

/// Maps the file's tensor names onto `N::LAYOUT` as `options` say (prefix, naming),
/// without looking at shapes or dtypes.
///
/// # Errors
/// [`Problem::Sequential`] when `nn.Sequential` numbering finds a different number of
/// modules than the network has layers with parameters.
pub fn name_map<N: Network>(file: &SafeTensors<'_>, options: &LoadOptions) -> Result<NameMap, Problem> {
    let layout = N::LAYOUT;
    let mut layers: Vec<&str> = Vec::new();
    for info in layout {
        let l = layer_of(info.name);
        if layers.last() != Some(&l) {
            layers.push(l);
        }
    }
    // For sequential naming: the file's distinct module indices in numeric order.
    let mut indices: Vec<u64> = Vec::new();
    if options.naming == Naming::Sequential {
        for (name, _) in &file.tensors {
            if let Some((idx, _)) = name.strip_prefix(options.prefix.as_str()).and_then(|r| r.split_once('.'))
                && let Ok(i) = idx.parse::<u64>()
                && !indices.contains(&i)
            {
                indices.push(i);
            }
        }
        indices.sort_unstable();
        if indices.len() != layers.len() {
            return Err(Problem::Sequential { file: indices.len(), network: layers.len() });
        }
    }
    let mut map = NameMap { names: layout.iter().map(|i| i.name).collect(), ..NameMap::default() };
    let mut seen = alloc::vec![false; layout.len()];
    for (name, _) in &file.tensors {
        let target = name.strip_prefix(options.prefix.as_str()).and_then(|rest| match options.naming {
            Naming::Exact => Some(rest.to_owned()),
            Naming::Sequential => {
                let (idx, suffix) = rest.split_once('.')?;
                let k = indices.iter().position(|&i| Some(i) == idx.parse::<u64>().ok())?;
                Some(format!("{}.{suffix}", layers[k]))
            }
        });
        match target.and_then(|t| layout.iter().position(|info| info.name == t)) {
            Some(i) if seen[i] => map.duplicates.push((name.clone(), i)),
            Some(i) => {
                seen[i] = true;
                map.pairs.push((name.clone(), i));
            }
            None => map.unexpected.push(name.clone()),
        }
    }
    map.missing = (0..layout.len()).filter(|&i| !seen[i]).collect();
    Ok(map)
}

/// Loads a network's parameters from a safetensors file's bytes.
///
/// The file is parsed and matched completely first; every problem (missing, unexpected,
/// wrong shape, unsupported dtype) is collected, and only a file with none (or only
/// those `options` allow) is written into the network. Returns the name map used.
///
/// # Errors
/// [`LoadError::Format`] for a malformed file, [`LoadError::Mismatch`] listing every
/// problem; the network is unchanged in both cases.
pub fn load<N: Network>(net: &mut N, bytes: &[u8], options: &LoadOptions) -> Result<NameMap, LoadError> {
    let file = parse(bytes)?;
    let map = name_map::<N>(&file, options).map_err(|p| LoadError::Mismatch(alloc::vec![p]))?;
    let mut problems = Vec::new();
    for (file_name, i) in &map.duplicates {
        let first = map.pairs.iter().find(|(_, j)| j == i).map_or_else(String::new, |(n, _)| n.clone());
        problems.push(Problem::Duplicate { file_name: file_name.clone(), first, name: N::LAYOUT[*i].name });
    }
    if !options.allow_missing {
        for &i in &map.missing {
            problems.push(Problem::Missing { name: N::LAYOUT[i].name, shape: N::LAYOUT[i].shape });
        }
    }
    if !options.allow_unexpected {
        for name in &map.unexpected {
            problems.push(Problem::Unexpected { name: name.clone() });
        }
    }
    for (file_name, i) in &map.pairs {
        let info = &N::LAYOUT[*i];
        let Some(t) = file.tensor(file_name) else { continue };
        if t.shape != info.shape {
            problems.push(Problem::Shape {
                file_name: file_name.clone(),
                name: info.name,
                file: t.shape.clone(),
                network: info.shape,
            });
        }
        if !t.dtype.is_loadable() {
            problems.push(Problem::Dtype { file_name: file_name.clone(), dtype: t.dtype });
        }
    }
    if !problems.is_empty() {
        return Err(LoadError::Mismatch(problems));
    }
    // Every check passed: nothing below can fail, so the network is never half-written.
    let params = net.params_mut().as_mut();
    for (file_name, i) in &map.pairs {
        let info = &N::LAYOUT[*i];
        let Some(t) = file.tensor(file_name) else { continue };
        let size = t.dtype.size();
        for (p, chunk) in params[info.range()].iter_mut().zip(t.data.chunks_exact(size)) {
            if let Some(v) = t.dtype.decode(chunk) {
                *p = N::Scalar::from_f64(v);
            }
        }
    }
    Ok(map)
}

/// [`save`] into a file.
///
/// # Errors
/// The I/O error of writing the file.
#[cfg(feature = "std")]
pub fn save_file<N: Network>(net: &N, path: impl AsRef<std::path::Path>, options: &SaveOptions) -> std::io::Result<()> {
    std::fs::write(path, save(net, options))
}

/// [`load`] from a file.
///
/// # Errors
/// [`LoadError::Io`] if the file cannot be read, or [`load`]'s errors.
#[cfg(feature = "std")]
pub fn load_file<N: Network>(
    net: &mut N,
    path: impl AsRef<std::path::Path>,
    options: &LoadOptions,
) -> Result<NameMap, LoadError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| LoadError::Io(format!("cannot read {}: {e}", path.display())))?;
    load(net, &bytes, options)
}
