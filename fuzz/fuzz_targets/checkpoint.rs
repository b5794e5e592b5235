//! C2SP tlog-checkpoint parser: the checkpoint text format is canonical (one
//! spelling per value: decimal size without leading zeroes, padded standard
//! base64 root hash, `\n` line endings), so any text `Checkpoint::parse`
//! accepts must serialize back to exactly the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtrail_core::checkpoint::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(checkpoint) = Checkpoint::parse(text) else {
        return;
    };
    let out = checkpoint.to_text();
    let again = match Checkpoint::parse(&out) {
        Ok(again) => again,
        Err(err) => panic!("re-parse of to_text() failed: {err:?}\ntext: {out:?}"),
    };
    assert_eq!(checkpoint, again, "checkpoint changed across a round trip");
    assert_eq!(
        out, text,
        "accepted a non-canonical checkpoint: to_text() differs from the input"
    );
});
