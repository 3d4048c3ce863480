//! A Citus cluster of our own on this machine (the scale-out test and
//! benchmark): a coordinator and two workers, each a [`Server`] with
//! `shared_preload_libraries = 'citus'`, reaching each other over unix
//! sockets in /tmp (node name `/tmp`). Citus itself comes from
//! `../shared/vendor/citus/build.sh` (`scripts/test.sh` and
//! `benches/citus.sh` run it).

use crate::server::Server;
use postgres::Client;

pub struct Cluster {
    pub coordinator: Server,
    pub workers: Vec<Server>,
}

impl Cluster {
    /// Starts the coordinator on `port` and two workers on the next two,
    /// each with `settings` too, and creates Citus and diskvec (the
    /// coordinator creates diskvec on the workers).
    pub fn start(name: &str, port: u16, settings: &[&str]) -> Cluster {
        // A node connects to itself (shard moves) at citus.local_hostname,
        // by default localhost over TCP, which these servers do not listen on.
        let mut all = vec![
            "shared_preload_libraries = 'citus'",
            "citus.local_hostname = '/tmp'",
        ];
        all.extend_from_slice(settings);
        let coordinator = Server::start(&format!("{name}-coord"), port, &all);
        let workers: Vec<Server> = (0..2u16)
            .map(|i| Server::start(&format!("{name}-w{i}"), port + 1 + i, &all))
            .collect();
        for s in workers.iter().chain([&coordinator]) {
            s.connect("postgres")
                .batch_execute("CREATE EXTENSION citus")
                .unwrap_or_else(|e| panic!("CREATE EXTENSION citus: {e:?}\n{}", s.log()));
        }
        let mut c = coordinator.connect("postgres");
        c.execute(
            "SELECT citus_set_coordinator_host('/tmp', $1)",
            &[&(coordinator.port as i32)],
        )
        .unwrap();
        for w in &workers {
            c.execute("SELECT citus_add_node('/tmp', $1)", &[&(w.port as i32)])
                .unwrap();
        }
        c.batch_execute("CREATE EXTENSION diskvec").unwrap();
        Cluster {
            coordinator,
            workers,
        }
    }

    pub fn coordinator(&self) -> Client {
        self.coordinator.connect("postgres")
    }

    /// A session on worker `i` that sees the shards (Citus hides them from
    /// the catalog by default).
    pub fn worker(&self, i: usize) -> Client {
        let mut c = self.workers[i].connect("postgres");
        c.batch_execute("SET citus.override_table_visibility = off")
            .unwrap();
        c
    }

    /// Name and reloptions of each shard of index `index` on worker `i`
    /// (`index_<shard id>`).
    pub fn shard_indexes(&self, i: usize, index: &str) -> Vec<(String, Option<Vec<String>>)> {
        self.worker(i)
            .query(
                "SELECT relname::text, reloptions FROM pg_class
                 WHERE relkind = 'i' AND relname ~ ('^' || $1 || '_[0-9]+$') ORDER BY 1",
                &[&index],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }
}
