//! Scoring: argmax, accuracy and the confusion matrix.

use stackprop_runtime::data::{ConfusionMatrix, DataError, accuracy, argmax};

#[test]
fn argmax_takes_the_first_maximum_and_skips_nan() {
    assert_eq!(argmax(&[0.1_f32, 0.7, 0.2]), 1);
    assert_eq!(argmax(&[3.0_f64, 1.0, 3.0]), 0, "first on ties");
    assert_eq!(argmax(&[f64::NAN, 1.0, 2.0]), 2, "a leading NaN does not win");
    assert_eq!(argmax(&[1.0, f64::NAN, 0.5]), 0);
    assert_eq!(argmax(&[f64::NEG_INFINITY, -1e300]), 1);
    assert_eq!(argmax(&[f32::NAN, f32::NAN]), 0);
    assert_eq!(argmax::<f64>(&[]), 0);
}

#[test]
fn accuracy_and_its_errors() {
    assert_eq!(accuracy(&[0, 1, 2, 1], &[0, 1, 1, 1]).unwrap(), 0.75);
    let e = accuracy(&[0, 1], &[0]).unwrap_err();
    assert!(matches!(e, DataError::LengthMismatch { predictions: 2, labels: 1 }), "{e:?}");
    assert_eq!(e.to_string(), "2 predictions but 1 labels, expected as many");
    assert!(matches!(accuracy(&[], &[]), Err(DataError::Empty)));
}

fn iris_like() -> ConfusionMatrix {
    let mut m = ConfusionMatrix::new(3);
    let pairs = [(0, 0, 50), (1, 1, 47), (1, 2, 3), (2, 1, 1), (2, 2, 49)];
    for (actual, predicted, times) in pairs {
        for _ in 0..times {
            m.add(actual, predicted).unwrap();
        }
    }
    m
}

#[test]
fn counts_precision_recall() {
    let m = iris_like();
    assert_eq!((m.n_classes(), m.total(), m.correct()), (3, 150, 146));
    assert_eq!((m.count(1, 2), m.count(2, 1), m.count(0, 2)), (3, 1, 0));
    assert!((m.accuracy().unwrap() - 146.0 / 150.0).abs() < 1e-15);
    assert_eq!(m.precision(0), Some(1.0));
    assert_eq!(m.precision(1), Some(47.0 / 48.0));
    assert_eq!(m.recall(1), Some(47.0 / 50.0));
    assert_eq!((m.precision(3), m.recall(3)), (None, None));

    let empty = ConfusionMatrix::new(2);
    assert_eq!((empty.accuracy(), empty.precision(0), empty.recall(1)), (None, None, None));
}

#[test]
fn from_predictions_matches_adding_one_by_one() {
    let predictions = [0, 2, 1, 1, 0];
    let labels = [0, 1, 1, 2, 0];
    let m = ConfusionMatrix::from_predictions(3, &predictions, &labels).unwrap();
    let mut n = ConfusionMatrix::new(3);
    for (&p, &l) in predictions.iter().zip(&labels) {
        n.add(l, p).unwrap();
    }
    assert_eq!(m, n);
    assert_eq!(m.count(1, 2), 1, "rows are actual classes, columns predicted");
}

#[test]
fn out_of_range_classes_are_errors() {
    let mut m = ConfusionMatrix::new(2);
    let e = m.add(0, 2).unwrap_err();
    assert!(matches!(e, DataError::ClassOutOfRange { line: None, label: 2, classes: 2 }), "{e:?}");
    assert!(matches!(m.add(5, 0), Err(DataError::ClassOutOfRange { label: 5, .. })));
    assert_eq!(m.total(), 0, "a rejected pair is not counted");
    assert!(matches!(
        ConfusionMatrix::from_predictions(2, &[0, 1], &[0]),
        Err(DataError::LengthMismatch { predictions: 2, labels: 1 })
    ));
    assert!(matches!(
        ConfusionMatrix::from_predictions(2, &[0, 3], &[0, 1]),
        Err(DataError::ClassOutOfRange { label: 3, .. })
    ));
    let e = ConfusionMatrix::new(3).with_class_names(&["a", "b"]).unwrap_err();
    assert!(matches!(e, DataError::ClassNames { expected: 3, found: 2 }), "{e:?}");
    assert_eq!(e.to_string(), "expected 3 class names, found 2");
}

#[test]
#[should_panic(expected = "class (0, 2) out of range for 2 classes")]
fn count_out_of_range_panics() {
    let _ = ConfusionMatrix::new(2).count(0, 2);
}

#[test]
fn display_prints_an_aligned_table() {
    let m = iris_like().with_class_names(&["setosa", "versicolor", "virginica"]).unwrap();
    let expected = "\
actual \\ predicted  setosa  versicolor  virginica  recall
setosa                  50           0          0   1.000
versicolor               0          47          3   0.940
virginica                0           1         49   0.980
precision            1.000       0.979      0.942
accuracy 0.973 (146 of 150)";
    assert_eq!(m.to_string(), expected);
}

#[test]
fn display_without_names_and_with_undefined_ratios() {
    let mut m = ConfusionMatrix::new(2);
    m.add(0, 0).unwrap();
    m.add(0, 0).unwrap();
    let expected = "\
actual \\ predicted      0      1  recall
0                       2      0   1.000
1                       0      0       -
precision           1.000      -
accuracy 1.000 (2 of 2)";
    assert_eq!(m.to_string(), expected);
}
