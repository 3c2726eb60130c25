//! Weights in and out: the flat byte format, safetensors files (round trips, strict
//! checking, name mapping, malformed files) and PyTorch's own files: the fixtures under
//! `tests/fixtures/torch/` were written by `scripts/torch_fixtures.py` with PyTorch, and
//! the networks below are the twins of the script's models.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use stackprop::prelude::*;
use stackprop::weights::safetensors::{self as st, LoadError, LoadOptions, Naming, Problem, SaveDtype, SaveOptions};
use stackprop::weights::{Dtype, bytes};

#[network(input = 4, loss = mse, scalar = f64)]
struct DenseNet {
    hidden: Dense<8, Tanh>,
    output: Dense<3, Sigmoid>,
}

#[network(input = 4, loss = mse)]
struct DenseNet32 {
    hidden: Dense<8, Tanh>,
    output: Dense<3, Sigmoid>,
}

/// The same shapes as `DenseNet` under other names: another layout.
#[network(input = 4, loss = mse, scalar = f64)]
struct Renamed {
    first: Dense<8, Tanh>,
    second: Dense<3, Sigmoid>,
}

#[network(input = [1, 6, 6], loss = cross_entropy, scalar = f64)]
struct ConvNet {
    conv: Conv2d<
        3,
        Relu,
        {
            kernel = 3;
            padding = 1
        },
    >,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<4, Softmax>,
}

/// Records the largest single allocation made on this thread, so the tests can show that
/// a malformed file never makes the loader allocate the sizes it declares.
struct Largest;

thread_local! {
    // `const` initialization: reading it never allocates, so the allocator cannot recurse.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    LARGEST.with(|c| c.set(c.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the record is a
// thread-local `Cell` that needs no allocation.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Largest = Largest;

/// The largest single allocation `f` makes on this thread.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.with(|c| c.set(0));
    f();
    LARGEST.with(Cell::get)
}

fn bits<T: Scalar>(p: &[T]) -> Vec<u64> {
    p.iter().map(|v| v.to_f64().to_bits()).collect()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/torch/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A fixture tensor's values, widened to f64, and its shape.
fn values(file: &st::SafeTensors<'_>, name: &str) -> (Vec<f64>, Vec<usize>) {
    let t = file.tensor(name).unwrap_or_else(|| panic!("fixture lacks `{name}`"));
    let v = t.data.chunks_exact(t.dtype.size()).map(|c| t.dtype.decode(c).expect("float tensor")).collect();
    (v, t.shape.clone())
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * w.abs().max(1.0), "{what}[{i}]: got {g:e}, PyTorch {w:e} (tolerance {tol:e})");
    }
}

// ---------------------------------------------------------------------------------------
// The flat byte format.

#[test]
fn bytes_round_trip_is_bit_exact() {
    let net = DenseNet::seeded(3);
    let mut buf = [0u8; 24 + 67 * 8];
    assert_eq!(bytes::encoded_len::<DenseNet>(), buf.len());
    assert_eq!(bytes::write(&net, &mut buf), Ok(buf.len()));
    let mut back = DenseNet::zeroed();
    bytes::read(&mut back, &buf).unwrap();
    assert_eq!(bits(back.params()), bits(net.params()));

    let net = DenseNet32::seeded(3);
    let mut buf = [0u8; 24 + 67 * 4];
    assert_eq!(bytes::write(&net, &mut buf), Ok(buf.len()));
    let mut back = DenseNet32::zeroed();
    bytes::read(&mut back, &buf).unwrap();
    assert_eq!(bits(back.params()), bits(net.params()));
}

#[test]
fn layout_hash_is_a_compile_time_constant_of_names_and_shapes() {
    const DENSE: u64 = bytes::layout_hash(DenseNet::LAYOUT);
    assert_eq!(DENSE, bytes::network_hash::<DenseNet>());
    assert_eq!(DENSE, bytes::network_hash::<DenseNet32>(), "the scalar type is a header field of its own");
    assert_ne!(DENSE, bytes::network_hash::<Renamed>());
    assert_ne!(DENSE, bytes::network_hash::<ConvNet>());
}

#[test]
fn bytes_refuse_what_does_not_fit_and_leave_the_network_alone() {
    let mut buf = vec![0u8; bytes::encoded_len::<DenseNet>()];
    bytes::write(&DenseNet::seeded(1), &mut buf).unwrap();
    let before = DenseNet::seeded(2);

    let check = |bytes_in: &[u8], want: fn(&bytes::BytesError) -> bool| {
        let mut net = DenseNet::seeded(2);
        let err = bytes::read(&mut net, bytes_in).unwrap_err();
        assert!(want(&err), "unexpected error {err:?}");
        assert!(!err.to_string().is_empty());
        assert_eq!(bits(net.params()), bits(before.params()), "network changed on {err}");
    };
    check(&buf[..10], |e| matches!(e, bytes::BytesError::Truncated { got: 10 }));
    check(&buf[..buf.len() - 1], |e| matches!(e, bytes::BytesError::LengthMismatch { .. }));
    let mut longer = buf.clone();
    longer.push(0);
    check(&longer, |e| matches!(e, bytes::BytesError::LengthMismatch { .. }));
    let mut bad = buf.clone();
    bad[0] = b'X';
    check(&bad, |e| matches!(e, bytes::BytesError::BadMagic));
    let mut bad = buf.clone();
    bad[4] = 9;
    check(&bad, |e| matches!(e, bytes::BytesError::UnsupportedVersion(9)));
    let mut bad = buf.clone();
    bad[8] = 66;
    check(&bad, |e| matches!(e, bytes::BytesError::CountMismatch { file: 66, network: 67 }));

    // Another network's bytes: same count, other names; same layout, other scalar type.
    let mut other = vec![0u8; bytes::encoded_len::<Renamed>()];
    bytes::write(&Renamed::seeded(1), &mut other).unwrap();
    check(&other, |e| matches!(e, bytes::BytesError::LayoutMismatch { .. }));
    let mut other = vec![0u8; bytes::encoded_len::<DenseNet32>()];
    bytes::write(&DenseNet32::seeded(1), &mut other).unwrap();
    check(&other, |e| matches!(e, bytes::BytesError::ScalarMismatch { file: 1, network: 2 }));

    let mut small = [0u8; 100];
    assert_eq!(
        bytes::write(&before, &mut small),
        Err(bytes::BytesError::BufferTooSmall { needed: 24 + 67 * 8, got: 100 })
    );
}

// ---------------------------------------------------------------------------------------
// safetensors: our own files.

#[test]
fn safetensors_round_trip_is_bit_exact_in_the_native_type() {
    let net = ConvNet::seeded(5);
    let file = st::save(&net, &SaveOptions::default());
    let parsed = st::parse(&file).unwrap();
    let names: Vec<&str> = parsed.tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["conv.weight", "conv.bias", "output.weight", "output.bias"]);
    assert_eq!(parsed.tensor("conv.weight").unwrap().shape, [3, 1, 3, 3]);
    assert_eq!(parsed.tensor("conv.weight").unwrap().dtype, Dtype::F64);
    let mut back = ConvNet::zeroed();
    st::load(&mut back, &file, &LoadOptions::strict()).unwrap();
    assert_eq!(bits(back.params()), bits(net.params()));
}

#[test]
fn safetensors_writes_the_other_float_type_on_request() {
    // f32 → F64 is exact; f64 → F32 rounds to nearest.
    let net = DenseNet32::seeded(6);
    let file = st::save(&net, &SaveOptions { dtype: SaveDtype::F64, ..SaveOptions::default() });
    assert_eq!(st::parse(&file).unwrap().tensor("hidden.weight").unwrap().dtype, Dtype::F64);
    let mut back = DenseNet32::zeroed();
    st::load(&mut back, &file, &LoadOptions::strict()).unwrap();
    assert_eq!(bits(back.params()), bits(net.params()));

    let net = DenseNet::seeded(6);
    let file = st::save(&net, &SaveOptions { dtype: SaveDtype::F32, ..SaveOptions::default() });
    let mut back = DenseNet::zeroed();
    st::load(&mut back, &file, &LoadOptions::strict()).unwrap();
    let rounded: Vec<f64> = net.params().iter().map(|&p| f64::from(p as f32)).collect();
    assert_eq!(bits(back.params()), bits(&rounded));
}

#[test]
fn strict_loading_reports_every_problem_at_once_and_changes_nothing() {
    let w = [0u8; 8 * 8 * 4 * 2];
    let file = st::serialize(
        &[
            ("hidden.weight", Dtype::F64, &[4, 8], &w[..256]), // transposed
            ("hidden.bias", Dtype::F64, &[8], &w[..64]),
            ("output.weight", Dtype::I32, &[3, 8], &w[..96]), // not a float
            ("extra.weight", Dtype::F32, &[2], &w[..8]),
            // `output.bias` is missing
        ],
        &[],
    );
    let mut net = DenseNet::seeded(9);
    let before = DenseNet::seeded(9);
    let err = st::load(&mut net, &file, &LoadOptions::strict()).unwrap_err();
    assert_eq!(bits(net.params()), bits(before.params()));
    let LoadError::Mismatch(problems) = &err else { panic!("{err}") };
    assert_eq!(problems.len(), 4, "{err}");
    let msg = err.to_string();
    for needle in [
        "missing tensor `output.bias` (shape [3])",
        "unexpected tensor `extra.weight`",
        "tensor `hidden.weight` has shape [4, 8] in the file, the network expects [8, 4]",
        "tensor `output.weight` has dtype I32",
    ] {
        assert!(msg.contains(needle), "`{needle}` not in:\n{msg}");
    }

    // Allowing missing and unexpected tensors leaves the shape and dtype problems.
    let lenient = LoadOptions { allow_missing: true, allow_unexpected: true, ..LoadOptions::default() };
    let Err(LoadError::Mismatch(problems)) = st::load(&mut net, &file, &lenient) else { panic!() };
    assert!(problems.iter().all(|p| matches!(p, Problem::Shape { .. } | Problem::Dtype { .. })), "{problems:?}");
    assert_eq!(bits(net.params()), bits(before.params()));
}

#[test]
fn missing_and_unexpected_tensors_are_accepted_only_when_allowed() {
    let source = DenseNet::seeded(1);
    let full = st::save(&source, &SaveOptions::default());
    let parsed = st::parse(&full).unwrap();
    let keep: Vec<(&str, Dtype, &[usize], &[u8])> = parsed
        .tensors
        .iter()
        .filter(|(n, _)| n.starts_with("hidden."))
        .map(|(n, t)| (n.as_str(), t.dtype, t.shape.as_slice(), t.data))
        .chain([("running_mean", Dtype::F32, &[1usize][..], &[0u8; 4][..])])
        .collect();
    let partial = st::serialize(&keep, &[]);

    let mut net = DenseNet::seeded(2);
    assert!(st::load(&mut net, &partial, &LoadOptions { allow_missing: true, ..LoadOptions::default() }).is_err());
    assert!(st::load(&mut net, &partial, &LoadOptions { allow_unexpected: true, ..LoadOptions::default() }).is_err());
    let map = st::load(
        &mut net,
        &partial,
        &LoadOptions { allow_missing: true, allow_unexpected: true, ..LoadOptions::default() },
    )
    .unwrap();
    assert_eq!(map.unexpected, ["running_mean"]);
    // The hidden layer came from the file, the output layer kept its values.
    let untouched = DenseNet::seeded(2);
    assert_eq!(bits(&net.params()[..40]), bits(&source.params()[..40]));
    assert_eq!(bits(&net.params()[40..]), bits(&untouched.params()[40..]));
}

#[test]
fn a_prefix_is_added_on_save_and_removed_on_load() {
    let net = DenseNet::seeded(4);
    let file = st::save(&net, &SaveOptions { prefix: "model.encoder.".into(), ..SaveOptions::default() });
    assert!(st::parse(&file).unwrap().tensor("model.encoder.hidden.weight").is_some());
    let mut back = DenseNet::zeroed();
    let err = st::load(&mut back, &file, &LoadOptions::strict()).unwrap_err();
    assert_eq!(err.to_string().matches("missing tensor").count(), 4, "{err}");
    st::load(&mut back, &file, &LoadOptions { prefix: "model.encoder.".into(), ..LoadOptions::default() }).unwrap();
    assert_eq!(bits(back.params()), bits(net.params()));
}

#[test]
fn metadata_survives_a_round_trip() {
    let file = st::save(
        &DenseNet::seeded(1),
        &SaveOptions {
            metadata: vec![("format".into(), "pt".into()), ("note".into(), "a \"quoted\" ü".into())],
            ..SaveOptions::default()
        },
    );
    let parsed = st::parse(&file).unwrap();
    assert_eq!(parsed.metadata, [("format".to_string(), "pt".to_string()), ("note".into(), "a \"quoted\" ü".into())]);
}

// ---------------------------------------------------------------------------------------
// Malformed files: an `Err`, never a panic, and the network unchanged.

fn assert_refused(bytes_in: &[u8]) -> String {
    let mut net = DenseNet::seeded(8);
    let before = DenseNet::seeded(8);
    let result = st::load(&mut net, bytes_in, &LoadOptions::strict());
    assert_eq!(bits(net.params()), bits(before.params()));
    match result {
        Err(e) => e.to_string(),
        Ok(_) => panic!("malformed file accepted"),
    }
}

fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn malformed_files_are_errors() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "too few"),
        (vec![1, 2, 3], "too few"),
        (u64::MAX.to_le_bytes().to_vec(), "exceeds the limit"),
        (with_header("{}", &[]).into_iter().take(9).collect(), "exceeds the 1 bytes"),
        (with_header("[]", &[]), "does not start with `{`"),
        (with_header("{\"a\":", &[]), "header JSON"),
        (
            with_header("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", &[0; 4]),
            "cover 8 bytes of data, the file holds 4",
        ),
        (
            with_header("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8000000000]}}", &[0; 8]),
            "does not take",
        ),
        (
            with_header(
                "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
                &[0; 8],
            ),
            "does not take",
        ),
        (
            with_header("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}}", &[0; 8]),
            "does not take",
        ),
        (with_header("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[8,0]}}", &[0; 8]), "do not continue"),
        (with_header("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", &[0; 16]), "cover 8 bytes"),
        (with_header("{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,8]}}", &[0; 8]), "unknown dtype"),
        (with_header("{\"a\":{\"dtype\":\"F64\",\"shape\":[-1],\"data_offsets\":[0,8]}}", &[0; 8]), "header JSON"),
        (with_header("{\"a\":1,\"a\":2}", &[]), "duplicate key"),
        (with_header(&format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000)), &[]), "too deep"),
    ];
    for (file, needle) in cases {
        let mut msg = String::new();
        let largest = largest_allocation(|| msg = assert_refused(&file));
        assert!(msg.contains(needle), "`{needle}` not in `{msg}`");
        // Bounded by the file, whatever it declares (the largest here is 200 KB of header).
        assert!(largest <= 4096 + 2 * file.len(), "{largest} bytes allocated for `{needle}` ({} bytes)", file.len());
    }
}

fn valid_file() -> Vec<u8> {
    st::save(&DenseNet::seeded(1), &SaveOptions { metadata: vec![("k".into(), "v".into())], ..SaveOptions::default() })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random bytes overwritten anywhere, header included.
    #[test]
    fn mutated_files_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut file = valid_file();
        for (i, b) in edits {
            let at = i.index(file.len());
            file[at] = b;
        }
        let mut net = DenseNet::seeded(8);
        let before = DenseNet::seeded(8);
        let mut result = Ok(st::NameMap::default());
        let largest = largest_allocation(|| result = st::load(&mut net, &file, &LoadOptions::strict()));
        prop_assert!(largest <= 4096 + 2 * file.len(), "{} bytes allocated for a {}-byte file", largest, file.len());
        if result.is_err() {
            prop_assert_eq!(bits(net.params()), bits(before.params()));
        }
    }

    /// Truncated anywhere, or with bytes inserted into the header.
    #[test]
    fn truncated_or_spliced_files_are_errors(cut in any::<prop::sample::Index>(), insert in any::<Vec<u8>>()) {
        let file = valid_file();
        let at = cut.index(file.len());
        assert_refused(&file[..at]);
        let mut spliced = file[..at.max(9)].to_vec();
        spliced.extend_from_slice(&insert);
        spliced.extend_from_slice(&file[at.max(9)..]);
        let mut net = DenseNet::seeded(8);
        let before = DenseNet::seeded(8);
        if st::load(&mut net, &spliced, &LoadOptions::strict()).is_err() {
            prop_assert_eq!(bits(net.params()), bits(before.params()));
        }
    }

    /// The header length field set to anything.
    #[test]
    fn any_header_length_is_handled(n in any::<u64>()) {
        let mut file = valid_file();
        file[..8].copy_from_slice(&n.to_le_bytes());
        let header_len = u64::from_le_bytes(valid_file()[..8].try_into().unwrap());
        if n != header_len {
            assert_refused(&file);
        }
    }
}

// ---------------------------------------------------------------------------------------
// PyTorch's files.

/// Loads `name`'s weights, checks outputs, per-sample losses, input gradients and the mean
/// gradient against PyTorch at `tol`, then saves and checks every tensor bit for bit
/// against PyTorch's file.
fn check_against_torch<N>(name: &str, naming: Naming, tol: f64)
where
    N: Network,
    N::Input: Target<N::Input>,
{
    let options = LoadOptions { naming, ..LoadOptions::default() };
    let weights = fixture(name);
    let mut net = N::from_params(N::Params::zeroed());
    let map = st::load(&mut net, &weights, &options).unwrap();
    assert!(map.missing.is_empty() && map.unexpected.is_empty());

    let io_bytes = fixture(&format!("{name}_io"));
    let io = st::parse(&io_bytes).unwrap();
    let (x, x_shape) = values(&io, "input");
    let (t, _) = values(&io, "target");
    let (y, _) = values(&io, "output");
    let (loss, _) = values(&io, "loss");
    let (input_grad, _) = values(&io, "input_grad");
    let batch = x_shape[0];
    let (ni, no) = (N::INPUT, N::OUTPUT);

    let mut grad_sum = N::Params::zeroed();
    for b in 0..batch {
        let mut xb = N::Input::zeroed();
        for (d, s) in xb.as_mut().iter_mut().zip(&x[b * ni..(b + 1) * ni]) {
            *d = N::Scalar::from_f64(*s);
        }
        let mut tb = N::Output::zeroed();
        for (d, s) in tb.as_mut().iter_mut().zip(&t[b * no..(b + 1) * no]) {
            *d = N::Scalar::from_f64(*s);
        }
        let out: Vec<f64> = net.forward(&xb).as_ref().iter().map(|v| v.to_f64()).collect();
        assert_close(&format!("{name} output {b}"), &out, &y[b * no..(b + 1) * no], tol);
        assert_close(&format!("{name} loss {b}"), &[net.loss(&xb, &tb).to_f64()], &[loss[b]], tol);
        let gx: Vec<f64> = net.input_gradient(&xb, &tb).as_ref().iter().map(|v| v.to_f64()).collect();
        assert_close(&format!("{name} input gradient {b}"), &gx, &input_grad[b * ni..(b + 1) * ni], tol);
        net.gradient(&xb, &tb, &mut grad_sum);
    }
    let mean: Vec<f64> = grad_sum.as_ref().iter().map(|g| g.to_f64() / batch as f64).collect();
    // PyTorch's parameter gradients, read through the same name mapping as the weights.
    let mut torch_grad = N::from_params(N::Params::zeroed());
    st::load(&mut torch_grad, &fixture(&format!("{name}_grad")), &options).unwrap();
    let want: Vec<f64> = torch_grad.params().as_ref().iter().map(|g| g.to_f64()).collect();
    assert_close(&format!("{name} parameter gradient"), &mean, &want, tol);

    // Saved in the native type, every tensor is PyTorch's bytes, bit for bit.
    let saved = st::save(&net, &SaveOptions::default());
    let ours = st::parse(&saved).unwrap();
    let theirs = st::parse(&weights).unwrap();
    for (file_name, i) in &map.pairs {
        let a = ours.tensor(N::LAYOUT[*i].name).unwrap();
        let b = theirs.tensor(file_name).unwrap();
        assert_eq!((a.dtype, &a.shape), (b.dtype, &b.shape), "{file_name}");
        assert!(a.data == b.data, "{file_name}: saved bytes differ from PyTorch's");
    }
    let mut again = N::from_params(N::Params::zeroed());
    st::load(&mut again, &saved, &LoadOptions::strict()).unwrap();
    assert_eq!(bits(again.params().as_ref()), bits(net.params().as_ref()));
}

#[test]
fn dense_f64_matches_pytorch_to_1e_12() {
    check_against_torch::<DenseNet>("dense_f64", Naming::Sequential, 1e-12);
}

#[test]
fn conv_f64_matches_pytorch_to_1e_12() {
    check_against_torch::<ConvNet>("conv_f64", Naming::Exact, 1e-12);
}

#[test]
fn dense_f32_matches_pytorch_to_1e_6() {
    // f32 sums in another order than PyTorch's kernels: 1e-6 is 8 ulps near 1 (1e-7 passes here).
    check_against_torch::<DenseNet32>("dense_f32", Naming::Sequential, 1e-6);
}

#[test]
fn sequential_numbering_maps_onto_layers_in_order_and_prints() {
    let file = fixture("dense_f64");
    let parsed = st::parse(&file).unwrap();
    let map = st::name_map::<DenseNet>(&parsed, &LoadOptions { naming: Naming::Sequential, ..LoadOptions::default() })
        .unwrap();
    let printed = map.to_string();
    for line in
        ["0.weight -> hidden.weight", "0.bias -> hidden.bias", "2.weight -> output.weight", "2.bias -> output.bias"]
    {
        assert!(printed.contains(line), "`{line}` not in:\n{printed}");
    }
    // Without the numbering, every name is wrong, and all of them are reported.
    let err = st::load(&mut DenseNet::zeroed(), &file, &LoadOptions::strict()).unwrap_err().to_string();
    assert_eq!(err.matches("missing tensor").count(), 4, "{err}");
    assert_eq!(err.matches("unexpected tensor").count(), 4, "{err}");
    // Two numbered modules onto the conv net's two layers: the shapes are then checked.
    let sequential = LoadOptions { naming: Naming::Sequential, ..LoadOptions::default() };
    let err = st::load(&mut ConvNet::zeroed(), &file, &sequential).unwrap_err().to_string();
    assert!(
        err.contains(
            "tensor `0.weight` (for `conv.weight`) has shape [8, 4] in the file, the network expects [3, 1, 3, 3]"
        ),
        "{err}"
    );
    // One numbered module for two layers: refused with both counts.
    let one = st::serialize(&[("0.weight", Dtype::F64, &[8, 4], &[0u8; 256][..])], &[]);
    let err = st::load(&mut DenseNet::zeroed(), &one, &sequential).unwrap_err();
    assert_eq!(err, LoadError::Mismatch(vec![Problem::Sequential { file: 1, network: 2 }]));
    assert!(err.to_string().contains("the file has 1 numbered modules, the network 2 layers with parameters"));
    // Two spellings of one module index: refused, even when unexpected tensors are allowed.
    let w = [0u8; 256];
    let twice = st::serialize(
        &[
            ("0.weight", Dtype::F64, &[8, 4], &w[..]),
            ("00.weight", Dtype::F64, &[8, 4], &w[..]),
            ("1.weight", Dtype::F64, &[3, 8], &w[..192]),
        ],
        &[],
    );
    let options = LoadOptions {
        naming: Naming::Sequential,
        allow_missing: true,
        allow_unexpected: true,
        ..LoadOptions::default()
    };
    let err = st::load(&mut DenseNet::zeroed(), &twice, &options).unwrap_err().to_string();
    assert!(err.contains("tensors `0.weight` and `00.weight` both map onto `hidden.weight`"), "{err}");
}

#[test]
fn half_precision_files_load_exactly() {
    for tag in ["f16", "bf16"] {
        let options = LoadOptions { naming: Naming::Sequential, ..LoadOptions::default() };
        let half = fixture(&format!("dense_{tag}"));
        let dtype = st::parse(&half).unwrap().tensors[0].1.dtype;
        assert_eq!(dtype, if tag == "f16" { Dtype::F16 } else { Dtype::BF16 });
        let mut a = DenseNet::zeroed();
        st::load(&mut a, &half, &options).unwrap();
        let mut b = DenseNet::zeroed();
        st::load(&mut b, &fixture(&format!("dense_{tag}_ref")), &options).unwrap();
        assert_eq!(bits(a.params()), bits(b.params()), "{tag}");
        assert!(a.params().iter().any(|&p| p != 0.0));
    }
}

// ---------------------------------------------------------------------------------------
// serde: networks, optimizer state, checkpoints.

#[test]
fn networks_and_optimizer_state_of_any_length_round_trip_through_serde() {
    // 67 and 120 parameters: beyond serde's 32-element arrays.
    let net = DenseNet32::seeded(2);
    let json = serde_json::to_string(&net).unwrap();
    let back: DenseNet32 = serde_json::from_str(&json).unwrap();
    assert_eq!(bits(back.params()), bits(net.params()));
    let conv = ConvNet::seeded(2);
    let back: ConvNet = serde_json::from_str(&serde_json::to_string(&conv).unwrap()).unwrap();
    assert_eq!(bits(back.params()), bits(conv.params()));
    // A wrong length is an error, not a truncated or padded network.
    let Err(err) = serde_json::from_str::<DenseNet>("[1.0, 2.0]") else { panic!("accepted 2 parameters") };
    let err = err.to_string();
    assert!(err.contains("invalid length 2"), "{err}");
    let too_long = serde_json::to_string(&vec![0.5f64; 68]).unwrap();
    assert!(serde_json::from_str::<DenseNet>(&too_long).is_err());
}

/// Trains `steps` Adam steps on a fixed cycle of samples starting at `start`.
fn train(net: &mut DenseNet, opt: &mut Adam<[f64; 67]>, start: u64, steps: u64) {
    for s in start..start + steps {
        let k = (s % 5) as f64;
        let x = [k / 5.0, 1.0 - k / 5.0, (k * 0.7).sin(), 0.25];
        let t = [0.1 * k, 0.5, 1.0 - 0.1 * k];
        net.train_step(&x, &t, opt);
    }
}

#[test]
fn a_checkpoint_resumes_training_bit_for_bit() {
    use stackprop::serde_state::Checkpoint;
    let mut net = DenseNet::seeded(4);
    let mut opt: Adam<[f64; 67]> = Adam::new(0.01);
    train(&mut net, &mut opt, 0, 20);
    let saved = serde_json::to_string(&Checkpoint { network: &net, optimizer: &opt, step: 20 }).unwrap();

    train(&mut net, &mut opt, 20, 30);

    let restored: Checkpoint<DenseNet, Adam<[f64; 67]>> = serde_json::from_str(&saved).unwrap();
    let (mut net2, mut opt2) = (restored.network, restored.optimizer);
    train(&mut net2, &mut opt2, restored.step, 30);
    assert_eq!(bits(net2.params()), bits(net.params()));
    // The optimizer's moments were restored: a fresh Adam from the same weights diverges.
    let restored: Checkpoint<DenseNet, Adam<[f64; 67]>> = serde_json::from_str(&saved).unwrap();
    let mut net3 = restored.network;
    train(&mut net3, &mut Adam::new(0.01), 20, 30);
    assert_ne!(bits(net3.params()), bits(net.params()));
}

// ---------------------------------------------------------------------------------------
// Weights compiled in.

/// `ConvNet` with PyTorch's weights read by the macro at build time.
#[network(input = [1, 6, 6], loss = cross_entropy, scalar = f64, weights = "tests/fixtures/torch/conv_f64.safetensors")]
struct ConvTrained {
    conv: Conv2d<
        3,
        Relu,
        {
            kernel = 3;
            padding = 1
        },
    >,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<4, Softmax>,
}

/// The same file compiled into an f32 network: every value rounded once.
#[network(input = [1, 6, 6], loss = cross_entropy, weights = "tests/fixtures/torch/conv_f64.safetensors")]
struct ConvTrained32 {
    conv: Conv2d<
        3,
        Relu,
        {
            kernel = 3;
            padding = 1
        },
    >,
    pool: MaxPool2d<2>,
    flat: Flatten,
    output: Dense<4, Softmax>,
}

/// Usable in a `static`: the weights live in read-only memory.
static COMPILED: ConvTrained = ConvTrained::TRAINED;

#[test]
fn compiled_in_weights_are_the_files_bit_for_bit() {
    let mut loaded = ConvNet::zeroed();
    st::load(&mut loaded, &fixture("conv_f64"), &LoadOptions::strict()).unwrap();
    assert_eq!(bits(COMPILED.params()), bits(loaded.params()));
    let rounded: Vec<f32> = loaded.params().iter().map(|&p| p as f32).collect();
    assert_eq!(bits(ConvTrained32::TRAINED.params()), bits(&rounded));

    // And they compute PyTorch's outputs.
    let io_bytes = fixture("conv_f64_io");
    let io = st::parse(&io_bytes).unwrap();
    let (x, _) = values(&io, "input");
    let (y, _) = values(&io, "output");
    let x0: [f64; 36] = x[..36].try_into().unwrap();
    assert_close("compiled-in output", &COMPILED.forward(&x0), &y[..4], 1e-12);
}

/// The file stackprop writes for `DenseNet::seeded(21)`, committed so that
/// `scripts/torch_fixtures.py` can load it into PyTorch (`load_state_dict`, strict) and
/// record PyTorch's outputs for it. Regenerate with `STACKPROP_WRITE_FIXTURES=1`.
#[test]
fn pytorch_loads_what_stackprop_saves() {
    let net = DenseNet::seeded(21);
    let saved = st::save(&net, &SaveOptions::default());
    let path = format!("{}/tests/fixtures/torch/from_rust_dense_f64.safetensors", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("STACKPROP_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, &saved).unwrap();
    }
    assert!(fixture("from_rust_dense_f64") == saved, "save() no longer writes the committed file");

    // PyTorch's outputs for the file, computed by the script after loading it.
    let io_bytes = fixture("from_rust_dense_f64_io");
    let io = st::parse(&io_bytes).unwrap();
    let (x, shape) = values(&io, "input");
    let (y, _) = values(&io, "output");
    for b in 0..shape[0] {
        let xb: [f64; 4] = x[b * 4..b * 4 + 4].try_into().unwrap();
        assert_close(&format!("output {b}"), &net.forward(&xb), &y[b * 3..b * 3 + 3], 1e-12);
    }
}
