//! TLS to PostgreSQL: `sslmode=require` encrypts and verifies the server (its CA given by
//! `sslrootcert`, or the OS trust roots); a server that only takes TLS refuses plain
//! connections, so a node that joins it is a node that spoke TLS.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cluster::{Cluster, ClusterConfig};

use crate::support::given_postgres;

/// A CA and a server certificate for 127.0.0.1 signed by it, made with the `openssl` CLI
/// (CI installs it). Returns (CA PEM, server certificate PEM, server key PEM).
fn given_certificates(dir: &Path) -> (String, String, String) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl CLI (apt: openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=islet test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    let path = |name: &str| dir.join(name).display().to_string();
    (path("ca.pem"), path("server.pem"), path("server.key"))
}

async fn join(url: String) -> Result<Cluster, cluster::Error> {
    Cluster::join(ClusterConfig {
        url,
        node_id: "tls".to_owned(),
        advertise: "127.0.0.1:1".to_owned(),
        lease_ttl: Duration::from_secs(2),
        connections: 1,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue21_sslmode_require_speaks_tls_and_verifies_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = given_certificates(dir.path());
    let mut pg = given_postgres();
    pg.require_tls(Path::new(&cert), Path::new(&key)).unwrap();

    // The server takes TLS only: a plain node cannot join.
    let plain = join(pg.url()).await.expect_err("plain TCP is refused");
    assert!(plain.to_string().contains("no encryption"), "{plain}");

    // TLS, the server verified against its CA: joins and works.
    let cluster = join(format!("{}?sslmode=require&sslrootcert={ca}", pg.url()))
        .await
        .expect("a TLS node joins");
    assert_eq!(cluster.status().await.unwrap().nodes.len(), 1);
    // verify-full is taken as require (which verifies the name too).
    join(format!("{}?sslmode=verify-full&sslrootcert={ca}", pg.url()))
        .await
        .expect("verify-full");

    // A server whose certificate nothing trusts is refused, with the reason.
    let untrusted = join(format!("{}?sslmode=require", pg.url()))
        .await
        .expect_err("the system's roots do not know the test CA");
    assert!(
        untrusted.to_string().to_lowercase().contains("certificate"),
        "{untrusted}"
    );
    // A missing CA file is a configuration error naming it.
    let missing = join(format!(
        "{}?sslmode=require&sslrootcert=/nonexistent.pem",
        pg.url()
    ))
    .await
    .expect_err("no such file");
    assert!(
        missing.to_string().contains("/nonexistent.pem"),
        "{missing}"
    );
}
