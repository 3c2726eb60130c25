//! Data helpers for examples and tests: a labelled [`Dataset`], CSV loading, shuffling and
//! splitting, feature scaling, one-hot targets, mini-batches and classification metrics.
//!
//! - Load: [`load_csv`] / [`parse_csv`] (or the `_with` forms taking [`CsvOptions`]).
//! - Prepare: [`Dataset::shuffle`], [`Dataset::split`], [`Standardizer`], [`MinMaxScaler`].
//! - Feed a generated network: [`Dataset::rows`] gives `Vec<[T; N]>` inputs,
//!   [`Dataset::one_hot_targets`] (or [`one_hot`]) gives `Vec<[T; N]>` targets; the
//!   dynamic network takes [`Dataset::features`] and [`Dataset::one_hot_flat`] as they are.
//! - Train in mini-batches: [`MiniBatches`] and [`Dataset::gather_into`].
//! - Evaluate: [`argmax`], [`accuracy`], [`ConfusionMatrix`].
//!
//! Everything that can fail on data returns a [`DataError`] naming what is wrong and,
//! for files, where (line and column, counted from 1).
//!
//! # CSV format
//!
//! One sample per line, fields separated by commas, numbers in any form `f64` parses,
//! the label (a non-negative integer) in the last column unless
//! [`CsvOptions::label_column`] says otherwise. Blank lines are skipped, fields are
//! trimmed, and `\r\n` line ends are accepted. A file may start with a header line:
//!
//! - [`Header::Counts`], the form the project's data files use: the row count, the
//!   feature count, then the class names, e.g. `150,4,setosa,versicolor,virginica`. Both
//!   counts are checked against the data, and every label against the names.
//! - [`Header::Names`]: column names, skipped.
//!
//! ```
//! use stackprop_runtime::data::{parse_csv, Split};
//!
//! let csv = "4,2,no,yes\n0.5,1.0,0\n1.5,0.0,1\n2.5,1.0,1\n0.1,0.2,0\n";
//! let data = parse_csv::<f32>(csv, true)?;
//! assert_eq!((data.len(), data.n_features(), data.n_classes()), (4, 2, 2));
//! let inputs: Vec<[f32; 2]> = data.rows()?;
//! let targets: Vec<[f32; 2]> = data.one_hot_targets()?;
//! assert_eq!((inputs[1], targets[1]), ([1.5, 0.0], [0.0, 1.0]));
//! let parts = data.split(Split::Counts { validation: 1, test: 1 }, 7)?;
//! assert_eq!((parts.train.len(), parts.validation.len(), parts.test.len()), (2, 1, 1));
//! # Ok::<(), stackprop_runtime::data::DataError>(())
//! ```

use core::fmt;
use std::borrow::ToOwned;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use rand_core::Rng;

use crate::rng::SplitMix64;
use crate::scalar::Scalar;

/// Everything that can go wrong when loading, preparing or scoring data.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system reported.
        source: std::io::Error,
    },
    /// There are no samples: an empty file, or an empty set where samples are needed.
    Empty,
    /// A feature field is not a finite number.
    Number {
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
        /// The field as written.
        text: String,
    },
    /// A label field is not a non-negative integer.
    Label {
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
        /// The field as written.
        text: String,
    },
    /// A count in a [`Header::Counts`] line is not a non-negative integer, or a class
    /// name in it is empty.
    Header {
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
        /// The field as written.
        text: String,
    },
    /// A [`Header::Counts`] line disagrees with the data.
    HeaderMismatch {
        /// `"rows"` or `"features"`.
        what: &'static str,
        /// The count in the header.
        declared: usize,
        /// The count in the data.
        found: usize,
    },
    /// A row has a different number of fields than the first row.
    Ragged {
        /// Line, from 1.
        line: usize,
        /// Fields in the first row.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A row has fewer than two fields, so no feature beside the label.
    TooFewColumns {
        /// Line, from 1.
        line: usize,
        /// Fields in the row.
        found: usize,
    },
    /// [`CsvOptions::label_column`] is not a column of the file.
    LabelColumn {
        /// The index given, from 0.
        column: usize,
        /// Number of columns in the file.
        columns: usize,
    },
    /// A label is not below the number of classes.
    ClassOutOfRange {
        /// The line of a file it came from, if any.
        line: Option<usize>,
        /// The label.
        label: usize,
        /// Number of classes.
        classes: usize,
    },
    /// Feature values, feature count and labels of [`Dataset::new`] do not fit together.
    Shape {
        /// Number of feature values.
        features: usize,
        /// Features per sample.
        n_features: usize,
        /// Number of labels (samples).
        labels: usize,
    },
    /// A feature value is NaN or infinite.
    NonFinite {
        /// Index of the sample.
        sample: usize,
        /// Index of the feature.
        feature: usize,
    },
    /// Data with one number of features was given where another was expected.
    FeatureCount {
        /// Features expected.
        expected: usize,
        /// Features found.
        found: usize,
    },
    /// Predictions and labels differ in length.
    LengthMismatch {
        /// Number of predictions.
        predictions: usize,
        /// Number of labels.
        labels: usize,
    },
    /// [`Split::Fractions`] outside `[0, 1]` or summing to more than 1.
    InvalidSplit {
        /// The validation fraction.
        validation: f64,
        /// The test fraction.
        test: f64,
    },
    /// [`Split::Counts`] asks for more samples than there are.
    SplitTooLarge {
        /// Validation plus test samples asked for.
        requested: usize,
        /// Samples in the data set.
        available: usize,
    },
    /// A mini-batch size of 0.
    ZeroBatchSize,
    /// Class names given for a confusion matrix of another number of classes.
    ClassNames {
        /// Number of classes.
        expected: usize,
        /// Number of names.
        found: usize,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Io { path, source } => {
                write!(f, "cannot read `{}`: {source}", path.display())
            }
            DataError::Empty => f.write_str("no samples, expected at least one"),
            DataError::Number { line, column, text } => {
                write!(f, "line {line}, column {column}: expected a finite number, found `{text}`")
            }
            DataError::Label { line, column, text } => write!(
                f,
                "line {line}, column {column}: expected a class label (a non-negative integer), found `{text}`"
            ),
            DataError::Header { line, column, text } => {
                let expected = match column {
                    1 => "the row count",
                    2 => "the feature count",
                    _ => "a class name",
                };
                write!(f, "line {line}, column {column}: expected {expected}, found `{text}`")
            }
            DataError::HeaderMismatch { what, declared, found } => {
                write!(f, "the header declares {declared} {what}, but the data has {found}")
            }
            DataError::Ragged { line, expected, found } => {
                write!(f, "line {line}: expected {expected} fields like the first row, found {found}")
            }
            DataError::TooFewColumns { line, found } => {
                write!(f, "line {line}: expected at least 2 fields (features and a label), found {found}")
            }
            DataError::LabelColumn { column, columns } => {
                write!(f, "label column {column} is out of range for {columns} columns (counted from 0)")
            }
            DataError::ClassOutOfRange { line, label, classes } => {
                if let Some(line) = line {
                    write!(f, "line {line}: ")?;
                }
                write!(f, "label {label} is out of range for {classes} classes")
            }
            DataError::Shape { features, n_features, labels } => {
                write!(f, "{features} feature values do not make {labels} samples of {n_features} features")
            }
            DataError::NonFinite { sample, feature } => {
                write!(f, "sample {sample} has a non-finite value at feature {feature}")
            }
            DataError::FeatureCount { expected, found } => {
                write!(f, "expected {expected} features, found {found}")
            }
            DataError::LengthMismatch { predictions, labels } => {
                write!(f, "{predictions} predictions but {labels} labels, expected as many")
            }
            DataError::InvalidSplit { validation, test } => write!(
                f,
                "split fractions (validation {validation}, test {test}) must lie in [0, 1] and sum to at most 1"
            ),
            DataError::SplitTooLarge { requested, available } => {
                write!(f, "split asks for {requested} validation and test samples, but there are {available}")
            }
            DataError::ZeroBatchSize => f.write_str("batch size is 0, expected at least 1"),
            DataError::ClassNames { expected, found } => {
                write!(f, "expected {expected} class names, found {found}")
            }
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Samples with a class label each: features row-major in one flat vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<T> {
    features: Vec<T>,
    n_features: usize,
    labels: Vec<usize>,
    class_names: Vec<String>,
}

impl<T> Dataset<T> {
    /// A data set from row-major `features` (`n_features` per sample) and one label per
    /// sample, without class names.
    ///
    /// # Errors
    /// [`DataError::Shape`] if `n_features` is 0 or `features.len()` is not
    /// `n_features · labels.len()`.
    pub fn new(features: Vec<T>, n_features: usize, labels: Vec<usize>) -> Result<Self, DataError> {
        if n_features == 0 || features.len() != n_features * labels.len() {
            return Err(DataError::Shape { features: features.len(), n_features, labels: labels.len() });
        }
        Ok(Self { features, n_features, labels, class_names: Vec::new() })
    }

    /// The same data with class names, one per class.
    ///
    /// # Errors
    /// [`DataError::ClassOutOfRange`] if a label is not below `names.len()`.
    pub fn with_class_names<S: AsRef<str>>(mut self, names: &[S]) -> Result<Self, DataError> {
        if let Some(&label) = self.labels.iter().find(|&&l| l >= names.len()) {
            return Err(DataError::ClassOutOfRange { line: None, label, classes: names.len() });
        }
        self.class_names = names.iter().map(|s| s.as_ref().to_string()).collect();
        Ok(self)
    }

    /// Number of samples.
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// `true` if there is no sample.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features per sample.
    #[inline]
    #[must_use]
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of classes: the number of class names if there are any, else the largest
    /// label plus one (0 without samples).
    #[must_use]
    pub fn n_classes(&self) -> usize {
        if self.class_names.is_empty() {
            self.labels.iter().max().map_or(0, |&m| m + 1)
        } else {
            self.class_names.len()
        }
    }

    /// All features, row-major.
    #[inline]
    #[must_use]
    pub fn features(&self) -> &[T] {
        &self.features
    }

    /// All features, mutably.
    #[inline]
    #[must_use]
    pub fn features_mut(&mut self) -> &mut [T] {
        &mut self.features
    }

    /// The labels, one per sample.
    #[inline]
    #[must_use]
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The class names (empty if the data has none).
    #[inline]
    #[must_use]
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The features of sample `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn row(&self, i: usize) -> &[T] {
        &self.features[i * self.n_features..(i + 1) * self.n_features]
    }

    /// The samples in order, as `(features, label)`.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[T], usize)> + '_ {
        self.features.chunks_exact(self.n_features).zip(self.labels.iter().copied())
    }

    /// Reorders the samples with a Fisher–Yates shuffle driven by a [`SplitMix64`]
    /// seeded with `seed`.
    pub fn shuffle(&mut self, seed: u64) {
        let mut rng = SplitMix64::new(seed);
        let nf = self.n_features;
        for i in (1..self.len()).rev() {
            let j = below(&mut rng, i + 1);
            if j != i {
                self.labels.swap(i, j);
                // j < i, so row j lies wholly before row i.
                let (head, tail) = self.features.split_at_mut(i * nf);
                head[j * nf..(j + 1) * nf].swap_with_slice(&mut tail[..nf]);
            }
        }
    }

    /// Clears `features` and `labels` and fills them with the samples at `indices`, in
    /// that order; the buffers are reused across calls, so a training loop does not
    /// allocate per batch.
    ///
    /// # Panics
    /// If an index is not below `self.len()`.
    #[track_caller]
    pub fn gather_into(&self, indices: &[usize], features: &mut Vec<T>, labels: &mut Vec<usize>)
    where
        T: Clone,
    {
        features.clear();
        labels.clear();
        for &i in indices {
            features.extend_from_slice(self.row(i));
            labels.push(self.labels[i]);
        }
    }

    /// A new data set of the samples at `indices`, in that order, with the same class
    /// names.
    ///
    /// # Panics
    /// If an index is not below `self.len()`.
    #[must_use]
    #[track_caller]
    pub fn subset(&self, indices: &[usize]) -> Self
    where
        T: Clone,
    {
        let mut features = Vec::with_capacity(indices.len() * self.n_features);
        let mut labels = Vec::with_capacity(indices.len());
        self.gather_into(indices, &mut features, &mut labels);
        Self { features, n_features: self.n_features, labels, class_names: self.class_names.clone() }
    }

    /// Splits the samples, shuffled by `seed`, into train, validation and test sets; the
    /// train set gets whatever the other two do not take.
    ///
    /// [`Split::Fractions`] rounds `test·n` for the test set and `(validation + test)·n`
    /// for both together, so the sizes always add up to `n`.
    ///
    /// # Errors
    /// [`DataError::InvalidSplit`] for fractions outside `[0, 1]` or summing to more than
    /// 1; [`DataError::SplitTooLarge`] for counts adding up to more than `self.len()`.
    pub fn split(&self, split: Split, seed: u64) -> Result<Splits<T>, DataError>
    where
        T: Clone,
    {
        let n = self.len();
        let (n_val, n_test) = match split {
            Split::Fractions { validation, test } => {
                let valid = |f: f64| (0.0..=1.0).contains(&f);
                // A little slack so that fractions like 0.7 + 0.3 that round above 1
                // are still accepted.
                if !(valid(validation) && valid(test) && validation + test <= 1.0 + 1e-9) {
                    return Err(DataError::InvalidSplit { validation, test });
                }
                let n_test = round_count(test * n as f64, n);
                let n_held = round_count((validation + test) * n as f64, n).max(n_test);
                (n_held - n_test, n_test)
            }
            Split::Counts { validation, test } => {
                let requested = validation.saturating_add(test);
                if requested > n {
                    return Err(DataError::SplitTooLarge { requested, available: n });
                }
                (validation, test)
            }
        };
        let order = permutation(n, seed);
        let (train, rest) = order.split_at(n - n_val - n_test);
        let (validation, test) = rest.split_at(n_val);
        Ok(Splits { train: self.subset(train), validation: self.subset(validation), test: self.subset(test) })
    }

    /// The features as fixed-size rows, the input type of a generated network with `N`
    /// inputs.
    ///
    /// # Errors
    /// [`DataError::FeatureCount`] if `N` is not [`n_features`](Self::n_features);
    /// [`DataError::NonFinite`] for the first NaN or infinite value, so none reaches a
    /// network.
    pub fn rows<const N: usize>(&self) -> Result<Vec<[T; N]>, DataError>
    where
        T: Scalar,
    {
        if N != self.n_features {
            return Err(DataError::FeatureCount { expected: N, found: self.n_features });
        }
        if let Some(i) = crate::network::first_non_finite(&self.features) {
            return Err(DataError::NonFinite { sample: i / N, feature: i % N });
        }
        // N equals n_features, which `new` keeps above 0, so the chunks are whole rows.
        let (rows, _) = self.features.as_chunks::<N>();
        Ok(rows.to_vec())
    }
}

impl<T: Scalar> Dataset<T> {
    /// The labels as one-hot arrays, the target type of a generated network with `N`
    /// outputs.
    ///
    /// # Errors
    /// [`DataError::ClassOutOfRange`] if a label is not below `N`.
    pub fn one_hot_targets<const N: usize>(&self) -> Result<Vec<[T; N]>, DataError> {
        self.labels.iter().map(|&l| one_hot(l)).collect()
    }

    /// The labels as one-hot rows of `n_classes` in one flat row-major vector, the target
    /// layout of the dynamic network's batch methods.
    ///
    /// # Errors
    /// [`DataError::ClassOutOfRange`] if a label is not below `n_classes`.
    pub fn one_hot_flat(&self, n_classes: usize) -> Result<Vec<T>, DataError> {
        if let Some(&label) = self.labels.iter().find(|&&l| l >= n_classes) {
            return Err(DataError::ClassOutOfRange { line: None, label, classes: n_classes });
        }
        let mut out = vec![T::ZERO; self.len() * n_classes];
        for (i, &label) in self.labels.iter().enumerate() {
            out[i * n_classes + label] = T::ONE;
        }
        Ok(out)
    }
}

/// How [`Dataset::split`] sizes the validation and test sets; the train set takes the
/// rest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Split {
    /// Fractions of the samples, each in `[0, 1]`, summing to at most 1.
    Fractions {
        /// Fraction for validation.
        validation: f64,
        /// Fraction for test.
        test: f64,
    },
    /// Numbers of samples.
    Counts {
        /// Samples for validation.
        validation: usize,
        /// Samples for test.
        test: usize,
    },
}

/// The three parts made by [`Dataset::split`].
#[derive(Clone, Debug, PartialEq)]
pub struct Splits<T> {
    /// Samples to train on.
    pub train: Dataset<T>,
    /// Samples to choose hyper-parameters and stop on.
    pub validation: Dataset<T>,
    /// Samples for the final score.
    pub test: Dataset<T>,
}

/// `round(x)` as a count, at most `n`.
fn round_count(x: f64, n: usize) -> usize {
    // x lies in [0, n + tiny] after the fraction checks; the cast saturates in any case.
    (libm::round(x) as usize).min(n)
}

/// The first line of a CSV file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Header {
    /// No header: the first line is data.
    #[default]
    None,
    /// `rows,features,class names...`, e.g. `150,4,setosa,versicolor,virginica`.
    Counts,
    /// Column names, skipped.
    Names,
}

/// How to read a CSV file: its header and which column holds the label.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsvOptions {
    /// The first line's form.
    pub header: Header,
    /// The label's column, from 0; `None` for the last column.
    pub label_column: Option<usize>,
}

/// Reads a CSV file with the label in the last column; `has_header` means a
/// [`Header::Counts`] line.
///
/// # Errors
/// [`DataError::Io`] if the file cannot be read, otherwise as [`parse_csv_with`].
pub fn load_csv<T: Scalar>(path: impl AsRef<Path>, has_header: bool) -> Result<Dataset<T>, DataError> {
    load_csv_with(path, CsvOptions { header: counts_if(has_header), label_column: None })
}

/// Reads a CSV file as `options` describe.
///
/// # Errors
/// [`DataError::Io`] if the file cannot be read, otherwise as [`parse_csv_with`].
pub fn load_csv_with<T: Scalar>(path: impl AsRef<Path>, options: CsvOptions) -> Result<Dataset<T>, DataError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io { path: path.to_owned(), source })?;
    parse_csv_with(&text, options)
}

/// Parses CSV text with the label in the last column; `has_header` means a
/// [`Header::Counts`] line.
///
/// # Errors
/// As [`parse_csv_with`].
pub fn parse_csv<T: Scalar>(text: &str, has_header: bool) -> Result<Dataset<T>, DataError> {
    parse_csv_with(text, CsvOptions { header: counts_if(has_header), label_column: None })
}

fn counts_if(has_header: bool) -> Header {
    if has_header { Header::Counts } else { Header::None }
}

/// Parses CSV text as `options` describe (the format is in the [module docs](self)).
///
/// # Errors
/// - [`DataError::Empty`]: no data rows.
/// - [`DataError::Number`], [`DataError::Label`]: a field that does not parse, with its
///   line and column.
/// - [`DataError::Ragged`], [`DataError::TooFewColumns`], [`DataError::LabelColumn`]: rows
///   of the wrong width.
/// - [`DataError::Header`], [`DataError::HeaderMismatch`], [`DataError::ClassOutOfRange`]:
///   a [`Header::Counts`] line that does not parse or does not match the data.
pub fn parse_csv_with<T: Scalar>(text: &str, options: CsvOptions) -> Result<Dataset<T>, DataError> {
    let mut lines = text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        (!line.is_empty()).then_some((i + 1, line))
    });

    let header = match options.header {
        Header::None => None,
        Header::Names => {
            lines.next();
            None
        }
        Header::Counts => match lines.next() {
            Some((line, text)) => Some(parse_counts_header(line, text)?),
            None => return Err(DataError::Empty),
        },
    };

    let mut features = Vec::new();
    let mut labels = Vec::new();
    // Fixed by the first data row: number of fields and the label's column.
    let mut shape: Option<(usize, usize)> = None;
    for (line, text) in lines {
        let found = text.split(',').count();
        let (columns, label_column) = match shape {
            Some(s) => s,
            None => {
                if found < 2 {
                    return Err(DataError::TooFewColumns { line, found });
                }
                if let Some(h) = &header
                    && h.n_features != found - 1
                {
                    return Err(DataError::HeaderMismatch {
                        what: "features",
                        declared: h.n_features,
                        found: found - 1,
                    });
                }
                let label_column = options.label_column.unwrap_or(found - 1);
                if label_column >= found {
                    return Err(DataError::LabelColumn { column: label_column, columns: found });
                }
                *shape.insert((found, label_column))
            }
        };
        if found != columns {
            return Err(DataError::Ragged { line, expected: columns, found });
        }
        for (c, field) in text.split(',').enumerate() {
            let field = field.trim();
            let column = c + 1;
            if c == label_column {
                let label =
                    parse_label(field).ok_or_else(|| DataError::Label { line, column, text: field.to_string() })?;
                if let Some(h) = &header
                    && !h.class_names.is_empty()
                    && label >= h.class_names.len()
                {
                    return Err(DataError::ClassOutOfRange { line: Some(line), label, classes: h.class_names.len() });
                }
                labels.push(label);
            } else {
                let value = field.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| DataError::Number {
                    line,
                    column,
                    text: field.to_string(),
                })?;
                features.push(T::from_f64(value));
            }
        }
    }

    let Some((columns, _)) = shape else {
        return Err(DataError::Empty);
    };
    let mut data = Dataset { features, n_features: columns - 1, labels, class_names: Vec::new() };
    if let Some(h) = header {
        if h.n_rows != data.len() {
            return Err(DataError::HeaderMismatch { what: "rows", declared: h.n_rows, found: data.len() });
        }
        data.class_names = h.class_names;
    }
    Ok(data)
}

/// A parsed [`Header::Counts`] line.
struct CountsHeader {
    n_rows: usize,
    n_features: usize,
    class_names: Vec<String>,
}

fn parse_counts_header(line: usize, text: &str) -> Result<CountsHeader, DataError> {
    let mut fields = text.split(',').map(str::trim);
    let mut count = |column: usize| {
        let field = fields.next().unwrap_or("");
        field.parse::<usize>().map_err(|_| DataError::Header { line, column, text: field.to_string() })
    };
    let n_rows = count(1)?;
    let n_features = count(2)?;
    let mut class_names = Vec::new();
    for (i, name) in fields.enumerate() {
        if name.is_empty() {
            return Err(DataError::Header { line, column: i + 3, text: String::new() });
        }
        class_names.push(name.to_string());
    }
    Ok(CountsHeader { n_rows, n_features, class_names })
}

/// A label: a non-negative integer, written as such or as an integral float (`2.0`),
/// which some CSV writers emit for integer columns.
fn parse_label(field: &str) -> Option<usize> {
    if let Ok(label) = field.parse::<usize>() {
        return Some(label);
    }
    let v = field.parse::<f64>().ok()?;
    // 2⁵³: beyond it an f64 no longer tells neighbouring integers apart.
    let integral = (0.0..=9_007_199_254_740_992.0).contains(&v) && libm::trunc(v) == v;
    integral.then_some(v as usize)
}

/// The one-hot vector of `label`: 1 at the index, 0 elsewhere.
///
/// # Errors
/// [`DataError::ClassOutOfRange`] if `label >= N`.
pub fn one_hot<T: Scalar, const N: usize>(label: usize) -> Result<[T; N], DataError> {
    if label >= N {
        return Err(DataError::ClassOutOfRange { line: None, label, classes: N });
    }
    let mut v = [T::ZERO; N];
    v[label] = T::ONE;
    Ok(v)
}

/// The index of the largest element; the first on ties, NaN elements skipped, 0 for an
/// empty or all-NaN slice.
#[must_use]
pub fn argmax<T: Scalar>(values: &[T]) -> usize {
    let mut best: Option<(usize, T)> = None;
    for (i, &v) in values.iter().enumerate() {
        // NaN compares false with everything, so it would win only where it stands
        // first; it is skipped wherever it stands.
        let is_nan = v.partial_cmp(&v).is_none();
        if !is_nan && best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map_or(0, |(i, _)| i)
}

/// The fraction of `predictions` equal to `labels`.
///
/// # Errors
/// [`DataError::LengthMismatch`] if the slices differ in length, [`DataError::Empty`] if
/// they are empty.
pub fn accuracy(predictions: &[usize], labels: &[usize]) -> Result<f64, DataError> {
    if predictions.len() != labels.len() {
        return Err(DataError::LengthMismatch { predictions: predictions.len(), labels: labels.len() });
    }
    if labels.is_empty() {
        return Err(DataError::Empty);
    }
    let correct = predictions.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(correct as f64 / labels.len() as f64)
}

/// `0..n` in a random order: a Fisher–Yates shuffle driven by a [`SplitMix64`] seeded
/// with `seed`.
#[must_use]
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    shuffle(&mut order, &mut SplitMix64::new(seed));
    order
}

/// Shuffles `items` in place with Fisher–Yates, each permutation equally likely.
pub fn shuffle<U, R: Rng + ?Sized>(items: &mut [U], rng: &mut R) {
    for i in (1..items.len()).rev() {
        items.swap(i, below(rng, i + 1));
    }
}

/// A uniform integer in `0..n` (`n > 0`), without the bias of `next % n`.
fn below<R: Rng + ?Sized>(rng: &mut R, n: usize) -> usize {
    // Lemire's multiply-shift ("Fast random integer generation in an interval", 2019):
    // the high word of x·n is uniform once the few low words below 2⁶⁴ mod n are rejected.
    let n = n as u64;
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    if (m as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
        }
    }
    (m >> 64) as usize
}

/// Shuffled mini-batches of sample indices, reshuffled every epoch with no allocation
/// after construction.
///
/// ```
/// use stackprop_runtime::data::MiniBatches;
///
/// let mut batches = MiniBatches::new(10, 4, 1)?;
/// let sizes: Vec<usize> = batches.epoch().map(<[usize]>::len).collect();
/// assert_eq!(sizes, [4, 4, 2]);
/// # Ok::<(), stackprop_runtime::data::DataError>(())
/// ```
#[derive(Clone, Debug)]
pub struct MiniBatches {
    order: Vec<usize>,
    batch_size: usize,
    rng: SplitMix64,
}

impl MiniBatches {
    /// Batches of `batch_size` indices into `len` samples (the last batch may be
    /// smaller), shuffled by a [`SplitMix64`] seeded with `seed`.
    ///
    /// # Errors
    /// [`DataError::ZeroBatchSize`] if `batch_size` is 0.
    pub fn new(len: usize, batch_size: usize, seed: u64) -> Result<Self, DataError> {
        if batch_size == 0 {
            return Err(DataError::ZeroBatchSize);
        }
        Ok(Self { order: (0..len).collect(), batch_size, rng: SplitMix64::new(seed) })
    }

    /// Reshuffles and returns the next epoch's batches.
    pub fn epoch(&mut self) -> core::slice::Chunks<'_, usize> {
        // Shuffling the previous order (not 0..len) is still uniform, and saves a reset.
        shuffle(&mut self.order, &mut self.rng);
        self.order.chunks(self.batch_size)
    }

    /// Indices per batch.
    #[inline]
    #[must_use]
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Number of samples.
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// `true` if there is no sample.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Number of batches per epoch.
    #[inline]
    #[must_use]
    pub fn batches_per_epoch(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }
}

/// Per-feature standardization `(x − mean) / std`, fitted on one set (the train set) and
/// applied to others.
///
/// The standard deviation is the population one (divided by `n`, as scikit-learn's
/// `StandardScaler`). A feature that is constant on the fitted set is only centred: its
/// divisor is 1, not a standard deviation of (nearly) 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer<T> {
    mean: Vec<T>,
    scale: Vec<T>,
}

impl<T: Scalar> Standardizer<T> {
    /// Fits the mean and standard deviation of every feature of `data`.
    ///
    /// # Errors
    /// [`DataError::Empty`] if `data` has no sample.
    pub fn fit(data: &Dataset<T>) -> Result<Self, DataError> {
        if data.is_empty() {
            return Err(DataError::Empty);
        }
        let n = data.len() as f64;
        let nf = data.n_features();
        // Two passes in f64: the one-pass Σx² − n·mean² cancels catastrophically for
        // features with a large mean.
        let mut mean = vec![0.0_f64; nf];
        for (row, _) in data.iter() {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += x.to_f64();
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0_f64; nf];
        for (row, _) in data.iter() {
            for ((v, &m), &x) in var.iter_mut().zip(&mean).zip(row) {
                let d = x.to_f64() - m;
                *v += d * d;
            }
        }
        let scale = var
            .iter()
            .zip(&mean)
            .map(|(&v, &m)| {
                let std = libm::sqrt(v / n);
                // A constant feature leaves only rounding residue of its mean.
                let constant = std <= 10.0 * f64::EPSILON * libm::fabs(m).max(1.0);
                T::from_f64(if constant { 1.0 } else { std })
            })
            .collect();
        Ok(Self { mean: mean.into_iter().map(T::from_f64).collect(), scale })
    }

    /// The fitted means.
    #[inline]
    #[must_use]
    pub fn mean(&self) -> &[T] {
        &self.mean
    }

    /// The divisors: the standard deviations, 1 for constant features.
    #[inline]
    #[must_use]
    pub fn scale(&self) -> &[T] {
        &self.scale
    }

    /// Standardizes every sample of `data` in place.
    ///
    /// # Errors
    /// [`DataError::FeatureCount`] if `data` has another number of features.
    pub fn transform(&self, data: &mut Dataset<T>) -> Result<(), DataError> {
        self.check(data.n_features())?;
        for row in data.features.chunks_exact_mut(data.n_features) {
            self.apply(row);
        }
        Ok(())
    }

    /// Standardizes one sample in place (an input at inference time).
    ///
    /// # Errors
    /// [`DataError::FeatureCount`] if `row` has another number of features.
    pub fn transform_row(&self, row: &mut [T]) -> Result<(), DataError> {
        self.check(row.len())?;
        self.apply(row);
        Ok(())
    }

    fn check(&self, found: usize) -> Result<(), DataError> {
        if found == self.mean.len() {
            Ok(())
        } else {
            Err(DataError::FeatureCount { expected: self.mean.len(), found })
        }
    }

    fn apply(&self, row: &mut [T]) {
        for ((x, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
            *x = (*x - m) / s;
        }
    }
}

/// Per-feature scaling to `[0, 1]` by `(x − min) / (max − min)`, fitted on one set and
/// applied to others (whose values may then fall outside `[0, 1]`).
///
/// A feature that is constant on the fitted set is only shifted: its divisor is 1.
#[derive(Clone, Debug, PartialEq)]
pub struct MinMaxScaler<T> {
    min: Vec<T>,
    range: Vec<T>,
}

impl<T: Scalar> MinMaxScaler<T> {
    /// Fits the minimum and maximum of every feature of `data`.
    ///
    /// # Errors
    /// [`DataError::Empty`] if `data` has no sample.
    pub fn fit(data: &Dataset<T>) -> Result<Self, DataError> {
        if data.is_empty() {
            return Err(DataError::Empty);
        }
        let mut min = data.row(0).to_vec();
        let mut max = min.clone();
        for (row, _) in data.iter() {
            for ((lo, hi), &x) in min.iter_mut().zip(&mut max).zip(row) {
                *lo = lo.min(x);
                *hi = hi.max(x);
            }
        }
        let range = min.iter().zip(&max).map(|(&lo, &hi)| if hi > lo { hi - lo } else { T::ONE }).collect();
        Ok(Self { min, range })
    }

    /// The fitted minima.
    #[inline]
    #[must_use]
    pub fn min(&self) -> &[T] {
        &self.min
    }

    /// The divisors: `max − min`, 1 for constant features.
    #[inline]
    #[must_use]
    pub fn range(&self) -> &[T] {
        &self.range
    }

    /// Scales every sample of `data` in place.
    ///
    /// # Errors
    /// [`DataError::FeatureCount`] if `data` has another number of features.
    pub fn transform(&self, data: &mut Dataset<T>) -> Result<(), DataError> {
        self.check(data.n_features())?;
        for row in data.features.chunks_exact_mut(data.n_features) {
            self.apply(row);
        }
        Ok(())
    }

    /// Scales one sample in place.
    ///
    /// # Errors
    /// [`DataError::FeatureCount`] if `row` has another number of features.
    pub fn transform_row(&self, row: &mut [T]) -> Result<(), DataError> {
        self.check(row.len())?;
        self.apply(row);
        Ok(())
    }

    fn check(&self, found: usize) -> Result<(), DataError> {
        if found == self.min.len() { Ok(()) } else { Err(DataError::FeatureCount { expected: self.min.len(), found }) }
    }

    fn apply(&self, row: &mut [T]) {
        for ((x, &lo), &r) in row.iter_mut().zip(&self.min).zip(&self.range) {
            *x = (*x - lo) / r;
        }
    }
}

/// Counts of (actual, predicted) class pairs, with per-class precision and recall; its
/// `Display` prints an aligned table, actual classes down, predicted across.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    n_classes: usize,
    /// Row-major `[actual][predicted]`.
    counts: Vec<usize>,
    class_names: Vec<String>,
}

impl ConfusionMatrix {
    /// An empty matrix for `n_classes` classes.
    #[must_use]
    pub fn new(n_classes: usize) -> Self {
        Self { n_classes, counts: vec![0; n_classes * n_classes], class_names: Vec::new() }
    }

    /// A matrix counting every `(labels[i], predictions[i])` pair.
    ///
    /// # Errors
    /// [`DataError::LengthMismatch`] if the slices differ in length;
    /// [`DataError::ClassOutOfRange`] for a class not below `n_classes`.
    pub fn from_predictions(n_classes: usize, predictions: &[usize], labels: &[usize]) -> Result<Self, DataError> {
        if predictions.len() != labels.len() {
            return Err(DataError::LengthMismatch { predictions: predictions.len(), labels: labels.len() });
        }
        let mut m = Self::new(n_classes);
        for (&p, &l) in predictions.iter().zip(labels) {
            m.add(l, p)?;
        }
        Ok(m)
    }

    /// The same matrix with class names for its table (by default the class indices).
    ///
    /// # Errors
    /// [`DataError::ClassNames`] unless there is exactly one name per class.
    pub fn with_class_names<S: AsRef<str>>(mut self, names: &[S]) -> Result<Self, DataError> {
        if names.len() != self.n_classes {
            return Err(DataError::ClassNames { expected: self.n_classes, found: names.len() });
        }
        self.class_names = names.iter().map(|s| s.as_ref().to_string()).collect();
        Ok(self)
    }

    /// Counts one sample of class `actual` predicted as `predicted`.
    ///
    /// # Errors
    /// [`DataError::ClassOutOfRange`] if either class is not below the number of classes;
    /// the matrix is then unchanged.
    pub fn add(&mut self, actual: usize, predicted: usize) -> Result<(), DataError> {
        for class in [actual, predicted] {
            if class >= self.n_classes {
                return Err(DataError::ClassOutOfRange { line: None, label: class, classes: self.n_classes });
            }
        }
        self.counts[actual * self.n_classes + predicted] += 1;
        Ok(())
    }

    /// Number of classes.
    #[inline]
    #[must_use]
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Samples of class `actual` predicted as `predicted`.
    ///
    /// # Panics
    /// If either class is not below the number of classes.
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn count(&self, actual: usize, predicted: usize) -> usize {
        assert!(
            actual < self.n_classes && predicted < self.n_classes,
            "class ({actual}, {predicted}) out of range for {} classes",
            self.n_classes
        );
        self.counts[actual * self.n_classes + predicted]
    }

    /// Number of samples counted.
    #[must_use]
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    /// Number of samples predicted right (the diagonal).
    #[must_use]
    pub fn correct(&self) -> usize {
        (0..self.n_classes).map(|c| self.counts[c * self.n_classes + c]).sum()
    }

    /// Fraction predicted right, or `None` before any sample.
    #[must_use]
    pub fn accuracy(&self) -> Option<f64> {
        ratio(self.correct(), self.total())
    }

    /// Of the samples predicted as `class`, the fraction that are; `None` if none was
    /// predicted as `class` (or it is out of range).
    #[must_use]
    pub fn precision(&self, class: usize) -> Option<f64> {
        if class >= self.n_classes {
            return None;
        }
        let predicted: usize = (0..self.n_classes).map(|a| self.counts[a * self.n_classes + class]).sum();
        ratio(self.counts[class * self.n_classes + class], predicted)
    }

    /// Of the samples of `class`, the fraction predicted as such; `None` if there was no
    /// sample of `class` (or it is out of range).
    #[must_use]
    pub fn recall(&self, class: usize) -> Option<f64> {
        if class >= self.n_classes {
            return None;
        }
        let row = &self.counts[class * self.n_classes..(class + 1) * self.n_classes];
        ratio(row[class], row.iter().sum())
    }

    /// The name shown for `class`: its class name, or its index.
    fn name(&self, class: usize) -> String {
        self.class_names.get(class).cloned().unwrap_or_else(|| class.to_string())
    }
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// A ratio with three decimals, or `-` where it is undefined.
fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), |r| format!("{r:.3}"))
}

impl fmt::Display for ConfusionMatrix {
    /// ```text
    /// actual \ predicted  setosa  versicolor  virginica  recall
    /// setosa                  50           0          0   1.000
    /// versicolor               0          47          3   0.940
    /// virginica                0           1         49   0.980
    /// precision            1.000       0.979      0.942
    /// accuracy 0.973 (146 of 150)
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const CORNER: &str = "actual \\ predicted";
        const RATIO_WIDTH: usize = 6; // "recall", "1.000"
        let n = self.n_classes;
        let names: Vec<String> = (0..n).map(|c| self.name(c)).collect();
        let label_width = names.iter().map(|s| s.chars().count()).chain([CORNER.len()]).max().unwrap_or(0);
        let count_width = self.counts.iter().max().map_or(1, |m| m.to_string().len());
        let widths: Vec<usize> =
            names.iter().map(|s| s.chars().count().max(count_width).max(RATIO_WIDTH - 1)).collect();

        write!(f, "{CORNER:<label_width$}")?;
        for (name, &w) in names.iter().zip(&widths) {
            write!(f, "  {name:>w$}")?;
        }
        writeln!(f, "  {:>RATIO_WIDTH$}", "recall")?;
        for (a, name) in names.iter().enumerate() {
            write!(f, "{name:<label_width$}")?;
            for (p, &w) in widths.iter().enumerate() {
                write!(f, "  {:>w$}", self.counts[a * n + p])?;
            }
            writeln!(f, "  {:>RATIO_WIDTH$}", fmt_ratio(self.recall(a)))?;
        }
        write!(f, "{:<label_width$}", "precision")?;
        for (p, &w) in widths.iter().enumerate() {
            write!(f, "  {:>w$}", fmt_ratio(self.precision(p)))?;
        }
        writeln!(f)?;
        write!(f, "accuracy {} ({} of {})", fmt_ratio(self.accuracy()), self.correct(), self.total())
    }
}
