//! TLS for IPFIX over TCP (RFC 7011 §11), with rustls on ring: TLS 1.2
//! and 1.3 only, the peer's certificate always verified. The exporting
//! side ([`ClientTls`], `run --collector tls://`) checks the collector's
//! certificate against `--tls-ca` (Debian's CA bundle when not given) and
//! its name against the collector's host (a DNS name or an IP address);
//! it shows `--tls-cert` when the collector asks for a client certificate.
//! The collecting side ([`server_config`], `collect --listen tls://`)
//! shows `--tls-cert` and, with `--tls-client-ca`, requires exporters to
//! show a certificate that CA signed. Files are read when the
//! configuration is (at start, and at each reload of `run`); a file that
//! cannot be used is an error naming its flag and path. With
//! `SSLKEYLOGFILE` set, `run` writes its session keys there (NSS key log
//! format) so that tshark can decode the IPFIX inside.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use thiserror::Error;

/// IANA port for IPFIX over TLS (and DTLS, SCTP/DTLS): RFC 7011 §10.
pub const IPFIX_TLS_PORT: u16 = 4740;

/// The CAs `run` trusts when `--tls-ca` is not given: Debian's
/// ca-certificates bundle.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TlsError {
    #[error("{flag} {path}: {why}")]
    File {
        flag: &'static str,
        path: String,
        why: String,
    },
    #[error("{0} needs {1} too")]
    Pair(&'static str, &'static str),
}

fn file_error(flag: &'static str, path: &Path, why: impl fmt::Display) -> TlsError {
    TlsError::File {
        flag,
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

/// A key rustls will not pair with its certificate.
fn mismatch(cert: &Path, key: &Path, e: rustls::Error) -> TlsError {
    file_error(
        "--tls-key",
        key,
        format!("does not go with --tls-cert {}: {e}", cert.display()),
    )
}

/// rustls's ring provider: pure Rust and assembly, nothing for the
/// libc-only binary to link. rustls 0.23.48 marks it deprecated because
/// ring has no post-quantum key exchange (aws-lc-rs has, at the cost of a
/// C library built with cmake): classical X25519/ECDHE is what IPFIX
/// collectors speak today; revisit when they offer ML-KEM.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in the PEM file at `path` (at least one).
pub fn certificates(
    flag: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(flag, path, pem_why(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(flag, path, pem_why(e)))?;
    if certs.is_empty() {
        return Err(file_error(flag, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// The private key in the PEM file at `path` (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(flag: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error(flag, path, pem_why(e)))
}

fn pem_why(e: rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => "no PEM item of the expected kind in it".to_owned(),
        other => format!("not valid PEM ({other:?})"),
    }
}

fn roots(flag: &'static str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certificates(flag, path)?);
    if added == 0 {
        return Err(file_error(flag, path, "no usable CA certificate in it"));
    }
    Ok(store)
}

/// The exporting side's TLS: the files it was built from and the rustls
/// configuration every `tls://` collector session shares. Two are equal
/// when they are the same load (a reload reads the files again, so TLS
/// sessions start again with what the files hold then).
#[derive(Clone)]
pub struct ClientTls {
    /// `None`: [`SYSTEM_CA_BUNDLE`].
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub config: Arc<ClientConfig>,
}

impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for ClientTls {}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca", &self.ca)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Reads the files: `--tls-ca` (or the system bundle), and the client
    /// certificate and key, which come as a pair.
    pub fn load(
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Self, TlsError> {
        let ca_path = ca.unwrap_or(Path::new(SYSTEM_CA_BUNDLE));
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| file_error("--tls-ca", ca_path, e))?
            .with_root_certificates(roots("--tls-ca", ca_path)?);
        let mut config = match (cert, key) {
            (Some(c), Some(k)) => builder
                .with_client_auth_cert(certificates("--tls-cert", c)?, private_key("--tls-key", k)?)
                .map_err(|e| mismatch(c, k, e))?,
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) => return Err(TlsError::Pair("--tls-cert", "--tls-key")),
            (None, Some(_)) => return Err(TlsError::Pair("--tls-key", "--tls-cert")),
        };
        // SSLKEYLOGFILE, as curl and browsers read it: the session keys
        // appended to that file, so tshark can decode the IPFIX inside.
        // For debugging only; said loudly when on.
        if let Some(file) = std::env::var_os("SSLKEYLOGFILE") {
            log::warn!(
                "SSLKEYLOGFILE is set: TLS session keys are written to {}",
                Path::new(&file).display()
            );
            config.key_log = Arc::new(rustls::KeyLogFile::new());
        }
        Ok(ClientTls {
            ca: ca.map(Path::to_path_buf),
            cert: cert.map(Path::to_path_buf),
            key: key.map(Path::to_path_buf),
            config: Arc::new(config),
        })
    }
}

/// The name a collector's certificate must carry: its host as given (a
/// DNS name, or an IP address matched against the IP SANs).
pub fn server_name(host: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(host.to_owned()).ok()
}

/// The collecting side's TLS configuration, as `collect` holds it (equal
/// only to itself).
#[derive(Clone)]
pub struct ServerTls(pub Arc<ServerConfig>);

impl PartialEq for ServerTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ServerTls {}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerTls")
    }
}

/// The collecting side's TLS: its certificate and key, and with
/// `client_ca` a required client certificate signed by it.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| file_error("--tls-cert", cert, e))?;
    let builder = match client_ca {
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots("--tls-client-ca", ca)?),
                provider(),
            )
            .build()
            .map_err(|e| file_error("--tls-client-ca", ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(
            certificates("--tls-cert", cert)?,
            private_key("--tls-key", key)?,
        )
        .map_err(|e| mismatch(cert, key, e))?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn scratch() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "ipfix-tls-unit-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn files_that_cannot_be_used_are_named_with_their_flag() {
        let d = scratch();
        let ca = rcgen::generate_simple_self_signed(vec!["collector.test".into()]).unwrap();
        let ca_pem = write(&d, "ca.pem", &ca.cert.pem());
        let key_pem = write(&d, "key.pem", &ca.signing_key.serialize_pem());
        let junk = write(&d, "junk.pem", "not a certificate\n");

        let err = ClientTls::load(Some(&junk), None, None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("--tls-ca {}: ", junk.display())),
            "{err}"
        );
        let missing = d.join("missing.pem");
        let err = ClientTls::load(Some(&missing), None, None).unwrap_err();
        assert!(err.to_string().contains("No such file"), "{err}");
        assert_eq!(
            ClientTls::load(Some(&ca_pem), Some(&ca_pem), None).unwrap_err(),
            TlsError::Pair("--tls-cert", "--tls-key")
        );
        let err = ClientTls::load(Some(&ca_pem), Some(&ca_pem), Some(&ca_pem)).unwrap_err();
        assert!(err.to_string().starts_with("--tls-key "), "{err}");
        // The good pair loads, on both sides.
        ClientTls::load(Some(&ca_pem), Some(&ca_pem), Some(&key_pem)).unwrap();
        server_config(&ca_pem, &key_pem, Some(&ca_pem)).unwrap();
        let err = server_config(&ca_pem, &key_pem, Some(&junk)).unwrap_err();
        assert!(err.to_string().starts_with("--tls-client-ca "), "{err}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_load_equals_only_itself() {
        let d = scratch();
        let ca = rcgen::generate_simple_self_signed(vec!["collector.test".into()]).unwrap();
        let ca_pem = write(&d, "ca.pem", &ca.cert.pem());
        let a = ClientTls::load(Some(&ca_pem), None, None).unwrap();
        let b = ClientTls::load(Some(&ca_pem), None, None).unwrap();
        assert_eq!(a, a.clone());
        assert_ne!(a, b, "a reload reads the files again");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn collectors_are_named_by_host_or_address() {
        assert!(server_name("collector.example").is_some());
        assert!(server_name("192.0.2.10").is_some());
        assert!(server_name("2001:db8::10").is_some());
    }
}
