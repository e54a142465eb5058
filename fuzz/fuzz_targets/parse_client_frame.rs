//! Arbitrary text through both frame parsers. Neither may panic; a client
//! frame that parses must survive `encode` and parse again unchanged, and a
//! refused one must be refused with 76100 or 76900 (PROTOCOL.md §2).
#![no_main]

use libfuzzer_sys::fuzz_target;
use room_core::{parse_client_frame, parse_server_frame};

fuzz_target!(|frame: &str| {
    match parse_client_frame(frame) {
        Ok(msg) => {
            let encoded = msg.encode();
            assert!(!encoded.contains('\n'), "encoded frame has a raw newline: {encoded:?}");
            assert_eq!(parse_client_frame(&encoded).as_ref(), Ok(&msg), "round trip of {frame:?}");
        }
        Err(e) => {
            let code = e.code().as_u32();
            assert!(code == 76100 || code == 76900, "{frame:?} refused with {code}");
        }
    }
    if let Ok(msg) = parse_server_frame(frame) {
        assert_eq!(parse_server_frame(&msg.encode()).as_ref(), Ok(&msg), "server round trip of {frame:?}");
    }
});
