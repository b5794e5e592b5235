//! sealtrail.toml: `init` writes a template; `config show` prints what
//! `serve` would use, with flag > environment > file > default.

use std::process::Command;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

fn show(dir: &std::path::Path, env: &[(&str, &str)], flags: &[&str]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(["config", "show", "--data"]).arg(dir).args(flags);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn settings_come_from_flag_then_environment_then_file_then_default() {
    let dir = tempfile::tempdir().unwrap();
    let init = Command::new(BIN)
        .args(["init", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(init.status.success());
    let file = dir.path().join("sealtrail.toml");
    let template = std::fs::read_to_string(&file).unwrap();
    assert!(template.contains("# batch_max = 2048"));
    assert!(show(dir.path(), &[], &[]).contains("batch_max = 2048\n"));

    std::fs::write(
        &file,
        format!("{template}batch_max = 1234\ndatabase = \"postgres://u:pw@h/db\"\n"),
    )
    .unwrap();
    let from_file = show(dir.path(), &[], &[]);
    assert!(from_file.contains("batch_max = 1234\n"), "{from_file}");
    assert!(
        from_file.contains("postgres://u:***@h/db") && !from_file.contains("pw"),
        "{from_file}"
    );
    assert!(show(dir.path(), &[("SEALTRAIL_BATCH_MAX", "99")], &[]).contains("batch_max = 99\n"));
    assert!(show(
        dir.path(),
        &[("SEALTRAIL_BATCH_MAX", "99")],
        &["--batch-max", "7"]
    )
    .contains("batch_max = 7\n"));

    std::fs::write(&file, "batch_mx = 3\n").unwrap();
    let bad = Command::new(BIN)
        .args(["serve", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("unknown setting \"batch_mx\"") && err.contains("batch_max"),
        "{err}"
    );
}

/// Every `serve` setting can live in the file: the OTLP/gRPC listener was
/// a flag and a variable only, and `config show` did not print it.
#[test]
fn the_otlp_grpc_listener_is_a_setting_like_the_others() {
    let dir = tempfile::tempdir().unwrap();
    assert!(show(dir.path(), &[], &[]).contains("# otlp_grpc_listen: none"));
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::write(
        dir.path().join("sealtrail.toml"),
        "otlp_grpc_listen = \"127.0.0.1:4317\"\n",
    )
    .unwrap();
    let shown = show(dir.path(), &[], &[]);
    assert!(
        shown.contains("otlp_grpc_listen = \"127.0.0.1:4317\""),
        "{shown}"
    );
    let flag = show(dir.path(), &[], &["--otlp-grpc-listen", "127.0.0.1:4318"]);
    assert!(
        flag.contains("otlp_grpc_listen = \"127.0.0.1:4318\""),
        "{flag}"
    );
}

/// The web console's session timeouts: `[console]` in the file, the
/// `SEALTRAIL_CONSOLE_*` variables and the flags, in the one duration syntax.
#[test]
fn console_timeouts_come_from_the_console_table_env_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = show(dir.path(), &[], &[]);
    assert!(
        defaults.contains("console_idle_timeout = \"30m\"\n")
            && defaults.contains("console_session_max = \"12h\"\n"),
        "{defaults}"
    );
    let file = dir.path().join("sealtrail.toml");
    std::fs::write(
        &file,
        "[console]\nidle_timeout = \"5m\"\nsession_max = \"2h\"\n",
    )
    .unwrap();
    let from_file = show(dir.path(), &[], &[]);
    assert!(
        from_file.contains("console_idle_timeout = \"5m\"\n")
            && from_file.contains("console_session_max = \"2h\"\n"),
        "{from_file}"
    );
    let from_env = show(
        dir.path(),
        &[("SEALTRAIL_CONSOLE_IDLE_TIMEOUT", "90s")],
        &[],
    );
    assert!(
        from_env.contains("console_idle_timeout = \"90s\"\n"),
        "{from_env}"
    );
    let from_flag = show(dir.path(), &[], &["--console-idle-timeout", "2s"]);
    assert!(
        from_flag.contains("console_idle_timeout = \"2s\"\n"),
        "{from_flag}"
    );
    let bad = Command::new(BIN)
        .args(["config", "show", "--console-idle-timeout", "soon", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--console-idle-timeout"), "{err}");
}
