//! A throwaway PostgreSQL cluster for tests: `initdb` into a fresh temporary directory, started
//! with `pg_ctl` on a free local port, stopped and removed on drop. Self-contained (std only)
//! so any test crate can `#[path]`-include it. Fails loudly: a test that needs PostgreSQL must
//! not pass silently without it.
//!
//! Binaries come from `$CALLSIGHT_PG_BIN`, else `/usr/lib/postgresql/15/bin`, else `PATH`.
//! As root (PostgreSQL refuses to run as root) everything runs as the `postgres` user via
//! `runuser`, on directories chowned to it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct PgCluster {
    root: PathBuf,
    data_dir: PathBuf,
    bin_dir: Option<PathBuf>,
    port: u16,
    as_postgres_user: bool,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

impl PgCluster {
    /// Starts a new cluster; panics with the server log if it cannot.
    pub fn start() -> PgCluster {
        let unique = format!(
            "callsight-pg-{}-{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
        );
        let root = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(root.join("sock")).expect("create the PostgreSQL test directory");
        let as_postgres_user = is_root();
        if as_postgres_user {
            run_checked(
                Command::new("chown").arg("-R").arg("postgres:postgres").arg(&root),
                "chown the test directory to postgres",
            );
        }
        let bin_dir = find_bin_dir();
        let mut cluster = PgCluster { data_dir: root.join("data"), root, bin_dir, port: 0, as_postgres_user };

        let mut initdb = cluster.command("initdb");
        initdb.arg("-D").arg(&cluster.data_dir).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run_checked(&mut initdb, "initdb");

        cluster.port = free_port();
        cluster.start_server();
        cluster
    }

    /// `pg_ctl start` on the cluster's port; panics with the server log if it does not come up.
    fn start_server(&self) {
        let log = self.root.join("server.log");
        // Durability off: a test cluster is thrown away, and fsync dominates on a busy disk.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            self.port,
            self.root.join("sock").display()
        );
        let mut start = self.command("pg_ctl");
        start.arg("-D").arg(&self.data_dir).arg("-l").arg(&log).arg("-o").arg(options).args(["-w", "-t", "60", "start"]);
        let output = start.output().unwrap_or_else(|e| panic!("cannot run pg_ctl: {e}"));
        if !output.status.success() {
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "PostgreSQL test cluster did not start:\n{}{}\nserver log:\n{server_log}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    /// An outage: the server stops (`pg_ctl stop -m fast`: every connection is cut, new ones are
    /// refused) until [`PgCluster::restart`]. Not `immediate`: with durability off (above), a
    /// crash would also lose the last commits, which is not what these tests are about.
    pub fn stop(&self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D").arg(&self.data_dir).args(["-m", "fast", "-w", "stop"]);
        run_checked(&mut stop, "pg_ctl stop");
    }

    /// Starts the stopped server again on the same port with the same data.
    pub fn restart(&self) {
        self.start_server();
    }

    /// One cluster for the whole test binary, stopped by a watchdog process when the binary
    /// exits (statics are never dropped).
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            let cluster = PgCluster::start();
            cluster.spawn_exit_watchdog();
            cluster
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a database with a unique name and returns its URL.
    pub fn create_database(&self) -> String {
        let name = format!("test_{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let mut createdb = self.command("createdb");
        createdb.args(["-h", "127.0.0.1", "-U", "postgres", "-p"]).arg(self.port.to_string()).arg(&name);
        run_checked(&mut createdb, "createdb");
        self.url(&name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let program = match &self.bin_dir {
            Some(dir) => dir.join(program),
            None => PathBuf::from(program),
        };
        let mut command = if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.current_dir(&self.root).stdin(Stdio::null());
        command
    }

    fn stop_command(&self) -> Command {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D").arg(&self.data_dir).args(["-m", "immediate", "-w", "stop"]);
        stop
    }

    /// A detached shell that waits for this process to exit, then stops the cluster and deletes
    /// its directory.
    fn spawn_exit_watchdog(&self) {
        let stop = self.stop_command();
        let mut stop_line = shell_quote(stop.get_program());
        for arg in stop.get_args() {
            stop_line.push(' ');
            stop_line.push_str(&shell_quote(arg));
        }
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop_line} >/dev/null 2>&1; rm -rf {root}",
            pid = std::process::id(),
            root = shell_quote(self.root.as_os_str())
        );
        // Detached on purpose: it must outlive this process to clean up after it.
        #[allow(clippy::zombie_processes)]
        let _watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the PostgreSQL watchdog");
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.stop_command().output();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn shell_quote(text: &std::ffi::OsStr) -> String {
    format!("'{}'", text.to_string_lossy().replace('\'', "'\\''"))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("CALLSIGHT_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let debian = Path::new("/usr/lib/postgresql/15/bin");
    debian.join("initdb").exists().then(|| debian.to_path_buf())
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free local port");
    listener.local_addr().expect("local address of the port probe").port()
}

fn run_checked(command: &mut Command, what: &str) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {what} ({:?}): {e}", command.get_program()));
    if !output.status.success() {
        panic!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}
