//! The CLI through a TLS-terminating proxy, as `flux serve` is meant to run in production
//! (TLS is left to the proxy): `flux deploy --to https://…`, `flux tail --url https://…` over
//! wss://, the certificate's CA given by SSL_CERT_FILE, and a clear refusal without it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::support::{wait_for, Project, Server, DEADLINE};

const TOKEN: &str = "proxied-s3cret";

/// A TLS-terminating proxy on a free loopback port: it answers the handshake with a
/// self-signed certificate for `localhost` and copies bytes both ways to flux's port, so
/// websocket upgrades pass through untouched (as Caddy's or nginx's do).
struct TlsProxy {
    url: String,
    /// The certificate, PEM: what SSL_CERT_FILE names.
    ca_file: tempfile::NamedTempFile,
    /// Dropped with the proxy: its accept loop and connections end with it.
    _runtime: tokio::runtime::Runtime,
}

impl TlsProxy {
    fn start(upstream_port: u16) -> TlsProxy {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let ca_file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(ca_file.path(), certified.cert.pem()).expect("write cert");
        let chain = vec![CertificateDer::from(certified.cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .expect("server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(TcpListener::bind(("127.0.0.1", 0)))
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        runtime.spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends here, as at a real proxy.
                    let Ok(mut tls) = acceptor.accept(inbound).await else {
                        return;
                    };
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream_port)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
                });
            }
        });
        TlsProxy {
            url: format!("https://localhost:{port}"),
            ca_file,
            _runtime: runtime,
        }
    }

    fn ca_path(&self) -> &Path {
        self.ca_file.path()
    }

    /// `GET path` through the proxy over HTTPS, trusting its certificate: (status, body).
    fn get(&self, path: &str) -> (u16, String) {
        let pem = std::fs::read(self.ca_path()).expect("read cert");
        let client = reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
            .timeout(DEADLINE)
            .build()
            .expect("client");
        let response = client
            .get(format!("{}{path}", self.url))
            .send()
            .expect("request through the proxy");
        let status = response.status().as_u16();
        (status, response.text().expect("body"))
    }
}

fn upstream_port(server: &Server) -> u16 {
    server
        .url
        .rsplit(':')
        .next()
        .and_then(|port| port.trim_end_matches('/').parse().ok())
        .expect("port in flux serve's URL")
}

/// `flux <args>` in the project; with `ca` as SSL_CERT_FILE, or with no CA of its own at all.
fn run(project: &Project, args: &[&str], ca: Option<&Path>) -> (i32, String, String) {
    let mut command = project.flux(args);
    command
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    if let Some(ca) = ca {
        command.env("SSL_CERT_FILE", ca);
    }
    let output = command.output().expect("run flux");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A following `flux tail` whose stdout lines arrive on a channel.
struct Follow {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follow {
    fn start(project: &Project, url: &str, ca: &Path) -> Follow {
        let mut child = project
            .flux(&["tail", "--url", url, "--token", TOKEN])
            .env("SSL_CERT_FILE", ca)
            .env_remove("SSL_CERT_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn flux tail");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Follow { child, lines }
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn deploy_and_tail_work_through_a_tls_terminating_proxy() {
    let project = Project::with_files(&[
        (
            "functions/hello.ts",
            "export default () => new Response('hello over TLS')\n",
        ),
        (
            "functions/later.ts",
            "export default () => new Response('later')\n",
        ),
    ]);
    let server = Server::serve(&project, &["--token", TOKEN]);
    let proxy = TlsProxy::start(upstream_port(&server));
    let url = proxy.url.as_str();
    let ca = Some(proxy.ca_path());

    let (code, stdout, stderr) = run(&project, &["deploy", "--to", url, "--token", TOKEN], ca);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(proxy.get("/hello"), (200, "hello over TLS".to_string()));

    // History over wss://: the request just made through the proxy.
    let (code, stdout, stderr) = run(
        &project,
        &[
            "tail",
            "--url",
            url,
            "--token",
            TOKEN,
            "--last",
            "1h",
            "--no-follow",
        ],
        ca,
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.lines().any(|l| l.starts_with("GET /hello 200")),
        "{stdout}"
    );

    // Following: once a request's line comes through, the subscription is live; a request
    // made after that shows too.
    let follow = Follow::start(&project, url, proxy.ca_path());
    wait_for("flux tail to follow through the proxy", DEADLINE, || {
        assert_eq!(proxy.get("/hello").0, 200);
        follow
            .lines
            .recv_timeout(Duration::from_millis(300))
            .ok()
            .filter(|l| l.starts_with("GET /hello 200"))
    });
    assert_eq!(proxy.get("/later"), (200, "later".to_string()));
    wait_for("the later request's line", DEADLINE, || {
        follow
            .lines
            .recv_timeout(Duration::from_millis(100))
            .ok()
            .filter(|l| l.starts_with("GET /later 200"))
    });
}

#[test]
fn without_the_proxys_ca_the_cli_refuses_its_certificate_and_says_why() {
    let project = Project::with_files(&[(
        "functions/hello.ts",
        "export default () => new Response('hi')\n",
    )]);
    let server = Server::serve(&project, &["--token", TOKEN]);
    let proxy = TlsProxy::start(upstream_port(&server));
    let url = proxy.url.as_str();
    let commands: [&[&str]; 3] = [
        &["deploy", "--to", url, "--token", TOKEN],
        &[
            "tail",
            "--url",
            url,
            "--token",
            TOKEN,
            "--last",
            "1h",
            "--no-follow",
        ],
        &["tail", "--url", url, "--token", TOKEN],
    ];
    for args in commands {
        let (code, stdout, stderr) = run(&project, args, None);
        assert_eq!(code, 4, "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!("the certificate of {url} is not trusted")),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("set SSL_CERT_FILE to that CA's certificate"),
            "{args:?}: {stderr}"
        );
        // Not mistaken for a server that is down.
        assert!(!stderr.contains("no flux server"), "{args:?}: {stderr}");
    }
    // Trusted, but reached by a name the certificate is not for.
    let by_ip = url.replace("localhost", "127.0.0.1");
    let (code, _, stderr) = run(
        &project,
        &["deploy", "--to", &by_ip, "--token", TOKEN],
        Some(proxy.ca_path()),
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the certificate of {by_ip} is not trusted: it is not issued for this host name"
        )),
        "{stderr}"
    );
    // Nothing was deployed through the refused connections.
    assert_eq!(proxy.get("/hello").0, 503);
}
