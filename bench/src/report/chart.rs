//! The SVG chart of requests, capacity units and time per offer against depth.

use crate::Results;
use crate::depth::DepthResult;
use anyhow::Result;
use std::path::Path;

/// The chart: per offer against depth — requests, capacity units and time, ours and the floor.
///
/// # Errors
/// When the file cannot be written.
pub fn svg(r: &Results, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    type Series<'a> = (&'a str, RGBColor, Vec<f64>);
    let Some(d) = &r.depth else { return Ok(()) };
    #[allow(clippy::cast_precision_loss)]
    let xs: Vec<f64> = d.levels.iter().map(|l| l.depth as f64).collect();
    let (Some(x0), Some(x1)) = (xs.first().copied(), xs.last().copied()) else {
        return Ok(());
    };
    let root = SVGBackend::new(path, (1200, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!("Cost per offer against waiting wishes ({})", r.date);
    let root = root.titled(&title, ("sans-serif", 20))?;
    let panels = root.split_evenly((1, 3));
    let draw = |area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
                caption: &str,
                series: &[Series]|
     -> Result<()> {
        let top = series
            .iter()
            .flat_map(|(_, _, v)| v.iter().copied())
            .fold(0.0f64, f64::max)
            * 1.25;
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d((x0 * 0.8..x1 * 1.25).log_scale(), 0.0..top.max(1e-3))?;
        chart
            .configure_mesh()
            .x_desc("waiting wishes")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        for (name, color, values) in series {
            let points: Vec<(f64, f64)> = xs.iter().copied().zip(values.iter().copied()).collect();
            let color = *color;
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    };
    let pick = |f: &dyn Fn(&DepthResult) -> f64| d.levels.iter().map(f).collect::<Vec<f64>>();
    let ours = RGBColor(0, 94, 184);
    let floor = RGBColor(200, 80, 0);
    draw(
        &panels[0],
        "DynamoDB requests per offer",
        &[
            ("match_slot", ours, pick(&|l| l.ours.dynamodb_requests)),
            ("floor", floor, pick(&|l| l.floor.dynamodb_requests)),
        ],
    )?;
    draw(
        &panels[1],
        "capacity units per offer",
        &[
            ("match_slot RCU", ours, pick(&|l| l.ours.rcu)),
            (
                "match_slot WCU",
                RGBColor(90, 170, 255),
                pick(&|l| l.ours.wcu),
            ),
            ("floor RCU", floor, pick(&|l| l.floor.rcu)),
            ("floor WCU", RGBColor(240, 170, 90), pick(&|l| l.floor.wcu)),
        ],
    )?;
    draw(
        &panels[2],
        "ms per offer (p50)",
        &[
            ("match_slot", ours, pick(&|l| l.ours.ms_p50)),
            ("floor", floor, pick(&|l| l.floor.ms_p50)),
        ],
    )?;
    root.present()?;
    Ok(())
}
