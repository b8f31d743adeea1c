//! A key-value store on a floe table, used by several processes at once: `set` is an
//! upsert by key, `get` a pruned lookup, `delete` a delete by key; all serializable.
//!
//! ```text
//! cargo run --example key_value            # 4 processes x 20 operations, then the result
//! cargo run --example key_value -- DIR     # keep the table in DIR
//! ```
//!
//! The parent creates the table, starts copies of itself (`child N DIR`), waits, and
//! prints the final contents. Each key appears at most once whatever the interleaving:
//! a conflicting set/delete is redone from a fresh read by `Table::upsert`/`delete`.

use std::process::Command;
use std::sync::Arc;

use floe::arrow::array::cast::AsArray;
use floe::arrow::array::{RecordBatch, StringArray};
use floe::{Durability, PrimitiveType, Schema, Table, TableOptions, col};
use rand::Rng;

const PROCS: usize = 4;
const OPS: usize = 20;

fn schema() -> Schema {
    Schema::builder().required("key", PrimitiveType::String).required("value", PrimitiveType::String).build().unwrap()
}

struct Kv {
    table: Table,
}

impl Kv {
    fn open(dir: &str) -> floe::Result<Kv> {
        let opts = TableOptions::default().durability(Durability::Relaxed);
        Ok(Kv { table: Table::create_or_open_with(dir, schema(), opts)? })
    }

    fn batch(key: &str, value: &str) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(schema().to_arrow()),
            vec![Arc::new(StringArray::from(vec![key])), Arc::new(StringArray::from(vec![value]))],
        )
        .unwrap()
    }

    fn set(&self, key: &str, value: &str) -> floe::Result<()> {
        self.table.upsert(&["key"], &[Self::batch(key, value)])?;
        Ok(())
    }

    fn get(&self, key: &str) -> floe::Result<Option<String>> {
        self.table.refresh()?;
        let found = self.table.get(&["key"], &Self::batch(key, ""))?;
        Ok(found.iter().find(|b| b.num_rows() > 0).map(|b| b.column(1).as_string::<i32>().value(0).to_string()))
    }

    fn delete(&self, key: &str) -> floe::Result<()> {
        self.table.delete(col("key").eq(key))?;
        Ok(())
    }
}

fn main() -> floe::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("child") {
        let (n, dir) = (&args[1], &args[2]);
        let kv = Kv::open(dir)?;
        let mut rng = rand::rng();
        for i in 0..OPS {
            let key = format!("user-{}", rng.random_range(0..8));
            match rng.random_range(0..10) {
                0..=5 => {
                    kv.set(&key, &format!("p{n}-op{i}"))?;
                    println!("[p{n}] set {key} = p{n}-op{i}");
                }
                6..=7 => println!("[p{n}] get {key} -> {:?}", kv.get(&key)?),
                _ => {
                    kv.delete(&key)?;
                    println!("[p{n}] delete {key}");
                }
            }
        }
        return Ok(());
    }
    let keep = !args.is_empty();
    let dir = match args.first() {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("floe-kv-{}", std::process::id())).to_string_lossy().into_owned(),
    };
    let kv = Kv::open(&dir)?;
    let exe = std::env::current_exe().map_err(|e| floe::Error::InvalidArgument(e.to_string()))?;
    let children: Vec<_> = (0..PROCS)
        .map(|n| Command::new(&exe).args(["child", &n.to_string(), &dir]).spawn())
        .collect::<Result<_, _>>()
        .map_err(|e| floe::Error::InvalidArgument(format!("spawn: {e}")))?;
    for mut c in children {
        let status = c.wait().map_err(|e| floe::Error::InvalidArgument(e.to_string()))?;
        assert!(status.success(), "a child failed");
    }
    kv.table.refresh()?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for b in kv.table.scan().to_batches()? {
        let (k, v) = (b.column(0).as_string::<i32>(), b.column(1).as_string::<i32>());
        for i in 0..b.num_rows() {
            pairs.push((k.value(i).to_string(), v.value(i).to_string()));
        }
    }
    pairs.sort();
    println!("\nfinal contents of {dir} (version {}):", kv.table.version());
    for (k, v) in &pairs {
        println!("  {k} = {v}");
    }
    let mut keys: Vec<&String> = pairs.iter().map(|(k, _)| k).collect();
    keys.dedup();
    assert_eq!(keys.len(), pairs.len(), "a key appears twice");
    println!("{} keys, none duplicated; {} commits", pairs.len(), kv.table.version() - 1);
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
