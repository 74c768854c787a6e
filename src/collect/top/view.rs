//! Drawing one frame of the live view from ranked groups: a title line,
//! a table with a heading row per exporter and direction, a status line.
//! No state and no I/O: the shell hands it a [`Frame`].
//!
//! ```text
//! top flows of the last 10 s by octets · udp://127.0.0.1:4739 · o octets  p packets  q quit
//! dir      src                       dst                 packets  octets
//! ingress  192.0.2.9:4739 domain 7   3 flows                  80   15200
//! tcp      192.0.2.1:40001           198.51.100.2:443         10    9000
//! ...
//! 4 records, 4 flows in the window
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row as TableRow, Table};
use ratatui::Frame;

use super::keys::HELP;
use super::rank::{Group, Row};
use crate::collect::table::{has_ports, protocol_name};
use crate::config::TopSort;

/// Everything one frame shows.
#[derive(Debug, Clone, Copy)]
pub struct Screen<'a> {
    pub listening: &'a [String],
    pub span: Duration,
    pub sort: TopSort,
    pub groups: &'a [Group],
    pub records: usize,
    pub flows: usize,
    pub left_early: u64,
    pub notices: u64,
    pub last_notice: Option<&'a str>,
}

/// Lines besides the table's body: title, table header, status.
const CHROME_LINES: u16 = 3;

/// How many flows each group may show on a terminal `height` lines high:
/// the table's lines shared evenly, less a heading line per group; at
/// least 1 (the table then runs off the screen's end).
pub fn rows_per_group(height: u16, groups: usize) -> usize {
    if groups == 0 {
        return 0;
    }
    let body = usize::from(height.saturating_sub(CHROME_LINES));
    (body.saturating_sub(groups) / groups).max(1)
}

pub fn draw(frame: &mut Frame<'_>, s: &Screen<'_>) {
    let [title, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(
        Paragraph::new(title_text(s)).style(Style::new().add_modifier(Modifier::BOLD)),
        title,
    );
    frame.render_widget(table(s), body);
    frame.render_widget(Paragraph::new(status_text(s)), status);
}

fn title_text(s: &Screen<'_>) -> String {
    let by = match s.sort {
        TopSort::Octets => "octets",
        TopSort::Packets => "packets",
    };
    format!(
        "top flows of the last {} by {by} · {} · {HELP}",
        span_text(s.span),
        s.listening.join(" ")
    )
}

/// `10 s`, `1.5 s`, `2 min`.
fn span_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) {
        format!("{} min", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

fn status_text(s: &Screen<'_>) -> String {
    let mut line = format!("{} records, {} flows in the window", s.records, s.flows);
    if s.left_early > 0 {
        line.push_str(&format!(
            " · {} records left it early (it was full)",
            s.left_early
        ));
    }
    if let Some(last) = s.last_notice {
        line.push_str(&format!(" · diagnostics: {}, the last: {last}", s.notices));
    }
    line
}

/// Column titles.
const TITLES: [&str; 5] = ["dir", "src", "dst", "packets", "octets"];

fn table<'a>(s: &Screen<'a>) -> Table<'a> {
    let mut lines: Vec<([String; 5], bool)> = Vec::new();
    for g in s.groups {
        lines.push((heading(g), true));
        lines.extend(g.rows.iter().map(|r| (flow_cells(r), false)));
    }
    // The first and the number columns as wide as their widest cell, so
    // that numbers are never cut; the addresses share the rest.
    let width = |col: usize| {
        let widest = lines.iter().map(|(cells, _)| cells[col].chars().count());
        let w = widest.max().unwrap_or(0).max(TITLES[col].len());
        Constraint::Length(u16::try_from(w).unwrap_or(u16::MAX))
    };
    let widths = [
        width(0),
        Constraint::Fill(1),
        Constraint::Fill(1),
        width(3),
        width(4),
    ];
    let header = TableRow::new(
        TITLES
            .into_iter()
            .enumerate()
            .map(|(col, t)| cell(t.to_owned(), col >= 3)),
    )
    .style(Style::new().add_modifier(Modifier::UNDERLINED));
    let mut rows: Vec<TableRow<'a>> = lines
        .into_iter()
        .map(|(cells, is_heading)| {
            let row = TableRow::new(
                cells
                    .into_iter()
                    .enumerate()
                    .map(|(col, text)| cell(text, col >= 3)),
            );
            if is_heading {
                row.style(Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED))
            } else {
                row
            }
        })
        .collect();
    if rows.is_empty() {
        rows.push(TableRow::new([
            Cell::from(""),
            Cell::from("waiting for flow records"),
        ]));
    }
    Table::new(rows, widths).header(header).column_spacing(2)
}

/// The group's line: direction, exporter, how many flows, the group's
/// totals.
fn heading(g: &Group) -> [String; 5] {
    [
        g.direction.text(),
        format!(
            "{} domain {}",
            g.exporter.exporter, g.exporter.observation_domain_id
        ),
        format!("{} flow{}", g.flows, if g.flows == 1 { "" } else { "s" }),
        g.packets.to_string(),
        g.octets.to_string(),
    ]
}

fn flow_cells(r: &Row) -> [String; 5] {
    let t = &r.tuple;
    [
        t.protocol.map_or_else(|| "-".to_owned(), protocol_name),
        endpoint(t.src, t.src_port, t.protocol),
        endpoint(t.dst, t.dst_port, t.protocol),
        count_text(r.packets),
        count_text(r.octets),
    ]
}

/// A cell, right-aligned for numbers.
fn cell(text: String, right_aligned: bool) -> Cell<'static> {
    if right_aligned {
        Cell::from(Line::from(text).right_aligned())
    } else {
        Cell::from(text)
    }
}

/// Exact, without units or separators; `-` when unknown.
fn count_text(n: Option<u128>) -> String {
    n.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// `192.0.2.1:443`, `[2001:db8::1]:443`, the address alone when there is
/// no port or the protocol has none, `-` for an unknown address.
fn endpoint(addr: Option<IpAddr>, port: Option<u16>, protocol: Option<u8>) -> String {
    let port = port.filter(|_| protocol.is_none_or(has_ports));
    match (addr, port) {
        (Some(a), Some(p)) => SocketAddr::new(a, p).to_string(),
        (Some(a), None) => a.to_string(),
        (None, Some(p)) => format!("-:{p}"),
        (None, None) => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::tests::exporter;
    use super::super::record::{FlowDirection, Tuple};
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn render(s: &Screen<'_>, width: u16, height: u16) -> Vec<String> {
        let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
        t.draw(|f| draw(f, s)).unwrap();
        let buffer = t.backend().buffer();
        buffer
            .content()
            .chunks(usize::from(width))
            .map(|line| {
                let text: String = line.iter().map(|c| c.symbol()).collect();
                text.trim_end().to_owned()
            })
            .collect()
    }

    fn row(src: &str, port: Option<u16>, octets: Option<u128>, packets: Option<u128>) -> Row {
        Row {
            tuple: Tuple {
                protocol: Some(6),
                src: Some(src.parse().unwrap()),
                src_port: port,
                dst: Some("198.51.100.2".parse().unwrap()),
                dst_port: Some(443),
            },
            octets,
            packets,
        }
    }

    #[test]
    fn a_frame() {
        let groups = [Group {
            exporter: exporter("192.0.2.9:4739", 7),
            direction: FlowDirection::Ingress,
            flows: 2,
            octets: 9_100,
            packets: 10,
            rows: vec![
                row("192.0.2.1", Some(40_001), Some(9_000), Some(10)),
                row("2001:db8::1", Some(5), Some(100), None),
            ],
        }];
        let listening = ["udp://127.0.0.1:4739".to_owned()];
        let screen = Screen {
            listening: &listening,
            span: Duration::from_secs(10),
            sort: TopSort::Packets,
            groups: &groups,
            records: 3,
            flows: 2,
            left_early: 0,
            notices: 0,
            last_notice: None,
        };
        let lines = render(&screen, 100, 7);
        assert_eq!(
            lines,
            [
                "top flows of the last 10 s by packets · udp://127.0.0.1:4739 · o octets  p packets  q quit",
                "dir      src                                   dst                                   packets  octets",
                "ingress  192.0.2.9:4739 domain 7               2 flows                                    10    9100",
                "tcp      192.0.2.1:40001                       198.51.100.2:443                           10    9000",
                "tcp      [2001:db8::1]:5                       198.51.100.2:443                            -     100",
                "",
                "3 records, 2 flows in the window",
            ]
        );
    }

    #[test]
    fn empty_and_status() {
        let screen = Screen {
            listening: &[],
            span: Duration::from_millis(1500),
            sort: TopSort::Octets,
            groups: &[],
            records: 0,
            flows: 0,
            left_early: 5,
            notices: 2,
            last_notice: Some("udp 192.0.2.1:5: message dropped"),
        };
        let lines = render(&screen, 140, 4);
        assert!(lines[0].starts_with("top flows of the last 1.5 s by octets"));
        assert!(lines[2].contains("waiting for flow records"), "{lines:#?}");
        assert_eq!(
            lines[3],
            "0 records, 0 flows in the window · 5 records left it early (it was full) · \
             diagnostics: 2, the last: udp 192.0.2.1:5: message dropped"
        );
    }

    #[test]
    fn endpoints() {
        let v4 = Some("192.0.2.1".parse().unwrap());
        assert_eq!(endpoint(v4, Some(80), Some(6)), "192.0.2.1:80");
        assert_eq!(endpoint(v4, Some(0), Some(47)), "192.0.2.1");
        assert_eq!(endpoint(v4, Some(80), None), "192.0.2.1:80");
        assert_eq!(endpoint(v4, None, Some(6)), "192.0.2.1");
        assert_eq!(endpoint(None, Some(53), Some(17)), "-:53");
        assert_eq!(endpoint(None, None, None), "-");
        assert_eq!(span_text(Duration::from_secs(120)), "2 min");
    }

    #[test]
    fn rows_share_the_height() {
        assert_eq!(rows_per_group(40, 0), 0);
        // 37 table lines: one group gets 36 rows.
        assert_eq!(rows_per_group(40, 1), 36);
        assert_eq!(rows_per_group(40, 3), 11);
        assert_eq!(rows_per_group(5, 10), 1);
    }
}
