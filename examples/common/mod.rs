//! What the examples share: line charts written as SVG under `target/plots/`, and the
//! digits data set prepared for training.
//!
//! Entry points: [`plot`] for any set of [`Series`], [`plot_history`] for the loss curves
//! of a [`History`], [`digits`] for the data. Text is written as SVG `<text>` elements, so no font file is read:
//! the browser or viewer that opens the file sets the type.

// Each example uses a part of this module.
#![allow(dead_code)]

use std::error::Error;
use std::ops::Range;
use std::path::PathBuf;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use stackprop::Class;
use stackprop::data::{Split, Standardizer, load_csv};
use stackprop::train::History;

/// Inputs and classes of one part of a data set.
pub type Part = (Vec<[f32; 64]>, Vec<Class>);

/// The 8×8 digits from `data/digits.csv`, split 80/20 into training and test parts (seed
/// 42) and standardized with the training part's statistics.
///
/// # Errors
/// If the file cannot be read.
pub fn digits() -> Result<(Part, Part), Box<dyn Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv");
    let data = load_csv::<f32>(path, false)?;
    let mut splits = data.split(Split::Fractions { validation: 0.0, test: 0.2 }, 42)?;
    let scaler = Standardizer::fit(&splits.train)?;
    scaler.transform(&mut splits.train)?;
    scaler.transform(&mut splits.test)?;
    let classes = |labels: &[usize]| labels.iter().map(|&l| Class(l)).collect();
    Ok((
        (splits.train.rows::<64>()?, classes(splits.train.labels())),
        (splits.test.rows::<64>()?, classes(splits.test.labels())),
    ))
}

/// One named line of a chart.
pub struct Series {
    /// Shown in the legend.
    pub name: String,
    /// `(x, y)` points in drawing order; non-finite ones are left out.
    pub points: Vec<(f64, f64)>,
    /// Line width in pixels (2 unless set).
    pub width: u32,
}

impl Series {
    /// A line through `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self { name: name.into(), points, width: 2 }
    }

    /// The same line, `width` pixels wide: a wide line drawn first stays visible under a
    /// thin one that follows it closely.
    pub fn width(mut self, width: u32) -> Self {
        self.width = width;
        self
    }

    /// A line through one value per epoch, the first at epoch 1.
    pub fn per_epoch(name: impl Into<String>, values: &[f64]) -> Self {
        Self::new(name, values.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)).collect())
    }
}

/// How the y axis is drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Evenly spaced values.
    Linear,
    /// Evenly spaced powers of ten: for losses that fall by orders of magnitude.
    Log,
}

/// Titles and the y scale of a chart.
pub struct Chart<'a> {
    /// Above the plot.
    pub title: &'a str,
    /// Under the x axis.
    pub x_label: &'a str,
    /// Beside the y axis.
    pub y_label: &'a str,
    /// Linear or logarithmic.
    pub y_scale: Scale,
    /// The corner of the legend: one the lines leave free.
    pub legend: SeriesLabelPosition,
}

/// Line colours, one per series in turn (the "tab10" set, then two more).
const COLORS: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(120, 120, 255),
];

/// Where plots go: `target/plots/` (or `$CARGO_TARGET_DIR/plots/`), created if missing.
fn plots_dir() -> std::io::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from);
    let dir = target.join("plots");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Draws `series` into `target/plots/<name>.svg`; returns the file's path.
///
/// # Errors
/// If the directory or the file cannot be written, or there is no finite point (on a log
/// scale: no positive one).
pub fn plot(name: &str, chart: &Chart<'_>, series: &[Series]) -> Result<PathBuf, Box<dyn Error>> {
    let path = plots_dir()?.join(format!("{name}.svg"));
    let keep = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (chart.y_scale == Scale::Linear || y > 0.0);
    let series: Vec<Series> = series
        .iter()
        .map(|s| Series::new(s.name.clone(), s.points.iter().copied().filter(keep).collect()).width(s.width))
        .collect();
    let points = || series.iter().flat_map(|s| s.points.iter().copied());
    let (x, y) = match (bounds(points().map(|p| p.0)), bounds(points().map(|p| p.1))) {
        (Some(x), Some(y)) => (x, y),
        _ => return Err(format!("nothing to plot in `{name}`").into()),
    };
    let root = SVGBackend::new(&path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    match chart.y_scale {
        Scale::Linear => {
            let pad = (y.end - y.start).max(1e-12) * 0.05;
            draw(&root, chart, &series, x, (y.start - pad)..(y.end + pad))?;
        }
        Scale::Log => {
            let (lo, hi) = (y.start / 1.25, y.end * 1.25);
            draw(&root, chart, &series, x, (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)))?;
        }
    }
    root.present()?;
    // The backend borrows the path until it is dropped.
    drop(root);
    Ok(path)
}

/// The training loss of every epoch and, if there was a validation set, the validation
/// loss, on a log scale, into `target/plots/<name>.svg`.
///
/// # Errors
/// As [`plot`].
pub fn plot_history(name: &str, title: &str, history: &History) -> Result<PathBuf, Box<dyn Error>> {
    let mut series = vec![Series::per_epoch("training loss", &history.train_losses())];
    let validation = history.validation_losses();
    if !validation.is_empty() {
        series.push(Series::per_epoch("validation loss", &validation));
    }
    // Falling losses leave the upper right corner free.
    let chart = Chart {
        title,
        x_label: "epoch",
        y_label: "loss",
        y_scale: Scale::Log,
        legend: SeriesLabelPosition::UpperRight,
    };
    plot(name, &chart, &series)
}

/// Tick values for a log axis from `lo` to `hi`: 1, 2 and 5 times the powers of ten in
/// the range, or only the powers of ten when that would crowd the axis. (plotters' own
/// choice on a log axis labels decades only, or every digit of a decade.)
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades = lo.log10().floor() as i32..=hi.log10().ceil() as i32;
    let ticks = |mantissas: &[f64]| -> Vec<f64> {
        decades
            .clone()
            .flat_map(|k| mantissas.iter().map(move |m| m * 10f64.powi(k)))
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let fine = ticks(&[1.0, 2.0, 5.0]);
    if fine.len() <= 12 { fine } else { ticks(&[1.0]) }
}

/// A tick label: at most three significant digits, without trailing zeros, so that
/// `0.30000000000000004` reads `0.3` and `10.0` reads `10`.
fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor();
    if !(-4.0..5.0).contains(&magnitude) {
        return format!("{v:e}");
    }
    let decimals = (2.0 - magnitude).max(0.0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// The smallest and largest value, or `None` if there is none.
fn bounds(values: impl Iterator<Item = f64>) -> Option<Range<f64>> {
    values.fold(None, |r, v| match r {
        None => Some(v..v),
        Some(r) => Some(r.start.min(v)..r.end.max(v)),
    })
}

/// The chart itself, over any y coordinate (linear or logarithmic).
fn draw<Y>(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    chart: &Chart<'_>,
    series: &[Series],
    x: Range<f64>,
    y: Y,
) -> Result<(), Box<dyn Error>>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    // A single point would make an empty x range.
    let x = if x.end > x.start { x } else { (x.start - 1.0)..(x.end + 1.0) };
    let mut ctx = ChartBuilder::on(root)
        .caption(chart.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x, y)?;
    ctx.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .x_labels(10)
        .y_labels(8)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style(("sans-serif", 14))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (s, &color) in series.iter().zip(COLORS.iter().cycle()) {
        let style = color.stroke_width(s.width);
        ctx.draw_series(LineSeries::new(s.points.iter().copied(), style))?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    // No border: without font files the text width is estimated, a little short for
    // most fonts, and a border would cut through the longest name.
    ctx.configure_series_labels()
        .position(chart.legend.clone())
        .margin(14)
        .background_style(WHITE.mix(0.9))
        .border_style(TRANSPARENT)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}
