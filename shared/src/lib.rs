//! Terminagent: appointment wishes for citizen offices. The pure rules live in [`domain`]; the
//! adapters ([`store`], [`mailer`], [`events`]) talk to AWS; [`app`] holds the use cases that the
//! Lambda functions ([`http`], [`triggers`]) call.

pub mod app;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod mailer;
pub mod mails;
pub mod render;
pub mod store;
pub mod triggers;

pub use app::{Clock, Deps};
pub use config::Config;

/// The HTTPS client of every AWS SDK client: rustls with the *ring* crypto provider, trusting the
/// Mozilla roots compiled into the binary (`webpki-root-certs`) and nothing else.
///
/// The SDK's default client (rustls with aws-lc) is switched off in the workspace manifest: aws-lc
/// is a large C library that made every function's zip over 3 MB. The SDK's default trust store,
/// the machine's CA bundle, is replaced because reading and parsing `/etc/ssl/certs` took about
/// 5 ms of every cold start, most of a function's start → ready (see `docs/performance.md`).
#[must_use]
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{
        Provider, TlsContext, TrustStore, rustls_provider::CryptoMode,
    };
    let trust = TrustStore::empty().with_pem_certificate(mozilla_roots_pem());
    // `build` cannot fail in aws-smithy-http-client 1.5; should a later version refuse the store,
    // the SDK's default (the machine's bundle) is slower but still verifies every server.
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "compiled-in roots refused, using the system CA bundle");
            TlsContext::default()
        });
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https()
}

/// The Mozilla roots as one PEM bundle: the SDK's `TrustStore` takes certificates only as PEM,
/// which rustls decodes again when it builds a connector. Encoding and decoding the ~120 roots
/// costs far less than reading them from disk (`docs/performance.md`).
fn mozilla_roots_pem() -> Vec<u8> {
    use base64::Engine as _;
    let base64 = base64::engine::general_purpose::STANDARD;
    let mut pem = Vec::with_capacity(300 * 1024);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        // 64 characters a line, as RFC 7468 writes it, so any PEM reader takes the bundle.
        for line in base64.encode(cert).as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

/// A function's dependencies, as its environment describes them (`Config::from_env`, the SDK's
/// region and credentials, the real clock).
///
/// # Errors
/// When the environment is incomplete or invalid ([`config::ConfigError`]).
pub async fn deps_from_env() -> Result<Deps, config::ConfigError> {
    let config = Config::from_env()?;
    let sdk = aws_sdk_config().await;
    Ok(Deps::new(config, &sdk, Clock::default()))
}

/// The SDK configuration of a function: region and credentials from its environment, as
/// `aws_config::load_defaults` finds them, with [`https_client`].
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::RootCertStore;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use std::sync::Arc;
    use std::time::Duration;

    /// The trust anchors of [`https_client`], decoded from its PEM bundle the way
    /// aws-smithy-http-client 1.5 does (`pem_slice_iter`, then `RootCertStore::add`).
    fn trusted_roots() -> RootCertStore {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&mozilla_roots_pem()) {
            roots.add(cert.unwrap()).unwrap();
        }
        roots
    }

    /// Whether a DER `Name` holds exactly the common name `cn` (OID 2.5.4.3, any string type).
    fn has_common_name(subject: &[u8], cn: &str) -> bool {
        let cn = cn.as_bytes();
        subject.windows(7 + cn.len()).any(|w| {
            w[..5] == [0x06, 0x03, 0x55, 0x04, 0x03]
                && usize::from(w[6]) == cn.len()
                && &w[7..] == cn
        })
    }

    #[test]
    fn every_mozilla_root_is_trusted_and_nothing_else() {
        assert_eq!(
            trusted_roots().roots.len(),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len()
        );
    }

    #[test]
    fn the_roots_aws_endpoints_chain_to_are_trusted() {
        let roots = trusted_roots();
        for cn in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(
                roots
                    .roots
                    .iter()
                    .any(|root| has_common_name(&root.subject, cn)),
                "{cn} is missing"
            );
        }
        assert!(
            !roots
                .roots
                .iter()
                .any(|root| has_common_name(&root.subject, "Amazon Root CA 5"))
        );
    }

    /// A TLS server on 127.0.0.1 for `localhost`, whose chain ends in a root of its own, and that
    /// root.
    fn private_server() -> (tokio_rustls::TlsAcceptor, CertificateDer<'static>) {
        let mut root = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        root.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        root.distinguished_name
            .push(rcgen::DnType::CommonName, "Terminagent test root");
        let root =
            rcgen::CertifiedIssuer::self_signed(root, rcgen::KeyPair::generate().unwrap()).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &root)
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), root.der().clone()],
            PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        )
        .unwrap();
        (
            tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            root.der().clone(),
        )
    }

    #[tokio::test]
    async fn a_server_chained_to_a_root_outside_mozillas_is_refused() {
        let (acceptor, root) = private_server();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // The SDK client's handshake first, then a client that trusts the private root.
        let server = tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for _ in 0..2 {
                let (tcp, _) = listener.accept().await.unwrap();
                outcomes.push(acceptor.accept(tcp).await.map(drop));
            }
            outcomes
        });

        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .region(aws_sdk_dynamodb::config::Region::from_static(
                    "eu-central-1",
                ))
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "AKIDTEST", "secret", None, None, "test",
                ))
                .endpoint_url(format!("https://localhost:{port}"))
                .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
                .http_client(https_client())
                .build(),
        );
        let sdk = tokio::time::timeout(Duration::from_secs(10), dynamodb.list_tables().send())
            .await
            .unwrap();
        let error = sdk.unwrap_err();
        assert!(
            matches!(error, aws_sdk_dynamodb::error::SdkError::DispatchFailure(_)),
            "{error:?}"
        );

        let mut trusting = RootCertStore::empty();
        trusting.add(root).unwrap();
        let control = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(trusting)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(control))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();

        let outcomes = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap();
        // The SDK client hung up with "unknown CA": it checked the chain and did not trust its root.
        let refusal = outcomes[0].as_ref().unwrap_err();
        assert_eq!(
            refusal
                .get_ref()
                .and_then(|e| e.downcast_ref::<rustls::Error>()),
            Some(&rustls::Error::AlertReceived(
                rustls::AlertDescription::UnknownCA
            )),
            "{refusal:?}"
        );
        assert!(
            outcomes[1].is_ok(),
            "the control handshake failed: {:?}",
            outcomes[1]
        );
    }
}
