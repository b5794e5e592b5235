//! Reading one value out of Prometheus text exposition (`GET /metrics`).

/// The value of the first sample of metric `name` (any labels), or `None`
/// when absent or unparsable. `# HELP`/`# TYPE` lines are skipped.
pub fn prometheus_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let rest = line.strip_prefix(name)?;
            let rest = if let Some(labels) = rest.strip_prefix('{') {
                // Skip the label set; label values may not contain an unescaped '}'.
                &labels[labels.find('}')? + 1..]
            } else {
                rest
            };
            if !rest.starts_with([' ', '\t']) {
                return None; // a longer metric name with this prefix
            }
            let value = rest.split_whitespace().next()?;
            match value {
                "+Inf" => Some(f64::INFINITY),
                "-Inf" => Some(f64::NEG_INFINITY),
                v => v.parse::<f64>().ok(),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values() {
        let text = "\
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes_peak 9e9
process_resident_memory_bytes 4.5056e+07
sealtrail_ingest_events_total{status=\"sealed\"} 1234 1700000000000
sealtrail_up 1
";
        assert_eq!(
            prometheus_value(text, "process_resident_memory_bytes"),
            Some(45_056_000.0)
        );
        assert_eq!(
            prometheus_value(text, "sealtrail_ingest_events_total"),
            Some(1234.0)
        );
        assert_eq!(prometheus_value(text, "sealtrail_up"), Some(1.0));
        assert_eq!(prometheus_value(text, "process_cpu_seconds_total"), None);
        assert_eq!(prometheus_value("x{a=\"1\" 3\n", "x"), None);
        assert_eq!(prometheus_value("x not-a-number\n", "x"), None);
        assert_eq!(prometheus_value("", "x"), None);
    }
}
