//! A server's certificate that this machine does not trust, told apart from a server that is
//! not there: behind a TLS proxy with a private CA the fix is SSL_CERT_FILE, not starting one.

use std::error::Error;
use std::fmt;

use rustls::CertificateError;

/// Why the server's certificate was refused, in words, with what to do about it.
#[derive(Debug, Clone)]
pub struct Untrusted {
    problem: CertificateError,
}

impl Untrusted {
    /// The refused certificate somewhere in `error`'s chain (reqwest's or tungstenite's, where
    /// rustls's error sits inside an `io::Error`), if that is why the connection failed.
    pub fn find(error: &(dyn Error + 'static)) -> Option<Untrusted> {
        let mut next = Some(error);
        while let Some(error) = next {
            if let Some(problem) = certificate_error(error) {
                return Some(Untrusted { problem });
            }
            // io::Error's source() skips the error it wraps (rustls's, inside an io::Error
            // inside another): step into it instead.
            next = match error.downcast_ref::<std::io::Error>() {
                Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
                None => error.source(),
            };
        }
        None
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self.problem {
            CertificateError::UnknownIssuer => {
                "if it comes from a private CA or is self-signed (a proxy's), set SSL_CERT_FILE to that CA's certificate (a PEM file)"
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "use a host name the certificate is issued for"
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                "renew the server's certificate, or check this machine's clock"
            }
            _ => "check the certificate the server (or its proxy) presents; for a private CA set SSL_CERT_FILE to its certificate (PEM)",
        }
    }
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            CertificateError::UnknownIssuer => {
                write!(
                    f,
                    "it is signed by an authority this machine does not trust"
                )
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                write!(f, "it is not issued for this host name")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                write!(f, "it has expired")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                write!(f, "it is not valid yet")
            }
            other => write!(f, "{}", rustls::Error::InvalidCertificate(other.clone())),
        }
    }
}

fn certificate_error(error: &(dyn Error + 'static)) -> Option<CertificateError> {
    match error.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(problem) => Some(problem.clone()),
        _ => None,
    }
}
