//! `idforge radius test`: a radtest for the identity provider's RADIUS server (or any other),
//! built on `idforge_radius::Client`: PAP, CHAP, MS-CHAPv1 or MS-CHAPv2, an Access-Challenge
//! answered with `--code`, and the answer's attributes with whether its authenticators
//! verified.

use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use idforge_examples::secret::SecretValue;
use idforge_radius::mschap;
use idforge_radius::{Attribute, AttributeType, Code, Packet, SharedSecret};
use idforge_radius::{Client, ClientConfig, Credentials, Timeout};
use idforge_radius::{MICROSOFT, VendorSpecific, microsoft};
use rand::RngExt as _;
use serde_json::json;

#[derive(Subcommand)]
pub(crate) enum RadiusCommand {
    /// Send an Access-Request and show the answer (exit 0 on Access-Accept, 1 otherwise).
    Test(TestArgs),
    /// RADIUS clients (NAS) kept in the store, besides those of the configuration file.
    #[command(subcommand)]
    Client(ClientCommand),
}

#[derive(Subcommand)]
pub(crate) enum ClientCommand {
    /// Add a NAS: its name, source address or prefix, and where its shared secret is read from
    /// (`env:NAME` or `file:PATH`; the store never holds the secret). Servers read the list at
    /// start.
    Add {
        /// A name for logs.
        name: String,
        /// Source address or CIDR prefix (`10.0.0.0/24`).
        #[arg(long)]
        source: String,
        /// `env:NAME` or `file:PATH`.
        #[arg(long)]
        secret: String,
    },
    /// The NAS entries, from the configuration and from the store.
    List,
    /// Remove a NAS added with `add`.
    Delete {
        /// Its name.
        name: String,
    },
}

/// How the password travels.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Auth {
    /// User-Password, hidden with the shared secret.
    Pap,
    /// CHAP-Password over the password.
    Chap,
    /// MS-CHAP-Response (RFC 2433).
    Mschapv1,
    /// MS-CHAP2-Response (RFC 2759); the MS-CHAP2-Success of an accept is checked.
    Mschapv2,
}

#[derive(Args)]
pub(crate) struct TestArgs {
    /// The server.
    #[arg(long, default_value = "127.0.0.1:1812")]
    server: SocketAddr,
    /// The shared secret (`env:NAME`, `file:PATH` or the secret).
    #[arg(long)]
    secret: String,
    /// User-Name.
    #[arg(long)]
    user: String,
    /// The password as the NAS sends it (for `otp-only` the code, for `password+otp` the
    /// password with the code appended).
    #[arg(long)]
    password: String,
    /// Answers an Access-Challenge (the `challenge` mode) with this code.
    #[arg(long)]
    code: Option<String>,
    /// pap, chap, mschapv1 or mschapv2.
    #[arg(long, value_enum, default_value = "pap")]
    auth: Auth,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 3)]
    timeout: u64,
    /// Transmissions of each request, the first included.
    #[arg(long, default_value_t = 2)]
    attempts: u32,
}

/// What the MS-CHAPv2 request committed to, for checking MS-CHAP2-Success.
struct MsChap2Sent {
    hash: [u8; 16],
    nt: [u8; 24],
    peer: [u8; 16],
    challenge: [u8; 16],
}

fn vsa(vendor_type: u8, value: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    VendorSpecific::encode_single(MICROSOFT, vendor_type, value, &mut out)?;
    Ok(out)
}

/// Builds the request for `password` (or, with `state`, the answer to a challenge).
fn build(
    client: &mut Client,
    args: &TestArgs,
    password: &str,
    state: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<Option<MsChap2Sent>> {
    let mut rng = rand::rng();
    let mut owned: Vec<Vec<u8>> = Vec::new();
    let mut sent = None;
    let credentials = match (args.auth, state) {
        (Auth::Pap, _) | (_, Some(_)) => Credentials::Pap(password.as_bytes()),
        (Auth::Chap, None) => Credentials::Chap {
            ident: rng.random(),
            password: password.as_bytes(),
        },
        (Auth::Mschapv1, None) => {
            let challenge: [u8; 8] = rng.random();
            let nt = mschap::challenge_response(&challenge, &mschap::nt_password_hash(password));
            let mut response = vec![rng.random::<u8>(), 1];
            response.extend_from_slice(&[0u8; 24]);
            response.extend_from_slice(&nt);
            owned.push(vsa(microsoft::MS_CHAP_CHALLENGE, &challenge)?);
            owned.push(vsa(microsoft::MS_CHAP_RESPONSE, &response)?);
            Credentials::None
        }
        (Auth::Mschapv2, None) => {
            let challenge: [u8; 16] = rng.random();
            let peer: [u8; 16] = rng.random();
            let hash = *mschap::nt_password_hash(password);
            let nt = mschap::generate_nt_response(&challenge, &peer, args.user.as_bytes(), &hash);
            let mut response = Vec::new();
            microsoft::MsChap2Response {
                ident: rng.random(),
                flags: 0,
                peer_challenge: &peer,
                nt_response: &nt,
            }
            .encode(&mut response);
            owned.push(vsa(microsoft::MS_CHAP_CHALLENGE, &challenge)?);
            owned.push(vsa(microsoft::MS_CHAP2_RESPONSE, &response)?);
            sent = Some(MsChap2Sent {
                hash,
                nt,
                peer,
                challenge,
            });
            Credentials::None
        }
    };
    let mut attrs = vec![Attribute::text(AttributeType::USER_NAME, &args.user)];
    if let Some(state) = state {
        attrs.push(Attribute::state(state));
    }
    for v in &owned {
        attrs.push(Attribute::octets(AttributeType::VENDOR_SPECIFIC, v));
    }
    out.clear();
    client.request(
        Instant::now(),
        &mut rng,
        Code::AccessRequest,
        credentials,
        &attrs,
        out,
    )?;
    Ok(sent)
}

/// Sends the request in `out`, retransmitting on timeout; the answer's bytes, verified.
fn exchange(
    client: &mut Client,
    socket: &UdpSocket,
    server: SocketAddr,
    out: &mut Vec<u8>,
) -> Result<Option<Vec<u8>>> {
    socket.send_to(out, server)?;
    let mut buf = vec![0u8; 4096];
    loop {
        let wait = client
            .poll_timeout()
            .map_or(Duration::from_secs(1), |t| {
                t.saturating_duration_since(Instant::now())
            })
            .max(Duration::from_millis(1));
        socket.set_read_timeout(Some(wait))?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from == server => {
                let datagram = buf[..n].to_vec();
                // An answer whose authenticators do not verify is reported and ignored.
                match client.handle_response(&datagram) {
                    Ok(_) => return Ok(Some(datagram)),
                    Err(e) => eprintln!("idforge: an answer was ignored: {e}"),
                }
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                match client.handle_timeout(Instant::now(), out) {
                    Some(Timeout::Retransmit { .. }) => {
                        socket.send_to(out, server)?;
                    }
                    Some(_) => return Ok(None),
                    None => {}
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn describe(packet: &Packet<'_>) -> Vec<(String, String)> {
    packet
        .attributes()
        .filter(|a| a.attr_type != AttributeType::MESSAGE_AUTHENTICATOR)
        .map(|a| {
            let name = a
                .attr_type
                .name()
                .map_or_else(|| format!("Attr-{}", a.attr_type.0), str::to_owned);
            let value = match std::str::from_utf8(a.value) {
                Ok(s) if !s.chars().any(char::is_control) => format!("{s:?}"),
                _ => format!("0x{}", data_encoding::HEXLOWER.encode(a.value)),
            };
            (name, value)
        })
        .collect()
}

/// The store-backed `radius client` commands.
pub(crate) async fn clients(
    command: &ClientCommand,
    config: &idforge_examples::config::Config,
    json_out: bool,
) -> Result<bool> {
    let store = idforge_examples::service::open_store(config).await?;
    match command {
        ClientCommand::Add {
            name,
            source,
            secret,
        } => {
            if config.radius.clients.iter().any(|c| &c.name == name) {
                bail!("a RADIUS client named {name:?} is in the configuration file");
            }
            store.add_radius_client(name, source, secret).await?;
            if json_out {
                println!(
                    "{}",
                    json!({"added": name, "source": source, "secret": secret})
                );
            } else {
                println!(
                    "added RADIUS client {name} ({source}); restart the RADIUS server to use it"
                );
            }
        }
        ClientCommand::List => {
            let mut rows: Vec<(String, String, String, &str)> = config
                .radius
                .clients
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        c.source.clone(),
                        c.secret.source(),
                        "config",
                    )
                })
                .collect();
            for (name, source, secret) in store.radius_clients().await? {
                rows.push((name, source, secret, "store"));
            }
            if json_out {
                let list: Vec<_> = rows
                    .iter()
                    .map(|(n, s, k, from)| json!({"name": n, "source": s, "secret": k, "from": from}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                println!("{:<20} {:<24} {:<8} SECRET", "NAME", "SOURCE", "FROM");
                for (n, s, k, from) in &rows {
                    println!("{n:<20} {s:<24} {from:<8} {k}");
                }
            }
        }
        ClientCommand::Delete { name } => {
            store.delete_radius_client(name).await?;
            if json_out {
                println!("{}", json!({"deleted": name}));
            } else {
                println!("deleted RADIUS client {name}");
            }
        }
    }
    Ok(true)
}

pub(crate) fn run(command: &RadiusCommand, json_out: bool) -> Result<bool> {
    let RadiusCommand::Test(args) = command else {
        bail!("this radius command needs the store");
    };
    let secret = SecretValue::parse(&args.secret)
        .resolve()
        .context("--secret")?;
    let mut client = Client::new(
        ClientConfig {
            retransmit_interval: Duration::from_secs(args.timeout.max(1)),
            max_attempts: args.attempts.max(1),
            ..ClientConfig::default()
        },
        SharedSecret::new(secret.expose()),
    );
    let bind = if args.server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(bind)?;
    let mut out = Vec::new();
    let mut sent = build(&mut client, args, &args.password, None, &mut out)?;
    let mut rounds = 1;
    let answer = loop {
        let Some(answer) = exchange(&mut client, &socket, args.server, &mut out)? else {
            if json_out {
                println!("{}", json!({"result": "timeout", "server": args.server}));
            } else {
                println!("no answer from {} (timeout)", args.server);
            }
            return Ok(false);
        };
        let packet = Packet::parse(&answer)?;
        if packet.code() == Code::AccessChallenge
            && let (Some(code), Some(state)) = (&args.code, packet.find(AttributeType::STATE))
            && rounds == 1
        {
            let state = state.value.to_vec();
            sent = build(&mut client, args, code, Some(&state), &mut out)?;
            rounds += 1;
            continue;
        }
        break answer;
    };
    let packet = Packet::parse(&answer)?;
    let code = packet.code();
    let mut checks = vec!["Response Authenticator and Message-Authenticator verified".to_owned()];
    if let (Some(sent), Code::AccessAccept) = (&sent, code) {
        let success = packet
            .attributes()
            .filter(|a| a.attr_type == AttributeType::VENDOR_SPECIFIC)
            .filter_map(|a| VendorSpecific::decode(a.value, a.offset).ok())
            .find_map(|v| v.find(microsoft::MS_CHAP2_SUCCESS).map(<[u8]>::to_vec));
        let expected = mschap::authenticator_response(
            &sent.hash,
            &sent.nt,
            &sent.peer,
            &sent.challenge,
            args.user.as_bytes(),
        );
        match success {
            Some(v) if v.get(1..) == Some(&expected[..]) => {
                checks.push("MS-CHAP2-Success authenticator response verified".into());
            }
            Some(_) => bail!("MS-CHAP2-Success does not prove the server knew the password"),
            None => bail!("an MS-CHAPv2 Access-Accept without MS-CHAP2-Success"),
        }
    }
    let attrs = describe(&packet);
    if json_out {
        println!(
            "{}",
            json!({
                "result": format!("{code:?}"),
                "server": args.server,
                "rounds": rounds,
                "attributes": attrs.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
                "checks": checks,
            })
        );
    } else {
        let mut s = format!(
            "Received {code:?} from {} after {rounds} round(s)\n",
            args.server
        );
        for (name, value) in &attrs {
            let _ = writeln!(s, "    {name} = {value}");
        }
        for c in &checks {
            let _ = writeln!(s, "{c}");
        }
        print!("{s}");
    }
    Ok(code == Code::AccessAccept)
}
