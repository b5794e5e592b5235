//! The offline commands run where no server is installed (an auditor's
//! machine, a CI job): `sealtrail-offline` must not link axum, tonic,
//! hyper's server side or sealtrail-server, and `sealtrail-keys` (blocking
//! code under both the server and these commands) no HTTP at all. Read from
//! `cargo tree` (offline, locked: no network), which resolves each
//! package's features on their own.

use std::collections::BTreeSet;
use std::process::Command;

/// `cargo tree` of `package`'s normal dependencies with features, one node
/// per line; `None` when cargo cannot answer here (printed, and a failure
/// under CI).
fn tree(package: &str) -> Option<String> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--locked", "--manifest-path", manifest])
        .args(["-p", package, "-e", "normal,features", "--prefix", "none"])
        .output();
    let why = match out {
        Ok(o) if o.status.success() => return Some(String::from_utf8_lossy(&o.stdout).into()),
        Ok(o) => format!(
            "`cargo tree -p {package}` failed: {}",
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

/// The lines of `tree` that name a package of `crates`, or one of
/// `features` (`(package, feature)`).
fn offending(tree: &str, crates: &[&str], features: &[(&str, &str)]) -> BTreeSet<String> {
    tree.lines()
        .map(|l| l.trim_end_matches(" (*)"))
        .filter(|l| {
            let mut words = l.split_whitespace();
            let (Some(name), Some(second)) = (words.next(), words.next()) else {
                return false;
            };
            let package = second.starts_with('v') && crates.contains(&name);
            let feature = second == "feature"
                && words
                    .next()
                    .is_some_and(|f| features.contains(&(name, f.trim_matches('"'))));
            package || feature
        })
        .map(str::to_owned)
        .collect()
}

fn assert_links_none(package: &str, crates: &[&str], features: &[(&str, &str)]) {
    let Some(tree) = tree(package) else {
        return;
    };
    assert!(
        tree.lines().any(|l| l.starts_with(&format!("{package} v"))),
        "`cargo tree -p {package}` does not list {package}:\n{tree}"
    );
    let found = offending(&tree, crates, features);
    assert!(
        found.is_empty(),
        "{package} links what it must not: {found:?}; `cargo tree -p {package} -e normal,features -i <name>` shows through what"
    );
}

#[test]
fn the_offline_commands_link_no_server() {
    assert_links_none(
        "sealtrail-offline",
        &["axum", "axum-core", "tonic", "sealtrail-server"],
        &[("hyper", "server")],
    );
}

#[test]
fn the_keys_crate_links_no_http() {
    assert_links_none(
        "sealtrail-keys",
        &[
            "axum",
            "axum-core",
            "tonic",
            "hyper",
            "reqwest",
            "sealtrail-server",
        ],
        &[],
    );
}

#[test]
fn the_check_sees_a_server_when_there_is_one() {
    // The same reading of the server's own tree must find what the two
    // checks above look for, or they would pass on a broken parse.
    let Some(tree) = tree("sealtrail-server") else {
        return;
    };
    let found = offending(
        &tree,
        &["axum", "tonic", "sealtrail-server"],
        &[("hyper", "server")],
    );
    for want in [
        "axum v",
        "tonic v",
        "sealtrail-server v",
        "hyper feature \"server\"",
    ] {
        assert!(
            found.iter().any(|l| l.starts_with(want)),
            "{want} not found in {found:?}"
        );
    }
}
