//! Inline SVG charts for the HTML report (plotters' SVG backend, no fonts, no JavaScript).

use plotters::prelude::*;

/// One line of a line chart.
pub struct Line<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Colour.
    pub color: RGBColor,
    /// Points (x, y).
    pub points: Vec<(f64, f64)>,
}

/// Colours for series, in order.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// The largest value a chart plots (a latency of about 11 days in ms, or as many requests).
const MAX_VALUE: f64 = 1e9;

fn upper(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        1.0
    } else {
        v * 1.1
    }
}

/// Width of every chart in SVG units: wide enough that a full-width chart in the report keeps its
/// labels readable (the SVG scales with the page).
pub const WIDTH: u32 = 1100;

/// Width of a chart shown two to a row (the report's grids): narrower in SVG units, so its labels
/// come out as large as a full-width chart's.
pub const HALF_WIDTH: u32 = 640;

/// Tick labels: integers for counts, else as many decimals as the axis's range needs (`max`: the
/// axis's upper end): none from 10 up, one from 1, two below.
fn tick(v: f64, integer: bool, max: f64) -> String {
    if integer || max >= 10.0 {
        format!("{}", v.round() as i64)
    } else if max >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Font of titles, axis descriptions and tick labels (plotters' default labels are about 7 px once
/// the chart is scaled to a wide page).
const TITLE_FONT: (&str, u32) = ("sans-serif", 22);
const LABEL_FONT: (&str, u32) = ("sans-serif", 16);

/// A line chart over run time; `x_desc` and `y_desc` label the axes. Counts (every y an integer,
/// e.g. users) get integer ticks; every point is also drawn as a dot, so a series of one point shows;
/// with several series the legend sits above the plot, never on the lines; `width` in SVG units
/// ([`WIDTH`] or [`HALF_WIDTH`]).
pub fn lines(width: u32, title: &str, x_desc: &str, y_desc: &str, lines: &[Line]) -> Result<String, String> {
    let x_max = upper(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.0))
            .fold(0.0, f64::max),
    );
    draw(width, title, x_desc, y_desc, lines, XAxis::Linear(x_max))
}

/// Where the percentile axis of [`percentiles`] ends: the 99.99th percentile.
pub const PERCENTILE_NINES: f64 = 4.0;

/// The x of percentile `q` (0..1) on a percentile axis: the number of nines, `-log10(1 - q)`
/// (50 % is 0.3, 90 % is 1, 99 % is 2, 99.9 % is 3), as HdrHistogram's percentile plots draw it.
pub fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-12).log10()
}

/// Latency by percentile, one line per series (points `(nines(q), ms)`, see [`nines`]), on an axis
/// that widens the tail: ticks at 0 %, 90 %, 99 % (at least), 99.9 %, 99.99 %; `width` in SVG units.
pub fn percentiles(width: u32, title: &str, lines: &[Line]) -> Result<String, String> {
    let x_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(2.0, f64::max)
        .ceil()
        .min(PERCENTILE_NINES);
    draw(width, title, "percentile", "ms", lines, XAxis::Nines(x_max))
}

/// The x axis of a chart.
#[derive(Clone, Copy)]
enum XAxis {
    /// Run time (or another linear quantity) from 0 to the value.
    Linear(f64),
    /// Percentiles as nines, from 0 to the value (a whole number).
    Nines(f64),
}

/// A percentile axis's tick label: `90%`, `99.9%` (as many decimals as the nines need).
fn percentile_tick(x: f64) -> String {
    let q = 100.0 * (1.0 - 10f64.powf(-x));
    let decimals = (x.round() as i32 - 2).max(0) as usize;
    format!("{q:.decimals$}%")
}

fn draw(width: u32, title: &str, x_desc: &str, y_desc: &str, lines: &[Line], x_axis: XAxis) -> Result<String, String> {
    // A damaged results file can hold any number: points off the axes (negative, not finite, beyond
    // any latency or count a run has) are left out, since plotters' pixel arithmetic overflows on them.
    let plottable =
        |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite() && p.0 >= 0.0 && (0.0..=MAX_VALUE).contains(&p.1);
    let kept: Vec<Line> = lines
        .iter()
        .map(|l| Line {
            label: l.label,
            color: l.color,
            points: l.points.iter().copied().filter(plottable).collect(),
        })
        .collect();
    let lines = &kept[..];
    let integer = lines.iter().flat_map(|l| l.points.iter()).all(|p| p.1.fract() == 0.0);
    let (x_max, nines) = match x_axis {
        XAxis::Linear(x) => (x, false),
        XAxis::Nines(x) => (x, true),
    };
    // A percentile curve has a point every few hundredths of a nine: a line without dots.
    let dots = !nines;
    let mut y_max = upper(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    if integer {
        y_max = y_max.ceil().max(1.0);
    }
    let legend = lines.len() > 1;
    // The legend gets a band of its own above the plot.
    let height = if legend { 360 } else { 320 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (band, plot) = if legend {
            root.split_vertically(40)
        } else {
            root.split_vertically(0)
        };
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, TITLE_FONT)
            .margin(12)
            // Room for the last percentile tick (`99.99%`), centred on the axis's end.
            .margin_right(if nines { 36 } else { 12 })
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        let y_ticks = if integer { (y_max as usize).clamp(1, 8) } else { 8 };
        let x_format = |v: &f64| {
            if nines {
                percentile_tick(*v)
            } else {
                tick(*v, false, x_max)
            }
        };
        let mut mesh = chart.configure_mesh();
        if nines {
            // One tick per nine: 0 %, 90 %, 99 %, ...
            mesh.x_labels(x_max as usize + 1);
        }
        mesh.disable_x_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style(LABEL_FONT)
            .axis_desc_style(LABEL_FONT)
            .y_labels(y_ticks)
            .x_label_formatter(&x_format)
            .y_label_formatter(&|v| tick(*v, integer, y_max))
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        for l in lines {
            let color = l.color;
            chart
                .draw_series(LineSeries::new(l.points.iter().copied(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            if dots || l.points.len() == 1 {
                chart
                    .draw_series(l.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| e.to_string())?;
            }
        }
        if legend {
            // One swatch and label per series, left to right in the band above the plot.
            let mut x = 80i32;
            for l in lines {
                let color = l.color;
                band.draw(&PathElement::new(vec![(x, 20), (x + 24, 20)], color.stroke_width(3)))
                    .map_err(|e| e.to_string())?;
                band.draw(&Text::new(l.label.to_string(), (x + 32, 12), LABEL_FONT.into_font()))
                    .map_err(|e| e.to_string())?;
                x += 48 + 9 * l.label.chars().count() as i32;
            }
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A bar chart of counts over latency bins `(low_ms, high_ms, count)`.
pub fn bars(width: u32, title: &str, bins: &[(f64, f64, u64)]) -> Result<String, String> {
    let x_min = bins.first().map(|b| b.0).unwrap_or(0.0);
    let x_max = bins.last().map(|b| b.1).unwrap_or(1.0).max(x_min + 0.001);
    let y_max = upper(bins.iter().map(|b| b.2 as f64).fold(0.0, f64::max));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let y_max = y_max.ceil().max(1.0);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, TITLE_FONT)
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x_min..x_max, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("latency (ms)")
            .y_desc("requests")
            .label_style(LABEL_FONT)
            .axis_desc_style(LABEL_FONT)
            .y_labels((y_max as usize).clamp(1, 8))
            .x_label_formatter(&|v| tick(*v, false, x_max))
            .y_label_formatter(&|v| tick(*v, true, y_max))
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                bins.iter()
                    .map(|&(lo, hi, n)| Rectangle::new([(lo, 0.0), (hi, n as f64)], PALETTE[0].mix(0.8).filled())),
            )
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
