//! Connecting to a tapflow (or DeepFlow) server as `tapflow ctl` and agents do: TLS with a CA
//! file or explicit plaintext, the shared token on every call, DeepFlow's timeouts (connect 5 s,
//! request 30 s).

use std::path::PathBuf;
use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Status};

use crate::server::serve::TOKEN_HEADER;

/// How to secure the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTls {
    /// TLS, trusting this CA (or self-signed server) certificate (PEM).
    Ca(PathBuf),
    /// No TLS (explicit opt-in).
    Plaintext,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `host:port` (or a full `http(s)://` URL).
    pub server: String,
    pub token: Option<String>,
    pub tls: ClientTls,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl ClientOptions {
    pub fn new(server: &str, token: Option<String>, tls: ClientTls) -> Self {
        ClientOptions {
            server: server.to_string(),
            token,
            tls,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("bad server address {0}: {1}")]
    Address(String, String),
    #[error("cannot read the CA file {0}: {1}")]
    Ca(String, std::io::Error),
    #[error("cannot connect to {0}: {1}")]
    Connect(String, tonic::transport::Error),
    #[error("the token is not a valid header value")]
    Token,
}

/// Adds the token to every call.
#[derive(Debug, Clone)]
pub struct AddToken(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for AddToken {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert(TOKEN_HEADER, v.clone());
        }
        Ok(req)
    }
}

/// A channel with the token interceptor.
pub type AuthChannel = InterceptedService<Channel, AddToken>;

/// Connects (lazily: the first call opens the connection, so a down server is an error of that
/// call, not of this function).
pub fn connect(opts: &ClientOptions) -> Result<AuthChannel, ClientError> {
    let tls = matches!(opts.tls, ClientTls::Ca(_));
    let url = if opts.server.contains("://") {
        opts.server.clone()
    } else if tls {
        format!("https://{}", opts.server)
    } else {
        format!("http://{}", opts.server)
    };
    let mut ep = Endpoint::from_shared(url.clone())
        .map_err(|e| ClientError::Address(opts.server.clone(), e.to_string()))?
        .connect_timeout(opts.connect_timeout)
        .timeout(opts.request_timeout);
    if let ClientTls::Ca(ca) = &opts.tls {
        let pem = std::fs::read(ca).map_err(|e| ClientError::Ca(ca.display().to_string(), e))?;
        ep = ep
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
            .map_err(|e| ClientError::Connect(url.clone(), e))?;
    }
    let token = match &opts.token {
        Some(t) => Some(
            format!("Bearer {t}")
                .parse()
                .map_err(|_| ClientError::Token)?,
        ),
        None => None,
    };
    Ok(InterceptedService::new(ep.connect_lazy(), AddToken(token)))
}
