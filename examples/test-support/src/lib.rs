//! Helpers shared by the workspace's integration tests, so that each exists once: whether a
//! missing peer program skips or fails a test, free loopback ports, hex, and a throw-away
//! OpenLDAP server ([`Slapd`]).
//!
//! A test that needs a peer (slapd, FreeRADIUS, xmlsec1, a browser) skips with a message
//! when the peer is missing, unless peers are required (`CI` or `IDFORGE_REQUIRE_PEERS`
//! set): then it fails, so that CI never passes by skipping.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

mod slapd;

pub use slapd::{ADMIN_DN, ADMIN_PASSWORD, LDAPADD, SLAPD, SUFFIX, Slapd, TestCa};

/// Whether a missing peer must fail the test instead of skipping it: `CI` (set to anything
/// but empty, `0` or `false`) or `IDFORGE_REQUIRE_PEERS` (set at all).
pub fn peers_required() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
        || std::env::var_os("IDFORGE_REQUIRE_PEERS").is_some()
}

/// Where `program` is: itself when it is a path that exists, otherwise the first match in
/// `PATH` or the usual system directories (`/usr/sbin`, `/usr/bin`, `/sbin`).
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Path::new(program).exists().then(|| PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Whether a peer is available (`available`); when it is not, fails the test if peers are
/// required, and otherwise prints why `test` is skipped. `what` names the peer and how to
/// install it.
pub fn peer_available(test: &str, available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        !peers_required(),
        "{test}: {what} is required (CI or IDFORGE_REQUIRE_PEERS set) but missing"
    );
    eprintln!("SKIP {test}: {what} is not available");
    false
}

/// [`peer_available`] for programs: all of `programs` must be found ([`find_program`]).
pub fn programs_present(test: &str, programs: &[&str], packages: &str) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| find_program(p).is_none())
        .collect();
    peer_available(
        test,
        missing.is_empty(),
        &format!("{} (Debian packages: {packages})", missing.join(", ")),
    )
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Decodes hex (either case; whitespace between digits is ignored). Panics on anything
/// else: test vectors are trusted input.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits: {s}"
    );
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).unwrap();
            u8::from_str_radix(text, 16).unwrap_or_else(|_| panic!("not hex: {text}"))
        })
        .collect()
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex("00 ff\n7A"), [0x00, 0xff, 0x7a]);
        assert_eq!(to_hex(&[0x00, 0xff, 0x7a]), "00ff7a");
        assert_eq!(hex(&to_hex(b"idforge")), b"idforge");
    }

    #[test]
    #[should_panic(expected = "odd number")]
    fn odd_hex_panics() {
        let _ = hex("abc");
    }

    #[test]
    fn free_ports_can_be_bound() {
        TcpListener::bind(("127.0.0.1", free_tcp_port())).unwrap();
        UdpSocket::bind(("127.0.0.1", free_udp_port())).unwrap();
    }

    #[test]
    fn programs_are_found_on_the_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("/bin/sh").is_some());
        assert!(find_program("no-such-program-idforge").is_none());
        assert!(peer_available("t", true, "x"));
    }
}
