//! File locks, key files and the external signer command block; they must
//! run on the blocking pool, never on the async workers that serve
//! requests. A server on a single-threaded runtime shows it: while its
//! external signer command hangs inside a key reload, it still answers.

use std::path::Path;
use std::time::{Duration, Instant};

use sealtrail_keys::{self as signing, SigningOptions, HISTORY_FILE};

/// A signer whose `vkey` hangs while `CTL/hold` exists (after touching
/// `CTL/started`), until `CTL/release` appears. It cannot sign: the test
/// needs no checkpoint.
fn slow_signer(ctl: &Path, vkey: &str) -> String {
    let path = ctl.join("signer.sh");
    let c = ctl.display();
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  vkey)\n    if [ -e {c}/hold ]; then\n      : > {c}/started\n      while [ ! -e {c}/release ]; do sleep 0.05; done\n    fi\n    echo '{vkey}' ;;\n  *) exit 1 ;;\nesac\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_signer_command_does_not_stall_a_single_threaded_server() {
    let dir = tempfile::tempdir().unwrap();
    let (data, ctl) = (dir.path().join("data"), dir.path().to_path_buf());
    let key = signing::generate("sealtrail.test/slow-signer").unwrap();
    let mut opts = sealtrail_testkit::options(&data);
    opts.signing = SigningOptions {
        key_path: None,
        signer_command: Some(slow_signer(&ctl, &key.vkey())),
    };
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (running, _) = sealtrail_server::start(opts).await.unwrap();
            url_tx.send(format!("http://{}", running.addr)).unwrap();
            let _ = stop_rx.await;
            running.stop().await.unwrap();
        });
    });
    let url = url_rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let http = reqwest::Client::new();
    let health = || {
        http.get(format!("{url}/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
    };
    assert_eq!(health().await.unwrap().status(), 200);

    // A changed key history makes the server reload its keys (within one
    // 5-second round of its key watcher), which runs `vkey`: now it hangs.
    std::fs::write(ctl.join("hold"), b"").unwrap();
    let history = data.join(HISTORY_FILE);
    let bytes = std::fs::read(&history).unwrap();
    std::fs::write(&history, bytes).unwrap();
    let t = Instant::now();
    while !ctl.join("started").exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the server never reloaded its keys"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = health().await;
    std::fs::write(ctl.join("release"), b"").unwrap();
    let _ = stop_tx.send(());
    server.join().unwrap();
    let status = answer
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string());
    assert_eq!(
        status,
        Ok(200),
        "the server did not answer while its signer command ran"
    );
}
