//! `floe sql`, run as a user would: tables by --table and --root, the query from an
//! argument, -f and stdin, output formats, EXPLAIN ANALYZE with pruning counts, time
//! travel, INSERT INTO (also from 4 processes at once: no row lost), DELETE and UPDATE
//! (also from 4 processes at once: no increment lost), a warehouse root, and bad input.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const FLOE: &str = env!("CARGO_BIN_EXE_floe");

fn floe(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(FLOE)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run floe");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    ok_in(dir, args, None)
}

#[track_caller]
fn ok_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = floe(dir, args, stdin);
    let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "floe {args:?}\n{so}\n{se}");
    so.into_owned()
}

#[track_caller]
fn fails(dir: &Path, args: &[&str], fragment: &str) {
    let out = floe(dir, args, None);
    let se = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "floe {args:?}: {se}");
    assert!(se.contains(fragment) && !se.contains("panicked"), "{fragment:?} not in {se}");
}

/// ./wh/events (partitioned by region, 3 appends) and ./wh/users.
fn warehouse(dir: &Path) {
    std::fs::create_dir_all(dir.join("wh")).unwrap();
    ok(dir, &["create", "wh/events", "--schema", "id:long!,region:string!,amount:double", "--partition", "region"]);
    for k in 0..3 {
        let mut csv = String::from("id,region,amount\n");
        for i in k * 100..(k + 1) * 100 {
            csv.push_str(&format!("{i},{},{}\n", ["eu", "us", "ap"][i % 3], i as f64 / 2.0));
        }
        let f = dir.join(format!("part{k}.csv"));
        std::fs::write(&f, csv).unwrap();
        ok(dir, &["append", "wh/events", f.to_str().unwrap()]);
    }
    ok(dir, &["create", "wh/users", "--schema", "id:long!,name:string"]);
    std::fs::write(dir.join("users.csv"), "id,name\n1,ann\n2,bob\n4,dee\n").unwrap();
    ok(dir, &["append", "wh/users", "users.csv"]);
}

#[test]
fn sql_queries_tables_by_name_and_root() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    warehouse(dir);
    // --table, argument, CSV (piped).
    let out = ok(
        dir,
        &[
            "sql",
            "--table",
            "events=wh/events",
            "SELECT region, count(*) AS n FROM events GROUP BY region ORDER BY region",
        ],
    );
    assert_eq!(out, "region,n\nap,100\neu,100\nus,100\n");
    // --root: a join by directory names; JSON lines.
    let out = ok(
        dir,
        &[
            "sql",
            "--root",
            "wh",
            "--format",
            "json",
            "SELECT e.id, u.name FROM events e JOIN users u USING (id) ORDER BY e.id",
        ],
    );
    assert_eq!(out, "{\"id\":1,\"name\":\"ann\"}\n{\"id\":2,\"name\":\"bob\"}\n{\"id\":4,\"name\":\"dee\"}\n");
    // -f FILE and stdin.
    std::fs::write(dir.join("q.sql"), "SELECT max(id) AS m FROM events WHERE region = 'eu'").unwrap();
    assert_eq!(ok(dir, &["sql", "--root", "wh", "-f", "q.sql"]), "m\n297\n");
    assert_eq!(ok_in(dir, &["sql", "-t", "events=wh/events"], Some("SELECT count(*) AS c FROM events")), "c\n300\n");
    // A text table; --output parquet read back through floe sql? (CSV read back here.)
    let table = ok(dir, &["sql", "--root", "wh", "--format", "table", "SELECT id, name FROM users ORDER BY id"]);
    assert!(table.contains("ann") && table.contains("(3 rows)"), "{table}");
    ok(dir, &["sql", "--root", "wh", "--output", "u.csv", "SELECT id FROM users ORDER BY id"]);
    assert_eq!(std::fs::read_to_string(dir.join("u.csv")).unwrap(), "id\n1\n2\n4\n");
    ok(dir, &["sql", "--root", "wh", "--output", "u.parquet", "SELECT * FROM users"]);
    assert!(std::fs::metadata(dir.join("u.parquet")).unwrap().len() > 0);
    // SHOW TABLES lists the root's tables.
    let out = ok(dir, &["sql", "--root", "wh", "SHOW TABLES"]);
    assert!(out.contains("events") && out.contains("users"), "{out}");
}

#[test]
fn sql_explain_analyze_reports_pruning() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    warehouse(dir);
    let out =
        ok(dir, &["sql", "--root", "wh", "EXPLAIN ANALYZE SELECT id FROM events WHERE region = 'eu' AND id < 50"]);
    assert!(out.contains("DataSourceExec"), "{out}");
    // 3 appends × 3 regions = 9 files; the region filter keeps 3.
    assert!(
        out.contains("floe planning events: manifests 3") && out.contains("files 9 (6 skipped by partition"),
        "{out}"
    );
    assert!(out.contains("row_groups_pruned_statistics"), "{out}");
    let out = ok(dir, &["sql", "--root", "wh", "EXPLAIN SELECT id FROM events WHERE id > 250"]);
    assert!(out.contains("files 9 (") && out.contains("by column stats"), "{out}");
}

#[test]
fn sql_time_travel_multi_statement_and_insert() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    warehouse(dir);
    // Version 2 of events is after the first append only.
    let out = ok(dir, &["sql", "--root", "wh", "SELECT count(*) AS c FROM floe_scan('events', 'version', 2)"]);
    assert_eq!(out, "c\n100\n");
    // INSERT then SELECT in one invocation: the SELECT sees the insert.
    let out = ok(
        dir,
        &["sql", "--root", "wh", "INSERT INTO users SELECT id + 100, name FROM users; SELECT count(*) AS c FROM users"],
    );
    assert!(out.ends_with("c\n6\n"), "{out}");
    // INSERT OVERWRITE.
    ok(dir, &["sql", "--root", "wh", "INSERT OVERWRITE users SELECT id, name FROM users WHERE id > 100"]);
    assert_eq!(ok(dir, &["sql", "--root", "wh", "SELECT id FROM users ORDER BY id"]), "id\n101\n102\n104\n");
    // The inserted files are floe's: pyiceberg-style readers see them through floe scan too.
    let out = ok(dir, &["scan", "wh/users", "--select", "id", "--format", "csv"]);
    assert_eq!(out.lines().count(), 4);
}

#[test]
fn sql_concurrent_inserts_from_four_processes_lose_nothing() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    ok(dir, &["create", "t", "--schema", "id:long!,who:long!"]);
    let children: Vec<_> = (0..4)
        .map(|p| {
            let q =
                format!("INSERT INTO t SELECT v + {} AS id, {p} AS who FROM generate_series(1, 250) AS s(v)", p * 1000);
            Command::new(FLOE)
                .args(["sql", "-t", "t=t", &q])
                .current_dir(dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = ok(
        dir,
        &["sql", "-t", "t=t", "SELECT who, count(*) AS n, count(DISTINCT id) AS d FROM t GROUP BY who ORDER BY who"],
    );
    assert_eq!(out, "who,n,d\n0,250,250\n1,250,250\n2,250,250\n3,250,250\n");
    // Four commits after the create.
    let h = ok(dir, &["history", "t", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&h).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(4), "{h}");
}

#[test]
fn sql_bad_input_is_one_line_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    warehouse(dir);
    fails(dir, &["sql", "--table", "events", "SELECT 1"], "NAME=LOCATION");
    fails(dir, &["sql", "--table", "x=nowhere", "SELECT 1"], "not a table directory");
    fails(dir, &["sql", "--root", "nowhere", "SELECT 1"], "not a directory");
    fails(dir, &["sql", "--root", "wh", "SELECT * FROM nosuch"], "nosuch");
    fails(dir, &["sql", "--root", "wh", "SELEC 1"], "sql:");
    fails(dir, &["sql", "--root", "wh", "SELECT * FROM floe_scan('events', 'version', 99)"], "sql:");
    fails(dir, &["sql", "--root", "wh", ""], "no statement");
}

#[test]
fn sql_delete_and_update_commit_through_floe() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    ok(dir, &["create", "t", "--schema", "id:long!,name:string,v:long"]);
    std::fs::write(dir.join("a.csv"), "id,name,v\n1,a,10\n2,b,20\n3,c,30\n4,,40\n").unwrap();
    ok(dir, &["append", "t", "a.csv"]);
    assert_eq!(ok(dir, &["sql", "-t", "t=t", "DELETE FROM t WHERE id = 2"]), "count\n1\n");
    assert_eq!(ok(dir, &["sql", "-t", "t=t", "UPDATE t SET v = v + 1, name = 'x' WHERE id >= 3"]), "count\n2\n");
    // SQL semantics: `NOT (name = 'x')` is null for a null name, so only row 1 goes.
    assert_eq!(ok(dir, &["sql", "-t", "t=t", "DELETE FROM t WHERE NOT (name = 'x')"]), "count\n1\n");
    assert_eq!(ok(dir, &["scan", "t", "--format", "csv"]), "id,name,v\n3,x,31\n4,x,41\n");
    // EXPLAIN plans the statement without running it.
    let plan = ok(dir, &["sql", "-t", "t=t", "EXPLAIN DELETE FROM t WHERE id = 3"]);
    assert!(plan.contains("FloeDmlExec: delete where id = 3"), "{plan}");
    assert_eq!(ok(dir, &["sql", "-t", "t=t", "SELECT count(*) AS n FROM t"]), "n\n2\n");
    // Conditions floe cannot state exactly, or that read another table: refused,
    // nothing changed.
    let before = ok(dir, &["history", "t", "--json"]);
    fails(dir, &["sql", "-t", "t=t", "DELETE FROM t WHERE v + 1 > 5"], "cannot be stated as a floe predicate");
    fails(
        dir,
        &["sql", "-t", "t=t", "UPDATE t SET v = 0 WHERE name LIKE 'x%'"],
        "cannot be stated as a floe predicate",
    );
    fails(
        dir,
        &["sql", "-t", "t=t", "DELETE FROM t WHERE id IN (SELECT id FROM t WHERE v > 40)"],
        "reads another table",
    );
    fails(dir, &["sql", "-t", "t=t", "DELETE FROM floe_scan('t', 'version', 2)"], "");
    // Folded to "no row" by DataFusion's optimizer (it would hand floe no condition).
    fails(dir, &["sql", "-t", "t=t", "DELETE FROM t WHERE false"], "can match no row");
    fails(dir, &["sql", "-t", "t=t", "EXPLAIN ANALYZE DELETE FROM t WHERE false"], "can match no row");
    fails(dir, &["sql", "-t", "t=t", "UPDATE t SET v = 0 WHERE id = 3 AND id = 4"], "can match no row");
    assert_eq!(ok(dir, &["history", "t", "--json"]), before);
    assert_eq!(ok(dir, &["scan", "t", "--format", "csv"]), "id,name,v\n3,x,31\n4,x,41\n");
    assert_eq!(ok(dir, &["sql", "-t", "t=t", "TRUNCATE TABLE t; SELECT count(*) AS n FROM t"]), "count\n2\nn\n0\n");
}

/// Four processes each add 1 to the same row five times through `UPDATE`: commits that
/// touched the same row conflict (serializable) and are redone from a fresh read, so
/// no increment is lost.
#[test]
fn sql_concurrent_updates_from_four_processes_lose_no_increment() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    ok(dir, &["create", "t", "--schema", "id:long!,v:long!"]);
    std::fs::write(dir.join("a.csv"), "id,v\n1,0\n2,100\n").unwrap();
    ok(dir, &["append", "t", "a.csv"]);
    let q = ["UPDATE t SET v = v + 1 WHERE id = 1"; 5].join("; ");
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(FLOE)
                .args(["sql", "-t", "t=t", &q])
                .current_dir(dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(ok(dir, &["sql", "-t", "t=t", "SELECT * FROM t ORDER BY id"]), "id,v\n1,20\n2,100\n");
}

/// `--root` on a warehouse: its tables by name, every statement reading all of them at
/// one catalog version, writes committed through the warehouse's catalog.
#[test]
fn sql_over_a_warehouse_root() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    ok(dir, &["create-warehouse", "wh"]);
    ok(dir, &["create", "wh/a", "--schema", "id:long!,x:string"]);
    ok(dir, &["create", "wh/b", "--schema", "id:long!,score:long"]);
    std::fs::write(dir.join("a.csv"), "id,x\n1,a\n2,b\n").unwrap();
    std::fs::write(dir.join("b.csv"), "id,score\n1,5\n2,7\n").unwrap();
    ok(dir, &["append", "wh/a", "a.csv"]);
    ok(dir, &["append", "wh/b", "b.csv"]);
    let tables = ok(
        dir,
        &[
            "sql",
            "--root",
            "wh",
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
        ],
    );
    assert_eq!(tables, "table_name\na\nb\n");
    let out = ok(
        dir,
        &[
            "sql",
            "--root",
            "wh",
            "SELECT * FROM a JOIN b USING (id) ORDER BY id; INSERT INTO a VALUES (3, 'c'); DELETE FROM b WHERE id = 1; \
             UPDATE a SET x = 'q' WHERE id = 2; SELECT a.id, x, score FROM a LEFT JOIN b USING (id) ORDER BY a.id",
        ],
    );
    assert_eq!(out, "id,x,score\n1,a,5\n2,b,7\ncount\n1\ncount\n1\ncount\n1\nid,x,score\n1,a,\n2,q,7\n3,c,\n");
    // Three commits, each through the catalog (v1 create, 2 creates, 2 appends, 3 writes).
    let v: serde_json::Value = serde_json::from_str(&ok(dir, &["--json", "tables", "wh"])).unwrap();
    assert_eq!(v["catalog_version"], 8, "{v}");
}
