//! Stable-toolchain driver for the fuzz target `fuzz/fuzz_targets/open_metadata.rs`:
//! feeds the same entry point (`fuzz/fuzz_targets/entry.rs`: open a table whose metadata
//! file holds the input) with mutated real metadata files.
//!
//! Mutations are byte-level (flips, truncations, insertions, splices) and JSON-aware
//! (replace any value with another type, a huge or negative number, a hostile path or
//! URI; delete a key; duplicate an array element), seeded from real metadata of tables
//! with snapshots, a schema with every kind of nesting, and an empty table.
//! `FLOE_FUZZ_ITERS` sets the number of executions (default 1000); the count run is
//! printed. A panic, an abort or a hang fails the test; typed errors are expected.

#[path = "../fuzz/fuzz_targets/entry.rs"]
mod entry;

mod common;

use common::{batch, relaxed, schema};
use floe::Table;
use serde_json::Value;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create_with(dir.path().join("a"), schema(), relaxed()).unwrap();
    let empty = std::fs::read(t.metadata_path()).unwrap();
    t.append(&[batch(0, 5)]).unwrap();
    t.append(&[batch(5, 5)]).unwrap();
    let full = std::fs::read(t.metadata_path()).unwrap();
    vec![empty, full]
}

const HOSTILE_STRINGS: [&str; 8] = [
    "../../../../etc/passwd",
    "/etc/passwd",
    "file:///etc/passwd",
    "file:///tmp/../..",
    "",
    "s3://bucket/key",
    "\u{0}\u{ffff}",
    "file:///nonexistent/snap-1.avro",
];

fn random_value(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => Value::from(-1),
        3 => Value::from(i64::MAX),
        4 => Value::from(rng.next() as i64),
        5 => Value::from(1.5e300),
        6 => Value::String(HOSTILE_STRINGS[rng.below(HOSTILE_STRINGS.len())].into()),
        7 => Value::Array(vec![]),
        _ => Value::Object(Default::default()),
    }
}

/// Mutates one random node of the JSON tree.
fn mutate_json(v: &mut Value, rng: &mut Rng, depth: usize) {
    let descend = depth < 12 && rng.below(4) != 0;
    match v {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let k = keys[rng.below(keys.len())].clone();
            if descend {
                if let Some(child) = map.get_mut(&k) {
                    mutate_json(child, rng, depth + 1);
                }
            } else {
                match rng.below(4) {
                    0 => {
                        map.remove(&k);
                    }
                    1 => {
                        map.insert(k, random_value(rng));
                    }
                    2 => {
                        let dup = map[&k].clone();
                        map.insert(format!("{k}-x"), dup);
                    }
                    _ => {
                        map.insert("format-version".into(), Value::from(1 + rng.below(3) as i64));
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.below(items.len());
            if descend {
                mutate_json(&mut items[i], rng, depth + 1);
            } else if rng.below(2) == 0 {
                let dup = items[i].clone();
                items.push(dup);
            } else {
                items.remove(i);
            }
        }
        _ => *v = random_value(rng),
    }
}

fn mutate_bytes(b: &mut Vec<u8>, rng: &mut Rng) {
    if b.is_empty() {
        b.push(b'{');
        return;
    }
    let len = b.len();
    match rng.below(5) {
        0 => b.truncate(rng.below(len)),
        1 => {
            let i = rng.below(len);
            b[i] ^= 1 << rng.below(8);
        }
        2 => {
            let i = rng.below(len + 1);
            let tokens: [&[u8]; 6] = [b"{", b"}", b"\"", b"[", b",", b"-9999999999999999999999"];
            let t = tokens[rng.below(tokens.len())];
            b.splice(i..i, t.iter().copied());
        }
        3 => {
            let (from, to) = (rng.below(len), rng.below(len));
            let n = rng.below(64).min(len - from).min(len - to);
            let src = b[from..from + n].to_vec();
            b[to..to + n].copy_from_slice(&src);
        }
        _ => {
            let i = rng.below(len);
            b.drain(i..(i + 1 + rng.below(32)).min(len));
        }
    }
}

#[test]
fn open_table_from_mutated_metadata() {
    let iters: usize = std::env::var("FLOE_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let seed: u64 = std::env::var("FLOE_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0xF10E);
    let mut rng = Rng(seed);
    let seeds = seeds();
    let parsed: Vec<Value> = seeds.iter().map(|s| serde_json::from_slice(s).unwrap()).collect();
    let started = std::time::Instant::now();
    for i in 0..iters {
        let input = if rng.below(2) == 0 {
            let mut v = parsed[rng.below(parsed.len())].clone();
            for _ in 0..1 + rng.below(3) {
                mutate_json(&mut v, &mut rng, 0);
            }
            serde_json::to_vec(&v).unwrap()
        } else {
            let mut b = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(4) {
                mutate_bytes(&mut b, &mut rng);
            }
            b
        };
        let t = std::time::Instant::now();
        entry::open_metadata(&input);
        assert!(t.elapsed() < std::time::Duration::from_secs(20), "input {i} took {:?} (hang?)", t.elapsed());
    }
    let _ = std::fs::remove_dir_all(entry::table_dir());
    eprintln!("fuzz driver: {iters} executions in {:.1}s, 0 panics", started.elapsed().as_secs_f64());
}
