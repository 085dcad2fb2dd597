//! What the load benchmarks share: rates, nearest-rank percentiles and the table formatting.

use std::time::Duration;

/// Operations per second.
pub(crate) fn rate(done: u64, elapsed: Duration) -> f64 {
    done as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// The `q`th per-mille of `samples` (nearest rank); sorts them.
pub(crate) fn permille(samples: &mut [Duration], q: usize) -> Duration {
    samples.sort_unstable();
    samples
        .get(samples.len().saturating_sub(1) * q / 1000)
        .copied()
        .unwrap_or_default()
}

/// A figure over its floor, when both were measured.
pub(crate) fn ratio(figure: Option<f64>, floor: Option<f64>) -> Option<f64> {
    Some(figure? / floor?.max(1e-9))
}

/// `0.53 ms`, `122.0 ms`.
pub(crate) fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// `1,000,337`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
