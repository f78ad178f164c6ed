//! The proxy section of `/status/`: per route class, requests and 5xx per
//! minute and p50/p99 latency over the last hour as small inline SVG
//! charts, and the hour's totals.

use std::fmt::Write;

use crate::history::{Minute, CLASSES};

use super::html::{cell, esc};

const W: f64 = 240.0;
const H: f64 = 56.0;

/// An SVG line chart of `series` (one polyline each, sharing the y scale
/// from 0 to the largest value), labelled with that maximum.
pub fn line_chart(title: &str, unit: &str, series: &[(&str, Vec<f64>)]) -> String {
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::max);
    let scale = if max > 0.0 { (H - 14.0) / max } else { 0.0 };
    let mut s = format!(
        "<svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"{}\"><title>{}</title>",
        esc(title),
        esc(title)
    );
    for (color, values) in series {
        let n = values.len().max(2) - 1;
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let x = 2.0 + (W - 4.0) * i as f64 / n as f64;
                let y = H - 2.0 - v * scale;
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
            points.join(" ")
        );
    }
    let _ = write!(
        s,
        "<text x=\"4\" y=\"11\" font-size=\"10\" fill=\"#555\">max {} {}</text></svg>",
        short(max),
        esc(unit)
    );
    s
}

/// A number in at most 4 significant characters: `12`, `3.5`, `1.2k`.
pub fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v >= 10.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Writes the proxy section from the last hour's minutes.
pub fn proxy_section(h: &mut String, hour: &[Minute]) {
    h.push_str(
        "<h2 id=\"proxy\">Requests, last hour (both listeners)</h2>\
         <table><tr><th class=\"l\">class</th><th>requests</th><th>4xx</th><th>5xx</th>\
         <th>requests/min <span style=\"color:#27c\">all</span> <span style=\"color:#d22\">5xx</span></th>\
         <th>latency ms <span style=\"color:#27c\">p50</span> <span style=\"color:#d22\">p99</span></th></tr>",
    );
    for (i, class) in CLASSES.iter().enumerate() {
        let reqs: Vec<f64> = hour.iter().map(|m| m.classes[i].requests as f64).collect();
        let fives: Vec<f64> = hour
            .iter()
            .map(|m| m.classes[i].server_errors as f64)
            .collect();
        let q = |q: f64| -> Vec<f64> {
            hour.iter()
                .map(|m| m.classes[i].quantile(q).unwrap_or(0.0) * 1e3)
                .collect()
        };
        let total = |f: fn(&crate::history::ClassMinute) -> u64| -> u64 {
            hour.iter().map(|m| f(&m.classes[i])).sum()
        };
        let (n, c4, c5) = (
            total(|c| c.requests),
            total(|c| c.client_errors),
            total(|c| c.server_errors),
        );
        let _ = write!(h, "<tr><td class=\"l\">{class}</td>");
        h.push_str(&cell(&format!("requests/{class}"), n, &n.to_string()));
        h.push_str(&cell(&format!("4xx/{class}"), c4, &c4.to_string()));
        let c5cell = cell(&format!("5xx/{class}"), c5, &c5.to_string());
        if c5 > 0 {
            h.push_str(&c5cell.replace("<td ", "<td class=\"bad\" "));
        } else {
            h.push_str(&c5cell);
        }
        let _ = write!(
            h,
            "<td>{}</td><td>{}</td></tr>",
            line_chart(
                &format!("{class}: requests and 5xx per minute"),
                "/min",
                &[("#27c", reqs), ("#d22", fives)]
            ),
            line_chart(
                &format!("{class}: p50 and p99 latency per minute"),
                "ms",
                &[("#27c", q(0.5)), ("#d22", q(0.99))]
            )
        );
    }
    h.push_str(
        "</table><p>One point a minute; latencies are histogram bucket bounds \
         (0.25 ms doubling). Totals cover the minutes shown.</p>",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_scale_to_their_maximum() {
        let svg = line_chart("t<", "ms", &[("#000", vec![0.0, 5.0, 10.0])]);
        assert!(svg.contains("<title>t&lt;</title>"), "{svg}");
        assert!(
            svg.contains("points=\"2.0,54.0 120.0,33.0 238.0,12.0\""),
            "{svg}"
        );
        assert!(svg.contains("max 10 ms"), "{svg}");
        let flat = line_chart("z", "", &[("#000", vec![0.0; 60])]);
        assert!(flat.contains("2.0,54.0"), "{flat}");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(1234.0), "1.2k");
        assert_eq!(short(56_000.0), "56k");
    }
}
