//! persist's benchmark suite. Every figure is printed next to a baseline
//! measured in the same run, as a ratio, because the machine is noisy.
//!
//! `cargo run --release -p persist-bench -- [--quick] [--json]`

mod figures;

use std::time::Instant;

/// One measured figure and its baseline. `ratio` is always "higher is
/// better": value / baseline for rates, baseline / value for times.
pub struct Figure {
    pub figure: String,
    pub value: f64,
    pub unit: &'static str,
    pub baseline: String,
    pub baseline_value: f64,
    pub ratio: f64,
    pub aim: &'static str,
}

impl Figure {
    pub fn rate(
        figure: &str,
        value: f64,
        unit: &'static str,
        baseline: &str,
        base: f64,
        aim: &'static str,
    ) -> Self {
        Figure {
            figure: figure.into(),
            value,
            unit,
            baseline: baseline.into(),
            baseline_value: base,
            ratio: value / base,
            aim,
        }
    }

    fn json(&self) -> String {
        serde_json::json!({
            "figure": self.figure, "value": self.value, "unit": self.unit,
            "baseline": self.baseline, "baseline_value": self.baseline_value,
            "ratio": self.ratio, "aim": self.aim,
        })
        .to_string()
    }
}

/// Seconds taken by `f`.
pub fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json = args.iter().any(|a| a == "--json");
    if let Some(bad) = args.iter().find(|a| *a != "--quick" && *a != "--json") {
        eprintln!("persist-bench: unknown argument {bad:?} (expected --quick, --json)");
        std::process::exit(2);
    }
    let n = if quick { 200_000 } else { 1_000_000 };
    let figures = figures::fold(n);
    for f in &figures {
        if json {
            println!("{}", f.json());
        } else {
            println!(
                "{:<48} {:>14.1} {:<9} | {:<44} {:>14.1} | ratio {:>6.3} (aim {})",
                f.figure, f.value, f.unit, f.baseline, f.baseline_value, f.ratio, f.aim
            );
        }
    }
}
