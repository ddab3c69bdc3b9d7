//! The report's charts, drawn as inline SVG with plotters: per policy the
//! latency percentile spectrum, the serving layers' shares over time, Stripe
//! traffic against the account limit and the staleness-age distribution;
//! across a sweep's policies cost against staleness and p99.

use std::error::Error;
use std::time::Duration;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::hlog::series_step;
use super::{PolicyResult, RunResult};
use crate::metrics::{Latency, Outcome};

/// Pixel size of every chart (the page scales them to its width).
pub const SIZE: (u32, u32) = (680, 460);

/// Height of the key strip under each plot.
const KEY_HEIGHT: u32 = 72;

type Drawn = Result<String, Box<dyn Error>>;
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

const FONT: &str = "sans-serif";
const GRID: RGBColor = RGBColor(0xe6, 0xe6, 0xe6);
const INK: RGBColor = RGBColor(0x33, 0x33, 0x33);
const MUTED: RGBColor = RGBColor(0x99, 0x99, 0x99);
const LIMIT: RGBColor = RGBColor(0xc9, 0x2a, 0x2a);
const HIGHLIGHT: RGBColor = RGBColor(0x1c, 0x7e, 0xd6);

/// Every outcome in the order charts stack and list them.
pub const OUTCOMES: [Outcome; 5] =
    [Outcome::L1, Outcome::L2, Outcome::Origin, Outcome::Stale, Outcome::Error];

/// One colour per serving layer, the same in every chart (and the page's legend).
pub fn layer_colour(o: Outcome) -> RGBColor {
    match o {
        Outcome::L1 => RGBColor(0x2f, 0x9e, 0x44),
        Outcome::L2 => RGBColor(0x1c, 0x7e, 0xd6),
        Outcome::Origin => RGBColor(0x70, 0x48, 0xe8),
        Outcome::Stale => RGBColor(0xf0, 0x8c, 0x00),
        Outcome::Error => RGBColor(0xe0, 0x31, 0x31),
    }
}

/// What a layer is called in legends.
pub fn layer_label(o: Outcome) -> &'static str {
    match o {
        Outcome::L1 => "L1 (Redis)",
        Outcome::L2 => "L2 (DynamoDB)",
        Outcome::Origin => "Stripe (origin)",
        Outcome::Stale => "stale (served past expiry)",
        Outcome::Error => "error",
    }
}

/// A swatch in a chart's key.
#[derive(Clone, Copy)]
enum Swatch {
    Line(RGBColor),
    Dashed(RGBColor),
    Block(RGBColor),
    Dot(RGBColor, bool),
}

/// Draws into an SVG string of [`SIZE`]: `draw` gets the plot's white canvas
/// and returns the key, drawn in a strip below it (never over the data).
fn svg(draw: impl FnOnce(&Area) -> Result<Vec<(Swatch, String)>, Box<dyn Error>>) -> Drawn {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let (plot, strip) = root.split_vertically(SIZE.1 - KEY_HEIGHT);
        let entries = draw(&plot)?;
        key(&strip, &entries)?;
        root.present()?;
    }
    Ok(out)
}

/// The key: swatch and label per entry, left to right, wrapping.
fn key(area: &Area, entries: &[(Swatch, String)]) -> Result<(), Box<dyn Error>> {
    let width = area.dim_in_pixel().0 as i32;
    let (left, mut x, mut y) = (64, 64, 12);
    let style = (FONT, 15).into_font().color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
    for (swatch, label) in entries {
        let w = 30 + (15 * label.chars().count() as i32 + 1) / 2 + 16;
        if x > left && x + w > width - 8 {
            (x, y) = (left, y + 22);
        }
        match *swatch {
            Swatch::Line(c) => area.draw(&PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(2)))?,
            Swatch::Dashed(c) => {
                for dx in [0, 9, 18] {
                    area.draw(&PathElement::new(vec![(x + dx, y), (x + dx + 5, y)], c.stroke_width(2)))?;
                }
            }
            Swatch::Block(c) => area.draw(&Rectangle::new([(x + 4, y - 6), (x + 18, y + 6)], c.filled()))?,
            Swatch::Dot(c, filled) => {
                let s = if filled { c.filled() } else { c.stroke_width(2) };
                area.draw(&Circle::new((x + 11, y), 6, s))?;
            }
        }
        area.draw(&Text::new(label.clone(), (x + 30, y), style.clone()))?;
        x += w;
    }
    Ok(())
}

/// A chart with nothing to plot: its title and why, centred.
fn message(title: &str, why: &str) -> Drawn {
    svg(|root| {
        let (w, h) = (SIZE.0 as i32, SIZE.1 as i32);
        let centre =
            |size| TextStyle::from((FONT, size).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new(title.to_owned(), (w / 2, 24), centre(20).color(&INK)))?;
        root.draw(&Rectangle::new([(40, 60), (w - 40, h - 120)], GRID.stroke_width(1)))?;
        root.draw(&Text::new(why.to_owned(), (w / 2, h / 2 - 30), centre(17).color(&MUTED)))?;
        Ok(Vec::new())
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A short axis number: few digits, none that say nothing ("5", not "5.0").
fn short(v: f64) -> String {
    let a = v.abs();
    let text = if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

/// `c` darker, for a line drawn over one of colour `c`.
fn darker(c: RGBColor) -> RGBColor {
    let d = |v: u8| (f64::from(v) * 0.55) as u8;
    RGBColor(d(c.0), d(c.1), d(c.2))
}

/// The percentile at `nines` on the "nines" axis: 0 -> 0, 1 -> 90, 2 -> 99, 3 -> 99.9.
fn percentile_label(nines: f64) -> String {
    if (nines - nines.round()).abs() > 1e-6 {
        return String::new();
    }
    let p = 100.0 * (1.0 - 10f64.powf(-nines.round()));
    let decimals = (nines.round() as usize).saturating_sub(2);
    format!("{p:.decimals$}")
}

/// A log axis's label: only at 1, 2 and 5 times a power of ten (the others
/// crowd the top of each decade).
fn log_label(v: f64) -> String {
    let mantissa = v / 10f64.powf(v.log10().floor());
    if [1.0, 2.0, 5.0, 10.0].iter().any(|m| (mantissa - m).abs() < 1e-6) { short(v) } else { String::new() }
}

/// Log-axis bounds around `lo..hi` (positive): a little wider, and at least
/// a decade, centred on the data.
fn log_bounds(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let (lo, hi) = (lo.max(1e-3) / 1.5, hi.max(1e-3) * 1.5);
    let widen = (10.0 / (hi / lo)).max(1.0).sqrt();
    lo / widen..hi * widen
}

/// The mesh every chart shares: light grid, readable labels, axis names.
fn mesh<'a, X, Y>(
    chart: &mut Chart<'a, X, Y>,
    x_desc: &str,
    y_desc: &str,
    x_label: &dyn Fn(&X::ValueType) -> String,
    y_label: &dyn Fn(&Y::ValueType) -> String,
    x_labels: usize,
) -> Result<(), Box<dyn Error>>
where
    X: Ranged + ValueFormatter<X::ValueType>,
    Y: Ranged + ValueFormatter<Y::ValueType>,
{
    chart
        .configure_mesh()
        .light_line_style(GRID)
        .bold_line_style(GRID)
        .x_labels(x_labels)
        .x_label_formatter(x_label)
        .y_label_formatter(y_label)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()?;
    Ok(())
}

/// A chart of `title` over `x` and `y` on `root`.
type Chart<'a, X, Y> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>;

fn titled<'a, X: AsRangedCoord, Y: AsRangedCoord>(
    root: &Area<'a>,
    title: &str,
    y_label_width: u32,
    x: X,
    y: Y,
) -> Result<Chart<'a, X::CoordDescType, Y::CoordDescType>, Box<dyn Error>> {
    Ok(ChartBuilder::on(root)
        .caption(title, (FONT, 20).into_font().color(&INK))
        .margin(14)
        .x_label_area_size(46)
        .y_label_area_size(y_label_width)
        .build_cartesian_2d(x, y)?)
}

/// `h`'s value in ms at each point of the nines axis `xs` (ascending), in one
/// walk over the histogram (a quantile query per point walks it each time).
fn spectrum(h: &Latency, xs: &[f64]) -> Vec<(f64, f64)> {
    let total = h.count();
    let mut recorded = h.histogram().iter_recorded();
    let (mut seen, mut value) = (0, 0);
    xs.iter()
        .map(|x| {
            let q = 1.0 - 10f64.powf(-x);
            let target = ((q * total as f64).ceil() as u64).clamp(1, total.max(1));
            while seen < target {
                let Some(v) = recorded.next() else { break };
                seen += v.count_at_value();
                value = v.value_iterated_to();
            }
            (*x, (value as f64 / 1e3).max(1e-3))
        })
        .collect()
}

/// Corrected (solid) and uncorrected (dashed) latency against the percentile
/// on a "nines" axis, one colour per outcome.
pub fn latency_spectrum(p: &PolicyResult) -> Drawn {
    let m = &p.metrics;
    let present: Vec<Outcome> =
        OUTCOMES.into_iter().filter(|o| m.corrected.get(o).is_some_and(|h| h.count() > 0)).collect();
    let title = "Latency by percentile and layer";
    if present.is_empty() {
        return message(title, "no requests finished");
    }
    let most = m.corrected.values().map(Latency::count).max().unwrap_or(1).max(1);
    let nines = (most as f64).log10().ceil().clamp(2.0, 6.0);
    let xs: Vec<f64> = (0..=(nines * 50.0) as u32).map(|i| f64::from(i) / 50.0).collect();
    let curve = |h: &Latency| spectrum(h, &xs);
    let all = m.corrected.values().chain(m.uncorrected.values());
    let lo = all.clone().map(|h| ms(h.quantile(0.0))).fold(f64::INFINITY, f64::min);
    let hi = all.map(|h| ms(h.max())).fold(0.0, f64::max);
    svg(|root| {
        let mut chart = titled(root, title, 64, 0f64..nines, log_bounds(lo, hi).log_scale())?;
        let (x_desc, y_desc) = ("percentile (%)", "latency (ms, log)");
        mesh(&mut chart, x_desc, y_desc, &|x| percentile_label(*x), &|y| log_label(*y), nines as usize + 1)?;
        let mut entries = Vec::new();
        for o in &present {
            let colour = layer_colour(*o);
            chart.draw_series(LineSeries::new(curve(&m.corrected[o]), colour.stroke_width(2)))?;
            if let Some(h) = m.uncorrected.get(o) {
                chart.draw_series(DashedLineSeries::new(curve(h), 6, 4, darker(colour).stroke_width(1)))?;
            }
            entries.push((Swatch::Line(colour), layer_label(*o).to_owned()));
        }
        entries.push((Swatch::Line(MUTED), "corrected".into()));
        entries.push((Swatch::Dashed(INK), "uncorrected (darker)".into()));
        Ok(entries)
    })
}

/// Each outcome's share of the requests finished in each second, stacked.
pub fn layer_shares(p: &PolicyResult) -> Drawn {
    let title = "Share of requests by serving layer";
    let secs: Vec<_> = p.metrics.seconds.iter().filter(|s| s.counts.requests > 0).collect();
    if secs.is_empty() {
        return message(title, "no per-second series recorded");
    }
    let step = series_step(&secs.iter().map(|s| s.second).collect::<Vec<_>>()).as_secs() as f64;
    let end = secs.last().map_or(1.0, |s| s.second as f64 + step);
    let share = |s: &crate::metrics::Second, o: Outcome| {
        let c = &s.counts;
        let n = match o {
            Outcome::L1 => c.l1,
            Outcome::L2 => c.l2,
            Outcome::Origin => c.origin,
            Outcome::Stale => c.stale_served,
            Outcome::Error => c.errors,
        };
        100.0 * n as f64 / c.requests as f64
    };
    svg(|root| {
        let mut chart = titled(root, title, 64, secs[0].second as f64..end, 0f64..100.0)?;
        let (x_desc, y_desc) = ("time since start (s)", "share of requests (%)");
        mesh(&mut chart, x_desc, y_desc, &|x| short(*x), &|y| format!("{y:.0}"), 10)?;
        let mut below = vec![0.0; secs.len()];
        let mut entries = Vec::new();
        for o in OUTCOMES {
            let above: Vec<f64> = secs.iter().zip(&below).map(|(s, b)| b + share(s, o)).collect();
            if above == below {
                continue;
            }
            let mut edge: Vec<(f64, f64)> = Vec::new();
            for (s, y) in secs.iter().zip(&above) {
                edge.extend([(s.second as f64, *y), (s.second as f64 + step, *y)]);
            }
            for (s, y) in secs.iter().zip(&below).rev() {
                edge.extend([(s.second as f64 + step, *y), (s.second as f64, *y)]);
            }
            let colour = layer_colour(o);
            chart.draw_series(std::iter::once(Polygon::new(edge, colour.filled())))?;
            entries.push((Swatch::Block(colour), layer_label(o).to_owned()));
            below = above;
        }
        Ok(entries)
    })
}

/// Requests that reached Stripe per second against the account limit. The
/// series counts requests, not calls (no per-second count of Stripe calls is
/// recorded), so the run's average of every Stripe call (retries and
/// background refreshes too) is drawn beside it.
pub fn stripe_traffic(p: &PolicyResult) -> Drawn {
    let title = "Stripe traffic against the account limit";
    let secs = &p.metrics.seconds;
    if secs.is_empty() {
        return message(title, "no per-second series recorded");
    }
    let step = series_step(&secs.iter().map(|s| s.second).collect::<Vec<_>>()).as_secs() as f64;
    let (start, end) = (secs[0].second as f64, secs.last().map_or(1.0, |s| s.second as f64 + step));
    let per_s = |f: fn(&crate::metrics::Counts) -> u64| -> Vec<(f64, f64)> {
        secs.iter()
            .flat_map(|s| {
                let r = f(&s.counts) as f64 / step;
                [(s.second as f64, r), (s.second as f64 + step, r)]
            })
            .collect()
    };
    let served = per_s(|c| c.origin);
    let limit = p.cost.as_ref().map(|c| c.stripe.limit_per_s);
    let average = p.summary.stripe_calls_per_s;
    // Results since the series counts Stripe's requests per second draw them;
    // older ones fall back to served + failed requests (the cost model's peak).
    let counted = secs.iter().any(|s| s.stripe_calls > 0);
    let calls: Vec<(f64, f64)> = if counted {
        secs.iter()
            .flat_map(|s| {
                let r = s.stripe_calls as f64 / step;
                [(s.second as f64, r), (s.second as f64 + step, r)]
            })
            .collect()
    } else {
        per_s(|c| c.origin + c.errors)
    };
    let peak = calls.iter().map(|(_, r)| *r).fold(average, f64::max);
    let top = (peak.max(limit.unwrap_or(0.0)) * 1.15).max(1.0);
    svg(|root| {
        let mut chart = titled(root, title, 64, start..end, 0f64..top)?;
        mesh(&mut chart, "time since start (s)", "per second", &|x| short(*x), &|y| short(*y), 10)?;
        let colour = layer_colour(Outcome::Origin);
        let total = if counted { INK } else { layer_colour(Outcome::Error) };
        chart.draw_series(LineSeries::new(calls, total.stroke_width(2)))?;
        chart.draw_series(LineSeries::new(served, colour.stroke_width(1)))?;
        let flat = |y: f64| [(start, y), (end, y)];
        chart.draw_series(DashedLineSeries::new(flat(average), 3, 4, INK.stroke_width(1)))?;
        let calls_label = if counted {
            "Stripe calls /s (every request Stripe received)"
        } else {
            "served + failed /s (this result counts no calls per second)"
        };
        let mut entries = vec![
            (Swatch::Line(total), calls_label.to_owned()),
            (Swatch::Line(colour), "requests served by Stripe /s".to_owned()),
            (Swatch::Dashed(INK), format!("all Stripe calls, average ({} /s)", short(average))),
        ];
        if let (Some(limit), Some(c)) = (limit, &p.cost) {
            chart.draw_series(DashedLineSeries::new(flat(limit), 10, 5, LIMIT.stroke_width(2)))?;
            let mode = match c.stripe.mode {
                crate::cost::StripeMode::Live => "live",
                crate::cost::StripeMode::Test => "test",
            };
            entries
                .push((Swatch::Dashed(LIMIT), format!("account limit, {mode} mode ({} /s)", short(limit))));
        }
        Ok(entries)
    })
}

/// The distribution of how long ago a stale read's version stopped being
/// true, as a cumulative share of stale reads.
pub fn staleness_ages(p: &PolicyResult) -> Drawn {
    let title = "Staleness age of stale reads";
    let h = &p.metrics.staleness_age;
    if h.count() == 0 {
        return message(title, "No stale reads: every read served the current version.");
    }
    let total = h.count() as f64;
    let mut cdf = Vec::new();
    let mut seen = 0;
    for v in h.histogram().iter_recorded() {
        let at = v.value_iterated_to() as f64 / 1e3;
        cdf.push((at, 100.0 * seen as f64 / total));
        seen += v.count_since_last_iteration();
        cdf.push((at, 100.0 * seen as f64 / total));
    }
    let (p50, p99) = (ms(h.quantile(0.5)), ms(h.quantile(0.99)));
    svg(|root| {
        let x = log_bounds(ms(h.quantile(0.0)), ms(h.max())).log_scale();
        let mut chart = titled(root, title, 64, x, 0f64..100.0)?;
        let (x_desc, y_desc) =
            ("age of the served version's replacement (ms, log)", "stale reads this old or less (%)");
        mesh(&mut chart, x_desc, y_desc, &|x| log_label(*x), &|y| format!("{y:.0}"), 10)?;
        let colour = layer_colour(Outcome::Stale);
        chart.draw_series(LineSeries::new(cdf.clone(), colour.stroke_width(2)))?;
        chart.draw_series(cdf.iter().skip(1).step_by(2).map(|p| Circle::new(*p, 3, colour.filled())))?;
        let reads = if h.count() == 1 { "stale read" } else { "stale reads" };
        let label = format!("{} {reads}: p50 {} ms, p99 {} ms", h.count(), short(p50), short(p99));
        Ok(vec![(Swatch::Line(colour), label)])
    })
}

/// Places labels beside points in pixels, each at the first of four spots
/// (right above, right below, left above, left below) clear of those placed.
fn place_labels(points: &[(i32, i32, usize)]) -> Vec<(i32, i32)> {
    let mut placed: Vec<[i32; 4]> = points.iter().map(|(x, y, _)| [x - 8, y - 8, x + 8, y + 8]).collect();
    points
        .iter()
        .map(|&(x, y, chars)| {
            let w = 8 * chars as i32;
            let spots = [(10, -22), (10, 6), (-10 - w, -22), (-10 - w, 6)];
            let overlaps = |(dx, dy): (i32, i32)| {
                let r = [x + dx, y + dy, x + dx + w, y + dy + 16];
                placed.iter().any(|o| r[0] < o[2] && o[0] < r[2] && r[1] < o[3] && o[1] < r[3])
            };
            let (dx, dy) = spots.iter().copied().find(|s| !overlaps(*s)).unwrap_or(spots[0]);
            placed.push([x + dx, y + dy, x + dx + w, y + dy + 16]);
            (dx, dy)
        })
        .collect()
}

/// Monthly cost against the stale-read ratio, one point per policy with a
/// cost estimate; frontier policies filled and named in bold.
pub fn cost_vs_staleness(result: &RunResult, front: &[bool]) -> Drawn {
    let title = "Cost per month against stale reads";
    let points: Vec<(f64, f64, &str, bool)> = result
        .policies
        .iter()
        .zip(front)
        .filter_map(|(p, on)| {
            let s = &p.summary;
            s.cost_per_month_usd.map(|c| (c, 100.0 * s.stale_read_ratio, p.name.as_str(), *on))
        })
        .collect();
    if points.is_empty() {
        return message(title, "no policy has a cost estimate");
    }
    let pad = |(lo, hi): (f64, f64)| {
        let span = (hi - lo).max(hi.abs() * 0.1).max(1e-3);
        (lo - span * 0.15).max(0.0)..hi + span * 0.2
    };
    let fold = |f: fn(&(f64, f64, &str, bool)) -> f64| {
        points.iter().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)))
    };
    svg(|root| {
        let mut chart = titled(root, title, 64, pad(fold(|p| p.0)), pad(fold(|p| p.1)))?;
        let (x_desc, y_desc) = ("estimated AWS cost (USD per month)", "stale reads (% of requests)");
        mesh(&mut chart, x_desc, y_desc, &|x| short(*x), &|y| short(*y), 8)?;
        let pixels: Vec<(i32, i32, usize)> = points
            .iter()
            .map(|(x, y, name, _)| {
                let (px, py) = chart.backend_coord(&(*x, *y));
                (px, py, name.chars().count())
            })
            .collect();
        let offsets = place_labels(&pixels);
        for on in [false, true] {
            let (colour, weight) = if on { (HIGHLIGHT, FontStyle::Bold) } else { (MUTED, FontStyle::Normal) };
            let series =
                points.iter().zip(&offsets).filter(|(p, _)| p.3 == on).map(|((cx, cy, name, _), off)| {
                    let dot = if on { colour.filled() } else { colour.stroke_width(2) };
                    let font = (FONT, 14).into_font().style(weight).color(&INK);
                    EmptyElement::at((*cx, *cy))
                        + Circle::new((0, 0), 7, dot)
                        + Text::new(name.to_string(), *off, font)
                });
            chart.draw_series(series)?;
        }
        Ok(vec![
            (Swatch::Dot(HIGHLIGHT, true), "on the frontier".into()),
            (
                Swatch::Dot(MUTED, false),
                "off it (another policy is at least as good on every objective)".into(),
            ),
        ])
    })
}

/// Corrected p99 per policy as horizontal bars, frontier policies highlighted.
pub fn p99_by_policy(result: &RunResult, front: &[bool]) -> Drawn {
    let title = "p99 latency per policy (corrected)";
    let n = result.policies.len();
    if n == 0 {
        return message(title, "no policies");
    }
    let names: Vec<&str> = result.policies.iter().map(|p| p.name.as_str()).collect();
    let top = result.policies.iter().map(|p| p.summary.p99_ms).fold(0.0, f64::max).max(1e-3) * 1.25;
    let longest = names.iter().map(|s| s.chars().count()).max().unwrap_or(4) as u32;
    svg(|root| {
        let y = (0..n).into_segmented();
        let mut chart = titled(root, title, (longest * 8 + 16).clamp(60, 220), 0f64..top, y)?;
        chart
            .configure_mesh()
            .light_line_style(GRID)
            .bold_line_style(GRID)
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get(*i).map_or(String::new(), |s| (*s).to_owned()),
                _ => String::new(),
            })
            .x_label_formatter(&|x| short(*x))
            .x_desc("p99 from intended start (ms)")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .draw()?;
        let bars = result.policies.iter().zip(front).enumerate().map(|(i, (p, on))| {
            let colour = if *on { HIGHLIGHT } else { MUTED };
            let mut bar = Rectangle::new(
                [(0.0, SegmentValue::Exact(i)), (p.summary.p99_ms, SegmentValue::Exact(i + 1))],
                colour.filled(),
            );
            bar.set_margin(5, 5, 0, 0);
            bar
        });
        chart.draw_series(bars)?;
        let values = result.policies.iter().enumerate().map(|(i, p)| {
            let style = (FONT, 13).into_font().color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
            EmptyElement::at((p.summary.p99_ms, SegmentValue::CenterOf(i)))
                + Text::new(format!("{} ms", short(p.summary.p99_ms)), (6, 0), style)
        });
        chart.draw_series(values)?;
        Ok(vec![
            (Swatch::Block(HIGHLIGHT), "on the frontier".into()),
            (Swatch::Block(MUTED), "off the frontier".into()),
        ])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spectrum_walk_agrees_with_quantile_queries() {
        let mut h = Latency::new();
        for us in (1..5_000u64).map(|i| i * i % 9_973 + 1) {
            h.record(Duration::from_micros(us));
        }
        let xs: Vec<f64> = (0..=200).map(|i| f64::from(i) / 50.0).collect();
        for (x, v) in spectrum(&h, &xs) {
            let want = ms(h.quantile(1.0 - 10f64.powf(-x))).max(1e-3);
            assert!((v - want).abs() <= want * 1e-3, "at {x} nines: {v} ms, quantile says {want} ms");
        }
    }

    #[test]
    fn axis_labels_are_short_and_sparse_on_log_axes() {
        assert_eq!([short(5.0), short(0.1), short(1234.5), short(12.25)], ["5", "0.1", "1234", "12.2"]);
        assert_eq!(
            [percentile_label(0.0), percentile_label(2.0), percentile_label(4.0)],
            ["0", "99", "99.99"]
        );
        assert_eq!(percentile_label(1.5), "");
        assert_eq!([log_label(200.0), log_label(300.0), log_label(0.05)], ["200", "", "0.05"]);
    }
}
