//! Building and signing an AWS response (assertion signed, 3 roles) next to the bare
//! RSA-2048 PKCS#1 v1.5 SHA-256 signature of the same backend.

use std::hint::black_box;

use chrono::DateTime;
use criterion::{Criterion, criterion_group, criterion_main};
use idforge_saml::SignOptions;
use idforge_saml::{AwsRole, AwsSignIn};
use idforge_saml::{Certificate, ResponseBuilder, RsaSigner, SamlId, SignTarget, Signer};

const KEY: &str = include_str!("../tests/data/idp-key.pem");
const CERT: &str = include_str!("../tests/data/idp-cert.pem");

fn aws_response(signer: &dyn Signer, cert: &Certificate) -> String {
    let mut sign_in = AwsSignIn::new("alice@example.org").session_duration(3600);
    for role in ["Admin", "ReadOnly", "Billing"] {
        sign_in = sign_in.role(
            AwsRole::new(
                &format!("arn:aws:iam::123456789012:role/{role}"),
                "arn:aws:iam::123456789012:saml-provider/idforge",
            )
            .expect("valid role"),
        );
    }
    let builder = ResponseBuilder::new(
        "https://idp.example.org/saml",
        SamlId::new("_r0123456789abcdef0123456789abcdef01234567").expect("id"),
        SamlId::new("_a0123456789abcdef0123456789abcdef01234567").expect("id"),
        DateTime::from_timestamp(1_700_000_000, 0).expect("time"),
    );
    let mut response = sign_in
        .apply(builder)
        .expect("valid sign-in")
        .build()
        .expect("builds");
    response
        .sign(
            SignTarget::Assertion,
            signer,
            Some(cert),
            &SignOptions::default(),
        )
        .expect("signs");
    response.to_base64()
}

/// A signer that returns a fixed 256-byte value: measures everything but the RSA
/// operation (build, canonicalize twice, digest, serialize, base64).
struct FixedSignature;

impl Signer for FixedSignature {
    fn algorithm(&self) -> idforge_saml::SignatureAlgorithm {
        idforge_saml::SignatureAlgorithm::RsaSha256
    }

    fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, idforge_saml::SignError> {
        Ok(vec![0x5a; 256])
    }
}

fn group(c: &mut Criterion, name: &str, signer: &dyn Signer, cert: &Certificate) {
    // A SignedInfo-sized message.
    let message = vec![b'x'; 700];
    let mut g = c.benchmark_group(name);
    g.bench_function("bare_rsa2048_pkcs1_sha256", |b| {
        b.iter(|| signer.sign(black_box(&message)).expect("signs"));
    });
    g.bench_function("aws_response_build_and_sign", |b| {
        b.iter(|| aws_response(black_box(signer), cert));
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let cert = Certificate::from_pem(CERT).expect("certificate");
    let rsa = RsaSigner::from_pem(KEY).expect("key");
    c.bench_function("aws_response_without_rsa", |b| {
        b.iter(|| aws_response(black_box(&FixedSignature), &cert));
    });
    group(c, "rsa_backend", &rsa, &cert);
    #[cfg(feature = "aws-lc-rs")]
    {
        let aws = idforge_saml::AwsLcRsSigner::from_pem(KEY).expect("key");
        group(c, "aws_lc_rs_backend", &aws, &cert);
    }
}

criterion_group!(aws_response_benches, benches);
criterion_main!(aws_response_benches);
