//! Writes a large synthetic evidence bundle (format version 2) for the
//! verification benchmarks: every entry of a log of N entries, streamed to
//! the file as generated (memory does not grow with N). Prints the log's
//! verifier key.
//!
//! Run: `cargo run --release -p sealtrail-core --features zip --example
//! big_bundle -- N OUT.zip [--bodies]`

use std::io::BufWriter;

use sealtrail_core::bundle::synthetic::write_range_bundle;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(n), Some(out)) = (args.get(1).and_then(|a| a.parse::<u64>().ok()), args.get(2))
    else {
        eprintln!("usage: big_bundle N OUT.zip [--bodies]");
        std::process::exit(2);
    };
    let bodies = args.iter().any(|a| a == "--bodies");
    let file = match std::fs::File::create(out) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot create {out}: {e}");
            std::process::exit(2);
        }
    };
    let zip = zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
    match write_range_bundle(n, bodies, zip) {
        Ok((vkey, _)) => println!("{vkey}"),
        Err(e) => {
            eprintln!("cannot write the bundle: {e}");
            std::process::exit(1);
        }
    }
}
