//! The decode strategies and their names (`fused`, `decode-once`, `lru:64MiB`, `async`,
//! `prefetch-cpu`, `auto`, `auto:2GiB`).

use crate::{Error, Result};

/// Default byte budget of `lru` without a size.
pub const DEFAULT_LRU_BUDGET: u64 = 256 << 20;

/// How coded layers become the codes a GEMV reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Decode inside the GEMV on every call (fused kernel): smallest memory.
    Fused,
    /// Decode on the GPU once at load into the packed runtime format, then plain GEMV.
    DecodeOnce,
    /// Keep decoded layers resident up to `budget_bytes`; a miss decodes on demand and evicts
    /// the least recently used layers.
    Lru {
        /// Bytes of decoded codes kept resident (at least one layer is always kept).
        budget_bytes: u64,
    },
    /// Two ping-pong decode slots: layer N+1 is decoded into one while layer N's GEMV reads the
    /// other.
    Async,
    /// Decode on CPU threads into a ring of staging buffers uploaded ahead of use.
    PrefetchCpu,
    /// Chosen from capabilities, a GPU memory budget and a quick measurement
    /// ([`super::auto::choose`]).
    Auto {
        /// GPU bytes the weights may hold (`None`: no limit).
        budget: Option<u64>,
    },
}

impl Strategy {
    /// Every concrete strategy (not `auto`), `lru` with `lru_budget`.
    pub fn all(lru_budget: u64) -> [Strategy; 5] {
        [
            Strategy::Fused,
            Strategy::DecodeOnce,
            Strategy::Lru { budget_bytes: lru_budget },
            Strategy::Async,
            Strategy::PrefetchCpu,
        ]
    }

    /// The short name without parameters.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Fused => "fused",
            Strategy::DecodeOnce => "decode-once",
            Strategy::Lru { .. } => "lru",
            Strategy::Async => "async",
            Strategy::PrefetchCpu => "prefetch-cpu",
            Strategy::Auto { .. } => "auto",
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::Lru { budget_bytes } => write!(f, "lru:{}", format_bytes(*budget_bytes)),
            Strategy::Auto { budget: Some(b) } => write!(f, "auto:{}", format_bytes(*b)),
            s => f.write_str(s.name()),
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let no_arg = |st: Strategy| match arg {
            None => Ok(st),
            Some(_) => Err(Error::InvalidArgument(format!("strategy `{s}`: {name} takes no parameter"))),
        };
        match name {
            "fused" => no_arg(Strategy::Fused),
            "decode-once" => no_arg(Strategy::DecodeOnce),
            "async" => no_arg(Strategy::Async),
            "prefetch-cpu" => no_arg(Strategy::PrefetchCpu),
            "lru" => {
                Ok(Strategy::Lru { budget_bytes: arg.map(parse_bytes).transpose()?.unwrap_or(DEFAULT_LRU_BUDGET) })
            }
            "auto" => Ok(Strategy::Auto { budget: arg.map(parse_bytes).transpose()? }),
            _ => Err(Error::InvalidArgument(format!(
                "strategy `{s}`: expected fused, decode-once, lru[:BYTES], async, prefetch-cpu or auto[:BYTES]"
            ))),
        }
    }
}

/// Parses a byte count: `1048576`, `64MiB`, `1.5GiB`, `512KiB`, `2GB`, `100MB`, `4096B`.
pub fn parse_bytes(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(Error::InvalidArgument(format!("byte count `{s}`: unknown unit `{unit}`"))),
    };
    let v: f64 = num.parse().map_err(|_| Error::InvalidArgument(format!("byte count `{s}`: not a number")))?;
    if !v.is_finite() || v < 0.0 || v * mult as f64 > u64::MAX as f64 / 2.0 {
        return Err(Error::InvalidArgument(format!("byte count `{s}` out of range")));
    }
    Ok((v * mult as f64).round() as u64)
}

/// Formats a byte count with the largest binary unit that keeps it whole (`64MiB`, `1536KiB`).
pub fn format_bytes(b: u64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if b >= 1 << shift && b % (1 << shift) == 0 {
            return format!("{}{unit}", b >> shift);
        }
    }
    format!("{b}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in ["fused", "decode-once", "lru:64MiB", "async", "prefetch-cpu", "auto", "auto:2GiB", "lru:1000B"] {
            let st: Strategy = s.parse().unwrap();
            assert_eq!(st.to_string(), s);
        }
        assert_eq!("lru".parse::<Strategy>().unwrap(), Strategy::Lru { budget_bytes: DEFAULT_LRU_BUDGET });
        assert_eq!(parse_bytes("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("2GB").unwrap(), 2_000_000_000);
        for bad in ["lru:x", "fast", "fused:3", "lru:-1MiB", "auto:12XB"] {
            assert!(bad.parse::<Strategy>().is_err(), "{bad}");
        }
    }
}
