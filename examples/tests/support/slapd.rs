//! A throw-away OpenLDAP `slapd` for the tests of the examples crate (Debian packages `slapd`
//! and `ldap-utils`; `openssl` for the TLS variant).
//!
//! Each [`Slapd`] runs as a foreground child on a free loopback port with its own temporary
//! directory: an mdb database under `dc=example,dc=com`, the memberof overlay (groups are
//! loaded with `ldapadd` after the start so that it fills `memberOf`) and `allow bind_anon_dn`
//! (so that, like Active Directory, a DN with an empty password binds anonymously — the trap
//! the login flow must avoid). [`Slapd::start_tls`] adds a throw-away CA and server
//! certificate, an `ldaps://` listener, and refuses simple binds without TLS. The process is
//! killed and reaped, and the directory removed, on drop.
//!
//! Include it with `#[path = "support/slapd.rs"] mod slapd;`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const SLAPD: &str = "/usr/sbin/slapd";
pub(crate) const LDAPADD: &str = "/usr/bin/ldapadd";
pub(crate) const SUFFIX: &str = "dc=example,dc=com";
pub(crate) const ADMIN_DN: &str = "cn=admin,dc=example,dc=com";
pub(crate) const ADMIN_PASSWORD: &str = "admin-pw";
pub(crate) const SERVICE_DN: &str = "cn=service,dc=example,dc=com";
pub(crate) const SERVICE_PASSWORD: &str = "service-pw";
pub(crate) const PEOPLE: &str = "ou=people,dc=example,dc=com";
pub(crate) const GROUPS: &str = "ou=groups,dc=example,dc=com";

/// The seed: a service account; alice (display name, two mails, phone, employee number; in
/// `VPN_Group` and `staff`, and through `VPN_Group` in `admins`), bob (in `staff`), carol
/// (in no group), and a user whose DN has an escaped comma.
pub(crate) const SEED_LDIF: &str = r"dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: cn=service,dc=example,dc=com
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: service
userPassword: service-pw

dn: uid=alice,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
displayName: Alice Liddell
mail: alice@example.com
mail: a.liddell@example.com
telephoneNumber: +1 555 0100
employeeNumber: 1001
userPassword: alice-pw

dn: uid=bob,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
mail: bob@example.com
userPassword: bob-pw

dn: uid=carol,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: carol
cn: Carol Singer
sn: Singer
userPassword: carol-pw

dn: cn=Doe\, Jane,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: jdoe
cn: Doe, Jane
sn: Doe
userPassword: jane-pw

dn: cn=VPN_Group,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: VPN_Group
member: uid=alice,ou=people,dc=example,dc=com

dn: cn=staff,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: staff
member: uid=alice,ou=people,dc=example,dc=com
member: uid=bob,ou=people,dc=example,dc=com

dn: cn=admins,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: admins
member: cn=VPN_Group,ou=groups,dc=example,dc=com
";

/// Whether `programs` are installed. When one is missing: fail under CI (`CI` set), otherwise
/// print why the test is skipped and return `false`.
pub(crate) fn peers_present(test: &str, programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| !program_exists(p))
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !under_ci(),
        "{test}: {} missing under CI (Debian packages: slapd, ldap-utils, openssl)",
        missing.join(", ")
    );
    eprintln!(
        "SKIP {test}: {} not installed (Debian packages: slapd, ldap-utils, openssl)",
        missing.join(", ")
    );
    false
}

/// [`peers_present`] for slapd and ldapadd.
pub(crate) fn slapd_present(test: &str) -> bool {
    peers_present(test, &[SLAPD, LDAPADD])
}

/// Whether `CI` is set (to anything but empty, `0` or `false`).
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

fn program_exists(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
pub(crate) struct TestCa {
    /// The CA certificate (PEM): what a client trusts.
    pub(crate) cert: PathBuf,
    key: PathBuf,
    dir: PathBuf,
    prefix: String,
}

impl TestCa {
    /// A new CA in `dir`, its files named `<prefix>-ca.pem` and `<prefix>-ca.key`.
    pub(crate) fn new(dir: &Path, prefix: &str) -> Self {
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
    pub(crate) fn issue_server(&self) -> (PathBuf, PathBuf) {
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

/// A slapd child process and its temporary directory.
pub(crate) struct Slapd {
    child: Child,
    dir: tempfile::TempDir,
    /// The `ldap://` port.
    pub(crate) port: u16,
    /// The `ldaps://` port, when started with TLS.
    pub(crate) ldaps_port: Option<u16>,
    /// The CA that signed the server certificate, when started with TLS.
    pub(crate) ca: Option<TestCa>,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Slapd {
    /// Clear text only, seeded with [`SEED_LDIF`].
    pub(crate) fn start() -> Self {
        Self::launch(false)
    }

    /// With a throw-away CA: StartTLS on the `ldap://` port, an `ldaps://` port, and simple
    /// binds refused without TLS (`security simple_bind=128`). Needs `openssl`.
    pub(crate) fn start_tls() -> Self {
        Self::launch(true)
    }

    fn launch(tls: bool) -> Self {
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("idforge-slapd-")
                .tempdir()
                .unwrap();
            std::fs::create_dir(dir.path().join("db")).unwrap();
            let d = dir.path().display().to_string();
            let port = free_port();
            let mut listeners = format!("ldap://127.0.0.1:{port}/");
            let mut tls_conf = String::new();
            let mut ca = None;
            let mut ldaps_port = None;
            if tls {
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
                let p = free_port();
                write!(listeners, " ldaps://127.0.0.1:{p}/").unwrap();
                ldaps_port = Some(p);
                ca = Some(authority);
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
            };
            if server.wait_ready() {
                server.add(SEED_LDIF);
                return server;
            }
            last_log =
                std::fs::read_to_string(server.dir.path().join("slapd.log")).unwrap_or_default();
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
    pub(crate) fn add(&self, ldif: &str) {
        let path = self.dir.path().join("add.ldif");
        std::fs::write(&path, ldif).unwrap();
        let mut cmd = Command::new(LDAPADD);
        match &self.ca {
            Some(ca) => {
                cmd.env("LDAPTLS_CACERT", &ca.cert).arg("-ZZ");
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

    /// `ldap://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://127.0.0.1:PORT`, when started with TLS.
    pub(crate) fn ldaps_url(&self) -> Option<String> {
        self.ldaps_port.map(|p| format!("ldaps://127.0.0.1:{p}"))
    }

    /// The CA certificate to trust, when started with TLS.
    pub(crate) fn ca_file(&self) -> Option<&Path> {
        self.ca.as_ref().map(|ca| ca.cert.as_path())
    }

    /// The temporary directory (configuration, log, certificates).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What slapd has logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }
}
