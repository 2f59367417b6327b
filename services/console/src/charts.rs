//! Bar charts drawn on the server as SVG. This module computes only the
//! geometry; the template draws it, so every label goes through the
//! template's escaping like any other text.

use serde::Serialize;

pub(crate) const WIDTH: u32 = 640;
const HEIGHT: u32 = 220;
const LEFT: u32 = 56;
const BOTTOM: u32 = 40;
const TOP: u32 = 12;

#[derive(Debug, Serialize)]
pub(crate) struct Chart {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) baseline: u32,
    pub(crate) left: u32,
    /// The value of the top gridline, as shown.
    pub(crate) max_label: String,
    pub(crate) bars: Vec<Bar>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Bar {
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) w: u32,
    pub(crate) h: u32,
    pub(crate) label: String,
    pub(crate) value: String,
    /// Where the label's middle sits.
    pub(crate) label_x: u32,
}

/// A vertical bar per `(label, value)`, scaled to the largest value.
pub(crate) fn bars(points: &[(String, u64)]) -> Chart {
    let plot_w = WIDTH - LEFT - 8;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let max = points.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let n = points.len().max(1) as u32;
    let slot = (plot_w / n).max(1);
    // Thin enough to read as bars even when there are only a few.
    let w = (slot * 7 / 10).clamp(1, 48);
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, (label, value))| {
            // Widen before multiplying: token counts overflow u32 quickly.
            let h = (u128::from(*value) * u128::from(plot_h) / u128::from(max)) as u32;
            let x = LEFT + i as u32 * slot + (slot - w) / 2;
            Bar {
                x,
                y: TOP + plot_h - h,
                w,
                h,
                label: label.clone(),
                value: value.to_string(),
                label_x: x + w / 2,
            }
        })
        .collect();
    Chart {
        width: WIDTH,
        height: HEIGHT,
        baseline: TOP + plot_h,
        left: LEFT,
        max_label: max.to_string(),
        bars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_value_fills_the_plot_and_others_scale_with_it() {
        let chart = bars(&[("a".into(), 10), ("b".into(), 5), ("c".into(), 0)]);
        let plot_h = chart.baseline - TOP;
        assert_eq!(chart.bars[0].h, plot_h);
        assert_eq!(chart.bars[1].h, plot_h / 2);
        assert_eq!(chart.bars[2].h, 0);
        assert!(chart.bars.iter().all(|b| b.y + b.h == chart.baseline));
        assert!(chart.bars.windows(2).all(|p| p[0].x + p[0].w <= p[1].x));
        assert_eq!(chart.max_label, "10");
    }

    #[test]
    fn huge_and_empty_series_do_not_overflow() {
        let chart = bars(&[("a".into(), u64::MAX), ("b".into(), u64::MAX / 2)]);
        assert!(chart.bars[1].h < chart.bars[0].h);
        assert!(bars(&[]).bars.is_empty());
    }
}
