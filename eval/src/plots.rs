//! Small standalone SVG charts for the benchmark report: grouped horizontal bars with optional
//! whiskers (spread of repeated runs). No scripts, no external fonts or stylesheets.

use std::fmt::Write;

const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];
const LABEL_WIDTH: f64 = 260.0;
const PLOT_WIDTH: f64 = 420.0;
const LEGEND_WIDTH: f64 = 190.0;
const BAR_HEIGHT: f64 = 14.0;
const GROUP_GAP: f64 = 10.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 40.0;

/// One series of a bar chart: a value per category (`None`: no bar), with an optional
/// (low, high) whisker per category.
#[derive(Debug, Clone)]
pub struct BarSeries {
    pub name: String,
    pub values: Vec<Option<f64>>,
    pub whiskers: Option<Vec<Option<(f64, f64)>>>,
}

/// A horizontal grouped bar chart: one group of bars per category, one bar per series.
#[derive(Debug, Clone)]
pub struct BarChart {
    pub title: String,
    /// Axis label, e.g. "WER (%)" or "real-time factor".
    pub unit: String,
    pub categories: Vec<String>,
    pub series: Vec<BarSeries>,
}

pub(crate) fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A "nice" axis maximum at or above `value` (1, 2 or 5 times a power of ten).
fn nice_ceiling(value: f64) -> f64 {
    if !value.is_finite() || value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10_f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|step| step * magnitude).find(|candidate| *candidate >= value).unwrap_or(10.0 * magnitude)
}

fn format_value(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else if value.abs() >= 0.1 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

impl BarChart {
    /// The chart as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        let n_series = self.series.len().max(1);
        let group_height = n_series as f64 * BAR_HEIGHT + GROUP_GAP;
        let plot_height = (self.categories.len().max(1) as f64) * group_height;
        let width = LABEL_WIDTH + PLOT_WIDTH + LEGEND_WIDTH;
        let height = TOP + plot_height + BOTTOM;
        let data_max = self
            .series
            .iter()
            .flat_map(|series| {
                let whisker_highs = series.whiskers.iter().flatten().flatten().map(|(_, high)| *high);
                series.values.iter().flatten().copied().chain(whisker_highs).collect::<Vec<_>>()
            })
            .filter(|value| value.is_finite())
            .fold(0.0_f64, f64::max);
        let axis_max = nice_ceiling(data_max);
        let x_of = |value: f64| LABEL_WIDTH + (value.clamp(0.0, axis_max) / axis_max) * PLOT_WIDTH;

        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
        );
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
            LABEL_WIDTH + PLOT_WIDTH / 2.0,
            xml_escape(&self.title)
        );
        for tick_idx in 0..=5 {
            let value = axis_max * tick_idx as f64 / 5.0;
            let x = x_of(value);
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                TOP + plot_height,
                TOP + plot_height + 14.0,
                format_value(value)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LABEL_WIDTH + PLOT_WIDTH / 2.0,
            TOP + plot_height + 32.0,
            xml_escape(&self.unit)
        );
        for (category_idx, category) in self.categories.iter().enumerate() {
            let group_top = TOP + category_idx as f64 * group_height;
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LABEL_WIDTH - 8.0,
                group_top + n_series as f64 * BAR_HEIGHT / 2.0 + 4.0,
                xml_escape(category)
            );
            for (series_idx, series) in self.series.iter().enumerate() {
                let Some(value) = series.values.get(category_idx).copied().flatten().filter(|v| v.is_finite()) else {
                    continue;
                };
                let colour = COLOURS[series_idx % COLOURS.len()];
                let y = group_top + series_idx as f64 * BAR_HEIGHT;
                let bar_width = x_of(value) - LABEL_WIDTH;
                let _ = writeln!(
                    svg,
                    r#"<rect x="{LABEL_WIDTH}" y="{y:.1}" width="{bar_width:.1}" height="{:.1}" fill="{colour}"><title>{}: {}</title></rect>"#,
                    BAR_HEIGHT - 2.0,
                    xml_escape(&series.name),
                    format_value(value)
                );
                let whisker = series.whiskers.as_ref().and_then(|whiskers| whiskers.get(category_idx).copied().flatten());
                let mut label_x = x_of(value);
                if let Some((low, high)) = whisker.filter(|(low, high)| low.is_finite() && high.is_finite()) {
                    let middle = y + (BAR_HEIGHT - 2.0) / 2.0;
                    let _ = writeln!(
                        svg,
                        r##"<line x1="{:.1}" y1="{middle:.1}" x2="{:.1}" y2="{middle:.1}" stroke="#222"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#222"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#222"/>"##,
                        x_of(low),
                        x_of(high),
                        x_of(low),
                        y + 2.0,
                        x_of(low),
                        y + BAR_HEIGHT - 4.0,
                        x_of(high),
                        y + 2.0,
                        x_of(high),
                        y + BAR_HEIGHT - 4.0,
                    );
                    label_x = label_x.max(x_of(high));
                }
                let _ = writeln!(svg, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, label_x + 4.0, y + BAR_HEIGHT - 4.0, format_value(value));
            }
        }
        for (series_idx, series) in self.series.iter().enumerate() {
            let y = TOP + series_idx as f64 * 18.0;
            let x = LABEL_WIDTH + PLOT_WIDTH + 40.0;
            let _ = writeln!(
                svg,
                r#"<rect x="{x}" y="{y}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
                COLOURS[series_idx % COLOURS.len()],
                x + 18.0,
                y + 10.0,
                xml_escape(&series.name)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceiling_rounds_up_to_one_two_or_five() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(0.07), 0.1);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }

    #[test]
    fn bars_skip_missing_and_non_finite_values() {
        let chart = BarChart {
            title: "t".into(),
            unit: "u".into(),
            categories: vec!["a".into(), "b".into()],
            series: vec![BarSeries { name: "s".into(), values: vec![Some(1.0), Some(f64::NAN)], whiskers: None }],
        };
        let svg = chart.to_svg();
        assert_eq!(svg.matches("<title>").count(), 1);
    }
}
