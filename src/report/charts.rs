//! Charts as inline SVG text, drawn here (no library, nothing fetched): the score
//! histograms of an evaluator (one run, or two overlaid) and the pass rates of a grid
//! search's combinations as bars. The HTML reports embed them, and the viewer shows the
//! same text. Every label passes through `xml_text`/`xml_attr`.
//!
//! Each bar is a `<rect class="bar">` carrying its numbers in data attributes
//! (`data-bin`, `data-count`, `data-series`; `data-rate`, `data-passed`, `data-total`),
//! so tests and scripts read a chart without parsing geometry.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::common::grid_label;
use crate::history::Comparison;
use crate::store::{EvaluationRecord, StoredRun};
use crate::xml::{xml_attr as attr, xml_text as text};

/// Bins of every histogram.
pub const BINS: usize = 10;

const HIST_WIDTH: f64 = 360.0;
const HIST_HEIGHT: f64 = 170.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 30.0;

/// The span of scores a histogram's bins cover: 0 to 1 when every score lies there (the
/// usual case, and the same bins for every run), else from the lowest to the highest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub lo: f64,
    pub hi: f64,
}

impl ScoreRange {
    pub fn of<'a>(series: impl IntoIterator<Item = &'a [f64]>) -> ScoreRange {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for scores in series {
            for &s in scores.iter().filter(|s| s.is_finite()) {
                lo = lo.min(s);
                hi = hi.max(s);
            }
        }
        if lo > hi || (lo >= 0.0 && hi <= 1.0) {
            ScoreRange { lo: 0.0, hi: 1.0 }
        } else if lo == hi {
            ScoreRange {
                lo: lo - 0.5,
                hi: hi + 0.5,
            }
        } else {
            ScoreRange { lo, hi }
        }
    }

    /// How many scores fall in each of `BINS` equal bins; the top score goes in the last
    /// bin. Scores that are not finite are left out.
    pub fn counts(&self, scores: &[f64]) -> Vec<u64> {
        let mut counts = vec![0u64; BINS];
        let width = self.hi - self.lo;
        for &s in scores.iter().filter(|s| s.is_finite()) {
            let at = ((s - self.lo) / width * BINS as f64).floor();
            let bin = (at.max(0.0) as usize).min(BINS - 1);
            counts[bin] += 1;
        }
        counts
    }

    fn edge(&self, bin: usize) -> f64 {
        self.lo + (self.hi - self.lo) * bin as f64 / BINS as f64
    }
}

/// One run's scores in a histogram: its name in the legend ("base", "head"; "" for a
/// histogram of one run) and its counts per bin.
pub struct Series<'a> {
    pub name: &'a str,
    pub counts: Vec<u64>,
}

/// Fill colours: one run in blue; two runs overlaid as base in grey, head in blue.
fn colour(series: usize, of: usize) -> &'static str {
    match (of, series) {
        (1, _) | (_, 1) => "#2b6cb0",
        _ => "#98a2b3",
    }
}

/// A histogram of an evaluator's scores: one bar per bin and series (series overlaid,
/// translucent), the score range under it and the highest count beside it.
pub fn histogram_svg(evaluator: &str, range: ScoreRange, series: &[Series]) -> String {
    let plot_w = HIST_WIDTH - LEFT - RIGHT;
    let plot_h = HIST_HEIGHT - TOP - BOTTOM;
    let max = series
        .iter()
        .flat_map(|s| s.counts.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let total: u64 = series.iter().map(|s| s.counts.iter().sum::<u64>()).sum();
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"histogram\" data-evaluator=\"{}\" \
         data-bins=\"{BINS}\" data-series=\"{}\" width=\"{HIST_WIDTH}\" height=\"{HIST_HEIGHT}\" \
         viewBox=\"0 0 {HIST_WIDTH} {HIST_HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        attr(evaluator),
        series.len(),
        attr(&format!(
            "score distribution of {evaluator}: {total} scores from {} to {}",
            number(range.lo),
            number(range.hi)
        ))
    );
    let _ = write!(
        out,
        "<title>{}</title><text x=\"{LEFT}\" y=\"15\" font-size=\"13\" font-weight=\"600\" \
         fill=\"#1a202c\">{}</text>",
        text(&format!("scores of {evaluator}")),
        text(evaluator)
    );
    // legend for overlaid runs
    if series.len() > 1 {
        let mut x = HIST_WIDTH - RIGHT;
        for (k, s) in series.iter().enumerate().rev() {
            x -= 8.0 + 7.0 * s.name.chars().count() as f64;
            let _ = write!(
                out,
                "<rect class=\"legend\" x=\"{x}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{}\" \
                 fill-opacity=\"0.7\"/><text x=\"{}\" y=\"15\" font-size=\"11\" fill=\"#475467\">{}</text>",
                colour(k, series.len()),
                x + 13.0,
                text(s.name)
            );
            x -= 18.0;
        }
    }
    let bin_w = plot_w / BINS as f64;
    let opacity = if series.len() > 1 { 0.6 } else { 0.85 };
    for (k, s) in series.iter().enumerate() {
        for (bin, &count) in s.counts.iter().enumerate() {
            let h = plot_h * count as f64 / max as f64;
            let x = LEFT + bin_w * bin as f64 + 1.0;
            let y = TOP + plot_h - h;
            let label = format!(
                "{}{} to {}: {count}",
                if s.name.is_empty() {
                    String::new()
                } else {
                    format!("{}, ", s.name)
                },
                number(range.edge(bin)),
                number(range.edge(bin + 1))
            );
            let _ = write!(
                out,
                "<rect class=\"bar\" data-series=\"{}\" data-bin=\"{bin}\" data-count=\"{count}\" \
                 x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\" \
                 fill-opacity=\"{opacity}\"><title>{}</title></rect>",
                attr(s.name),
                bin_w - 2.0,
                colour(k, series.len()),
                text(&label)
            );
        }
    }
    let base = TOP + plot_h;
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#98a2b3\"/>\
         <text x=\"{LEFT}\" y=\"{}\" font-size=\"11\" fill=\"#475467\">{}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#475467\" text-anchor=\"middle\">{}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#475467\" text-anchor=\"end\">{}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#475467\" text-anchor=\"end\">{max}</text>\
         <text x=\"{}\" y=\"{base}\" font-size=\"11\" fill=\"#475467\" text-anchor=\"end\">0</text>",
        LEFT + plot_w,
        base + 14.0,
        number(range.lo),
        LEFT + plot_w / 2.0,
        base + 14.0,
        number((range.lo + range.hi) / 2.0),
        LEFT + plot_w,
        base + 14.0,
        number(range.hi),
        LEFT - 5.0,
        TOP + 9.0,
        LEFT - 5.0,
    );
    out.push_str("</svg>");
    out
}

/// One grid combination's bar: its label, its run, and its cases passed of all.
pub struct PassRateBar<'a> {
    pub label: &'a str,
    pub run_id: &'a str,
    pub passed: u64,
    pub total: u64,
    /// The run the chart is shown for (drawn darker).
    pub current: bool,
}

const BAR_LABEL_W: f64 = 230.0;
const BAR_W: f64 = 240.0;
const BAR_ROW_H: f64 = 24.0;

/// The pass rate of each grid combination as a horizontal bar, in the given order.
pub fn pass_rates_svg(bars: &[PassRateBar]) -> String {
    let width = BAR_LABEL_W + BAR_W + 110.0;
    let height = BAR_ROW_H * bars.len() as f64 + 8.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"pass-rates\" data-bars=\"{}\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"pass rate of each grid combination\"><title>pass rate of each grid combination</title>",
        bars.len()
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = 4.0 + BAR_ROW_H * i as f64;
        let rate = if bar.total == 0 {
            0.0
        } else {
            bar.passed as f64 / bar.total as f64
        };
        let shown: String = if bar.label.chars().count() > 34 {
            bar.label.chars().take(33).chain(['…']).collect()
        } else {
            bar.label.to_string()
        };
        let fill = if bar.current { "#1f7a3a" } else { "#5fae74" };
        let _ = write!(
            out,
            "<g class=\"bar-row\" data-run-id=\"{}\"{}><text x=\"{}\" y=\"{}\" font-size=\"12\" \
             fill=\"#1a202c\" text-anchor=\"end\"{}><title>{}</title>{}</text>\
             <rect class=\"track\" x=\"{BAR_LABEL_W}\" y=\"{}\" width=\"{BAR_W}\" height=\"16\" fill=\"#edf2f7\"/>\
             <rect class=\"bar\" data-rate=\"{rate}\" data-passed=\"{}\" data-total=\"{}\" x=\"{BAR_LABEL_W}\" \
             y=\"{}\" width=\"{:.1}\" height=\"16\" fill=\"{fill}\"><title>{}</title></rect>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#475467\">{}</text></g>",
            attr(bar.run_id),
            if bar.current {
                " data-current=\"true\""
            } else {
                ""
            },
            BAR_LABEL_W - 8.0,
            y + 12.5,
            if bar.current {
                " font-weight=\"600\""
            } else {
                ""
            },
            text(bar.label),
            text(&shown),
            y,
            bar.passed,
            bar.total,
            y,
            BAR_W * rate,
            text(&format!("{}: {} of {} cases passed", bar.label, bar.passed, bar.total)),
            BAR_LABEL_W + BAR_W + 6.0,
            y + 12.5,
            text(&format!("{}% ({}/{})", number(rate * 100.0), bar.passed, bar.total)),
        );
    }
    out.push_str("</svg>");
    out
}

/// Each evaluator's histogram (by evaluator id) of the scores among `evaluations`.
pub fn run_histograms(evaluations: &[EvaluationRecord]) -> Vec<(String, String)> {
    let mut scores: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for e in evaluations.iter().filter(|e| e.trial == 0) {
        let entry = scores.entry(&e.evaluator_id).or_default();
        entry.extend(e.score);
    }
    scores
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(id, s)| {
            let range = ScoreRange::of([&s[..]]);
            let series = [Series {
                name: "",
                counts: range.counts(&s),
            }];
            (id.to_string(), histogram_svg(id, range, &series))
        })
        .collect()
}

/// One evaluator's scores in two runs, on the same bins.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComparedHistogram {
    pub evaluator: String,
    pub range: (f64, f64),
    pub base: Vec<u64>,
    pub head: Vec<u64>,
    pub svg: String,
}

/// Per evaluator of a comparison, the scores of the cases both runs hold, base and head
/// overlaid on shared bins.
pub fn compared_histograms(c: &Comparison) -> Vec<ComparedHistogram> {
    let mut scores: BTreeMap<&str, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for case in &c.cases {
        for e in &case.evaluations {
            let entry = scores.entry(&e.evaluator_id).or_default();
            entry.0.extend(e.base.as_ref().and_then(|s| s.score));
            entry.1.extend(e.head.as_ref().and_then(|s| s.score));
        }
    }
    scores
        .into_iter()
        .filter(|(_, (b, h))| !b.is_empty() || !h.is_empty())
        .map(|(id, (b, h))| {
            let range = ScoreRange::of([&b[..], &h[..]]);
            let (base, head) = (range.counts(&b), range.counts(&h));
            let svg = histogram_svg(
                id,
                range,
                &[
                    Series {
                        name: "base",
                        counts: base.clone(),
                    },
                    Series {
                        name: "head",
                        counts: head.clone(),
                    },
                ],
            );
            ComparedHistogram {
                evaluator: id.to_string(),
                range: (range.lo, range.hi),
                base,
                head,
                svg,
            }
        })
        .collect()
}

/// The grid searches among `runs`: runs of one suite with a grid combination started at
/// the same moment (a grid search stores one run per combination, all with its start
/// time), two combinations or more. Each as its suite, start and pass-rate bars, in the
/// order of `runs`' first appearance; bars in the order the combinations ran.
pub fn grid_searches(runs: &[StoredRun]) -> Vec<(String, f64, String)> {
    let mut groups: Vec<((&str, u64), Vec<&StoredRun>)> = Vec::new();
    for r in runs.iter().filter(|r| r.run.grid.is_some()) {
        let key = (r.run.suite_id.as_str(), r.run.started_at.to_bits());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    groups
        .into_iter()
        .filter(|(_, members)| members.len() > 1)
        .map(|((suite, _), mut members)| {
            // The viewer's order (`store::grid_siblings`): by run id, which follows the
            // combinations' order for generated ids and for "{run_id}-{k}" up to k = 9.
            members.sort_by(|a, b| a.run.id.cmp(&b.run.id));
            let labels: Vec<String> = members
                .iter()
                .map(|r| r.run.grid.as_deref().map(grid_label).unwrap_or_default())
                .collect();
            let bars: Vec<PassRateBar> = members
                .iter()
                .zip(&labels)
                .map(|(r, label)| PassRateBar {
                    label,
                    run_id: &r.run.id,
                    passed: r.cases.saturating_sub(r.failed_cases + r.errored_cases),
                    total: r.cases,
                    current: false,
                })
                .collect();
            (
                suite.to_string(),
                members[0].run.started_at,
                pass_rates_svg(&bars),
            )
        })
        .collect()
}

/// A short number: at most two decimals, no trailing zeros.
fn number(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(svg: &str, needle: &str) -> usize {
        svg.matches(needle).count()
    }

    #[test]
    fn ranges_and_bins() {
        let scores = [0.0, 0.05, 0.1, 0.55, 1.0, 1.0];
        let range = ScoreRange::of([&scores[..]]);
        assert_eq!(range, ScoreRange { lo: 0.0, hi: 1.0 });
        assert_eq!(range.counts(&scores), [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]);
        // outside 0..1: the scores' own span; one value: a span around it
        assert_eq!(
            ScoreRange::of([&[2.0, 12.0][..], &[7.0][..]]),
            ScoreRange { lo: 2.0, hi: 12.0 }
        );
        assert_eq!(
            ScoreRange::of([&[3.0][..]]),
            ScoreRange { lo: 2.5, hi: 3.5 }
        );
        assert_eq!(ScoreRange::of([&[][..]]), ScoreRange { lo: 0.0, hi: 1.0 });
        assert_eq!(range.counts(&[f64::NAN, 0.2]).iter().sum::<u64>(), 1);
    }

    #[test]
    fn histogram_has_a_bar_per_bin_and_series_with_escaped_labels() {
        let range = ScoreRange { lo: 0.0, hi: 1.0 };
        let one = histogram_svg(
            "<judge>",
            range,
            &[Series {
                name: "",
                counts: range.counts(&[0.1, 0.9, 0.95]),
            }],
        );
        assert!(one.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"histogram\""));
        assert_eq!(count(&one, "<rect class=\"bar\""), BINS);
        assert!(one.contains("data-bin=\"9\" data-count=\"2\""));
        assert!(one.contains("&lt;judge&gt;") && !one.contains("<judge>"));
        let two = histogram_svg(
            "j",
            range,
            &[
                Series {
                    name: "base",
                    counts: range.counts(&[0.1]),
                },
                Series {
                    name: "head",
                    counts: range.counts(&[0.9]),
                },
            ],
        );
        assert_eq!(count(&two, "<rect class=\"bar\""), 2 * BINS);
        assert_eq!(count(&two, "data-series=\"head\" data-bin"), BINS);
        assert_eq!(count(&two, "class=\"legend\""), 2);
    }

    #[test]
    fn pass_rate_bars() {
        let svg = pass_rates_svg(&[
            PassRateBar {
                label: "model=a & b",
                run_id: "r-0",
                passed: 3,
                total: 4,
                current: false,
            },
            PassRateBar {
                label: "model=c",
                run_id: "r-1",
                passed: 0,
                total: 0,
                current: true,
            },
        ]);
        assert_eq!(count(&svg, "<rect class=\"bar\""), 2);
        assert!(svg.contains("data-rate=\"0.75\" data-passed=\"3\" data-total=\"4\""));
        assert!(svg.contains("model=a &amp; b") && svg.contains("75% (3/4)"));
        assert!(svg.contains("data-run-id=\"r-1\" data-current=\"true\""));
    }
}
