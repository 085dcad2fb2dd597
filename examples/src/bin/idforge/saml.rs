//! `idforge saml`: IdP signing keys and metadata, signed test responses, and a tracer that
//! decodes SAML messages and checks their signatures — what an administrator reaches for when
//! single sign-on fails.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeDelta, Utc};
use clap::{Args, Subcommand, ValueEnum};
use idforge_saml::create_self_signed;
use idforge_saml::{AuthnContextClass, NameId, NameIdFormat, SamlAttribute, SignTarget};
use idforge_saml::{AwsLcRsSigner, Certificate, ResponseBuilder, SamlId, xml};
use idforge_saml::{AwsRole, AwsSignIn};
use idforge_saml::{BindingLimits, DecodedMessage, RedirectMessage, decode_any};
use idforge_saml::{IdpMetadata, MetadataAggregate, MetadataOptions, SpMetadata};
use idforge_saml::{SignOptions, VerifyOptions};
use zeroize::Zeroizing;

#[derive(Subcommand)]
pub(crate) enum SamlCommand {
    /// Create an RSA-2048 signing key and a self-signed certificate for a new IdP.
    Keygen(KeygenArgs),
    /// Print the IdP metadata (EntityDescriptor) for a signing certificate and a base URL.
    Metadata(MetadataArgs),
    /// Print a signed Response for a service provider, to test the SP's configuration.
    Response(ResponseArgs),
    /// Decode a SAMLRequest/SAMLResponse value or a whole Redirect URL and print the XML;
    /// with --cert, report whether each signature verifies (exit 1 if one does not).
    Decode(DecodeArgs),
}

#[derive(Args)]
pub(crate) struct KeygenArgs {
    /// The certificate's common name (for example the IdP's host name).
    #[arg(long)]
    common_name: String,
    /// Where to write the private key (PKCS#8 PEM, mode 0600). Never overwritten.
    #[arg(long, value_name = "FILE")]
    key_out: PathBuf,
    /// Where to write the certificate (PEM). Never overwritten.
    #[arg(long, value_name = "FILE")]
    cert_out: PathBuf,
    /// Validity in days.
    #[arg(long, default_value_t = 3650, value_parser = clap::value_parser!(u32).range(1..=36500))]
    days: u32,
}

#[derive(Args)]
pub(crate) struct MetadataArgs {
    /// The IdP's signing certificate (PEM).
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// Base URL of the IdP; endpoints are {base}/sso and {base}/slo.
    #[arg(long)]
    base_url: String,
    /// The IdP's entity ID (default: {base}/metadata).
    #[arg(long)]
    entity_id: Option<String>,
    /// Sign the metadata with this private key (PEM).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Tell service providers to sign their AuthnRequests.
    #[arg(long)]
    want_authn_requests_signed: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Sign {
    Assertion,
    Response,
    Both,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Persistent,
    Transient,
    Email,
    Unspecified,
}

#[derive(Args)]
pub(crate) struct ResponseArgs {
    /// The service provider's metadata (gives its entity ID and ACS URL). Not needed with
    /// --aws-role, which targets the AWS sign-in endpoint.
    #[arg(long, value_name = "FILE", required_unless_present = "aws_role")]
    sp_metadata: Option<PathBuf>,
    /// The SP to answer when --sp-metadata holds several entities (an EntitiesDescriptor,
    /// such as a federation feed).
    #[arg(long, value_name = "ENTITY_ID", requires = "sp_metadata")]
    sp_entity_id: Option<String>,
    /// Require --sp-metadata to be signed by this certificate (PEM), e.g. the federation's.
    #[arg(long, value_name = "FILE", requires = "sp_metadata")]
    metadata_cert: Option<PathBuf>,
    /// Use --sp-metadata even when its validUntil has passed (testing only).
    #[arg(long, requires = "sp_metadata")]
    allow_expired_metadata: bool,
    /// The IdP's private key (PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The IdP's certificate (PEM), written into the signature's KeyInfo.
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// The IdP's entity ID (the Issuer).
    #[arg(long)]
    issuer: String,
    /// The subject's NameID.
    #[arg(long)]
    name_id: String,
    /// The NameID format.
    #[arg(long, value_enum, default_value = "unspecified")]
    name_id_format: Format,
    /// An attribute NAME=VALUE; repeat a name for several values. With --aws-role, AWS Role
    /// values are added to the preset's; other AWS attributes the preset sets are refused.
    #[arg(long = "attr", value_name = "NAME=VALUE")]
    attributes: Vec<String>,
    /// What to sign. An SP whose metadata says WantAssertionsSigned="true" (and AWS) gets
    /// no response signed only on the Response: that is refused.
    #[arg(long, value_enum, default_value = "assertion")]
    sign: Sign,
    /// The ACS URL to answer to (default: the SP's default ACS).
    #[arg(long)]
    acs_url: Option<String>,
    /// The AuthnRequest ID this response answers (SP-initiated SSO).
    #[arg(long)]
    in_response_to: Option<String>,
    /// The user passed a second factor: a multi-factor AuthnContextClassRef.
    #[arg(long)]
    mfa: bool,
    /// Seconds the assertion stays valid.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=86400))]
    validity: u32,
    /// AWS: a role the user may assume, as ROLE_ARN,PROVIDER_ARN (repeatable).
    #[arg(long, value_name = "ROLE_ARN,PROVIDER_ARN")]
    aws_role: Vec<String>,
    /// AWS: SessionDuration in seconds (900-43200).
    #[arg(long, requires = "aws_role")]
    aws_session_duration: Option<u32>,
    /// Print the XML instead of the base64 SAMLResponse value.
    #[arg(long)]
    xml: bool,
}

#[derive(Args)]
pub(crate) struct DecodeArgs {
    /// A SAMLRequest or SAMLResponse value (POST or Redirect encoding), a Redirect-binding
    /// URL or query string, or XML; `-` reads it from standard input.
    input: String,
    /// Check the signatures against this certificate (PEM).
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Accept RSA-SHA1 signatures (legacy service providers).
    #[arg(long)]
    allow_sha1: bool,
}

/// Runs one `idforge saml` command: `Ok(false)` when a signature did not verify.
pub(crate) fn run(command: &SamlCommand) -> Result<bool> {
    match command {
        SamlCommand::Keygen(args) => keygen(args).map(|()| true),
        SamlCommand::Metadata(args) => metadata(args).map(|()| true),
        SamlCommand::Response(args) => response(args).map(|()| true),
        SamlCommand::Decode(args) => decode(args),
    }
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn certificate(path: &Path) -> Result<Certificate> {
    Certificate::from_pem(&read(path)?).with_context(|| format!("{}", path.display()))
}

/// The signing key in `key`, checked to be the key of the certificate in `cert_path`.
fn signer(key: &Path, cert_path: &Path, cert: &Certificate) -> Result<AwsLcRsSigner> {
    let pem = Zeroizing::new(read(key)?);
    let signer = AwsLcRsSigner::from_pem(&pem).with_context(|| format!("{}", key.display()))?;
    cert.check_signer(&signer).with_context(|| {
        format!(
            "--key {} and --cert {} do not belong together",
            key.display(),
            cert_path.display()
        )
    })?;
    Ok(signer)
}

fn write_new(path: &Path, contents: &str, private: bool) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn keygen(args: &KeygenArgs) -> Result<()> {
    let (cert, key) = create_self_signed(
        &mut rand::rng(),
        &args.common_name,
        Utc::now() - TimeDelta::minutes(5),
        TimeDelta::days(i64::from(args.days)),
    )?;
    write_new(&args.key_out, key.as_str(), true)?;
    write_new(&args.cert_out, &cert.to_pem(), false)?;
    println!("key:         {}", args.key_out.display());
    println!("certificate: {}", args.cert_out.display());
    Ok(())
}

fn metadata(args: &MetadataArgs) -> Result<()> {
    let cert = certificate(&args.cert)?;
    let base = args.base_url.trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        bail!("--base-url must be an http(s) URL, got {base:?}");
    }
    let entity_id = args
        .entity_id
        .clone()
        .unwrap_or_else(|| format!("{base}/metadata"));
    let signer = args
        .key
        .as_deref()
        .map(|key| signer(key, &args.cert, &cert))
        .transpose()?;
    let mut md = IdpMetadata::with_base_url(&entity_id, base, cert);
    md.want_authn_requests_signed = args.want_authn_requests_signed;
    let id = SamlId::random(&mut rand::rng());
    let text = md.to_xml(&id, signer.as_ref().map(|s| s as &dyn idforge_saml::Signer))?;
    println!("{text}");
    Ok(())
}

fn name_id_format(f: Format) -> NameIdFormat {
    match f {
        Format::Persistent => NameIdFormat::Persistent,
        Format::Transient => NameIdFormat::Transient,
        Format::Email => NameIdFormat::EmailAddress,
        Format::Unspecified => NameIdFormat::Unspecified,
    }
}

/// Groups `NAME=VALUE` pairs by name, keeping the order of first appearance. Names that
/// look like URIs get the `uri` NameFormat, others `basic`.
fn attributes(pairs: &[String]) -> Result<Vec<SamlAttribute>> {
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            bail!("--attr {pair:?}: expected NAME=VALUE");
        };
        if name.is_empty() {
            bail!("--attr {pair:?}: the name is empty");
        }
        match grouped.iter_mut().find(|(n, _)| n == name) {
            Some((_, values)) => values.push(value.to_owned()),
            None => grouped.push((name.to_owned(), vec![value.to_owned()])),
        }
    }
    Ok(grouped
        .into_iter()
        .map(|(name, values)| {
            if name.contains("://") || name.starts_with("urn:") {
                SamlAttribute::uri(&name, values)
            } else {
                SamlAttribute::basic(&name, values)
            }
        })
        .collect())
}

/// The SP from `--sp-metadata`: one EntityDescriptor, or the `--sp-entity-id` of an
/// aggregate; checked for expiry and, with `--metadata-cert`, for its signature.
fn sp_metadata(path: &Path, args: &ResponseArgs, now: DateTime<Utc>) -> Result<SpMetadata> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut opts = MetadataOptions::at(now);
    if args.allow_expired_metadata {
        opts = opts.allow_expired_for_testing();
    }
    if let Some(cert) = &args.metadata_cert {
        opts = opts.verify_with(certificate(cert)?.verifying_key()?);
    }
    let feed =
        MetadataAggregate::parse(&bytes, &opts).with_context(|| format!("{}", path.display()))?;
    let entity_id = match (&args.sp_entity_id, feed.len()) {
        (Some(id), _) => id.clone(),
        (None, 1) => feed.entity_ids().next().unwrap_or_default().to_owned(),
        (None, n) => bail!(
            "{} describes {n} entities: choose the SP with --sp-entity-id",
            path.display()
        ),
    };
    feed.sp(&entity_id)
        .with_context(|| format!("{}: {entity_id}", path.display()))
}

fn response(args: &ResponseArgs) -> Result<()> {
    let cert = certificate(&args.cert)?;
    let signer = signer(&args.key, &args.cert, &cert)?;
    let now = Utc::now();
    let mut rng = rand::rng();
    let mut builder = ResponseBuilder::new(
        &args.issuer,
        SamlId::random(&mut rng),
        SamlId::random(&mut rng),
        now,
    )
    .name_id(NameId::new(
        &args.name_id,
        name_id_format(args.name_id_format),
    ))
    .validity(TimeDelta::seconds(i64::from(args.validity)))
    .authn_instant(now)
    .session_index(SamlId::random(&mut rng).as_str())
    .authn_context(AuthnContextClass::for_login(args.mfa));
    if let Some(id) = &args.in_response_to {
        builder = builder.in_response_to(id);
    }
    for attribute in attributes(&args.attributes)? {
        builder = builder.attribute(attribute);
    }
    if args.aws_role.is_empty() {
        let path = args
            .sp_metadata
            .as_deref()
            .context("--sp-metadata is required")?;
        let sp = sp_metadata(path, args, now)?;
        let acs = sp.resolve_acs(args.acs_url.as_deref(), None)?;
        builder = builder
            .destination(&acs.location)
            .audience(&sp.entity_id)
            .service_provider(&sp);
    } else {
        let mut aws = AwsSignIn::new(&args.name_id);
        for role in &args.aws_role {
            let Some((role_arn, provider_arn)) = role.split_once(',') else {
                bail!("--aws-role {role:?}: expected ROLE_ARN,PROVIDER_ARN");
            };
            aws = aws.role(AwsRole::new(role_arn.trim(), provider_arn.trim())?);
        }
        if let Some(seconds) = args.aws_session_duration {
            aws = aws.session_duration(seconds);
        }
        builder = aws.apply(builder)?;
    }
    let mut response = builder.build()?;
    let target = match args.sign {
        Sign::Assertion => SignTarget::Assertion,
        Sign::Response => SignTarget::Response,
        Sign::Both => SignTarget::Both,
    };
    response.sign(target, &signer, Some(&cert), &SignOptions::default())?;
    if args.xml {
        println!("{}", response.to_xml());
    } else {
        println!("{}", response.to_base64());
    }
    Ok(())
}

/// What was decoded and how it travelled.
struct Decoded {
    binding: &'static str,
    xml: Vec<u8>,
    redirect: Option<RedirectMessage>,
}

fn decode_input(input: &str) -> Result<Decoded> {
    let input = input.trim();
    if input.starts_with('<') {
        return Ok(Decoded {
            binding: "XML",
            xml: input.as_bytes().to_vec(),
            redirect: None,
        });
    }
    let decoded = decode_any(input, &BindingLimits::default())
        .context("not a SAML message (a Redirect URL, a query string, or a base64 value)")?;
    Ok(match decoded {
        DecodedMessage::Redirect(message) => Decoded {
            binding: "HTTP-Redirect",
            xml: message.xml.clone(),
            redirect: Some(message),
        },
        DecodedMessage::Value { xml, deflated } => Decoded {
            binding: if deflated {
                "HTTP-Redirect value"
            } else {
                "HTTP-POST"
            },
            xml,
            redirect: None,
        },
    })
}

fn decode(args: &DecodeArgs) -> Result<bool> {
    let input = if args.input == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        s
    } else {
        args.input.clone()
    };
    let decoded = decode_input(&input)?;
    // The hardened parser first: no DTDs, no entities, limits. Only then display it.
    let doc = xml::parse(&decoded.xml).context("parsing the XML")?;
    let root = doc.root();
    let root_name = doc
        .element(root)
        .map_or_else(String::new, |e| e.name.local.clone());
    print!("{}", doc.to_pretty_xml());
    let mut report = String::new();
    let _ = writeln!(report, "message: {root_name} ({})", decoded.binding);
    if let Some(relay) = decoded
        .redirect
        .as_ref()
        .and_then(|m| m.relay_state.as_ref())
    {
        let _ = writeln!(report, "RelayState: {relay}");
    }
    let mut all_valid = true;
    if let Some(path) = &args.cert {
        let key = certificate(path)?.verifying_key()?;
        let opts = VerifyOptions {
            allow_sha1: args.allow_sha1,
        };
        let mut checked = 0;
        if let Some(message) = decoded.redirect.as_ref().filter(|m| m.signature.is_some()) {
            checked += 1;
            let verdict = message.verify(&key, args.allow_sha1).map(|_proof| ());
            all_valid &= verdict.is_ok();
            let _ = writeln!(
                report,
                "signature (query string): {}",
                verdict_text(&verdict)
            );
        }
        for signature in idforge_saml::verify_all(&doc, &key, opts) {
            checked += 1;
            all_valid &= signature.result.is_ok();
            let _ = writeln!(
                report,
                "signature {}: {}",
                signature.path,
                verdict_text(&signature.result)
            );
        }
        if checked == 0 {
            all_valid = false;
            let _ = writeln!(report, "no signature to check");
        }
    }
    print!("{report}");
    Ok(all_valid)
}

fn verdict_text(verdict: &idforge_saml::Result<()>) -> String {
    match verdict {
        Ok(()) => "valid".into(),
        Err(e) => format!("INVALID ({e})"),
    }
}
