//! The signer-command protocol (docs/deploy.md, "Signing keys"), both
//! ends: [`CommandSigner`] runs an operator's command for the server, and
//! [`answer_sign`] is what the reference signer (`sealtrail signer`) answers.
//!
//! `sh -c "CMD vkey"` prints the C2SP vkey; `sh -c "CMD sign"` reads note
//! text on stdin and prints the base64 Ed25519 signature (64 bytes). Each
//! answer must come within the timeout, with exit status 0; every signature
//! is verified against the vkey before use.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sealtrail_core::checkpoint::{Checkpoint, CheckpointError};
use sealtrail_core::note::{
    Ed25519Signer, Ed25519Verifier, NoteSigner, NoteVerifier, MAX_NOTE_SIZE,
};

use crate::signer::{LogSigner, SignerError};

/// How long an external signer command may take.
pub const SIGNER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes read from an external signer's stdout.
const MAX_SIGNER_OUTPUT: u64 = 64 * 1024;

/// An external signer: the server's end of the protocol.
pub struct CommandSigner {
    command: String,
    verifier: Ed25519Verifier,
    timeout: Duration,
}

impl std::fmt::Debug for CommandSigner {
    // The command may carry credentials: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CommandSigner({})", self.verifier.to_vkey())
    }
}

impl CommandSigner {
    /// Runs `CMD vkey` and keeps the key it prints.
    pub fn start(command: &str, timeout: Duration) -> Result<CommandSigner, SignerError> {
        let out = run_command(command, "vkey", None, timeout)?;
        let text = String::from_utf8(out)
            .map_err(|_| SignerError::Output("the vkey is not UTF-8".into()))?;
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or_else(|| SignerError::Output("`vkey` printed nothing".into()))?;
        let verifier = Ed25519Verifier::from_vkey(line).map_err(|e| {
            SignerError::Output(format!(
                "`vkey` printed {line:?}, not a C2SP Ed25519 vkey: {e}"
            ))
        })?;
        Ok(CommandSigner {
            command: command.to_owned(),
            verifier,
            timeout,
        })
    }

    /// The vkey the command printed.
    pub fn vkey(&self) -> String {
        self.verifier.to_vkey()
    }
}

impl LogSigner for CommandSigner {
    fn verifier(&self) -> &Ed25519Verifier {
        &self.verifier
    }
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignerError> {
        let out = run_command(&self.command, "sign", Some(msg), self.timeout)?;
        let text = std::str::from_utf8(&out)
            .map_err(|_| SignerError::Output("the signature is not UTF-8 base64".into()))?
            .trim();
        let sig = STANDARD
            .decode(text)
            .map_err(|_| SignerError::Output("the signature is not standard base64".into()))?;
        if sig.len() != 64 {
            return Err(SignerError::Output(format!(
                "the signature is {} bytes; an Ed25519 signature is 64",
                sig.len()
            )));
        }
        if !self.verifier.verify(msg, &sig) {
            return Err(SignerError::BadSignature(self.verifier.to_vkey()));
        }
        Ok(sig)
    }
}

/// For callers of [`sealtrail_core::note::Note::sign`]: a failure is logged
/// and gives an empty signature, which `Note::sign` refuses.
/// [`crate::KeyRing::sign_checkpoint`] keeps the error instead.
impl NoteSigner for CommandSigner {
    fn name(&self) -> &str {
        self.verifier.name()
    }
    fn key_id(&self) -> u32 {
        self.verifier.key_id()
    }
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self.try_sign(msg) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "external signer failed");
                Vec::new()
            }
        }
    }
}

/// `sh -c "CMD ARG"` with `input` on stdin; its stdout, if it exits 0 within
/// `timeout`. The command runs in its own process group, killed whole on a
/// timeout. Its stderr is the server's.
fn run_command(
    command: &str,
    arg: &str,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Vec<u8>, SignerError> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} {arg}"))
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .map_err(|e| SignerError::Spawn(e.to_string()))?;
    let pid = child.id();
    if let (Some(mut stdin), Some(input)) = (child.stdin.take(), input) {
        let input = input.to_vec();
        // A signer that exits without reading gives EPIPE: not our error.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let stdout = child.stdout.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let read = match stdout {
            Some(s) => s
                .take(MAX_SIGNER_OUTPUT + 1)
                .read_to_end(&mut out)
                .map(|_| ()),
            None => Ok(()),
        };
        let status = child.wait();
        let _ = tx.send((read, out, status));
    });
    match rx.recv_timeout(timeout) {
        Ok((read, out, status)) => {
            if out.len() as u64 > MAX_SIGNER_OUTPUT {
                return Err(SignerError::Output(format!(
                    "more than {MAX_SIGNER_OUTPUT} bytes"
                )));
            }
            let status = status.map_err(|e| SignerError::Exit(e.to_string()))?;
            if !status.success() {
                return Err(SignerError::Exit(status.to_string()));
            }
            read.map_err(|e| SignerError::Output(format!("cannot read its stdout: {e}")))?;
            Ok(out)
        }
        Err(_) => {
            // SAFETY: kill(2) on the process group of our own child (its
            // waiter thread has not reaped it: it has not answered).
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
            Err(SignerError::Timeout(timeout))
        }
    }
}

/// Why the reference signer refused a `sign` request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the note text is larger than {MAX_NOTE_SIZE} bytes")]
    TooLarge,
    #[error("the note text is not UTF-8: {0}")]
    NotUtf8(std::str::Utf8Error),
    #[error("refusing to sign: not a checkpoint: {0}")]
    NotCheckpoint(CheckpointError),
    #[error("refusing to sign: the checkpoint's origin is {origin:?}, this key is for {key:?}")]
    OtherOrigin { origin: String, key: String },
}

/// The reference signer's answer to `sign`: the base64 signature of `text`,
/// which must be a checkpoint whose origin is the key's name, so the key
/// cannot be made to sign anything else. `text` longer than
/// [`MAX_NOTE_SIZE`] is refused (read at most one byte more).
pub fn answer_sign(signer: &Ed25519Signer, text: &[u8]) -> Result<String, Refusal> {
    if text.len() > MAX_NOTE_SIZE {
        return Err(Refusal::TooLarge);
    }
    let text = std::str::from_utf8(text).map_err(Refusal::NotUtf8)?;
    let cp = Checkpoint::parse(text).map_err(Refusal::NotCheckpoint)?;
    if cp.origin != signer.name() {
        return Err(Refusal::OtherOrigin {
            origin: cp.origin,
            key: signer.name().to_owned(),
        });
    }
    Ok(STANDARD.encode(signer.sign(text.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::*;
    use base64::engine::general_purpose::STANDARD;
    use sealtrail_core::note::Note;
    use std::time::Duration;

    #[test]
    fn command_signer_good_and_bad() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate(ORIGIN).unwrap();
        let text = cp(9).to_text();
        let good_sig = STANDARD.encode(key.sign(text.as_bytes()));
        let other_sig = STANDARD.encode(key.sign(b"something else\n"));
        let short = Duration::from_millis(500);

        let good = script(
            dir.path(),
            "good",
            &key.vkey(),
            &format!("cat >/dev/null; echo {good_sig}"),
        );
        let s = CommandSigner::start(&good, short).unwrap();
        assert_eq!(s.vkey(), key.vkey());
        assert_eq!(
            s.try_sign(text.as_bytes()).unwrap(),
            key.sign(text.as_bytes())
        );
        assert!(
            !format!("{s:?}").contains(&good),
            "the command is never printed"
        );

        let sign_err = |body: &str| {
            let cmd = script(dir.path(), "bad", &key.vkey(), body);
            CommandSigner::start(&cmd, short)
                .unwrap()
                .try_sign(text.as_bytes())
                .unwrap_err()
        };
        // A valid signature of something else.
        assert!(matches!(
            sign_err(&format!("cat >/dev/null; echo {other_sig}")),
            SignerError::BadSignature(_)
        ));
        assert!(matches!(sign_err("echo hello"), SignerError::Output(_)));
        assert!(matches!(sign_err("echo AAAA"), SignerError::Output(_)));
        assert!(matches!(
            sign_err("head -c 100000 /dev/zero"),
            SignerError::Output(_)
        ));
        assert!(matches!(sign_err("exit 3"), SignerError::Exit(_)));
        // Not reading stdin at all is fine as long as the answer is right.
        assert!(matches!(
            sign_err(&format!("echo {good_sig}; exit 1")),
            SignerError::Exit(_)
        ));
        let started = std::time::Instant::now();
        assert_eq!(sign_err("sleep 30"), SignerError::Timeout(short));
        assert!(started.elapsed() < Duration::from_secs(5));
        // A child that keeps stdout open is killed with its group.
        let started = std::time::Instant::now();
        assert_eq!(
            sign_err("(sleep 30; echo x) & wait"),
            SignerError::Timeout(short)
        );
        assert!(started.elapsed() < Duration::from_secs(5));

        // Bad `vkey` answers.
        for body in ["echo not-a-key", "true", "exit 2"] {
            let cmd = dir.path().join("badvkey");
            std::fs::write(&cmd, format!("#!/bin/sh\n{body}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&cmd, std::fs::Permissions::from_mode(0o755)).unwrap();
            assert!(
                CommandSigner::start(&cmd.display().to_string(), short).is_err(),
                "{body}"
            );
        }
        assert!(matches!(
            CommandSigner::start("/nonexistent/signer", short),
            Err(SignerError::Exit(_))
        ));

        // As a NoteSigner, a failure is an empty signature, which Note::sign refuses.
        let bad = script(dir.path(), "bad2", &key.vkey(), "exit 1");
        let s = CommandSigner::start(&bad, short).unwrap();
        assert!(Note::sign(&text, &[&s]).is_err());
        let s = CommandSigner::start(&good, short).unwrap();
        let note = Note::sign(&text, &[&s]).unwrap();
        assert!(opens_with(&note.to_bytes(), &key.vkey()));
    }
}
