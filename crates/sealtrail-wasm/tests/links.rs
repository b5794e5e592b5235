//! The verifier module sits on sealtrail-core alone (docs/architecture.md:
//! layers import only downward): of the workspace it links only the core,
//! and nothing that does I/O, networking or threads, which a browser does
//! not give it (scripts/build-wasm.sh is what builds it for
//! wasm32-unknown-unknown). Read from `cargo tree` for that target
//! (offline, locked: no network).

use std::process::Command;

/// Packages of the module's normal dependency tree, as `name vX.Y.Z`.
fn packages() -> Option<Vec<String>> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--locked", "--manifest-path", manifest])
        .args(["-p", "sealtrail-wasm", "-e", "normal", "--prefix", "none"])
        .args(["--target", "wasm32-unknown-unknown"])
        .output();
    let why = match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            return Some(
                text.lines()
                    .map(|l| l.trim_end_matches(" (*)").to_owned())
                    .collect(),
            );
        }
        Ok(o) => format!(
            "`cargo tree -p sealtrail-wasm` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("cannot run {}: {e}", env!("CARGO")),
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}");
    }
    println!("SKIPPED: {why}");
    None
}

#[test]
fn the_module_links_only_the_core_of_the_workspace_and_no_io() {
    let Some(packages) = packages() else { return };
    let name = |l: &String| l.split_whitespace().next().unwrap_or_default().to_owned();
    let names: Vec<String> = packages.iter().map(name).collect();
    assert!(names.iter().any(|n| n == "sealtrail-core"), "{names:?}");
    let workspace: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("sealtrail-") && *n != "sealtrail-wasm" && *n != "sealtrail-core")
        .collect();
    assert!(
        workspace.is_empty(),
        "sealtrail-wasm may link only sealtrail-core of the workspace, it links {workspace:?}"
    );
    let forbidden = [
        "tokio",
        "reqwest",
        "hyper",
        "mio",
        "socket2",
        "rusqlite",
        "postgres",
        "getrandom",
        "wasm-bindgen",
        "js-sys",
    ];
    let found: Vec<&String> = names
        .iter()
        .filter(|n| forbidden.contains(&n.as_str()))
        .collect();
    assert!(
        found.is_empty(),
        "sealtrail-wasm links {found:?}: `cargo tree -p sealtrail-wasm --target wasm32-unknown-unknown -i <name>` shows through what"
    );
}
