//! A voice call as an inline SVG timeline, drawn from its stored output (trialrun.voice's
//! TestResult as JSON): a lane per speaker (caller, agent; a transferee when the call was
//! transferred) with each utterance at its time and its text, the agent's response gaps,
//! interruptions, key presses as ticks, transfers, and the hang-up. The viewer (which adds
//! a cursor that follows the recording), HTML reports and notebooks all show this one
//! drawing.
//!
//! Marks carry their facts in data attributes (`data-text`, `data-gap`, `data-by`,
//! `data-digit`, `data-at`, `data-ended-by`) and the SVG its geometry (`data-left`,
//! `data-width`, `data-duration`), so the viewer places its cursor and tests read the
//! timeline without parsing shapes.

use std::fmt::Write;

use serde_json::Value;

use crate::xml::{xml_attr as attr, xml_text as text};

const WIDTH: f64 = 960.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 22.0;
const LANE: f64 = 46.0;
/// Roughly how wide a character of an utterance's label is, to cut it to its box.
const CHAR_WIDTH: f64 = 6.2;

struct Utterance<'a> {
    role: &'a str,
    text: &'a str,
    start: f64,
    end: f64,
    cut_off: bool,
}

/// The timeline's look, inside the SVG for a report file or a notebook (selectors scoped
/// to the timeline's class). The viewer's stylesheet has the same rules: its content
/// security policy refuses inline styles.
const STYLE: &str = "<style>\
svg.call-timeline{font:11px system-ui,sans-serif}\
svg.call-timeline .lane-bg{fill:#f7fafc;stroke:#e2e8f0}\
svg.call-timeline .lane-label{fill:#667085;font-weight:600}\
svg.call-timeline .grid-line{stroke:#e2e8f0}\
svg.call-timeline .axis{fill:#667085}\
svg.call-timeline .lane[data-role=caller] .utterance rect{fill:#bfdbfe;stroke:#2b6cb0}\
svg.call-timeline .lane[data-role=agent] .utterance rect{fill:#c6f6d5;stroke:#1f7a3a}\
svg.call-timeline .lane[data-role=transferee] .utterance rect{fill:#fde68a;stroke:#b7791f}\
svg.call-timeline .utterance.cut-off rect{stroke-dasharray:3 2}\
svg.call-timeline .utterance text{fill:#1a202c;pointer-events:none}\
svg.call-timeline .latency line{stroke:#b7791f;stroke-width:2}\
svg.call-timeline .latency text{fill:#b7791f;font-size:10px}\
svg.call-timeline .interruption rect{fill:#b42318;fill-opacity:.25}\
svg.call-timeline .interruption path{fill:#b42318}\
svg.call-timeline .dtmf line{stroke:#6b21a8;stroke-width:2}\
svg.call-timeline .dtmf text{fill:#6b21a8;font-weight:700}\
svg.call-timeline .transfer line{stroke:#b7791f;stroke-dasharray:4 3}\
svg.call-timeline .hangup line{stroke:#b42318;stroke-width:2}\
svg.call-timeline .hangup text{fill:#b42318}\
svg.call-timeline .cursor{stroke:#111827;stroke-width:1.5}\
</style>";

/// Whether a stored output is a call's result (what the timeline can draw).
pub fn is_call(output: &Value) -> bool {
    output.get("transcript").is_some_and(Value::is_array)
        && output.get("metrics").is_some()
        && output.get("keys").is_some()
}

/// The call's timeline, or None when `output` is not a call's result; `styled` puts its
/// look inside it (reports, notebooks), else the page's stylesheet gives it (the viewer).
pub fn svg(output: &Value, styled: bool) -> Option<String> {
    if !is_call(output) {
        return None;
    }
    let num = |v: &Value, key: &str| v.get(key).and_then(Value::as_f64);
    let metrics = output.get("metrics").filter(|m| m.is_object());
    let utterances: Vec<Utterance<'_>> = output["transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| {
            Some(Utterance {
                role: u.get("role")?.as_str()?,
                text: u.get("text").and_then(Value::as_str).unwrap_or(""),
                start: num(u, "start")?,
                end: num(u, "end")?,
                cut_off: u.get("cut_off").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect();
    let keys: Vec<(&str, &str, f64)> = output["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| {
            Some((
                k.get("role")?.as_str()?,
                k.get("digit")?.as_str()?,
                num(k, "at")?,
            ))
        })
        .collect();
    let call_duration = metrics.and_then(|m| num(m, "duration"));
    let duration = utterances
        .iter()
        .map(|u| u.end)
        .chain(keys.iter().map(|k| k.2))
        .chain(call_duration)
        .fold(0.001_f64, f64::max);
    let mut roles = vec!["caller", "agent"];
    if utterances.iter().any(|u| u.role == "transferee") {
        roles.push("transferee");
    }
    let height = TOP + LANE * roles.len() as f64 + 24.0;
    let x = |t: f64| LEFT + t.clamp(0.0, duration) / duration * (WIDTH - LEFT - RIGHT);
    let lane_y =
        |role: &str| TOP + LANE * roles.iter().position(|r| *r == role).unwrap_or(0) as f64;

    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="call-timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="call timeline, {d:.1} s" data-duration="{duration}" data-left="{LEFT}" data-width="{w}">"#,
        d = duration,
        w = WIDTH - LEFT - RIGHT,
    );
    if styled {
        out.push_str(STYLE);
    }
    // The time axis: at most a dozen ticks.
    let step = [0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0]
        .into_iter()
        .find(|s| duration / s <= 12.0)
        .unwrap_or(300.0);
    let mut t = 0.0;
    while t <= duration + 1e-9 {
        let _ = write!(
            out,
            r#"<line class="grid-line" x1="{x0:.1}" x2="{x0:.1}" y1="{y1}" y2="{y2}"/><text class="axis" x="{x0:.1}" y="{ya}" text-anchor="middle">{t} s</text>"#,
            x0 = x(t),
            y1 = TOP - 4.0,
            y2 = height - 20.0,
            ya = height - 6.0,
            t = seconds(t),
        );
        t += step;
    }
    for role in &roles {
        let y = lane_y(role);
        let _ = write!(
            out,
            r#"<g class="lane" data-role="{role}"><rect class="lane-bg" x="{LEFT}" y="{yb}" width="{w}" height="{h}"/><text class="lane-label" x="{xl}" y="{yl}" text-anchor="end">{role}</text>"#,
            yb = y + 4.0,
            w = WIDTH - LEFT - RIGHT,
            h = LANE - 8.0,
            xl = LEFT - 8.0,
            yl = y + LANE / 2.0 + 4.0,
        );
        for u in utterances.iter().filter(|u| u.role == *role) {
            let width = (x(u.end) - x(u.start)).max(2.0);
            let _ = write!(
                out,
                r#"<g class="utterance{cut}" data-start="{s}" data-end="{e}" data-text="{t}"><title>{s:.2}–{e:.2} s {role}: {title}{cut_note}</title><rect x="{x0:.1}" y="{yr}" width="{width:.1}" height="{h}" rx="3"/><text x="{xt:.1}" y="{yt}">{shown}</text></g>"#,
                cut = if u.cut_off { " cut-off" } else { "" },
                s = u.start,
                e = u.end,
                t = attr(u.text),
                title = text(u.text),
                cut_note = if u.cut_off { " [cut off]" } else { "" },
                x0 = x(u.start),
                yr = y + 8.0,
                h = LANE - 16.0,
                xt = x(u.start) + 3.0,
                yt = y + LANE / 2.0 + 4.0,
                shown = text(&fitted(u.text, width)),
            );
        }
        out.push_str("</g>");
    }
    // Response gaps: from the end of the caller's speech to the agent's next words, when the
    // caller said nothing more before them.
    let mut sorted: Vec<&Utterance<'_>> = utterances.iter().collect();
    sorted.sort_by(|a, b| a.start.total_cmp(&b.start));
    for (i, u) in sorted.iter().enumerate() {
        if u.role != "caller" {
            continue;
        }
        let rest = &sorted[i + 1..];
        let Some(reply) = rest.iter().find(|a| a.role == "agent" && a.start >= u.end) else {
            continue;
        };
        if rest
            .iter()
            .any(|o| o.role == "caller" && o.start < reply.start)
        {
            continue;
        }
        let gap = reply.start - u.end;
        let y = lane_y("agent") + 2.0;
        let _ = write!(
            out,
            r#"<g class="latency" data-gap="{gap}"><title>agent answered after {g}</title><line x1="{a:.1}" x2="{b:.1}" y1="{y}" y2="{y}"/><text x="{m:.1}" y="{yt}" text-anchor="middle">{g}</text></g>"#,
            g = text(&human_seconds(gap)),
            a = x(u.end),
            b = x(reply.start),
            m = (x(u.end) + x(reply.start)) / 2.0,
            yt = y - 2.0,
        );
    }
    let interruptions = metrics
        .and_then(|m| m.get("interruptions"))
        .and_then(Value::as_array);
    for i in interruptions.into_iter().flatten() {
        let (Some(by), Some(at)) = (i.get("by").and_then(Value::as_str), num(i, "at")) else {
            continue;
        };
        let overlap = num(i, "overlap").unwrap_or(0.0);
        let y = lane_y(by);
        let _ = write!(
            out,
            r#"<g class="interruption" data-by="{by}" data-at="{at}"><title>{by} talked over the other side at {at:.2} s for {o}</title><rect x="{x0:.1}" y="{yr}" width="{w:.1}" height="{h}"/><path d="M {xa:.1} {yp} L {xb:.1} {yp} L {x0:.1} {yq} Z"/></g>"#,
            by = attr(by),
            o = text(&human_seconds(overlap)),
            x0 = x(at),
            yr = y + 4.0,
            w = (x(at + overlap) - x(at)).max(2.0),
            h = LANE - 8.0,
            xa = x(at) - 5.0,
            xb = x(at) + 5.0,
            yp = y + 2.0,
            yq = y + 10.0,
        );
    }
    for (role, digit, at) in &keys {
        let y = lane_y(role);
        let _ = write!(
            out,
            r#"<g class="dtmf" data-digit="{d}" data-at="{at}"><title>{r} pressed {d} at {at:.2} s</title><line x1="{x0:.1}" x2="{x0:.1}" y1="{y1}" y2="{y2}"/><text x="{xt:.1}" y="{yt}">{d}</text></g>"#,
            d = attr(digit),
            r = text(role),
            x0 = x(*at),
            y1 = y + 4.0,
            y2 = y + LANE - 4.0,
            xt = x(*at) + 2.0,
            yt = y + LANE - 6.0,
        );
    }
    let transfers = output.get("transfers").and_then(Value::as_array);
    for t in transfers.into_iter().flatten() {
        let Some(start) = num(t, "start") else {
            continue;
        };
        let target = t.get("target").and_then(Value::as_str).unwrap_or("?");
        let status = t.get("status").and_then(Value::as_str).unwrap_or("");
        let _ = write!(
            out,
            r#"<g class="transfer" data-at="{start}"><title>transfer to {tg}: {st}</title><line x1="{x0:.1}" x2="{x0:.1}" y1="{TOP}" y2="{y2}"/></g>"#,
            tg = text(target),
            st = text(status),
            x0 = x(start),
            y2 = height - 20.0,
        );
    }
    let end = call_duration.unwrap_or(duration);
    let ended_by = metrics
        .and_then(|m| m.get("ended_by"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let reason = metrics
        .and_then(|m| m.get("end_reason"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let why = match (ended_by, reason) {
        ("", _) => String::new(),
        (by, "") => format!(" (ended by {by})"),
        (by, reason) => format!(" (ended by {by}: {reason})"),
    };
    let short = if ended_by.is_empty() {
        String::new()
    } else {
        format!(" ({ended_by})")
    };
    let _ = write!(
        out,
        r#"<g class="hangup" data-at="{end}" data-ended-by="{eb}"><title>hang-up at {end:.2} s{why}</title><line x1="{x0:.1}" x2="{x0:.1}" y1="{y1}" y2="{y2}"/><text x="{xt:.1}" y="{yt}" text-anchor="end">hang-up{short}</text></g>"#,
        eb = attr(ended_by),
        why = text(&why),
        short = text(&short),
        x0 = x(end),
        y1 = TOP - 6.0,
        y2 = height - 20.0,
        xt = x(end) - 3.0,
        yt = TOP - 8.0,
    );
    let _ = write!(
        out,
        r#"<line class="cursor" x1="{LEFT}" x2="{LEFT}" y1="{y1}" y2="{y2}" data-time="0"/></svg>"#,
        y1 = TOP - 4.0,
        y2 = height - 20.0,
    );
    Some(out)
}

/// The call's numbers in a line: time to first word, latencies, interruptions, the end.
pub fn metrics_line(output: &Value) -> Option<String> {
    let m = output.get("metrics").filter(|m| m.is_object())?;
    let num = |key: &str| m.get(key).and_then(Value::as_f64);
    let mut parts = vec![];
    if let Some(d) = num("duration") {
        parts.push(format!("{} long", human_seconds(d)));
    }
    match num("time_to_first_word") {
        Some(t) => parts.push(format!("first word after {}", human_seconds(t))),
        None => parts.push("the agent never spoke".into()),
    }
    if let (Some(p50), Some(p95)) = (num("latency_p50"), num("latency_p95")) {
        parts.push(format!(
            "response latency p50 {}, p95 {}",
            human_seconds(p50),
            human_seconds(p95)
        ));
    }
    let interruptions = m
        .get("interruptions")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    parts.push(format!("{interruptions} interruption(s)"));
    if let Some(by) = m.get("ended_by").and_then(Value::as_str) {
        let reason = m.get("end_reason").and_then(Value::as_str).unwrap_or("");
        parts.push(if reason.is_empty() {
            format!("ended by {by}")
        } else {
            format!("ended by {by} ({reason})")
        });
    }
    Some(parts.join(" · "))
}

/// An utterance's text cut to fit `width` pixels (with an ellipsis), or nothing.
fn fitted(t: &str, width: f64) -> String {
    let fits = ((width - 6.0) / CHAR_WIDTH).floor();
    if fits <= 0.0 {
        return String::new();
    }
    let fits = fits as usize;
    if t.chars().count() <= fits {
        return t.to_string();
    }
    let mut cut: String = t.chars().take(fits.saturating_sub(1).max(1)).collect();
    cut.push('…');
    cut
}

/// "850 ms", "1.2 s".
fn human_seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// An axis label: whole seconds without decimals.
fn seconds(t: f64) -> String {
    if (t - t.round()).abs() < 1e-9 {
        format!("{}", t.round() as i64)
    } else {
        format!("{t:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Value {
        serde_json::json!({
            "transcript": [
                {"role": "agent", "text": "Hello, how can I help?", "start": 0.2, "end": 1.4},
                {"role": "caller", "text": "A refund <please>", "start": 1.8, "end": 3.0},
                {"role": "agent", "text": "Press 5", "start": 3.6, "end": 5.2},
                {"role": "caller", "text": "okay", "start": 5.0, "end": 5.4, "cut_off": true}
            ],
            "metrics": {"duration": 6.0, "time_to_first_word": 0.2, "latency_p50": 0.6,
                        "latency_p95": 0.6, "ended_by": "caller", "end_reason": "goodbye",
                        "interruptions": [{"by": "caller", "at": 5.0, "overlap": 0.2}]},
            "keys": [{"role": "caller", "digit": "5", "at": 5.6}],
            "transfers": []
        })
    }

    #[test]
    fn draws_lanes_gaps_interruptions_keys_and_the_end() {
        let svg = svg(&call(), true).unwrap();
        assert!(svg.contains("<style>"));
        assert!(!super::svg(&call(), false).unwrap().contains("<style>"));
        assert_eq!(svg.matches(r#"class="lane""#).count(), 2);
        assert_eq!(svg.matches(r#"<g class="utterance"#).count(), 4);
        assert!(
            svg.contains(r#"data-text="A refund &lt;please&gt;""#),
            "{svg}"
        );
        assert!(svg.contains(r#"class="utterance cut-off" data-start="5""#));
        assert!(svg.contains(r#"<g class="latency" data-gap="0.6000000000000001""#));
        assert!(svg.contains(r#"<g class="interruption" data-by="caller" data-at="5""#));
        assert!(svg.contains(r#"<g class="dtmf" data-digit="5" data-at="5.6""#));
        assert!(svg.contains(r#"<g class="hangup" data-at="6" data-ended-by="caller""#));
        assert!(svg.contains("hang-up (caller)"));
        assert_eq!(
            metrics_line(&call()).unwrap(),
            "6.00 s long · first word after 200 ms · response latency p50 600 ms, p95 600 ms · \
             1 interruption(s) · ended by caller (goodbye)"
        );
    }

    #[test]
    fn a_transferee_gets_a_lane_and_other_outputs_no_timeline() {
        let mut c = call();
        c["transcript"].as_array_mut().unwrap().push(
            serde_json::json!({"role": "transferee", "text": "Billing.", "start": 5.5, "end": 5.9}),
        );
        c["transfers"] =
            serde_json::json!([{"target": "+15550123", "status": "completed", "start": 5.4}]);
        let svg = svg(&c, false).unwrap();
        assert!(svg.contains(r#"data-role="transferee""#));
        assert!(svg.contains(r#"<g class="transfer" data-at="5.4""#));
        assert_eq!(
            super::svg(&serde_json::json!({"answer": "text"}), true),
            None
        );
        assert_eq!(super::svg(&serde_json::json!("a string"), true), None);
    }
}
