//! Filtered and thresholded queries through SQL, diskvec next to pgvector's
//! HNSW in the same run: recall@10 against the exact filtered top 10, rows
//! returned and QPS, one client. Prints tables; asserts nothing.
//!
//! Each data set (cosine) gets three uniform attributes (`u10`, `u100`,
//! `u1000`: one value in 10, 100, 1000 per row, so a filter keeps 10%, 1%,
//! 0.1% of the rows) and, on WordNet, the part of speech (`pos`, the first
//! letter of each row's WordNet id: nouns 70%, adjectives 18%, verbs 12%),
//! each query filtering on its own part of speech (a filter correlated with
//! the query). `WHERE col = $2 ORDER BY embedding <=> $1 LIMIT 10` runs on:
//! * diskvec, plain WHERE: an index on the vector only, the executor
//!   filtering the rows it streams (`diskvec.iterative_scan` strict and
//!   relaxed order);
//! * diskvec, attribute in the index: `(embedding, u10, u100, u1000, pos)`
//!   (default settings);
//! * pgvector 0.8.0 HNSW (m 16, ef_construction 64, default ef_search),
//!   `hnsw.iterative_scan` strict and relaxed order;
//! * exact search: the query with index scans off (fewer queries), after
//!   every filter's rounds.
//!
//! The systems alternate within each of `DISKVEC_BENCH_ROUNDS` rounds (this
//! VM's speed drifts), after a warm-up round that is not counted; QPS is
//! each system's best round, each round's QPS beside it, and the in-index
//! rows against pgvector's relaxed order are also given round by round
//! (the two run seconds apart). Then, on the first set, distance
//! thresholds matching 10, 100 and 1,000 rows per query (`WHERE embedding
//! <=> $1 < $2`, with and without ORDER BY): the rows returned against
//! exact search's, QPS, and the index pages a query reads
//! (the transaction's block fetches of the index) at two `max_scan_tuples`.
//! Last, the planner's choices with and without a btree on the attribute,
//! and unfiltered top 10 for reference.
//!
//! Environment: `DISKVEC_TEST_PORT` (a server with diskvec and pgvector
//! installed), `DISKVEC_BENCH_SETS` (default `wordnet384,glove50`),
//! `DISKVEC_BENCH_QUERIES` (200), `DISKVEC_BENCH_EXACT` (20),
//! `DISKVEC_BENCH_ROUNDS` (2), `DISKVEC_BENCH_N` (a subset of the base),
//! `DISKVEC_BENCH_FILTERS` (the attributes filtered on, default
//! `u10,u100,u1000,pos`), `DISKVEC_BENCH_LIST` (diskvec's search list
//! for the filtered rows; default the GUC's), `DISKVEC_BENCH_PARTS` (which
//! sections run, default `filters,thresholds,unfiltered,plans`).
//! Tables and indexes are kept between runs (databases `filters_diskvec`,
//! `filters_pgvector`); `DISKVEC_BENCH_REBUILD=1` builds the indexes anew.

use diskvec_e2e::{binary_copy, connect, copy_in, Vector};
use diskvec_engine::dataset;
use postgres::types::ToSql;
use postgres::Client;
use std::collections::HashSet;
use std::time::Instant;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Row `i`'s uniform attributes: one of 10, 100, 1000 values.
fn uniform(i: usize) -> [i32; 3] {
    let h = mix(i as u64);
    [
        (h % 10) as i32,
        ((h >> 16) % 100) as i32,
        ((h >> 32) % 1000) as i32,
    ]
}

/// Part of speech from a WordNet id: 0 noun, 1 adjective, 2 verb.
fn pos_of(id: &str) -> i32 {
    match id.as_bytes()[0] {
        b'n' => 0,
        b'a' | b's' => 1,
        _ => 2,
    }
}

fn database(name: &str, extension: &str) -> Client {
    let mut admin = connect("postgres");
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .unwrap()
        .is_some();
    if !exists {
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
    }
    let mut c = connect(name);
    c.batch_execute(&format!("CREATE EXTENSION IF NOT EXISTS {extension}"))
        .unwrap();
    c
}

fn exists(c: &mut Client, kind: &str, name: &str) -> bool {
    let sql = match kind {
        "table" => "SELECT count(*) FROM pg_tables WHERE tablename = $1",
        _ => "SELECT count(*) FROM pg_indexes WHERE indexname = $1",
    };
    c.query_one(sql, &[&name]).unwrap().get::<_, i64>(0) > 0
}

/// `table (id, embedding, u10, u100, u1000, pos)` loaded with binary COPY.
fn load(c: &mut Client, table: &str, base: &[f32], dim: usize, pos: &[i32]) {
    if exists(c, "table", table) {
        return;
    }
    c.batch_execute(&format!(
        "CREATE TABLE {table} (id int4 PRIMARY KEY, embedding vector({dim}), u10 int4, u100 int4, u1000 int4, pos int4)"
    ))
    .unwrap();
    let int = |x: i32| Some(x.to_be_bytes().to_vec());
    let rows: Vec<Vec<Option<Vec<u8>>>> = base
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, v)| {
            let mut buf = Vec::new();
            diskvec_engine::vector_text::encode_vector_binary(v, &mut buf);
            let u = uniform(i);
            vec![
                int(i as i32 + 1),
                Some(buf),
                int(u[0]),
                int(u[1]),
                int(u[2]),
                int(pos[i]),
            ]
        })
        .collect();
    copy_in(
        c,
        &format!("COPY {table} FROM STDIN (FORMAT binary)"),
        &binary_copy(&rows),
    )
    .unwrap();
    c.batch_execute(&format!("VACUUM ANALYZE {table}")).unwrap();
}

fn index(c: &mut Client, name: &str, sql: &str) {
    let rebuild = env("DISKVEC_BENCH_REBUILD", "0") == "1";
    if exists(c, "index", name) && !rebuild {
        println!("- {name}: kept from an earlier run");
        return;
    }
    c.batch_execute(&format!(
        "DROP INDEX IF EXISTS {name}; SET maintenance_work_mem = '2GB'"
    ))
    .unwrap();
    let t = Instant::now();
    c.batch_execute(sql).unwrap();
    println!("- {name}: built in {:.1} s", t.elapsed().as_secs_f64());
}

/// One query per row of `params`; ids (0-based) of each answer, and QPS.
fn run(c: &mut Client, sql: &str, params: &[Vec<&(dyn ToSql + Sync)>]) -> (Vec<Vec<u64>>, f64) {
    let stmt = c.prepare(sql).unwrap();
    let t = Instant::now();
    let got: Vec<Vec<u64>> = params
        .iter()
        .map(|p| {
            c.query(&stmt, p)
                .unwrap()
                .iter()
                .map(|r| (r.get::<_, i32>(0) - 1) as u64)
                .collect()
        })
        .collect();
    (got, params.len() as f64 / t.elapsed().as_secs_f64())
}

/// Recall (found over wanted, summed over queries) and mean rows.
fn score(got: &[Vec<u64>], truth: &[Vec<u64>]) -> (f64, f64) {
    let (mut found, mut wanted, mut rows) = (0, 0, 0);
    for (g, t) in got.iter().zip(truth) {
        let t: HashSet<u64> = t.iter().copied().collect();
        found += g.iter().filter(|x| t.contains(x)).count();
        wanted += t.len();
        rows += g.len();
    }
    (
        found as f64 / wanted.max(1) as f64,
        rows as f64 / got.len() as f64,
    )
}

/// Per query: row ids closest first (cosine), and their distances.
fn ranked(base: &[f32], queries: &[f32], dim: usize) -> Vec<(Vec<u32>, Vec<f32>)> {
    let unit = |v: &[f32]| {
        let n = diskvec_engine::distance::norm_squared(v).sqrt();
        v.iter()
            .map(|x| (*x as f64 / n) as f32)
            .collect::<Vec<f32>>()
    };
    let b: Vec<f32> = base.chunks_exact(dim).flat_map(unit).collect();
    queries
        .chunks_exact(dim)
        .map(|q| {
            let q = unit(q);
            let d: Vec<f32> = b
                .chunks_exact(dim)
                .map(|v| 1.0 - diskvec_engine::distance::dot_f32(&q, v))
                .collect();
            let mut order: Vec<u32> = (0..d.len() as u32).collect();
            order.sort_unstable_by(|&x, &y| d[x as usize].total_cmp(&d[y as usize]));
            let sorted = order.iter().map(|&i| d[i as usize]).collect();
            (order, sorted)
        })
        .collect()
}

struct System {
    name: &'static str,
    db: usize,
    table: String,
    settings: &'static str,
}

fn filtered(set: &str, sets: &Sets, dbs: &mut [Client; 2], rounds: usize) {
    let Sets {
        nq,
        nexact,
        ref rank,
        ref attrs,
        ref qpos,
        ref queries,
        dim,
    } = *sets;
    let columns: Vec<(&str, &str, Box<dyn Fn(usize) -> i32>)> = {
        let mut v: Vec<(&str, &str, Box<dyn Fn(usize) -> i32>)> = vec![
            ("10%", "u10", Box::new(|q| (mix(q as u64 + 7) % 10) as i32)),
            ("1%", "u100", Box::new(|q| (mix(q as u64 + 7) % 100) as i32)),
            (
                "0.1%",
                "u1000",
                Box::new(|q| (mix(q as u64 + 7) % 1000) as i32),
            ),
        ];
        if !qpos.is_empty() {
            v.push(("part of speech", "pos", Box::new(|q| qpos[q])));
        }
        let only = env("DISKVEC_BENCH_FILTERS", "u10,u100,u1000,pos");
        v.retain(|c| only.split(',').any(|x| x == c.1));
        v
    };
    let t = format!("filters_{set}");
    let systems = [
        System {
            name: "diskvec, plain WHERE, strict",
            db: 0,
            table: format!("{t}_plain"),
            settings: "SET diskvec.iterative_scan = strict_order",
        },
        System {
            name: "diskvec, plain WHERE, relaxed",
            db: 0,
            table: format!("{t}_plain"),
            settings: "SET diskvec.iterative_scan = relaxed_order",
        },
        System {
            name: "diskvec, in the index, strict (default)",
            db: 0,
            table: format!("{t}_attr"),
            settings: "RESET diskvec.iterative_scan",
        },
        System {
            name: "diskvec, in the index, relaxed",
            db: 0,
            table: format!("{t}_attr"),
            settings: "SET diskvec.iterative_scan = relaxed_order",
        },
        System {
            name: "pgvector HNSW, strict",
            db: 1,
            table: t.clone(),
            settings: "SET hnsw.iterative_scan = strict_order",
        },
        System {
            name: "pgvector HNSW, relaxed",
            db: 1,
            table: t.clone(),
            settings: "SET hnsw.iterative_scan = relaxed_order",
        },
    ];
    // DISKVEC_BENCH_LIST: diskvec's search list for these rows (default
    // the GUC's default).
    let list = env("DISKVEC_BENCH_LIST", "");
    let list_setting = if list.is_empty() {
        "RESET diskvec.search_list_size".to_string()
    } else {
        format!("SET diskvec.search_list_size = {list}")
    };
    let at_list = if list.is_empty() {
        String::new()
    } else {
        format!(", diskvec.search_list_size = {list}")
    };
    println!(
        "\n### {set}: `WHERE attribute = $2 ORDER BY embedding <=> $1 LIMIT 10`, {nq} queries{at_list}\n"
    );
    println!("| filter | system | recall@10 | rows | QPS | QPS / exact | QPS each round |");
    println!("|---|---|---:|---:|---:|---:|---|");
    // The pair #17 compares, round by round: the two run seconds apart,
    // so a round's ratio is free of the VM's drift between rounds, which
    // each system's best round is not.
    let find = |name: &str| systems.iter().position(|s| s.name == name).unwrap();
    let headline = (
        find("diskvec, in the index, strict (default)"),
        find("pgvector HNSW, relaxed"),
    );
    let mut ratios = Vec::new();
    let vecs: Vec<Vector> = queries.chunks_exact(dim).map(Vector).collect();
    let sql = |table: &str, col: &str| {
        format!("SELECT id FROM {table} WHERE {col} = $2 ORDER BY embedding <=> $1 LIMIT 10")
    };
    // Every filter's rounds first, then every exact search, so that no
    // round follows a sequential scan of the whole table through shared
    // buffers.
    let mut measured = Vec::new();
    for (_, col, value) in &columns {
        let ci = ["u10", "u100", "u1000", "pos"]
            .iter()
            .position(|c| c == col)
            .unwrap();
        let truth: Vec<Vec<u64>> = (0..nq)
            .map(|q| {
                let v = value(q);
                rank[q]
                    .0
                    .iter()
                    .filter(|&&i| attrs[i as usize][ci] == v)
                    .take(10)
                    .map(|&i| i as u64)
                    .collect()
            })
            .collect();
        let values: Vec<i32> = (0..nq).map(value).collect();
        let params: Vec<Vec<&(dyn ToSql + Sync)>> = (0..nq)
            .map(|q| vec![&vecs[q] as &(dyn ToSql + Sync), &values[q]])
            .collect();
        let mut best = vec![(0.0, 0.0, 0.0); systems.len()];
        let mut each = vec![Vec::new(); systems.len()];
        // A round that is not counted before each filter's: a filter's
        // first pass reads pages no pass before it needed (the server may
        // have just started, and each filter leads a walk or a flat scan
        // to other nodes), which ran its in-index row at a third to three
        // quarters of its later rounds (benches/notes/50-filters.md).
        let warm_up = 1;
        for round in 0..warm_up + rounds {
            for (i, s) in systems.iter().enumerate() {
                let c = &mut dbs[s.db];
                c.batch_execute(s.settings).unwrap();
                if s.db == 0 {
                    c.batch_execute(&list_setting).unwrap();
                }
                let (got, qps) = run(c, &sql(&s.table, col), &params);
                if round < warm_up {
                    continue;
                }
                let (r, rows) = score(&got, &truth);
                each[i].push(qps);
                if qps > best[i].2 {
                    best[i] = (r, rows, qps);
                }
            }
        }
        measured.push((truth, values, best, each));
    }
    for ((label, col, _), (truth, values, best, each)) in columns.iter().zip(&measured) {
        // Exact: a sequential scan on diskvec's server, fewer queries.
        let params: Vec<Vec<&(dyn ToSql + Sync)>> = (0..nexact)
            .map(|q| vec![&vecs[q] as &(dyn ToSql + Sync), &values[q]])
            .collect();
        dbs[0]
            .batch_execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
            .unwrap();
        let (got, exact_qps) = run(&mut dbs[0], &sql(&systems[0].table, col), &params);
        dbs[0]
            .batch_execute("RESET enable_indexscan; RESET enable_bitmapscan")
            .unwrap();
        let (r, rows) = score(&got, &truth[..nexact]);
        println!("| {label} | exact (sequential scan, {nexact} queries) | {r:.4} | {rows:.1} | {exact_qps:.1} | 1.0 | |");
        for ((s, &(r, rows, qps)), each) in systems.iter().zip(best).zip(each) {
            let each: Vec<String> = each.iter().map(|q| format!("{q:.0}")).collect();
            println!(
                "| {label} | {} | {r:.4} | {rows:.1} | {qps:.0} | {:.1} | {} |",
                s.name,
                qps / exact_qps,
                each.join(" / ")
            );
        }
        let (a, b) = headline;
        let mut per_round: Vec<f64> = each[a].iter().zip(&each[b]).map(|(x, y)| x / y).collect();
        per_round.sort_by(f64::total_cmp);
        ratios.push((label, best[a].2 / best[b].2, per_round));
    }
    println!(
        "\n{} / {}: best round against best round, then each round's ratio (sorted)\n",
        systems[headline.0].name, systems[headline.1].name
    );
    println!("| filter | best / best | each round | median |");
    println!("|---|---:|---|---:|");
    for (label, best, per_round) in ratios {
        let each: Vec<String> = per_round.iter().map(|r| format!("{r:.2}")).collect();
        let mid = per_round.len() / 2;
        let median = if per_round.is_empty() {
            f64::NAN
        } else if per_round.len() % 2 == 1 {
            per_round[mid]
        } else {
            (per_round[mid - 1] + per_round[mid]) / 2.0
        };
        println!(
            "| {label} | {best:.2} | {} | {median:.2} |",
            each.join(", ")
        );
    }
    for c in dbs.iter_mut() {
        c.batch_execute("RESET diskvec.iterative_scan").ok();
        c.batch_execute("RESET diskvec.search_list_size").ok();
        c.batch_execute("RESET hnsw.iterative_scan").ok();
    }
}

struct Sets {
    nq: usize,
    nexact: usize,
    dim: usize,
    rank: Vec<(Vec<u32>, Vec<f32>)>,
    /// Per row: u10, u100, u1000, pos.
    attrs: Vec<[i32; 4]>,
    qpos: Vec<i32>,
    queries: Vec<f32>,
}

/// Index blocks a query fetched (the transaction's counter).
fn index_blocks(c: &mut Client, index: &str, sql: &str, p: &[&(dyn ToSql + Sync)]) -> (i64, usize) {
    let mut tx = c.transaction().unwrap();
    let before: i64 = tx
        .query_one(
            &format!("SELECT pg_stat_get_xact_blocks_fetched('{index}'::regclass)"),
            &[],
        )
        .unwrap()
        .get(0);
    let rows = tx.query(sql, p).unwrap().len();
    let after: i64 = tx
        .query_one(
            &format!("SELECT pg_stat_get_xact_blocks_fetched('{index}'::regclass)"),
            &[],
        )
        .unwrap()
        .get(0);
    tx.commit().unwrap();
    (after - before, rows)
}

fn thresholds(set: &str, sets: &Sets, c: &mut Client) {
    let Sets {
        nq,
        ref rank,
        ref queries,
        dim,
        nexact,
        ..
    } = *sets;
    let table = format!("filters_{set}_plain");
    let idx = format!("{table}_vec");
    println!("\n### {set}: distance thresholds, {nq} queries, each its own threshold (halfway between its k-th and k+1-th distance)\n");
    println!("| rows matching | query | rows returned | same as exact | QPS | QPS / exact | index pages a query (max_scan_tuples 20000 / 200000) |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let vecs: Vec<Vector> = queries.chunks_exact(dim).map(Vector).collect();
    for k in [10usize, 100, 1000] {
        let radius: Vec<f64> = (0..nq)
            .map(|q| ((rank[q].1[k - 1] + rank[q].1[k]) / 2.0) as f64)
            .collect();
        let truth: Vec<Vec<u64>> = (0..nq)
            .map(|q| rank[q].0[..k].iter().map(|&i| i as u64).collect())
            .collect();
        let params: Vec<Vec<&(dyn ToSql + Sync)>> = (0..nq)
            .map(|q| vec![&vecs[q] as &(dyn ToSql + Sync), &radius[q]])
            .collect();
        for (what, sql) in [
            (
                "no ORDER BY",
                format!("SELECT id FROM {table} WHERE embedding <=> $1 < $2"),
            ),
            (
                "ORDER BY distance",
                format!(
                    "SELECT id FROM {table} WHERE embedding <=> $1 < $2 ORDER BY embedding <=> $1"
                ),
            ),
        ] {
            c.batch_execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
                .unwrap();
            let (_, exact_qps) = run(c, &sql, &params[..nexact]);
            c.batch_execute("RESET enable_indexscan; RESET enable_bitmapscan")
                .unwrap();
            // A warm-up pass: the first statement on the plain table would
            // otherwise pay for its pages (a run of only some filters has
            // not read that table before).
            run(c, &sql, &params);
            let (got, qps) = run(c, &sql, &params);
            let (same, rows) = score(&got, &truth);
            let mut pages = [0i64; 2];
            for (j, limit) in [20000, 200000].iter().enumerate() {
                c.batch_execute(&format!("SET diskvec.max_scan_tuples = {limit}"))
                    .unwrap();
                for p in params.iter().take(20) {
                    pages[j] += index_blocks(c, &idx, &sql, p).0;
                }
            }
            c.batch_execute("RESET diskvec.max_scan_tuples").unwrap();
            println!(
                "| {k} | {what} | {rows:.1} | {same:.4} | {qps:.0} | {:.1} | {} / {} |",
                qps / exact_qps,
                pages[0] / 20,
                pages[1] / 20
            );
        }
    }
}

/// A plan line with its vector literals (hundreds of numbers) as `[...]`.
fn short(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("'[") {
        let Some(len) = rest[start..].find("]'") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str("'[...]'");
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

fn plans(set: &str, c: &mut Client, q: &[f32]) {
    let t = format!("filters_{set}");
    let explain = |c: &mut Client, sql: &str| -> String {
        c.query(&format!("EXPLAIN (COSTS OFF) {sql}"), &[&Vector(q)])
            .unwrap()
            .iter()
            .map(|r| short(&r.get::<_, String>(0)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    println!("\n### {set}: the planner's choices\n");
    println!("```");
    for (what, sql) in [
        (
            "attribute in the index, =",
            format!("SELECT id FROM {t}_attr WHERE u1000 = 7 ORDER BY embedding <=> $1 LIMIT 10"),
        ),
        (
            "attribute in the index, IN",
            format!(
                "SELECT id FROM {t}_attr WHERE u100 IN (3, 4) ORDER BY embedding <=> $1 LIMIT 10"
            ),
        ),
        (
            "distance threshold",
            format!("SELECT id FROM {t}_plain WHERE embedding <=> $1 < 0.3"),
        ),
        (
            "plain WHERE, no btree, 1%",
            format!("SELECT id FROM {t}_plain WHERE u100 = 7 ORDER BY embedding <=> $1 LIMIT 10"),
        ),
    ] {
        println!("-- {what}\n{}\n", explain(c, &sql));
    }
    c.batch_execute(&format!(
        "CREATE INDEX IF NOT EXISTS {t}_u1000 ON {t}_plain (u1000); CREATE INDEX IF NOT EXISTS {t}_u10 ON {t}_plain (u10); ANALYZE {t}_plain"
    ))
    .unwrap();
    for (what, sql) in [
        (
            "plain WHERE with a btree, 0.1%",
            format!("SELECT id FROM {t}_plain WHERE u1000 = 7 ORDER BY embedding <=> $1 LIMIT 10"),
        ),
        (
            "plain WHERE with a btree, 10%",
            format!("SELECT id FROM {t}_plain WHERE u10 = 7 ORDER BY embedding <=> $1 LIMIT 10"),
        ),
    ] {
        println!("-- {what}\n{}\n", explain(c, &sql));
    }
    c.batch_execute(&format!("DROP INDEX {t}_u1000; DROP INDEX {t}_u10"))
        .unwrap();
    println!("```");
}

fn main() {
    let nq: usize = env("DISKVEC_BENCH_QUERIES", "200").parse().unwrap();
    let nexact: usize = env("DISKVEC_BENCH_EXACT", "20").parse().unwrap();
    let rounds: usize = env("DISKVEC_BENCH_ROUNDS", "2").parse().unwrap();
    let parts = env("DISKVEC_BENCH_PARTS", "filters,thresholds,unfiltered,plans");
    let mut dbs = [
        database("filters_diskvec", "diskvec"),
        database("filters_pgvector", "vector"),
    ];
    for (si, set) in env("DISKVEC_BENCH_SETS", "wordnet384,glove50")
        .split(',')
        .enumerate()
    {
        let ds = dataset::load(set);
        let dim = ds.base.cols;
        let n = env("DISKVEC_BENCH_N", "")
            .parse::<usize>()
            .unwrap_or(ds.base.rows)
            .min(ds.base.rows);
        let base = &ds.base.data[..n * dim];
        let ids_file = dataset::data_dir().join(format!("{set}/base_ids.txt"));
        let pos: Vec<i32> = match std::fs::read_to_string(&ids_file) {
            Ok(s) => s.lines().take(n).map(pos_of).collect(),
            Err(_) => vec![0; n],
        };
        let qpos: Vec<i32> =
            std::fs::read_to_string(dataset::data_dir().join(format!("{set}/queries_ids.txt")))
                .map(|s| s.lines().take(nq).map(pos_of).collect())
                .unwrap_or_default();
        let nq = nq.min(ds.queries.rows);
        let queries = ds.queries.data[..nq * dim].to_vec();
        let set_name = if n == ds.base.rows {
            set.to_string()
        } else {
            format!("{set}_{n}")
        };
        println!("\n## {set_name}: {n} x {dim}, cosine\n");
        let t = format!("filters_{set_name}");
        load(&mut dbs[0], &format!("{t}_plain"), base, dim, &pos);
        if !exists(&mut dbs[0], "table", &format!("{t}_attr")) {
            // Two statements: VACUUM cannot run in the implicit transaction
            // of a multi-statement batch.
            dbs[0]
                .batch_execute(&format!("CREATE TABLE {t}_attr AS TABLE {t}_plain"))
                .unwrap();
            dbs[0]
                .batch_execute(&format!("VACUUM ANALYZE {t}_attr"))
                .unwrap();
        }
        load(&mut dbs[1], &t, base, dim, &pos);
        index(&mut dbs[0], &format!("{t}_plain_vec"), &format!("CREATE INDEX {t}_plain_vec ON {t}_plain USING diskvec (embedding vector_cosine_ops)"));
        index(&mut dbs[0], &format!("{t}_attr_vec"), &format!("CREATE INDEX {t}_attr_vec ON {t}_attr USING diskvec (embedding vector_cosine_ops, u10, u100, u1000, pos)"));
        index(&mut dbs[1], &format!("{t}_hnsw"), &format!("CREATE INDEX {t}_hnsw ON {t} USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"));
        let t0 = Instant::now();
        let rank = ranked(base, &queries, dim);
        println!(
            "- exact answers computed in-process in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        let attrs: Vec<[i32; 4]> = (0..n)
            .map(|i| {
                let u = uniform(i);
                [u[0], u[1], u[2], pos[i]]
            })
            .collect();
        let sets = Sets {
            nq,
            nexact: nexact.min(nq),
            dim,
            rank,
            attrs,
            qpos: if qpos.is_empty() {
                Vec::new()
            } else {
                qpos[..nq].to_vec()
            },
            queries,
        };
        let part = |name: &str| parts.split(',').any(|p| p == name);
        if part("filters") {
            filtered(&set_name, &sets, &mut dbs, rounds);
        }
        if si == 0 && part("thresholds") {
            thresholds(&set_name, &sets, &mut dbs[0]);
        }
        if part("unfiltered") {
            unfiltered(&set_name, &t, &sets, &mut dbs);
        }
        if part("plans") {
            plans(&set_name, &mut dbs[0], &sets.queries[..dim]);
        }
    }
}

/// Unfiltered top 10 on both systems, for reference.
fn unfiltered(set_name: &str, t: &str, sets: &Sets, dbs: &mut [Client; 2]) {
    let dim = sets.dim;
    println!("\n### {set_name}: unfiltered `ORDER BY embedding <=> $1 LIMIT 10`\n");
    println!("| system | recall@10 | QPS |");
    println!("|---|---:|---:|");
    let vecs: Vec<Vector> = sets.queries.chunks_exact(dim).map(Vector).collect();
    let params: Vec<Vec<&(dyn ToSql + Sync)>> = vecs
        .iter()
        .map(|v| vec![v as &(dyn ToSql + Sync)])
        .collect();
    let truth: Vec<Vec<u64>> = sets
        .rank
        .iter()
        .map(|r| r.0[..10].iter().map(|&i| i as u64).collect())
        .collect();
    for (name, db, table) in [
        ("diskvec", 0, format!("{t}_plain")),
        ("pgvector HNSW", 1, t.to_string()),
    ] {
        let (got, qps) = run(
            &mut dbs[db],
            &format!("SELECT id FROM {table} ORDER BY embedding <=> $1 LIMIT 10"),
            &params,
        );
        println!("| {name} | {:.4} | {qps:.0} |", score(&got, &truth).0);
    }
}
