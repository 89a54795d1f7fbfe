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

/// Signs in and returns a bearer token.
pub async fn login(client: &reqwest::Client, base: &str, user: &str, password: &str) -> String {
    let r = client
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login failed");
    let v: serde_json::Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
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
