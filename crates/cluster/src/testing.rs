//! A private PostgreSQL server for tests (this crate's and `islet`'s): `initdb` into a
//! temporary directory, `postgres` on a free loopback port with its socket in that
//! directory, stopped when dropped. Tests kill and restart it, so it is theirs alone.
//!
//! PostgreSQL refuses to run as root: as root, the directory is given to the `postgres`
//! user (which Debian's package creates) and the server runs as that user. The binaries
//! are found under `/usr/lib/postgresql/*/bin` or through `pg_config --bindir`; without
//! them [`Postgres::start`] fails saying to install `postgresql`.
//!
//! The server runs with `fsync=off` unless started with [`Postgres::start_with_fsync`]: the tests kill islet nodes, not the machine, and a
//! shared 2-core machine would otherwise spend most of a test in fsync. Benchmarks that
//! measure commit latency must use a server with the default settings.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running private PostgreSQL server.
#[derive(Debug)]
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
    /// Whether commits are flushed to disk (PostgreSQL's default; tests turn it off).
    fsync: bool,
    child: Option<Child>,
    /// Removed when the server is dropped.
    _temp: Option<TempDir>,
}

/// A directory removed on drop (the crate has no tempfile dependency outside tests).
#[derive(Debug)]
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Postgres {
    /// Initialises a database cluster in a new temporary directory and starts it, with
    /// `fsync=off` (see the module's documentation).
    pub fn start() -> Result<Postgres, String> {
        Self::start_with_fsync(false)
    }

    /// [`Postgres::start`] with `fsync` as given: on (PostgreSQL's default) for
    /// benchmarks of commit latency.
    pub fn start_with_fsync(fsync: bool) -> Result<Postgres, String> {
        let bin = bindir()?;
        let dir = std::env::temp_dir().join(format!(
            "islet-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let temp = TempDir(dir.clone());
        let owner = if is_root() {
            let ids = postgres_user()?;
            std::os::unix::fs::chown(&dir, Some(ids.0), Some(ids.1))
                .map_err(|e| format!("chown {}: {e}", dir.display()))?;
            Some(ids)
        } else {
            None
        };
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args([
                "-U",
                "islet",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(dir.join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_owner(&mut initdb, owner);
        let out = initdb
            .output()
            .map_err(|e| format!("running initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut pg = Postgres {
            dir,
            bin,
            port: free_port()?,
            owner,
            fsync,
            child: None,
            _temp: Some(temp),
        };
        pg.resume()?;
        Ok(pg)
    }

    /// Restarts the server with TLS only: `cert` and `key` (PEM files) become its
    /// certificate and key, `ssl = on`, and TCP clients must use TLS (`hostssl` in
    /// `pg_hba.conf`; plain connections are refused).
    pub fn require_tls(&mut self, cert: &Path, key: &Path) -> Result<(), String> {
        let data = self.dir.join("data");
        let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
        for (from, to) in [(cert, "server.crt"), (key, "server.key")] {
            let to = data.join(to);
            std::fs::copy(from, &to).map_err(|e| io(from, e))?;
            std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .map_err(|e| io(&to, e))?;
            if let Some((uid, gid)) = self.owner {
                std::os::unix::fs::chown(&to, Some(uid), Some(gid)).map_err(|e| io(&to, e))?;
            }
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(|e| io(&conf, e))?;
        text.push_str("\nssl = on\n");
        std::fs::write(&conf, text).map_err(|e| io(&conf, e))?;
        let hba = data.join("pg_hba.conf");
        let text = std::fs::read_to_string(&hba).map_err(|e| io(&hba, e))?;
        let text: String = text
            .lines()
            .map(|line| match line.strip_prefix("host ") {
                Some(rest) => format!("hostssl {rest}\n"),
                None => format!("{line}\n"),
            })
            .collect();
        std::fs::write(&hba, text).map_err(|e| io(&hba, e))?;
        self.kill();
        self.resume()
    }

    /// The connection string (user `islet`, database `postgres`, trust authentication).
    pub fn url(&self) -> String {
        format!("postgres://islet@127.0.0.1:{}/postgres", self.port)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server at once (`SIGKILL`; its next start recovers from its WAL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Its children (backends) notice the postmaster is gone and exit; the next start
        // waits for the port and the lock file.
    }

    /// Starts the server again (after [`Postgres::kill`]) on the same port, and waits
    /// until it accepts connections.
    pub fn resume(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Ok(());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut postgres = Command::new(self.bin.join("postgres"));
            postgres
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-p", &self.port.to_string(), "-k"])
                .arg(&self.dir)
                .args([
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    if self.fsync { "fsync=on" } else { "fsync=off" },
                    "-c",
                    "max_connections=200",
                ])
                .stdout(Stdio::null())
                .stderr(
                    std::fs::File::create(self.dir.join("postgres.log"))
                        .map(Stdio::from)
                        .unwrap_or_else(|_| Stdio::null()),
                );
            as_owner(&mut postgres, self.owner);
            let mut child = postgres
                .spawn()
                .map_err(|e| format!("starting postgres: {e}"))?;
            match self.wait_ready(&mut child, deadline) {
                Ok(()) => {
                    self.child = Some(child);
                    return Ok(());
                }
                // The old server's backends still held the port or lock file: try again.
                Err(_) if Instant::now() < deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn wait_ready(&self, child: &mut Child, deadline: Instant) -> Result<(), String> {
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log =
                    std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
                return Err(format!("postgres exited ({status}): {log}"));
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("postgres did not become ready within 30 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: a smart shutdown would wait for clients; SIGINT is "fast".
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn as_owner(command: &mut Command, owner: Option<(u32, u32)>) {
    use std::os::unix::process::CommandExt as _;
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn postgres_user() -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|e| format!("id: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| {
                "there is no `postgres` user to run PostgreSQL as (it refuses root): \
             apt-get install postgresql creates it"
                    .to_owned()
            })
    };
    Ok((id("-u")?, id("-g")?))
}

/// Where `initdb` and `postgres` are.
fn bindir() -> Result<PathBuf, String> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    if let Some(bin) = found.pop() {
        return Ok(bin);
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|bin| Path::new(bin).join("initdb").exists());
    from_pg_config.ok_or_else(|| {
        "PostgreSQL's server binaries (initdb, postgres) are not installed: \
         apt-get install -y postgresql (Debian 12 installs them in /usr/lib/postgresql/15/bin)"
            .to_owned()
    })
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}
