//! CSV parsing: the counts header, headerless files, label columns, and every error path.

use stackprop_runtime::data::{
    CsvOptions, DataError, Dataset, Header, load_csv, load_csv_with, parse_csv, parse_csv_with,
};

const IRIS_LIKE: &str = "\
5,4,setosa,versicolor,virginica
5.1,3.5,1.4,0.2,0
4.9,3.0,1.4,0.2,0
7.0,3.2,4.7,1.4,1
6.4,3.2,4.5,1.5,1
6.3,3.3,6.0,2.5,2
";

fn err(text: &str, has_header: bool) -> DataError {
    match parse_csv::<f64>(text, has_header) {
        Ok(d) => panic!("parsed: {d:?}"),
        Err(e) => e,
    }
}

#[test]
fn counts_header_gives_class_names_and_checks_counts() {
    let data = parse_csv::<f32>(IRIS_LIKE, true).unwrap();
    assert_eq!((data.len(), data.n_features(), data.n_classes()), (5, 4, 3));
    assert_eq!(data.class_names(), ["setosa", "versicolor", "virginica"]);
    assert_eq!(data.labels(), [0, 0, 1, 1, 2]);
    assert_eq!(data.row(2), [7.0, 3.2, 4.7, 1.4]);
    assert_eq!(data.features().len(), 20);
}

#[test]
fn headerless_file_blank_lines_crlf_and_spaces() {
    let text = "\r\n 1, 2 ,0\r\n\r\n3,4.5e1,2\r\n-1,0,1\r\n\r\n";
    let data = parse_csv::<f64>(text, false).unwrap();
    assert_eq!(data.features(), [1.0, 2.0, 3.0, 45.0, -1.0, 0.0]);
    assert_eq!(data.labels(), [0, 2, 1]);
    assert!(data.class_names().is_empty());
    assert_eq!(data.n_classes(), 3);
}

#[test]
fn integral_float_labels_are_accepted() {
    let data = parse_csv::<f64>("1,1.0\n2,2.0\n3,0\n", false).unwrap();
    assert_eq!(data.labels(), [1, 2, 0]);
}

#[test]
fn names_header_is_skipped() {
    let text = "x,y,class\n1,2,0\n3,4,1\n";
    let options = CsvOptions { header: Header::Names, label_column: None };
    let data = parse_csv_with::<f64>(text, options).unwrap();
    assert_eq!(data.len(), 2);
    assert!(data.class_names().is_empty());
}

#[test]
fn label_in_the_first_column() {
    let options = CsvOptions { header: Header::None, label_column: Some(0) };
    let data = parse_csv_with::<f64>("2,0.5,0.25\n0,1.5,1.25\n", options).unwrap();
    assert_eq!(data.labels(), [2, 0]);
    assert_eq!(data.features(), [0.5, 0.25, 1.5, 1.25]);
}

#[test]
fn malformed_number_names_line_and_column() {
    let e = err("1,2,0\n3,abc,1\n", false);
    assert!(matches!(&e, DataError::Number { line: 2, column: 2, text } if text == "abc"), "{e:?}");
    assert_eq!(e.to_string(), "line 2, column 2: expected a finite number, found `abc`");
    // The header line counts: data line 2 is file line 3.
    let e = err("2,2,a,b\n1,2,0\n1,,1\n", true);
    assert!(matches!(&e, DataError::Number { line: 3, column: 2, text } if text.is_empty()), "{e:?}");
}

#[test]
fn non_finite_numbers_are_rejected() {
    for bad in ["NaN", "inf", "-inf"] {
        let e = err(&format!("1,{bad},0\n"), false);
        assert!(matches!(e, DataError::Number { line: 1, column: 2, .. }), "{bad}: {e:?}");
    }
}

#[test]
fn non_integer_labels_name_line_and_column() {
    for bad in ["1.5", "-1", "x", "", "1e300"] {
        let e = err(&format!("1,2,0\n1,2,{bad}\n"), false);
        assert!(matches!(&e, DataError::Label { line: 2, column: 3, text } if text == bad), "{bad}: {e:?}");
    }
    assert_eq!(
        err("1,2,0.5\n", false).to_string(),
        "line 1, column 3: expected a class label (a non-negative integer), found `0.5`"
    );
}

#[test]
fn ragged_rows_are_reported() {
    let e = err("1,2,0\n1,2,3,0\n", false);
    assert!(matches!(e, DataError::Ragged { line: 2, expected: 3, found: 4 }), "{e:?}");
    assert_eq!(e.to_string(), "line 2: expected 3 fields like the first row, found 4");
    let e = err("1,2,0\n\n1,0\n", false);
    assert!(matches!(e, DataError::Ragged { line: 3, expected: 3, found: 2 }), "{e:?}");
}

#[test]
fn a_single_column_has_no_features() {
    let e = err("0\n1\n", false);
    assert!(matches!(e, DataError::TooFewColumns { line: 1, found: 1 }), "{e:?}");
    assert_eq!(e.to_string(), "line 1: expected at least 2 fields (features and a label), found 1");
}

#[test]
fn empty_files_are_errors() {
    for text in ["", "\n\n  \n", "\r\n"] {
        assert!(matches!(err(text, false), DataError::Empty));
        assert!(matches!(err(text, true), DataError::Empty));
    }
    // A header and no data.
    assert!(matches!(err("0,3,a,b\n", true), DataError::Empty));
    assert_eq!(DataError::Empty.to_string(), "no samples, expected at least one");
}

#[test]
fn malformed_headers() {
    let e = err("many,4,a\n1,2,3,4,0\n", true);
    assert!(matches!(&e, DataError::Header { line: 1, column: 1, text } if text == "many"), "{e:?}");
    assert_eq!(e.to_string(), "line 1, column 1: expected the row count, found `many`");
    let e = err("1,4.5,a\n1,2,3,4,0\n", true);
    assert!(matches!(e, DataError::Header { line: 1, column: 2, .. }), "{e:?}");
    let e = err("1\n1,2,0\n", true);
    assert!(matches!(&e, DataError::Header { column: 2, text, .. } if text.is_empty()), "{e:?}");
    let e = err("1,2,a,,c\n1,2,0\n", true);
    assert!(matches!(e, DataError::Header { column: 4, .. }), "{e:?}");
    assert_eq!(e.to_string(), "line 1, column 4: expected a class name, found ``");
}

#[test]
fn header_counts_must_match_the_data() {
    let e = err("3,2,a,b\n1,2,0\n1,2,1\n", true);
    assert!(matches!(e, DataError::HeaderMismatch { what: "rows", declared: 3, found: 2 }), "{e:?}");
    assert_eq!(e.to_string(), "the header declares 3 rows, but the data has 2");
    let e = err("2,3,a,b\n1,2,0\n1,2,1\n", true);
    assert!(matches!(e, DataError::HeaderMismatch { what: "features", declared: 3, found: 2 }), "{e:?}");
}

#[test]
fn labels_must_be_below_the_header_class_count() {
    let e = err("2,2,a,b\n1,2,0\n1,2,2\n", true);
    assert!(matches!(e, DataError::ClassOutOfRange { line: Some(3), label: 2, classes: 2 }), "{e:?}");
    assert_eq!(e.to_string(), "line 3: label 2 is out of range for 2 classes");
    // A counts header without names does not restrict the labels.
    assert_eq!(parse_csv::<f64>("1,2\n1,2,7\n", true).unwrap().n_classes(), 8);
}

#[test]
fn label_column_out_of_range() {
    let options = CsvOptions { header: Header::None, label_column: Some(3) };
    let e = parse_csv_with::<f64>("1,2,0\n", options).unwrap_err();
    assert!(matches!(e, DataError::LabelColumn { column: 3, columns: 3 }), "{e:?}");
    assert_eq!(e.to_string(), "label column 3 is out of range for 3 columns (counted from 0)");
}

#[test]
fn load_csv_reads_a_file_and_reports_io_errors() {
    let dir = std::env::temp_dir().join(format!("stackprop-data-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("iris_like.csv");
    std::fs::write(&path, IRIS_LIKE).unwrap();
    let from_file: Dataset<f64> = load_csv(&path, true).unwrap();
    assert_eq!(from_file, parse_csv(IRIS_LIKE, true).unwrap());
    let options = CsvOptions { header: Header::Counts, label_column: None };
    assert_eq!(load_csv_with::<f64>(&path, options).unwrap(), from_file);
    std::fs::remove_file(&path).unwrap();

    let missing = dir.join("missing.csv");
    let e = load_csv::<f64>(&missing, false).unwrap_err();
    assert!(matches!(&e, DataError::Io { path, .. } if *path == missing), "{e:?}");
    assert!(e.to_string().starts_with(&format!("cannot read `{}`: ", missing.display())));
    assert!(std::error::Error::source(&e).is_some());
    std::fs::remove_dir(&dir).unwrap();
}
