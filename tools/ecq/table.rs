//! Plain-text tables for terminal output.

/// Prints rows under a header, each column as wide as its widest cell; numbers right-aligned.
pub fn print(header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let numeric = c.parse::<f64>().is_ok() || c.ends_with('%');
                if numeric { format!("{c:>0$}", w[i]) } else { format!("{c:<0$}", w[i]) }
            })
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(header.to_vec());
    println!("{}", w.iter().map(|n| "-".repeat(*n)).collect::<Vec<_>>().join("  "));
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
