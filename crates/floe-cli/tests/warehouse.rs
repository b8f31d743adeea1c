//! The `floe` command on warehouse tables (docs/transactions.md): `create-warehouse`,
//! `create ROOT/name`, every table command through `ROOT/name`, `ROOT/ns/name` and
//! `--warehouse ROOT name`, `tables`, and `repair` after a writer crashed between the
//! commit point and its publishes.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const FLOE: &str = env!("CARGO_BIN_EXE_floe");

fn floe(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(FLOE);
    c.args(args).current_dir(dir).env("NO_COLOR", "1").stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run floe")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = floe(dir, args, &[]);
    let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "floe {args:?} failed: {so}\n{se}");
    so.into_owned()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok(dir, &a)).unwrap()
}

fn fails(dir: &Path, args: &[&str], code: i32, fragment: &str) {
    let out = floe(dir, args, &[]);
    let se = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "floe {args:?}: {se}");
    assert!(se.contains(fragment), "floe {args:?}: {se:?} lacks {fragment:?}");
}

#[test]
fn warehouse_commands() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("o.csv"), "id,sku\n1,a\n2,b\n").unwrap();
    std::fs::write(d.join("o2.csv"), "id,sku\n2,B\n3,c\n").unwrap();
    fails(d, &["tables", "wh"], 2, "no warehouse");
    ok(d, &["create-warehouse", "wh"]);
    fails(d, &["create-warehouse", "wh"], 2, "already exists");
    ok(d, &["create", "wh/orders", "--schema", "id:long!,sku:string"]);
    ok(d, &["create", "--warehouse", "wh", "sales.items", "--schema", "id:long!,sku:string"]);
    assert!(d.join("wh/sales/items/metadata/v1.metadata.json").exists());
    fails(d, &["create", "wh/orders", "--schema", "id:long!"], 2, "already exists");

    // Writes through every spelling go through the warehouse's catalog.
    let r = json(d, &["append", "wh/orders", "o.csv"]);
    assert_eq!(r["version"], 2);
    json(d, &["upsert", "--warehouse", "wh", "orders", "--key", "id", "o2.csv"]);
    json(d, &["append", "wh/sales/items", "o.csv"]);
    json(d, &["delete", "wh/sales.items", "--where", "id = 1"]);
    let scan = ok(d, &["scan", "wh/orders", "--format", "csv"]);
    let mut lines: Vec<&str> = scan.lines().skip(1).collect();
    lines.sort();
    assert_eq!(lines, ["1,a", "2,B", "3,c"]);
    let items = ok(d, &["scan", "--warehouse", "wh", "sales.items", "--format", "csv"]);
    assert_eq!(items.lines().skip(1).collect::<Vec<_>>(), ["2,b"]);

    let t = json(d, &["tables", "wh"]);
    // create-warehouse, 2 creates, 4 commits.
    assert_eq!(t["catalog_version"], 7);
    let names: Vec<&str> = t["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["orders", "sales.items"]);
    assert_eq!(t["tables"][0]["version"], 3);
    assert!(ok(d, &["tables", "wh"]).contains("sales.items"));
    // Reads (info, history) work on the name too.
    assert_eq!(json(d, &["info", "wh/orders"])["version"], 3);

    fails(d, &["scan", "wh/nope"], 2, "no table \"nope\"");
    fails(d, &["scan", "--warehouse", "wh", "a b"], 2, "no table");
    fails(d, &["tables", "wh", "--warehouse", "wh"], 2, "--warehouse is for commands that take a TABLE");
}

#[test]
fn repair_rolls_forward_a_crashed_commit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("o.csv"), "id,sku\n1,a\n").unwrap();
    ok(d, &["create-warehouse", "wh"]);
    ok(d, &["create", "wh/orders", "--schema", "id:long!,sku:string"]);
    // The writer aborts right after the commit point: committed, nothing published.
    let out = floe(d, &["append", "wh/orders", "o.csv"], &[("FLOE_CRASH_POINT", "mt-committed:1")]);
    assert!(!out.status.success());
    assert!(!d.join("wh/orders/metadata/v2.metadata.json").exists());
    let r = json(d, &["repair", "wh"]);
    assert_eq!(r["published"][0]["table"], "orders");
    assert_eq!(r["published"][0]["version"], 2);
    assert!(d.join("wh/orders/metadata/v2.metadata.json").exists());
    assert!(ok(d, &["repair", "wh"]).contains("nothing to repair"));
    // Iceberg readers opening the directory now see the row.
    let scan = ok(d, &["scan", "wh/orders/", "--format", "csv"]);
    assert!(scan.contains("1,a"), "{scan}");
}

/// `compact`, `rollback` and `expire` on a warehouse table commit through its catalog
/// (each a catalog version), where they used to be refused.
#[test]
fn maintenance_on_a_warehouse_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["create-warehouse", "wh"]);
    ok(d, &["create", "wh/orders", "--schema", "id:long!,sku:string"]);
    for i in 0..3 {
        std::fs::write(d.join(format!("o{i}.csv")), format!("id,sku\n{i},s{i}\n")).unwrap();
        json(d, &["append", "wh/orders", &format!("o{i}.csv")]);
    }
    let catalog = |d: &Path| json(d, &["tables", "wh"])["catalog_version"].as_u64().unwrap();
    assert_eq!(catalog(d), 5);
    let r = json(d, &["compact", "wh/orders"]);
    assert_eq!(r["data_files_removed"], 3, "{r}");
    assert_eq!(catalog(d), 6, "the compaction is a catalog version");
    assert_eq!(json(d, &["info", "wh/orders"])["version"], 5);
    let scan = ok(d, &["scan", "wh/orders", "--format", "csv"]);
    let mut lines: Vec<&str> = scan.lines().skip(1).collect();
    lines.sort();
    assert_eq!(lines, ["0,s0", "1,s1", "2,s2"]);

    // Roll back to the snapshot of the first append.
    let first = std::fs::read_to_string(d.join("wh/orders/metadata/v2.metadata.json")).unwrap();
    let first: Value = serde_json::from_str(&first).unwrap();
    let id = first["current-snapshot-id"].as_i64().unwrap().to_string();
    let r = json(d, &["rollback", "--warehouse", "wh", "orders", &id]);
    assert_eq!(r["current_snapshot_id"].as_i64().unwrap().to_string(), id, "{r}");
    assert_eq!(catalog(d), 7);
    assert_eq!(ok(d, &["scan", "wh/orders", "--format", "csv"]).lines().skip(1).collect::<Vec<_>>(), ["0,s0"]);

    let r = json(d, &["expire", "wh/orders", "--older-than", "0s", "--retain-last", "1"]);
    assert!(r["snapshots_expired"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(catalog(d), 8);
    assert_eq!(ok(d, &["scan", "wh/orders", "--format", "csv"]).lines().skip(1).collect::<Vec<_>>(), ["0,s0"]);

    // Orphan cleanup keeps the staged files the catalog names, drops a stray one.
    let md = d.join("wh/orders/metadata");
    let staged = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&md)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("floe-staged-"))
            .collect();
        v.sort();
        v
    };
    let named = staged();
    assert!(!named.is_empty());
    std::fs::write(md.join("floe-staged-never-committed-1.metadata.json"), b"{}").unwrap();
    json(d, &["remove-orphans", "wh/orders", "--older-than", "0s", "--allow-short-grace"]);
    assert_eq!(staged(), named);
    assert_eq!(ok(d, &["scan", "wh/orders", "--format", "csv"]).lines().skip(1).collect::<Vec<_>>(), ["0,s0"]);
}

#[test]
fn drop_and_rename_tables() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("o.csv"), "id,sku\n1,a\n2,b\n").unwrap();
    ok(d, &["create-warehouse", "wh"]);
    for t in ["wh/orders", "wh/sales/returns", "wh/gone"] {
        ok(d, &["create", t, "--schema", "id:long!,sku:string"]);
        ok(d, &["append", t, "o.csv"]);
    }
    let names = |d: &Path| -> Vec<String> {
        let t = json(d, &["tables", "wh"]);
        t["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
    };

    // rename: by name, by path under the root, with --warehouse.
    let r = json(d, &["rename", "wh/orders", "orders_2025"]);
    assert_eq!((r["from"].as_str(), r["to"].as_str()), (Some("orders"), Some("orders_2025")));
    ok(d, &["rename", "wh/orders_2025", "wh/archive/orders"]);
    ok(d, &["rename", "--warehouse", "wh", "sales.returns", "sales.refunds"]);
    assert_eq!(names(d), ["archive.orders", "gone", "sales.refunds"]);
    // The directory stays; reads and writes follow the new name.
    assert!(d.join("wh/orders/metadata").is_dir());
    ok(d, &["append", "wh/archive/orders", "o.csv"]);
    assert_eq!(ok(d, &["scan", "wh/archive.orders", "--format", "csv"]).lines().count(), 5);
    fails(d, &["scan", "wh/orders"], 2, "no table \"orders\"");
    fails(d, &["rename", "wh/gone", "sales.refunds"], 2, "already exists");
    fails(d, &["rename", "wh/nope", "x"], 2, "no table \"nope\"");
    fails(d, &["rename", "wh/gone", "bad name"], 2, "invalid table name");
    fails(d, &["rename", "wh/gone", "elsewhere/x"], 2, "not under the warehouse root");
    assert_eq!(names(d), ["archive.orders", "gone", "sales.refunds"], "failed renames change nothing");

    // drop keeps the files; --purge deletes them; the name can be reused.
    let before = json(d, &["tables", "wh"])["catalog_version"].as_u64().unwrap();
    let r = json(d, &["drop", "wh/sales/refunds"]);
    assert_eq!(r["catalog_version"].as_u64(), Some(before + 1));
    assert!(r["purged_files"].is_null());
    assert!(d.join("wh/sales/returns/metadata/v2.metadata.json").exists(), "files stay without --purge");
    assert!(ok(d, &["drop", "--warehouse", "wh", "gone", "--purge"]).contains("deleted"));
    assert!(!d.join("wh/gone/metadata/v2.metadata.json").exists(), "--purge deletes the table's files");
    assert_eq!(names(d), ["archive.orders"]);
    fails(d, &["drop", "wh/gone"], 2, "no table \"gone\"");
    fails(d, &["scan", "wh/gone"], 2, "no table \"gone\"");
    ok(d, &["create", "wh/gone", "--schema", "id:long!"]);
    assert_eq!(names(d), ["archive.orders", "gone"]);
    // A plain table is not dropped (it is its directory).
    ok(d, &["create", "plain", "--schema", "id:long!"]);
    fails(d, &["drop", "plain"], 2, "not a table in a warehouse");
    assert!(d.join("plain/metadata").is_dir());
}

#[test]
fn expire_on_a_warehouse_root_expires_its_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("o.csv"), "id,sku\n1,a\n").unwrap();
    ok(d, &["create-warehouse", "wh"]);
    ok(d, &["create", "wh/orders", "--schema", "id:long!,sku:string"]);
    for _ in 0..66 {
        ok(d, &["append", "wh/orders", "o.csv"]);
    }
    // v1 init, v2 create, v3..=v68 appends.
    let count = || {
        std::fs::read_dir(d.join("wh/_floe/catalog"))
            .unwrap()
            .filter(|e| {
                e.as_ref().unwrap().file_name().to_str().is_some_and(|n| n.starts_with('v') && n.ends_with(".json"))
            })
            .count()
    };
    assert_eq!(count(), 68);
    let r = json(d, &["expire", "wh"]);
    assert_eq!((r["deleted_versions"].as_u64(), r["oldest_version"].as_u64()), (Some(0), Some(1)), "5 days by default");
    let r = json(d, &["expire", "wh", "--older-than", "0s", "--dry-run"]);
    assert_eq!((r["deleted_versions"].as_u64(), r["dry_run"].as_bool()), (Some(63), Some(true)));
    assert_eq!(count(), 68);
    let text = ok(d, &["expire", "wh", "--older-than", "0s"]);
    assert!(text.contains("deleted 63 old catalog version(s)") && text.contains("back to v64"), "{text}");
    assert_eq!(count(), 5);
    assert_eq!(json(d, &["tables", "wh"])["catalog_version"], 68);
    assert_eq!(ok(d, &["scan", "wh/orders", "--format", "csv"]).lines().count(), 67);
    ok(d, &["append", "wh/orders", "o.csv"]);
    assert_eq!(json(d, &["tables", "wh"])["catalog_version"], 69);
}

#[test]
fn a_copied_warehouse_is_relocated_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("o.csv"), "id,sku\n1,a\n2,b\n").unwrap();
    ok(d, &["create-warehouse", "wh"]);
    ok(d, &["create", "wh/orders", "--schema", "id:long!,sku:string"]);
    ok(d, &["create", "wh/sales/items", "--schema", "id:long!,sku:string"]);
    ok(d, &["append", "wh/orders", "o.csv"]);
    let cp = Command::new("cp").args(["-a", "wh", "copy"]).current_dir(d).status().unwrap();
    assert!(cp.success());
    // The copy reads; `tables` says what happened and how to fix it.
    assert_eq!(ok(d, &["scan", "copy/orders", "--format", "csv"]).lines().count(), 3);
    let t = json(d, &["tables", "copy"]);
    assert!(t["relocated_from"].as_str().is_some_and(|r| r.ends_with("/wh")), "{t}");
    let out = floe(d, &["tables", "copy"], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("floe relocate"));
    assert!(json(d, &["tables", "wh"])["relocated_from"].is_null(), "the original is at home");
    // Commits to the copy are refused (exit 1) with the command that fixes it; one
    // table alone is not relocated.
    fails(d, &["append", "copy/orders", "o.csv"], 1, "/copy was copied or moved");
    fails(d, &["append", "copy/orders", "o.csv"], 1, "/copy` relocates all its tables");
    fails(d, &["relocate", "copy/orders"], 2, "its tables move together");
    let r = json(d, &["relocate", "copy", "--dry-run"]);
    assert_eq!((r["needed"].as_bool(), r["catalog_version"].is_null()), (Some(true), true));
    let r = json(d, &["relocate", "copy"]);
    assert_eq!(r["tables"].as_array().unwrap().len(), 2, "{r}");
    assert!(ok(d, &["relocate", "copy"]).contains("nothing to do"));
    std::fs::remove_dir_all(d.join("wh")).unwrap();
    ok(d, &["append", "copy/orders", "o.csv"]);
    assert_eq!(ok(d, &["scan", "copy/orders", "--format", "csv"]).lines().count(), 5);
    assert!(json(d, &["tables", "copy"])["relocated_from"].is_null());
}
