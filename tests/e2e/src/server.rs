//! Servers a test starts for itself (crash, replica and load tests), as the
//! unprivileged `postgres` user, on a unix socket in /tmp. Dropped, they are
//! stopped and their data directory removed.

use postgres::{Client, NoTls};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The PostgreSQL 15 binaries: `$PG_BIN` (as in `scripts/pg.sh`), else
/// Debian's.
pub fn pg_bin() -> String {
    std::env::var("PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into())
}

pub struct Server {
    pub dir: PathBuf,
    pub port: u16,
    /// Also listen on TCP at localhost (clients that insist on a host name).
    pub tcp: bool,
}

/// Run a server binary as `postgres` (tests run as root; Postgres refuses
/// to). Panics with its output if it fails.
pub fn as_postgres(args: &[&str]) -> String {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--", "env", "-u", "RUST_BACKTRACE"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("runuser");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{args:?} failed:\n{text}");
    text
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(format!(
        "/var/tmp/diskvec-e2e-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Command::new("chown")
        .args(["postgres:postgres", dir.to_str().unwrap()])
        .status()
        .unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    dir
}

/// A port of our own: the suite's port plus an offset per test kind.
pub fn port_for(offset: u16) -> u16 {
    crate::port() + offset
}

impl Server {
    /// initdb (with data checksums) and start, with extra settings.
    pub fn start(name: &str, port: u16, settings: &[&str]) -> Server {
        Self::start_with(name, port, settings, true)
    }

    /// `start`, also listening on TCP at localhost:`port`.
    pub fn start_tcp(name: &str, port: u16, settings: &[&str]) -> Server {
        Self::start_full(name, port, settings, true, true)
    }

    /// `start`, choosing whether the cluster has data checksums.
    pub fn start_with(name: &str, port: u16, settings: &[&str], checksums: bool) -> Server {
        Self::start_full(name, port, settings, checksums, false)
    }

    fn start_full(name: &str, port: u16, settings: &[&str], checksums: bool, tcp: bool) -> Server {
        let dir = fresh_dir(name);
        let initdb = format!("{}/initdb", pg_bin());
        let mut args = vec![
            initdb.as_str(),
            "-D",
            dir.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ];
        if checksums {
            args.push("--data-checksums");
        }
        as_postgres(&args);
        let s = Server { dir, port, tcp };
        // As scripts/test.sh's server: codes shared (a later
        // shared_preload_libraries line in `settings` wins).
        s.write_settings(&["shared_preload_libraries = 'diskvec'"]);
        s.write_settings(settings);
        s.up();
        s
    }

    /// A streaming replica of `primary` made with pg_basebackup.
    pub fn replica_of(primary: &Server, name: &str, port: u16) -> Server {
        let dir = fresh_dir(name);
        std::fs::remove_dir_all(&dir).unwrap();
        as_postgres(&[
            &format!("{}/pg_basebackup", pg_bin()),
            "-h",
            "/tmp",
            "-p",
            &primary.port.to_string(),
            "-U",
            "postgres",
            "-D",
            dir.to_str().unwrap(),
            "-R",
            "-X",
            "stream",
        ]);
        let s = Server {
            dir,
            port,
            tcp: false,
        };
        s.up();
        s
    }

    fn write_settings(&self, settings: &[&str]) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("postgresql.conf"))
            .unwrap();
        for s in settings {
            writeln!(f, "{s}").unwrap();
        }
    }

    pub fn up(&self) {
        as_postgres(&[
            &format!("{}/pg_ctl", pg_bin()),
            "-D",
            self.dir.to_str().unwrap(),
            "-l",
            self.dir.join("server.log").to_str().unwrap(),
            "-w",
            "-t",
            "120",
            "-o",
            &format!(
                "-p {} -k /tmp -c listen_addresses='{}'",
                self.port,
                if self.tcp { "localhost" } else { "" }
            ),
            "start",
        ]);
    }

    pub fn stop(&self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{}/pg_ctl", pg_bin())])
            .args(["-D", self.dir.to_str().unwrap(), "-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// SIGKILL the postmaster and every process it started: a crash, with
    /// no shutdown checkpoint.
    pub fn kill9(&self) {
        let pid = std::fs::read_to_string(self.dir.join("postmaster.pid"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .trim()
            .to_string();
        let children = Command::new("pgrep").args(["-P", &pid]).output().unwrap();
        let mut pids = vec![pid];
        pids.extend(
            String::from_utf8_lossy(&children.stdout)
                .lines()
                .map(str::to_string),
        );
        for p in &pids {
            let _ = Command::new("kill").args(["-9", p]).status();
        }
        // Wait until they are all gone, so the restart finds no old
        // shared memory in use.
        let start = Instant::now();
        while pids
            .iter()
            .any(|p| Path::new(&format!("/proc/{p}")).exists())
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "processes survive kill -9"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn connect(&self, db: &str) -> Client {
        let config = format!("host=/tmp port={} user=postgres dbname={db}", self.port);
        Client::connect(&config, NoTls).unwrap_or_else(|e| panic!("connect to {config}: {e}"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
