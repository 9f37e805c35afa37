//! A self-signed certificate for 127.0.0.1, made when the test runs, through the OpenSSL that
//! bheem-sso already signs its tokens with (no certificate ever sits in the repository).

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509NameBuilder, X509};

/// The certificate and its key, written as PEM files.
pub struct Certificate {
    pub pem: Vec<u8>,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Certificate {
    /// A P-256 key and a one-day certificate for IP 127.0.0.1 and localhost, written into `dir`.
    /// An end-entity certificate (not a CA), so that a client may trust it as its own root.
    pub fn self_signed(dir: &Path) -> Self {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_nid(Nid::COMMONNAME, "127.0.0.1")
            .unwrap();
        let name = name.build();
        let mut serial = BigNum::new().unwrap();
        serial.rand(127, MsbOption::MAYBE_ZERO, false).unwrap();

        let mut cert = X509::builder().unwrap();
        cert.set_version(2).unwrap(); // X.509 v3
        cert.set_serial_number(&serial.to_asn1_integer().unwrap())
            .unwrap();
        cert.set_subject_name(&name).unwrap();
        cert.set_issuer_name(&name).unwrap();
        cert.set_pubkey(&key).unwrap();
        cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .dns("localhost")
            .build(&cert.x509v3_context(None, None))
            .unwrap();
        cert.append_extension(san).unwrap();
        cert.append_extension(BasicConstraints::new().critical().build().unwrap())
            .unwrap();
        cert.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .build()
                .unwrap(),
        )
        .unwrap();
        cert.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
            .unwrap();
        cert.sign(&key, MessageDigest::sha256()).unwrap();

        let pem = cert.build().to_pem().unwrap();
        let cert_file = dir.join("cert.pem");
        let key_file = dir.join("key.pem");
        std::fs::write(&cert_file, &pem).unwrap();
        std::fs::write(&key_file, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        Self {
            pem,
            cert_file,
            key_file,
        }
    }

    /// An HTTP client that trusts this certificate (and no other), sending from `local`.
    pub fn client(&self, local: Option<std::net::IpAddr>) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.pem).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .local_address(local)
            .build()
            .unwrap()
    }
}
