//! `--format html`: one self-contained file — inline CSS and inline SVG charts, no scripts,
//! no fonts, images or anything else fetched (a Content-Security-Policy of `default-src
//! 'none'` makes sure of it). Every text from the records is escaped.
//!
//! Every report renders as a page with its table; `summary` is the manager dashboard (summary
//! tiles, the queue table, service level and abandon rate by hour, an hour × weekday heat map
//! of arrivals, the agent table); `hourly` and `forecast` add their charts.

use std::fmt::Write as _;

use super::metrics::{SlotRow, VisitStats};
use super::period::WEEKDAYS;
use super::render::{Cell, Table, local_value, table_value};

/// `s` safe inside HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "\
:root{--ink:#1d2733;--muted:#5b6775;--line:#d7dde4;--bg:#f5f7fa;--accent:#1f6feb;--bad:#c93c37}
*{box-sizing:border-box}
body{margin:0;padding:24px 32px;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--ink);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:var(--muted);margin:0 0 16px}
.tiles{display:flex;flex-wrap:wrap;gap:12px}
.tile{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:130px}
.tile b{display:block;font-size:24px;font-weight:600}.tile span{color:var(--muted);font-size:12px}
.wrap{overflow-x:auto;background:#fff;border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{padding:4px 7px;border-bottom:1px solid var(--line);white-space:nowrap;text-align:left}
th{background:#eef2f6;font-weight:600;position:sticky;top:0;white-space:normal;vertical-align:bottom}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr:last-child td{border-bottom:0}
.charts{display:flex;flex-wrap:wrap;gap:16px;margin-bottom:16px}
.chart{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px}
svg text{font:11px system-ui,sans-serif;fill:var(--muted)}
.none{color:var(--muted)}
@media print{body{background:#fff;padding:0}.wrap,.tile,.chart{border-color:#999}}
";

/// A whole page around `body`.
pub fn page(title: &str, subtitle: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<h1>{t}</h1>\n\
         <p class=\"sub\">{s}</p>\n{body}</body>\n</html>\n",
        t = escape(title),
        s = escape(subtitle),
    )
}

/// The subtitle: the period and the parameters, as in the text title.
fn subtitle(t: &Table) -> String {
    let title = t.title();
    match title.split_once(": ") {
        Some((_, rest)) => rest.to_owned(),
        None => String::new(),
    }
}

/// A table as HTML (numbers right-aligned), in a scrolling frame.
pub fn table(t: &Table) -> String {
    let numeric: Vec<bool> = (0..t.columns.len())
        .map(|i| {
            t.rows
                .iter()
                .find(|r| !matches!(r[i], Cell::Null))
                .is_some_and(|r| r[i].numeric())
        })
        .collect();
    let class = |i: usize| if numeric[i] { " class=\"n\"" } else { "" };
    let mut out = String::from("<div class=\"wrap\"><table>\n<thead><tr>");
    // Column keys with spaces, so long headers wrap; the key itself in the tooltip.
    for (i, c) in t.columns.iter().enumerate() {
        let _ = write!(
            out,
            "<th{} title=\"{k}\">{}</th>",
            class(i),
            escape(&c.replace('_', " ")),
            k = escape(c)
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let tz = t.zone();
    for r in &t.rows {
        out.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let v = local_value(c, &tz);
            if matches!(c, Cell::Null) {
                let _ = write!(out, "<td{} class=\"none\">{}</td>", class(i), escape(&v));
            } else {
                let _ = write!(out, "<td{}>{}</td>", class(i), escape(&v));
            }
        }
        out.push_str("</tr>\n");
    }
    if t.rows.is_empty() {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"{}\" class=\"none\">no rows</td></tr>",
            t.columns.len().max(1)
        );
    }
    out.push_str("</tbody></table></div>\n");
    out
}

/// A report's page: its table.
pub fn report_page(t: &Table) -> String {
    page(
        &format!("Zvon report: {}", t.report),
        &subtitle(t),
        &table(t),
    )
}

/// A bar chart of values in `0..=max` with a label under each bar; `None` is no bar.
pub fn bar_chart(
    title: &str,
    labels: &[String],
    values: &[Option<f64>],
    max: f64,
    pct: bool,
) -> String {
    let (w, h, left, bottom, top) = (560.0, 200.0, 40.0, 22.0, 22.0);
    let n = values.len().max(1) as f64;
    let slot = (w - left - 8.0) / n;
    let plot = h - bottom - top;
    let max = if max > 0.0 { max } else { 1.0 };
    let mut s = format!(
        "<div class=\"chart\"><svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         role=\"img\" aria-label=\"{t}\"><title>{t}</title>\
         <text x=\"{left}\" y=\"14\" style=\"font-weight:600;fill:#1d2733\">{t}</text>",
        t = escape(title)
    );
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        let y = top + plot - plot * f64::from(k) / 4.0;
        let label = if pct {
            format!("{:.0}%", v * 100.0)
        } else {
            format!("{v:.0}")
        };
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{x2}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d7dde4\"/>\
             <text x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\">{label}</text>",
            x2 = w - 8.0,
            lx = left - 4.0,
            ty = y + 4.0
        );
    }
    for (i, (v, l)) in values.iter().zip(labels).enumerate() {
        let x = left + slot * i as f64;
        if let Some(v) = v {
            // A zero is a sliver, so it differs from no value at all.
            let bh = ((v / max).clamp(0.0, 1.0) * plot).max(1.5);
            let shown = if pct {
                format!("{:.1}%", v * 100.0)
            } else {
                format!("{v:.0}")
            };
            let _ = write!(
                s,
                "<rect x=\"{bx:.1}\" y=\"{by:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" \
                 fill=\"#1f6feb\"><title>{l}: {shown}</title></rect>",
                bx = x + slot * 0.15,
                by = top + plot - bh,
                bw = slot * 0.7,
                l = escape(l),
            );
        }
        if labels.len() <= 24 || i % 2 == 0 {
            let _ = write!(
                s,
                "<text x=\"{tx:.1}\" y=\"{ty}\" text-anchor=\"middle\">{l}</text>",
                tx = x + slot / 2.0,
                ty = h - 6.0,
                l = escape(l)
            );
        }
    }
    s.push_str("</svg></div>\n");
    s
}

/// The hour × weekday heat map of arrivals (`grid[weekday][hour]`).
/// `zone` names the time zone of the hours and days.
pub fn heat_map(grid: &[[u64; 24]; 7], zone: &str) -> String {
    let rows: Vec<Vec<u64>> = grid.iter().map(|r| r.to_vec()).collect();
    let cols: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    grid_chart(
        &format!("Arrivals by weekday and hour ({zone})"),
        &rows,
        &cols,
        26.0,
        1,
    )
}

/// A weekday × column heat map: the colour runs from pale (low) to the accent colour (the
/// highest value); 0 is an empty cell. Every `label_every`-th column is labelled.
pub fn grid_chart(
    title: &str,
    rows: &[Vec<u64>],
    col_labels: &[String],
    cell: f64,
    label_every: usize,
) -> String {
    let (left, top) = (40.0, 36.0);
    let ncol = col_labels.len();
    let (w, h) = (
        left + cell * ncol as f64 + 8.0,
        top + cell * rows.len() as f64 + 8.0,
    );
    let max = rows.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let t = escape(title);
    let mut s = format!(
        "<div class=\"chart\"><svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         role=\"img\" aria-label=\"{t}\"><title>{t}</title>\
         <text x=\"{left}\" y=\"14\" style=\"font-weight:600;fill:#1d2733\">{t}</text>"
    );
    let every = label_every.max(1);
    for (c, l) in col_labels
        .iter()
        .enumerate()
        .filter(|(c, _)| c % every == 0)
    {
        let (dx, anchor) = if every > 1 {
            (0.0, "start")
        } else {
            (cell / 2.0, "middle")
        };
        let _ = write!(
            s,
            "<text x=\"{x:.1}\" y=\"{y}\" text-anchor=\"{anchor}\">{l}</text>",
            x = left + cell * c as f64 + dx,
            y = top - 6.0,
            l = escape(l)
        );
    }
    for (d, row) in rows.iter().enumerate() {
        let y = top + cell * d as f64;
        let day = WEEKDAYS.get(d).copied().unwrap_or("");
        let _ = write!(
            s,
            "<text x=\"{x}\" y=\"{ty:.1}\" text-anchor=\"end\">{day}</text>",
            x = left - 6.0,
            ty = y + cell / 2.0 + 4.0,
        );
        for (c, &n) in row.iter().enumerate() {
            let x = left + cell * c as f64;
            let f = n as f64 / max;
            let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
            let fill = if n == 0 {
                "#eef2f6".to_owned()
            } else {
                format!(
                    "#{:02x}{:02x}{:02x}",
                    mix(220.0, 31.0),
                    mix(234.0, 111.0),
                    mix(252.0, 235.0)
                )
            };
            let label = col_labels.get(c).map_or("", String::as_str);
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{cell:.1}\" height=\"{cell:.1}\" \
                 fill=\"{fill}\" stroke=\"#fff\"><title>{day} {l}: {n}</title></rect>",
                l = escape(label)
            );
            if n > 0 {
                let ink = if f > 0.55 { "#fff" } else { "#1d2733" };
                let _ = write!(
                    s,
                    "<text x=\"{tx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\" \
                     style=\"fill:{ink}\">{n}</text>",
                    tx = x + cell / 2.0,
                    ty = y + cell / 2.0 + 4.0
                );
            }
        }
    }
    s.push_str("</svg></div>\n");
    s
}

/// The two hourly charts: service level and abandon rate by hour of day.
/// `zone` names the time zone of the hours.
pub fn hourly_charts(rows: &[SlotRow], zone: &str) -> String {
    let hours: Vec<&SlotRow> = rows.iter().filter(|r| r.by == "hour").collect();
    let labels: Vec<String> = hours.iter().map(|r| r.slot.clone()).collect();
    let sl: Vec<Option<f64>> = hours.iter().map(|r| r.stats.service_level()).collect();
    let ab: Vec<Option<f64>> = hours.iter().map(|r| r.stats.abandon_rate()).collect();
    let mut s = String::from("<div class=\"charts\">\n");
    s.push_str(&bar_chart(
        &format!("Service level by hour ({zone})"),
        &labels,
        &sl,
        1.0,
        true,
    ));
    s.push_str(&bar_chart(
        &format!("Abandon rate by hour ({zone})"),
        &labels,
        &ab,
        1.0,
        true,
    ));
    s.push_str("</div>\n");
    s
}

fn tile(out: &mut String, value: &str, label: &str) {
    let _ = write!(
        out,
        "<div class=\"tile\"><b>{}</b><span>{}</span></div>",
        escape(value),
        escape(label)
    );
}

/// The manager dashboard.
pub struct Dashboard<'a> {
    pub summary: &'a Table,
    /// All queue visits of the period together.
    pub queue_total: &'a VisitStats,
    pub queues: &'a Table,
    pub hourly: &'a [SlotRow],
    pub arrivals: &'a [[u64; 24]; 7],
    pub agents: &'a Table,
    /// The staffing forecast for [`super::forecast::DEFAULT_TARGET`] from the period (the
    /// `zvon forecast` table), or why there is none.
    pub forecast: &'a Result<Table, String>,
}

impl Dashboard<'_> {
    pub fn render(&self) -> String {
        let mut body = String::from("<div class=\"tiles\">");
        let sum = &self.summary.rows[0];
        let names = [
            "calls", "inbound", "outbound", "internal", "answered", "missed", "failed",
        ];
        for (i, name) in names.iter().enumerate() {
            tile(&mut body, &table_value(&sum[i]), name);
        }
        tile(&mut body, &table_value(&sum[7]), "talk time");
        tile(&mut body, &table_value(&sum[8]), "average talk (s)");
        let q = self.queue_total;
        tile(&mut body, &q.offered.to_string(), "offered to queues");
        tile(
            &mut body,
            &table_value(&Cell::Rate(q.service_level())),
            "service level",
        );
        tile(
            &mut body,
            &table_value(&Cell::Rate(q.abandon_rate())),
            "abandon rate",
        );
        tile(&mut body, &table_value(&Cell::Avg(q.asa_s())), "ASA (s)");
        tile(&mut body, &table_value(&Cell::Avg(q.aht_s())), "AHT (s)");
        body.push_str("</div>\n<h2>Queues</h2>\n");
        body.push_str(&table(self.queues));
        body.push_str("<h2>By hour</h2>\n");
        let zone = self.queues.zone_name();
        body.push_str(&hourly_charts(self.hourly, &zone));
        body.push_str("<h2>Arrivals</h2>\n<div class=\"charts\">\n");
        body.push_str(&heat_map(self.arrivals, &zone));
        body.push_str("</div>\n<h2>Agents</h2>\n");
        body.push_str(&table(self.agents));
        body.push_str("<h2 id=\"forecast\">Staffing forecast</h2>\n");
        let (p, t) = super::forecast::DEFAULT_TARGET;
        let _ = writeln!(
            body,
            "<p class=\"sub\">Agents needed to answer {:.0}% of the calls within {t:.0} s \
             (Erlang C) in each half-hour of a typical week, from this period's arrivals \
             and AHT; <code>zvon forecast</code> gives the table and other targets.</p>",
            p * 100.0
        );
        match self.forecast {
            Ok(f) => match forecast_chart(f) {
                Some(chart) => {
                    body.push_str("<div class=\"charts\">\n");
                    body.push_str(&chart);
                    body.push_str("</div>\n");
                }
                None => body.push_str("<p class=\"sub\">No queue calls in the period.</p>\n"),
            },
            Err(e) => {
                let _ = writeln!(body, "<p class=\"sub\">No forecast: {}.</p>", escape(e));
            }
        }
        let _ = writeln!(
            body,
            "<p class=\"sub\">Every column is defined in the README (Reports) and in \
             <code>zvon report &lt;name&gt; --help</code>. Hours and days are {}.</p>",
            escape(&zone)
        );
        page("Zvon call-center report", &subtitle(self.queues), &body)
    }
}

/// The agents of a forecast table per weekday and half-hour as a heat map (`None` when the
/// table has no half-hours, e.g. `--calls`).
pub fn forecast_chart(t: &Table) -> Option<String> {
    let col = |name: &str| t.columns.iter().position(|c| *c == name);
    let (wd, tm, ag) = (col("weekday")?, col("time")?, col("agents")?);
    let mut grid = vec![vec![0u64; 48]; 7];
    let mut any = false;
    for r in &t.rows {
        let (Cell::Text(day), Cell::Text(time), Cell::Int(n)) = (&r[wd], &r[tm], &r[ag]) else {
            continue;
        };
        let Some(d) = WEEKDAYS.iter().position(|w| w == day) else {
            continue;
        };
        let slot = time
            .split_once(':')
            .and_then(|(h, m)| Some(h.parse::<usize>().ok()? * 2 + usize::from(m == "30")));
        if let Some(slot) = slot.filter(|s| *s < 48) {
            grid[d][slot] = u64::try_from(*n).unwrap_or(0);
            any = true;
        }
    }
    if !any {
        return None;
    }
    let cols: Vec<String> = (0..48)
        .map(|s| format!("{:02}:{:02}", s / 2, s % 2 * 30))
        .collect();
    Some(grid_chart(
        &format!("Agents needed by weekday and half-hour ({})", t.zone_name()),
        &grid,
        &cols,
        20.0,
        4,
    ))
}

/// The forecast's page: the agents per weekday and half-hour as a heat map, then the table.
pub fn forecast_page(t: &Table) -> String {
    let mut body = String::new();
    if let Some(chart) = forecast_chart(t) {
        body.push_str("<div class=\"charts\">\n");
        body.push_str(&chart);
        body.push_str("</div>\n");
    }
    body.push_str(&table(t));
    page("Zvon staffing forecast", &subtitle(t), &body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::period::Period;

    #[test]
    fn text_from_the_records_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\"\n"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot; "
        );
        let t = Table {
            report: "calls",
            period: Some(Period::ALL),
            tz: None,
            parameters: vec![],
            columns: vec!["caller_name", "n"],
            rows: vec![vec![
                Cell::Text("<img src=x onerror=alert(1)>".into()),
                Cell::Int(1),
            ]],
        };
        let page = report_page(&t);
        assert!(page.contains("<td>&lt;img src=x onerror=alert(1)&gt;</td><td class=\"n\">1</td>"));
        assert!(page.contains(
            "<th title=\"caller_name\">caller name</th><th class=\"n\" title=\"n\">n</th>"
        ));
        assert_self_contained(&page);
    }

    /// No scripts, nothing fetched, and a policy that forbids both.
    pub(crate) fn assert_self_contained(page: &str) {
        let lower = page.to_ascii_lowercase();
        for bad in [
            "<script", "src=\"", "href=", "url(", "@import", "http://", "https://", "<link",
            "<iframe", "<object",
        ] {
            assert!(!lower.contains(bad), "page contains {bad}");
        }
        assert!(page.contains("content=\"default-src 'none'; style-src 'unsafe-inline'\""));
        assert!(page.starts_with("<!DOCTYPE html>\n") && page.ends_with("</html>\n"));
    }

    #[test]
    fn charts_draw_values_slivers_for_zero_and_nothing_for_none() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let svg = bar_chart("T", &labels, &[Some(0.5), Some(0.0), None], 1.0, true);
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("<title>a: 50.0%</title>") && svg.contains("<title>b: 0.0%</title>"));
        assert!(svg.contains("height=\"1.5\""));
        let mut grid = [[0u64; 24]; 7];
        grid[0][9] = 4;
        grid[6][23] = 2;
        let hm = heat_map(&grid, "UTC");
        assert_eq!(hm.matches("<rect").count(), 7 * 24);
        assert!(hm.contains("<title>Mon 09: 4</title>") && hm.contains("<title>Sun 23: 2</title>"));
        // The busiest cell gets the accent colour, an empty one the background.
        assert!(hm.contains("fill=\"#1f6feb\"") && hm.contains("fill=\"#eef2f6\""));
    }
}
