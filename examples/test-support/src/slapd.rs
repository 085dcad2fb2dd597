//! A throw-away OpenLDAP `slapd` (Debian packages `slapd` and `ldap-utils`; `openssl` for
//! [`Slapd::start_tls`]).
//!
//! Each [`Slapd`] runs as a foreground child on a free loopback port with its own temporary
//! directory: an mdb database under [`SUFFIX`] with the administrator [`ADMIN_DN`], the
//! memberof overlay (entries are loaded with `ldapadd` after the start, so that it fills
//! `memberOf`) and `allow bind_anon_dn` (so that, like Active Directory, a DN with an empty
//! password binds anonymously: the trap a login flow must avoid). The process is killed and
//! reaped, and the directory removed, on drop.

use std::fmt::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_tcp_port, programs_present};

/// The slapd binary.
pub const SLAPD: &str = "/usr/sbin/slapd";
/// The ldapadd binary.
pub const LDAPADD: &str = "/usr/bin/ldapadd";
/// The suffix of the database.
pub const SUFFIX: &str = "dc=example,dc=com";
/// The administrator (`rootdn`), who loads the entries.
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=com";
/// The administrator's password.
pub const ADMIN_PASSWORD: &str = "admin-pw";

fn run(command: &mut Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throw-away certificate authority made with the `openssl` command.
pub struct TestCa {
    /// The CA certificate (PEM): what a client trusts.
    pub cert: PathBuf,
    key: PathBuf,
    dir: PathBuf,
    prefix: String,
}

impl TestCa {
    /// A new CA in `dir`, its files named `<prefix>-ca.pem` and `<prefix>-ca.key`.
    pub fn new(dir: &Path, prefix: &str) -> Self {
        let cert = dir.join(format!("{prefix}-ca.pem"));
        let key = dir.join(format!("{prefix}-ca.key"));
        run(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec"])
                .args([
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-days",
                    "2",
                ])
                .arg("-subj")
                .arg(format!("/CN=idforge test CA {prefix}"))
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert),
            "openssl req (CA)",
        );
        Self {
            cert,
            key,
            dir: dir.to_owned(),
            prefix: prefix.to_owned(),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM) paths.
    pub fn issue_server(&self) -> (PathBuf, PathBuf) {
        let base = self.dir.join(format!("{}-server", self.prefix));
        let key = base.with_extension("key");
        let csr = base.with_extension("csr");
        let cert = base.with_extension("pem");
        let ext = base.with_extension("ext");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(
            Command::new("openssl")
                .args(["req", "-new", "-newkey", "ec"])
                .args(["-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"])
                .args(["-subj", "/CN=127.0.0.1"])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&csr),
            "openssl req (server)",
        );
        run(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-set_serial", "2"])
                .arg("-in")
                .arg(&csr)
                .arg("-CA")
                .arg(&self.cert)
                .arg("-CAkey")
                .arg(&self.key)
                .arg("-extfile")
                .arg(&ext)
                .arg("-out")
                .arg(&cert),
            "openssl x509 (server)",
        );
        (cert, key)
    }
}

/// How the server does TLS.
enum Tls<'a> {
    None,
    /// A throw-away CA made with openssl, and an `ldaps://` listener.
    TestCa,
    /// This certificate and key (PEM), trusted as they are.
    Certificate {
        cert: &'a str,
        key: &'a str,
    },
}

/// A slapd child process and its temporary directory.
pub struct Slapd {
    child: Child,
    dir: tempfile::TempDir,
    /// The `ldap://` port.
    pub port: u16,
    /// The `ldaps://` port, when started with [`Slapd::start_tls`].
    pub ldaps_port: Option<u16>,
    /// The CA that signed the server certificate, when started with [`Slapd::start_tls`].
    pub ca: Option<TestCa>,
    /// The certificate a client trusts (the CA's or the server's own), when TLS is on.
    trust: Option<PathBuf>,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Slapd {
    /// Whether slapd and ldapadd are installed ([`programs_present`]).
    pub fn present(test: &str) -> bool {
        programs_present(test, &[SLAPD, LDAPADD], "slapd, ldap-utils")
    }

    /// Clear text only, loaded with `seed_ldif`.
    pub fn start(seed_ldif: &str) -> Self {
        Self::launch(seed_ldif, &Tls::None)
    }

    /// With a throw-away CA: StartTLS on the `ldap://` port, an `ldaps://` port, and simple
    /// binds refused without TLS (`security simple_bind=128`). Needs `openssl`.
    pub fn start_tls(seed_ldif: &str) -> Self {
        Self::launch(seed_ldif, &Tls::TestCa)
    }

    /// StartTLS with this certificate and key (PEM), and simple binds refused without TLS.
    pub fn start_with_certificate(seed_ldif: &str, cert_pem: &str, key_pem: &str) -> Self {
        Self::launch(
            seed_ldif,
            &Tls::Certificate {
                cert: cert_pem,
                key: key_pem,
            },
        )
    }

    fn launch(seed_ldif: &str, tls: &Tls<'_>) -> Self {
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("idforge-slapd-")
                .tempdir()
                .unwrap();
            std::fs::create_dir(dir.path().join("db")).unwrap();
            let d = dir.path().display().to_string();
            let port = free_tcp_port();
            let mut listeners = format!("ldap://127.0.0.1:{port}/");
            let mut tls_conf = String::new();
            let mut ca = None;
            let mut ldaps_port = None;
            let mut trust = None;
            match tls {
                Tls::None => {}
                Tls::TestCa => {
                    let authority = TestCa::new(dir.path(), "slapd");
                    let (cert, key) = authority.issue_server();
                    write!(
                        tls_conf,
                        "TLSCACertificateFile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}\n\
                         security simple_bind=128\n",
                        authority.cert.display(),
                        cert.display(),
                        key.display()
                    )
                    .unwrap();
                    let p = free_tcp_port();
                    write!(listeners, " ldaps://127.0.0.1:{p}/").unwrap();
                    ldaps_port = Some(p);
                    trust = Some(authority.cert.clone());
                    ca = Some(authority);
                }
                Tls::Certificate { cert, key } => {
                    let cert_path = dir.path().join("cert.pem");
                    std::fs::write(&cert_path, cert).unwrap();
                    std::fs::write(dir.path().join("key.pem"), key).unwrap();
                    write!(
                        tls_conf,
                        "TLSCertificateFile {d}/cert.pem\nTLSCertificateKeyFile {d}/key.pem\n\
                         security simple_bind=128\n"
                    )
                    .unwrap();
                    trust = Some(cert_path);
                }
            }
            let conf = format!(
                "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
allow bind_anon_dn
sizelimit 500
{tls_conf}
database mdb
maxsize 16777216
suffix \"{SUFFIX}\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PASSWORD}
directory {d}/db
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
"
            );
            std::fs::write(dir.path().join("slapd.conf"), conf).unwrap();
            let log = std::fs::File::create(dir.path().join("slapd.log")).unwrap();
            let child = Command::new(SLAPD)
                .arg("-f")
                .arg(dir.path().join("slapd.conf"))
                .arg("-h")
                .arg(&listeners)
                .args(["-d", "none"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start slapd");
            let mut server = Slapd {
                child,
                dir,
                port,
                ldaps_port,
                ca,
                trust,
            };
            if server.wait_ready() {
                server.add(seed_ldif);
                return server;
            }
            last_log = server.log();
        }
        panic!("slapd did not start: {last_log}");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        let ports: Vec<u16> = std::iter::once(self.port).chain(self.ldaps_port).collect();
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if ports
                .iter()
                .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Adds entries as the administrator (over StartTLS when the server has TLS).
    pub fn add(&self, ldif: &str) {
        let path = self.dir.path().join("add.ldif");
        std::fs::write(&path, ldif).unwrap();
        let mut cmd = Command::new(LDAPADD);
        match &self.trust {
            Some(trusted) => {
                cmd.env("LDAPTLS_CACERT", trusted).arg("-ZZ");
            }
            None => {
                cmd.env("LDAPNOINIT", "1");
            }
        }
        cmd.args(["-x", "-D", ADMIN_DN, "-w", ADMIN_PASSWORD, "-H"])
            .arg(self.url())
            .arg("-f")
            .arg(&path);
        run(&mut cmd, "ldapadd");
    }

    /// A plain TCP connection to the `ldap://` port, with a 10 s read timeout.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://127.0.0.1:PORT`, when started with TLS.
    pub fn ldaps_url(&self) -> Option<String> {
        self.ldaps_port.map(|p| format!("ldaps://127.0.0.1:{p}"))
    }

    /// The CA certificate to trust, when started with [`Slapd::start_tls`].
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_ref().map(|ca| ca.cert.as_path())
    }

    /// The temporary directory (configuration, log, certificates).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What slapd has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }
}
