//! An SVG plot of latency by percentile, the way HdrHistogram plots are read: x is the
//! percentile on the `1/(1-p)` log scale (0%, 90%, 99%, ... evenly spaced), y the latency in
//! milliseconds. One line per target, so `--compare` runs show both curves on one chart.
//! Hand-written SVG keeps the generator free of a plotting dependency.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 480.0;
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 20.0;
const MARGIN_TOP: f64 = 40.0;
const MARGIN_BOTTOM: f64 = 50.0;
/// The x axis runs to 99.999%: five nines, log10(1/(1-p)) = 5.
const NINES_MAX: f64 = 5.0;
const NINES_LABELS: [&str; 6] = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"];
/// Points per nine along the curve.
const POINTS_PER_NINE: u32 = 100;
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// A labelled latency histogram (microseconds) to draw.
#[derive(Debug)]
pub struct Series<'a> {
    pub label: &'a str,
    pub latency_us: &'a Histogram<u64>,
}

/// Renders the chart of `series` with `title` as an SVG document.
pub fn render_svg(title: &str, series: &[Series<'_>]) -> String {
    let max_ms = series
        .iter()
        .filter(|series| !series.latency_us.is_empty())
        .map(|series| {
            series
                .latency_us
                .highest_equivalent(series.latency_us.max()) as f64
                / 1000.0
        })
        .fold(0.0f64, f64::max);
    let y_top_ms = nice_ceiling(max_ms.max(0.001) * 1.05);
    let plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let x_of = |nines: f64| MARGIN_LEFT + nines / NINES_MAX * plot_width;
    let y_of = |ms: f64| MARGIN_TOP + plot_height - ms / y_top_ms * plot_height;

    let mut svg = String::with_capacity(16 * 1024);
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    // Vertical grid lines at each nine.
    for nines in 0..=NINES_MAX as u32 {
        let x = x_of(f64::from(nines));
        let label = NINES_LABELS[nines as usize];
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{MARGIN_TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            MARGIN_TOP + plot_height,
            MARGIN_TOP + plot_height + 18.0
        );
    }
    // Horizontal grid lines at five even latency steps.
    for step in 0..=5 {
        let ms = y_top_ms * f64::from(step) / 5.0;
        let y = y_of(ms);
        let _ = writeln!(
            svg,
            r##"<line x1="{MARGIN_LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            MARGIN_LEFT + plot_width,
            MARGIN_LEFT - 6.0,
            y + 4.0,
            format_ms(ms)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        MARGIN_LEFT + plot_width / 2.0,
        HEIGHT - 8.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">latency (ms)</text>"#,
        MARGIN_TOP + plot_height / 2.0,
        MARGIN_TOP + plot_height / 2.0
    );
    for (series_idx, series) in series.iter().enumerate() {
        let colour = COLOURS[series_idx % COLOURS.len()];
        if !series.latency_us.is_empty() {
            let mut points = String::with_capacity(8 * 1024);
            for point_idx in 0..=(NINES_MAX as u32 * POINTS_PER_NINE) {
                let nines = f64::from(point_idx) / f64::from(POINTS_PER_NINE);
                let quantile = 1.0 - 10f64.powf(-nines);
                let ms = series.latency_us.value_at_quantile(quantile) as f64 / 1000.0;
                let _ = write!(points, "{:.1},{:.1} ", x_of(nines), y_of(ms));
            }
            let _ = writeln!(
                svg,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                points.trim_end()
            );
        }
        let legend_y = MARGIN_TOP + 16.0 + 18.0 * series_idx as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            MARGIN_LEFT + 12.0,
            legend_y - 4.0,
            MARGIN_LEFT + 36.0,
            legend_y - 4.0,
            MARGIN_LEFT + 42.0,
            legend_y,
            escape(series.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The smallest 1, 2 or 5 times a power of ten at or above `value`.
fn nice_ceiling(value: f64) -> f64 {
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|factor| factor * magnitude)
        .find(|&candidate| candidate >= value)
        .unwrap_or(10.0 * magnitude)
}

fn format_ms(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.3}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_axis_labels_and_a_curve() {
        let mut latency_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for value in 1..=1000 {
            latency_us.record(value * 10).unwrap();
        }
        let svg = render_svg(
            "t <1>",
            &[Series {
                label: "a&b",
                latency_us: &latency_us,
            }],
        );
        for label in [
            ">0%<",
            ">90%<",
            ">99%<",
            ">99.9%<",
            ">99.99%<",
            ">99.999%<",
            "a&amp;b",
            "t &lt;1&gt;",
        ] {
            assert!(svg.contains(label), "{label} missing");
        }
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.ends_with("</svg>\n"));
    }

    #[test]
    fn nice_ceiling_rounds_up() {
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(0.012), 0.02);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }
}
