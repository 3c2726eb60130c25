//! Preparing data: construction, shuffling, splitting, scaling, one-hot targets, rows for
//! generated networks, mini-batches.

use stackprop_runtime::data::{
    DataError, Dataset, MinMaxScaler, MiniBatches, Split, Standardizer, one_hot, permutation,
};

/// `n` samples of 2 features: sample `i` is `[i, 10·i]` with label `i % 3`.
fn counting(n: usize) -> Dataset<f64> {
    let features = (0..n).flat_map(|i| [i as f64, 10.0 * i as f64]).collect();
    Dataset::new(features, 2, (0..n).map(|i| i % 3).collect()).unwrap()
}

/// Panics unless every sample of `part` is a sample of `counting(_)`, intact.
fn assert_intact(part: &Dataset<f64>) {
    for (row, label) in part.iter() {
        let i = row[0] as usize;
        assert_eq!((row[1], label), (10.0 * i as f64, i % 3), "row {row:?} torn apart");
    }
}

fn ids(part: &Dataset<f64>) -> Vec<usize> {
    part.iter().map(|(row, _)| row[0] as usize).collect()
}

#[test]
fn new_checks_the_shape() {
    let e = Dataset::new(vec![1.0_f32; 5], 2, vec![0, 1]).unwrap_err();
    assert!(matches!(e, DataError::Shape { features: 5, n_features: 2, labels: 2 }), "{e:?}");
    assert_eq!(e.to_string(), "5 feature values do not make 2 samples of 2 features");
    let e = Dataset::<f32>::new(vec![], 0, vec![]).unwrap_err();
    assert!(matches!(e, DataError::Shape { n_features: 0, .. }));
    let empty = Dataset::<f32>::new(vec![], 3, vec![]).unwrap();
    assert!(empty.is_empty() && empty.n_classes() == 0);
}

#[test]
fn class_names_must_cover_the_labels() {
    let data = counting(4).with_class_names(&["a", "b", "c"]).unwrap();
    assert_eq!((data.n_classes(), data.class_names().len()), (3, 3));
    let e = counting(4).with_class_names(&["a", "b"]).unwrap_err();
    assert!(matches!(e, DataError::ClassOutOfRange { line: None, label: 2, classes: 2 }), "{e:?}");
    assert_eq!(e.to_string(), "label 2 is out of range for 2 classes");
}

#[test]
fn shuffle_is_seeded_and_keeps_rows_whole() {
    let mut a = counting(50);
    let mut b = counting(50);
    a.shuffle(3);
    b.shuffle(3);
    assert_eq!(a, b);
    assert_intact(&a);
    let mut order = ids(&a);
    assert_ne!(order, (0..50).collect::<Vec<_>>());
    order.sort_unstable();
    assert_eq!(order, (0..50).collect::<Vec<_>>());
    let mut c = counting(50);
    c.shuffle(4);
    assert_ne!(ids(&c), ids(&a));
    // Degenerate sizes.
    let mut one = counting(1);
    one.shuffle(1);
    assert_eq!(one, counting(1));
}

#[test]
fn permutation_is_uniform_enough() {
    // Each of the 6 orders of 3 items should come up about 1/6 of the time.
    let mut seen = std::collections::HashMap::new();
    for seed in 0..6000 {
        *seen.entry(permutation(3, seed)).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 6);
    for (p, count) in seen {
        assert!((800..1200).contains(&count), "{p:?} came up {count} times");
    }
    assert!(permutation(0, 1).is_empty());
}

#[test]
fn split_by_counts() {
    let data = counting(10);
    let parts = data.split(Split::Counts { validation: 3, test: 2 }, 9).unwrap();
    assert_eq!((parts.train.len(), parts.validation.len(), parts.test.len()), (5, 3, 2));
    let mut all: Vec<usize> = [&parts.train, &parts.validation, &parts.test].iter().flat_map(|p| ids(p)).collect();
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<_>>(), "every sample in exactly one part");
    for p in [&parts.train, &parts.validation, &parts.test] {
        assert_intact(p);
        assert_eq!(p.n_features(), 2);
    }
    assert_eq!(data.split(Split::Counts { validation: 3, test: 2 }, 9).unwrap(), parts);

    let all_test = data.split(Split::Counts { validation: 0, test: 10 }, 1).unwrap();
    assert_eq!((all_test.train.len(), all_test.test.len()), (0, 10));
    let e = data.split(Split::Counts { validation: 6, test: 5 }, 1).unwrap_err();
    assert!(matches!(e, DataError::SplitTooLarge { requested: 11, available: 10 }), "{e:?}");
    assert_eq!(e.to_string(), "split asks for 11 validation and test samples, but there are 10");
    let e = data.split(Split::Counts { validation: usize::MAX, test: 1 }, 1).unwrap_err();
    assert!(matches!(e, DataError::SplitTooLarge { .. }));
}

#[test]
fn split_by_fractions_keeps_class_names() {
    let data = counting(3).with_class_names(&["a", "b", "c"]).unwrap();
    // 1.5 rounds to 2 for the test set; validation + test = 3 leaves 1 for validation.
    let parts = data.split(Split::Fractions { validation: 0.5, test: 0.5 }, 2).unwrap();
    assert_eq!((parts.train.len(), parts.validation.len(), parts.test.len()), (0, 1, 2));
    assert_eq!(parts.test.class_names(), data.class_names());

    let data = counting(100);
    let parts = data.split(Split::Fractions { validation: 0.15, test: 0.2 }, 2).unwrap();
    assert_eq!((parts.train.len(), parts.validation.len(), parts.test.len()), (65, 15, 20));
    let parts = data.split(Split::Fractions { validation: 0.7, test: 0.3 }, 2).unwrap();
    assert_eq!(parts.train.len(), 0);

    for (validation, test) in [(-0.1, 0.2), (0.2, 1.5), (0.6, 0.6), (f64::NAN, 0.1)] {
        let e = data.split(Split::Fractions { validation, test }, 1).unwrap_err();
        assert!(matches!(e, DataError::InvalidSplit { .. }), "{validation}, {test}: {e:?}");
    }
    assert_eq!(
        data.split(Split::Fractions { validation: 0.6, test: 0.6 }, 1).unwrap_err().to_string(),
        "split fractions (validation 0.6, test 0.6) must lie in [0, 1] and sum to at most 1"
    );
}

#[test]
fn standardizer_fits_on_train_and_applies_to_others() {
    // Feature 0: 1, 2, 3 (mean 2, population std √(2/3)); feature 1 constant.
    let mut train = Dataset::new(vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0], 2, vec![0, 1, 0]).unwrap();
    let scaler = Standardizer::fit(&train).unwrap();
    let std0 = (2.0_f64 / 3.0).sqrt();
    assert_eq!(scaler.mean(), [2.0, 5.0]);
    assert!((scaler.scale()[0] - std0).abs() < 1e-15);
    assert_eq!(scaler.scale()[1], 1.0, "constant feature: divisor 1");
    scaler.transform(&mut train).unwrap();
    let f = train.features();
    assert!((f[0] + 1.0 / std0).abs() < 1e-12 && f[2] == 0.0 && (f[4] - 1.0 / std0).abs() < 1e-12);
    assert_eq!([f[1], f[3], f[5]], [0.0; 3]);
    let mean: f64 = [f[0], f[2], f[4]].iter().sum::<f64>() / 3.0;
    let var: f64 = [f[0], f[2], f[4]].iter().map(|x| x * x).sum::<f64>() / 3.0;
    assert!(mean.abs() < 1e-15 && (var - 1.0).abs() < 1e-12);

    let mut test = Dataset::new(vec![4.0, 6.0], 2, vec![1]).unwrap();
    scaler.transform(&mut test).unwrap();
    assert!((test.features()[0] - 2.0 / std0).abs() < 1e-12);
    assert_eq!(test.features()[1], 1.0);

    let mut row = [2.0, 7.0];
    scaler.transform_row(&mut row).unwrap();
    assert_eq!(row, [0.0, 2.0]);
}

#[test]
fn standardizer_treats_rounding_noise_as_constant() {
    // 0.1 three times: the mean is not exactly 0.1, the deviations are rounding noise.
    let data = Dataset::new(vec![0.1, 0.1, 0.1], 1, vec![0, 0, 0]).unwrap();
    assert_eq!(Standardizer::fit(&data).unwrap().scale(), [1.0]);
    let data = Dataset::new(vec![1e9_f32 + 64.0, 1e9, 1e9], 1, vec![0, 0, 0]).unwrap();
    assert!(Standardizer::fit(&data).unwrap().scale()[0] > 1.0);
}

#[test]
fn scaler_errors() {
    let empty = Dataset::<f64>::new(vec![], 2, vec![]).unwrap();
    assert!(matches!(Standardizer::fit(&empty), Err(DataError::Empty)));
    assert!(matches!(MinMaxScaler::fit(&empty), Err(DataError::Empty)));

    let data = counting(3);
    let mut wide = Dataset::new(vec![0.0; 3], 3, vec![0]).unwrap();
    let s = Standardizer::fit(&data).unwrap();
    let e = s.transform(&mut wide).unwrap_err();
    assert!(matches!(e, DataError::FeatureCount { expected: 2, found: 3 }), "{e:?}");
    assert_eq!(e.to_string(), "expected 2 features, found 3");
    assert!(matches!(s.transform_row(&mut [0.0]), Err(DataError::FeatureCount { .. })));
    let m = MinMaxScaler::fit(&data).unwrap();
    assert!(matches!(m.transform(&mut wide), Err(DataError::FeatureCount { .. })));
    assert!(matches!(m.transform_row(&mut [0.0; 4]), Err(DataError::FeatureCount { .. })));
}

#[test]
fn min_max_scaler() {
    let mut train = Dataset::new(vec![-1.0_f32, 3.0, 1.0, 3.0, 3.0, 3.0], 2, vec![0, 0, 1]).unwrap();
    let scaler = MinMaxScaler::fit(&train).unwrap();
    assert_eq!((scaler.min(), scaler.range()), (&[-1.0, 3.0][..], &[4.0, 1.0][..]));
    scaler.transform(&mut train).unwrap();
    assert_eq!(train.features(), [0.0, 0.0, 0.5, 0.0, 1.0, 0.0]);
    let mut row = [5.0, 4.0];
    scaler.transform_row(&mut row).unwrap();
    assert_eq!(row, [1.5, 1.0], "values outside the fitted range fall outside [0, 1]");
}

#[test]
fn one_hot_arrays() {
    assert_eq!(one_hot::<f32, 3>(1).unwrap(), [0.0, 1.0, 0.0]);
    let e = one_hot::<f64, 3>(3).unwrap_err();
    assert!(matches!(e, DataError::ClassOutOfRange { line: None, label: 3, classes: 3 }), "{e:?}");

    let data = counting(4);
    let targets: Vec<[f64; 3]> = data.one_hot_targets().unwrap();
    assert_eq!(targets, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]);
    assert!(matches!(data.one_hot_targets::<2>(), Err(DataError::ClassOutOfRange { label: 2, .. })));

    let flat = data.one_hot_flat(4).unwrap();
    assert_eq!(flat.len(), 16);
    assert_eq!(&flat[4..8], [0.0, 1.0, 0.0, 0.0]);
    assert!(matches!(data.one_hot_flat(2), Err(DataError::ClassOutOfRange { label: 2, classes: 2, .. })));
    assert!(matches!(data.one_hot_flat(0), Err(DataError::ClassOutOfRange { classes: 0, .. })));
}

#[test]
fn rows_as_fixed_size_arrays() {
    let data = counting(3);
    let rows: Vec<[f64; 2]> = data.rows().unwrap();
    assert_eq!(rows, [[0.0, 0.0], [1.0, 10.0], [2.0, 20.0]]);
    let e = data.rows::<3>().unwrap_err();
    assert!(matches!(e, DataError::FeatureCount { expected: 3, found: 2 }), "{e:?}");
}

#[test]
fn subset_and_gather() {
    let data = counting(6);
    let sub = data.subset(&[4, 1, 4]);
    assert_eq!(ids(&sub), [4, 1, 4]);
    assert_eq!(sub.labels(), [1, 1, 1]);
    let (mut xs, mut ys) = (vec![99.0], vec![99]);
    data.gather_into(&[5, 0], &mut xs, &mut ys);
    assert_eq!((xs, ys), (vec![5.0, 50.0, 0.0, 0.0], vec![2, 0]));
}

#[test]
fn mini_batches_cover_every_sample_once_per_epoch() {
    let mut batches = MiniBatches::new(10, 3, 5).unwrap();
    assert_eq!((batches.len(), batches.batch_size(), batches.batches_per_epoch()), (10, 3, 4));
    let first: Vec<Vec<usize>> = batches.epoch().map(<[usize]>::to_vec).collect();
    assert_eq!(first.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3, 1]);
    let mut seen: Vec<usize> = first.concat();
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    let second: Vec<usize> = batches.epoch().flatten().copied().collect();
    assert_ne!(second, first.concat(), "each epoch is reshuffled");

    let again: Vec<usize> = MiniBatches::new(10, 3, 5).unwrap().epoch().flatten().copied().collect();
    assert_eq!(again, first.concat(), "same seed, same batches");

    let mut none = MiniBatches::new(0, 4, 1).unwrap();
    assert!(none.is_empty() && none.epoch().next().is_none());
    let e = MiniBatches::new(10, 0, 1).unwrap_err();
    assert!(matches!(e, DataError::ZeroBatchSize));
    assert_eq!(e.to_string(), "batch size is 0, expected at least 1");
}
