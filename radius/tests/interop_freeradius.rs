//! This crate's `Client` against a throwaway FreeRADIUS 3.2.1 (`freeradius -f`) with its own
//! configuration directory in a temp dir, on loopback ports picked here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::peer;
use idforge_radius::microsoft::{self, MsChap2Response};
use idforge_radius::{Attribute, AttributeType, Code, Error, SharedSecret, Value, crypto, mschap};
use idforge_radius::{Client, ClientConfig, Credentials};
use idforge_radius::{MICROSOFT, VendorSpecific};
use rand::SeedableRng;
use rand::rngs::StdRng;

const SECRET: &str = "testing123";

struct FreeRadius {
    child: Child,
    auth: SocketAddr,
    acct: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn site(auth: u16, acct: u16) -> String {
    format!(
        r#"server idforge {{
	listen {{
		type = auth
		ipaddr = 127.0.0.1
		port = {auth}
	}}
	listen {{
		type = acct
		ipaddr = 127.0.0.1
		port = {acct}
	}}
	authorize {{
		if (&User-Name == "chal") {{
			update reply {{
				&State := 0x6964666f726765
				&Reply-Message := "enter code"
			}}
			update control {{
				&Response-Packet-Type := Access-Challenge
			}}
			handled
		}}
		chap
		mschap
		files
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
		Auth-Type CHAP {{
			chap
		}}
		Auth-Type MS-CHAP {{
			mschap
		}}
	}}
	preacct {{
		ok
	}}
	accounting {{
		ok
	}}
	post-auth {{
		Post-Auth-Type REJECT {{
			ok
		}}
	}}
}}
"#
    )
}

const USERS: &str = r#"bob	Cleartext-Password := "hello"
	Reply-Message := "hi bob",
	Tunnel-Password:1 := "tunnel-secret"
mallory	Cleartext-Password := "x", Auth-Type := Reject
	Reply-Message := "go away"
"#;

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

fn start_freeradius() -> Option<FreeRadius> {
    let bin = peer("freeradius")?;
    let dir = tempfile::tempdir().unwrap();
    let raddb = dir.path().join("raddb");
    copy_dir(Path::new("/etc/freeradius/3.0"), &raddb);
    let conf = fs::read_to_string(raddb.join("radiusd.conf")).unwrap();
    let conf = conf
        .lines()
        .map(|l| match l.trim() {
            "user = freerad" | "group = freerad" => format!("#{l}"),
            "reject_delay = 1" => "\treject_delay = 0".to_owned(),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(raddb.join("radiusd.conf"), conf).unwrap();
    for entry in fs::read_dir(raddb.join("mods-enabled")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if !["always", "pap", "chap", "mschap", "files"].contains(&name.to_str().unwrap()) {
            fs::remove_file(entry.path()).unwrap();
        }
    }
    for entry in fs::read_dir(raddb.join("sites-enabled")).unwrap() {
        fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let (auth, acct) = (
        idforge_test_support::free_udp_port(),
        idforge_test_support::free_udp_port(),
    );
    fs::write(raddb.join("sites-enabled/idforge"), site(auth, acct)).unwrap();
    fs::write(
        raddb.join("clients.conf"),
        format!("client localhost {{\n\tipaddr = 127.0.0.1\n\tsecret = {SECRET}\n}}\n"),
    )
    .unwrap();
    fs::write(raddb.join("mods-config/files/authorize"), USERS).unwrap();
    let log = dir.path().join("log");
    let child = Command::new(bin)
        .args(["-f", "-l", "stdout", "-d"])
        .arg(&raddb)
        .stdout(fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut fr = FreeRadius {
        child,
        auth: SocketAddr::from(([127, 0, 0, 1], auth)),
        acct: SocketAddr::from(([127, 0, 0, 1], acct)),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Ready to process requests") {
            return Some(fr);
        }
        if let Some(status) = fr.child.try_wait().unwrap() {
            panic!("freeradius exited with {status}:\n{text}");
        }
        assert!(
            Instant::now() < deadline,
            "freeradius did not start:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends the request in `out` and returns the raw answer (retransmitting as the client says).
fn exchange(client: &mut Client, socket: &UdpSocket, to: SocketAddr, out: &[u8]) -> Vec<u8> {
    socket.send_to(out, to).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut retransmit = Vec::new();
    loop {
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        match socket.recv_from(&mut buf) {
            Ok((len, _)) => return buf[..len].to_vec(),
            Err(_) => match client
                .handle_timeout(Instant::now() + Duration::from_secs(10), &mut retransmit)
            {
                Some(idforge_radius::Timeout::Retransmit { .. }) => {
                    socket.send_to(&retransmit, to).unwrap();
                }
                other => panic!("no answer from freeradius: {other:?}"),
            },
        }
    }
}

fn old_server_client() -> Client {
    // FreeRADIUS 3.2.1 predates the Blast-RADIUS fixes: its answers lack Message-Authenticator.
    let config = ClientConfig {
        require_message_authenticator: false,
        ..ClientConfig::default()
    };
    Client::new(config, SharedSecret::new(SECRET))
}

#[test]
fn client_gets_accept_reject_challenge_from_freeradius() {
    let Some(fr) = start_freeradius() else {
        return;
    };
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let mut out = Vec::new();

    // The default (strict) client refuses FreeRADIUS 3.2.1's unsigned answer.
    let mut strict = Client::new(ClientConfig::default(), SharedSecret::new(SECRET));
    let user = [Attribute::text(AttributeType::USER_NAME, "bob")];
    strict
        .request(
            Instant::now(),
            &mut rng,
            Code::AccessRequest,
            Credentials::Pap(b"hello"),
            &user,
            &mut out,
        )
        .unwrap();
    let answer = exchange(&mut strict, &socket, fr.auth, &out);
    assert_eq!(
        strict.handle_response(&answer).unwrap_err(),
        Error::MissingMessageAuthenticator
    );

    let mut client = old_server_client();
    let cases: [(&str, Credentials<'_>, Code); 5] = [
        ("bob", Credentials::Pap(b"hello"), Code::AccessAccept),
        ("bob", Credentials::Pap(b"hellO"), Code::AccessReject),
        (
            "bob",
            Credentials::Chap {
                ident: 3,
                password: b"hello",
            },
            Code::AccessAccept,
        ),
        ("mallory", Credentials::Pap(b"x"), Code::AccessReject),
        ("chal", Credentials::Pap(b"x"), Code::AccessChallenge),
    ];
    for (name, credentials, expected) in cases {
        let attrs = [Attribute::text(AttributeType::USER_NAME, name)];
        client
            .request(
                Instant::now(),
                &mut rng,
                Code::AccessRequest,
                credentials,
                &attrs,
                &mut out,
            )
            .unwrap();
        let answer = exchange(&mut client, &socket, fr.auth, &out);
        let response = client.handle_response(&answer).unwrap();
        assert_eq!(response.code(), expected, "{name} {credentials:?}");
        if expected == Code::AccessChallenge {
            assert_eq!(
                response.packet().find(AttributeType::STATE).unwrap().value,
                b"idforge"
            );
        }
        if name == "bob" && expected == Code::AccessAccept {
            let reply = response
                .packet()
                .find(AttributeType::REPLY_MESSAGE)
                .unwrap();
            assert_eq!(
                Attribute::decode(reply).unwrap().value,
                Value::Text("hi bob")
            );
            // Tunnel-Password, salted with FreeRADIUS's salt, recovered here.
            let tp = response
                .packet()
                .find(AttributeType::TUNNEL_PASSWORD)
                .unwrap();
            let Value::TaggedOctets { tag, bytes } = Attribute::decode(tp).unwrap().value else {
                panic!("Tunnel-Password not tagged")
            };
            assert_eq!(tag, 1);
            let pw = crypto::recover_tunnel_password(
                &SharedSecret::new(SECRET),
                response.request_authenticator(),
                bytes,
            )
            .unwrap();
            assert_eq!(&pw[..], b"tunnel-secret");
        }
    }

    client
        .request(
            Instant::now(),
            &mut rng,
            Code::StatusServer,
            Credentials::None,
            &[],
            &mut out,
        )
        .unwrap();
    let answer = exchange(&mut client, &socket, fr.auth, &out);
    assert_eq!(
        client.handle_response(&answer).unwrap().code(),
        Code::AccessAccept
    );

    client
        .request(
            Instant::now(),
            &mut rng,
            Code::AccountingRequest,
            Credentials::None,
            &[
                Attribute::integer(AttributeType::ACCT_STATUS_TYPE, 1),
                Attribute::text(AttributeType::ACCT_SESSION_ID, "idforge-1"),
                Attribute::text(AttributeType::USER_NAME, "bob"),
            ],
            &mut out,
        )
        .unwrap();
    let answer = exchange(&mut client, &socket, fr.acct, &out);
    assert_eq!(
        client.handle_response(&answer).unwrap().code(),
        Code::AccountingResponse
    );
    assert_eq!(client.counters().accepted_without_message_authenticator, 6);
}

fn vsa(vendor_type: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    VendorSpecific::encode_single(MICROSOFT, vendor_type, value, &mut out).unwrap();
    out
}

#[test]
fn ms_chap_v2_with_freeradius() {
    let Some(fr) = start_freeradius() else {
        return;
    };
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    let mut client = old_server_client();
    let mut out = Vec::new();
    let auth_challenge = [0x5a; 16];
    let peer_challenge = [0x21; 16];
    for (password, expected) in [("hello", Code::AccessAccept), ("wrong", Code::AccessReject)] {
        let hash = mschap::nt_password_hash(password);
        let nt = mschap::generate_nt_response(&auth_challenge, &peer_challenge, b"bob", &hash);
        let response = MsChap2Response {
            ident: 42,
            flags: 0,
            peer_challenge: &peer_challenge,
            nt_response: &nt,
        };
        let mut value = Vec::new();
        response.encode(&mut value);
        let challenge_vsa = vsa(microsoft::MS_CHAP_CHALLENGE, &auth_challenge);
        let response_vsa = vsa(microsoft::MS_CHAP2_RESPONSE, &value);
        let attrs = [
            Attribute::text(AttributeType::USER_NAME, "bob"),
            Attribute::octets(AttributeType::VENDOR_SPECIFIC, &challenge_vsa),
            Attribute::octets(AttributeType::VENDOR_SPECIFIC, &response_vsa),
        ];
        client
            .request(
                Instant::now(),
                &mut rng,
                Code::AccessRequest,
                Credentials::None,
                &attrs,
                &mut out,
            )
            .unwrap();
        let answer = exchange(&mut client, &socket, fr.auth, &out);
        let resp = client.handle_response(&answer).unwrap();
        assert_eq!(resp.code(), expected, "password {password}");
        if expected != Code::AccessAccept {
            // FreeRADIUS's MS-CHAP-Error parses, and echoes the identifier and challenge.
            let error = resp.ms_chap_error().unwrap().unwrap();
            assert_eq!(error.ident, 42);
            assert_eq!(error.code, mschap::MsChapErrorCode::AuthenticationFailure);
            assert_eq!(error.version, 3);
            assert_eq!(error.challenge.len(), 16);
            continue;
        }
        // FreeRADIUS's MS-CHAP2-Success equals the authenticator response computed here, and
        // its MS-MPPE keys (RFC 2548 salted hiding) decrypt to 16-byte keys.
        let (mut success, mut keys) = (None, 0);
        for raw in resp.packet().find_all(AttributeType::VENDOR_SPECIFIC) {
            let Value::Vendor(v) = Attribute::decode(raw).unwrap().value else {
                panic!()
            };
            assert_eq!(v.vendor_id, MICROSOFT);
            for sub in v.sub_attributes() {
                let sub = sub.unwrap();
                match sub.vendor_type {
                    microsoft::MS_CHAP2_SUCCESS => success = Some(sub.value.to_vec()),
                    microsoft::MS_MPPE_SEND_KEY | microsoft::MS_MPPE_RECV_KEY => {
                        let key = crypto::recover_tunnel_password(
                            &SharedSecret::new(SECRET),
                            resp.request_authenticator(),
                            sub.value,
                        )
                        .unwrap();
                        assert_eq!(key.len(), 16);
                        keys += 1;
                    }
                    _ => {}
                }
            }
        }
        let expected_success = mschap::verify_ms_chap2(
            &auth_challenge,
            &MsChap2Response::parse(&value).unwrap(),
            b"bob",
            &mschap::nt_password_hash("hello"),
        )
        .unwrap();
        assert_eq!(success.unwrap(), expected_success.to_vec());
        assert_eq!(keys, 2);
        // FreeRADIUS derives the same RFC 3079 keys as MppeKeys, and the Client decodes them.
        let theirs = client.mppe_keys(&resp).unwrap();
        let ours = mschap::MppeKeys::ms_chap2(&mschap::nt_password_hash("hello"), &nt);
        assert_eq!(theirs.send_key(), ours.send_key());
        assert_eq!(theirs.recv_key(), ours.recv_key());
        assert_eq!(
            resp.ms_chap2_success().unwrap(),
            &expected_success[..],
            "Response::ms_chap2_success"
        );
    }
}

#[test]
fn ms_chap_v1_mppe_keys_from_freeradius() {
    let Some(fr) = start_freeradius() else {
        return;
    };
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let mut client = old_server_client();
    let mut out = Vec::new();
    let challenge = [0x3c; 8];
    let hash = mschap::nt_password_hash("hello");
    let mut value = vec![17, 1];
    value.extend_from_slice(&[0; 24]);
    value.extend_from_slice(&mschap::challenge_response(&challenge, &hash));
    let challenge_vsa = vsa(microsoft::MS_CHAP_CHALLENGE, &challenge);
    let response_vsa = vsa(microsoft::MS_CHAP_RESPONSE, &value);
    let attrs = [
        Attribute::text(AttributeType::USER_NAME, "bob"),
        Attribute::octets(AttributeType::VENDOR_SPECIFIC, &challenge_vsa),
        Attribute::octets(AttributeType::VENDOR_SPECIFIC, &response_vsa),
    ];
    client
        .request(
            Instant::now(),
            &mut rng,
            Code::AccessRequest,
            Credentials::None,
            &attrs,
            &mut out,
        )
        .unwrap();
    let answer = exchange(&mut client, &socket, fr.auth, &out);
    let resp = client.handle_response(&answer).unwrap();
    assert_eq!(resp.code(), Code::AccessAccept);
    // FreeRADIUS 3.2.1 sends a zero LM key (it has no LM-Password) and the hash of the NT
    // hash: the same keys as MsChapMppeKeys::ms_chap1 without an LM hash.
    let theirs = client.ms_chap_mppe_keys(&resp).unwrap();
    let ours = mschap::MsChapMppeKeys::ms_chap1(None, &hash);
    assert_eq!(theirs.nt_key(), ours.nt_key());
    assert_eq!(theirs.lm_key(), ours.lm_key());
}
