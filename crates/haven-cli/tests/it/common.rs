//! Helpers: a fresh data directory, the binary, and an HTTPS client that
//! trusts the data directory's own certificate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_haven");

/// Runs `haven ARGS...` to completion.
pub fn haven(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("HAVEN_DATA_DIR").output().expect("run haven")
}

/// Runs `haven ARGS...` and asserts it succeeded.
pub fn haven_ok(args: &[&str]) -> String {
    let out = haven(args);
    assert!(
        out.status.success(),
        "haven {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A new initialised data directory inside a temp dir.
pub struct DataDir {
    _tmp: tempfile::TempDir,
    pub path: PathBuf,
}

impl DataDir {
    pub fn new() -> DataDir {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("data");
        haven_ok(&["init", "--data-dir", path.to_str().unwrap()]);
        DataDir { _tmp: tmp, path }
    }

    /// An existing data directory (not removed on drop).
    pub fn wrap(path: PathBuf) -> DataDir {
        DataDir { _tmp: tempfile::tempdir().unwrap(), path }
    }

    pub fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// An access token of a service client with every SMART system scope
    /// (an EMR integration), issued through the CLI. Blocking: call it
    /// before an in-process server starts.
    pub fn fhir_token(&self) -> String {
        let out =
            haven(&["client", "add", "--data-dir", self.arg(), "--name", "test-emr", "--scopes", "system/*.cruds"]);
        let taken = String::from_utf8_lossy(&out.stderr).contains("taken");
        assert!(out.status.success() || taken, "client add: {}", String::from_utf8_lossy(&out.stderr));
        self.token_for("test-emr", Some("system/*.cruds"))
    }

    /// An operator-issued access token for an account (`haven token issue`).
    pub fn token_for(&self, user: &str, scope: Option<&str>) -> String {
        let mut args = vec!["token", "issue", "--data-dir", self.arg(), "--user", user, "--ttl", "1h"];
        if let Some(s) = scope {
            args.extend(["--scope", s]);
        }
        haven_ok(&args).trim().to_string()
    }

    /// The one-time admin password written by `haven init`.
    pub fn admin_password(&self) -> String {
        let text = std::fs::read_to_string(self.path.join("admin-credential.txt")).unwrap();
        text.lines().find_map(|l| l.strip_prefix("password = ")).unwrap().to_string()
    }
}

/// An HTTPS client that trusts the data directory's self-signed certificate.
pub fn client(dir: &Path) -> reqwest::Client {
    let pem = std::fs::read(dir.join("tls/cert.pem")).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `haven serve` as a child process.
pub struct ServerProcess {
    pub child: Child,
    pub base: String,
    pub stderr_path: PathBuf,
}

impl ServerProcess {
    pub async fn start(dir: &DataDir, extra_env: &[(&str, &str)]) -> ServerProcess {
        let port = free_port();
        let stderr_path = dir.path.with_extension(format!("serve-{port}.log"));
        let log = std::fs::File::create(&stderr_path).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--data-dir", dir.arg(), "--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{}", free_port())])
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let base = format!("https://127.0.0.1:{port}");
        let mut server = ServerProcess { child, base, stderr_path };
        server.wait_ready(&dir.path).await;
        server
    }

    async fn wait_ready(&mut self, dir: &Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "server exited with {status}: {}",
                    std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
                );
            }
            if dir.join("tls/cert.pem").exists() {
                let ok = client(dir).get(format!("{}/readyz", self.base)).send().await.map(|r| r.status() == 200);
                if ok.unwrap_or(false) {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "server did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server in this process on random loopback ports, configured from the data directory.
pub async fn start(dir: &DataDir) -> haven_server::serve::RunningServer {
    let config = haven_server::config::Config::load(&dir.path).unwrap();
    let opts = haven_server::serve::ServeOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        insecure_http: false,
    };
    haven_server::serve::start(&dir.path, config, opts).await.unwrap()
}
