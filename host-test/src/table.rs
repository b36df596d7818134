//! Plain-text tables: column-aligned, each column capped, long cells shortened with `…`.

/// Where to shorten a cell that is too wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Keep the start (`GET /very/lo…`).
    End,
    /// Keep the end (`…/payment.policy.json`), for paths.
    Start,
}

/// One column: its title, its widest allowed cell and where to cut.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Header text.
    pub title: &'static str,
    /// Maximum width in characters.
    pub max: usize,
    /// Where to shorten.
    pub cut: Cut,
}

/// Shortens `s` to at most `max` characters, marking the cut with `…`. Control characters
/// (newlines, tabs) become spaces so one cell stays on one line.
pub fn shorten(s: &str, max: usize, cut: Cut) -> String {
    let clean: Vec<char> = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.len() <= max {
        return clean.into_iter().collect();
    }
    if max == 0 {
        return String::new();
    }
    let keep = max - 1;
    match cut {
        Cut::End => clean.iter().take(keep).chain(['…'].iter()).collect(),
        Cut::Start => ['…']
            .iter()
            .chain(clean.iter().skip(clean.len() - keep))
            .collect(),
    }
}

/// Renders a header, a rule and the rows. Rows shorter than the columns are padded with empty
/// cells; extra cells are ignored. The last column is not padded (no trailing spaces).
pub fn render(columns: &[Column], rows: &[Vec<String>]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| shorten(r.get(i).map_or("", String::as_str), c.max, c.cut))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .filter_map(|r| r.get(i))
                .map(|s| s.chars().count())
                .chain([c.title.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = String>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(&cell);
            l.extend(std::iter::repeat_n(
                ' ',
                w.saturating_sub(cell.chars().count()),
            ));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut columns.iter().map(|c| c.title.to_string()));
    line(&mut widths.iter().map(|w| "-".repeat(*w)));
    for r in cells {
        line(&mut r.into_iter());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_on_char_boundaries() {
        assert_eq!(shorten("abcdef", 4, Cut::End), "abc…");
        assert_eq!(shorten("abcdef", 4, Cut::Start), "…def");
        assert_eq!(shorten("ééééé", 3, Cut::End), "éé…");
        assert_eq!(shorten("abc", 3, Cut::End), "abc");
        assert_eq!(shorten("a\nb", 9, Cut::End), "a b");
        assert_eq!(shorten("abc", 0, Cut::End), "");
        assert_eq!(shorten("abc", 1, Cut::Start), "…");
    }

    #[test]
    fn aligns_columns() {
        let cols = [
            Column {
                title: "A",
                max: 5,
                cut: Cut::End,
            },
            Column {
                title: "LONG",
                max: 10,
                cut: Cut::End,
            },
        ];
        let t = render(
            &cols,
            &[
                vec!["xy".into(), "1".into()],
                vec!["abcdefgh".into(), "2".into()],
                vec![],
            ],
        );
        assert_eq!(t, "A      LONG\n-----  ----\nxy     1\nabcd…  2\n\n");
    }
}
