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

fn upper(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        1.0
    } else {
        v * 1.1
    }
}

/// A line chart over run time; `x_desc` and `y_desc` label the axes.
pub fn lines(title: &str, x_desc: &str, y_desc: &str, lines: &[Line]) -> Result<String, String> {
    let x_max = upper(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.0))
            .fold(0.0, f64::max),
    );
    let y_max = upper(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        for l in lines {
            let color = l.color;
            chart
                .draw_series(LineSeries::new(l.points.iter().copied(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(l.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        if lines.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK.mix(0.3))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A bar chart of counts over latency bins `(low_ms, high_ms, count)`.
pub fn bars(title: &str, bins: &[(f64, f64, u64)]) -> Result<String, String> {
    let x_min = bins.first().map(|b| b.0).unwrap_or(0.0);
    let x_max = bins.last().map(|b| b.1).unwrap_or(1.0).max(x_min + 0.001);
    let y_max = upper(bins.iter().map(|b| b.2 as f64).fold(0.0, f64::max));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 220)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(x_min..x_max, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("latency (ms)")
            .y_desc("requests")
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
