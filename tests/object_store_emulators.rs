//! The Azure backend against its emulator (Azurite, started by `scripts/emulators.sh`,
//! which `scripts/test.sh` runs):
//! first the race canary (N threads × K keys conditionally created: exactly one winner
//! per key, the winner's body intact), then the storage conformance suite, then a table
//! through the public API.
//!
//! A backend whose server fails the canary cannot be trusted with concurrent writers;
//! its result is what docs/object-stores.md reports. (No GCS emulator runs object_store's
//! GCS client: see scripts/emulators.sh.) The test skips without `FLOE_AZURE_ENDPOINT`
//! unless `FLOE_S3_REQUIRED` is set.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use common::{batch, ids, schema};
use floe::storage::{Key, Storage, StorageOptions, StoreUrl, open_store};
use floe::{Table, TableOptions};

fn env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) => Some(v),
        Err(_) if std::env::var_os("FLOE_S3_REQUIRED").is_some() => {
            panic!("FLOE_S3_REQUIRED is set but {name} is not: start scripts/emulators.sh")
        }
        Err(_) => {
            eprintln!("skipped: {name} unset (see scripts/emulators.sh)");
            None
        }
    }
}

fn azure() -> Option<(String, StorageOptions)> {
    let endpoint = env("FLOE_AZURE_ENDPOINT")?;
    let container = env("FLOE_AZURE_CONTAINER")?;
    let opts = [("azure_storage_use_emulator", "true".to_string()), ("azure_allow_http", "true".to_string())]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect::<StorageOptions>();
    let _ = endpoint;
    Some((format!("az://{container}/t-{}", uuid::Uuid::new_v4()), opts))
}

fn store(url: &str, opts: &StorageOptions) -> Arc<dyn Storage> {
    open_store(&StoreUrl::parse(std::path::Path::new(url)).unwrap(), opts).unwrap()
}

/// Conditional creates racing on every key; returns the keys without exactly one
/// winner holding the winner's body.
fn canary(store: Arc<dyn Storage>, threads: usize, keys: usize) -> Vec<String> {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..keys)
                    .filter(|k| {
                        let key = Key::new(format!("canary/k{k:04}")).unwrap();
                        match store.put_new(&key, format!("writer-{t}").as_bytes(), true) {
                            Ok(()) => true,
                            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
                            Err(e) => panic!("writer {t} key {k}: {e}"),
                        }
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut winners: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (t, h) in handles.into_iter().enumerate() {
        for k in h.join().unwrap() {
            winners.entry(k).or_default().push(t);
        }
    }
    let mut bad = Vec::new();
    for k in 0..keys {
        let w = winners.get(&k).cloned().unwrap_or_default();
        let body = store.read(&Key::new(format!("canary/k{k:04}")).unwrap()).unwrap();
        if w.len() != 1 || body[..] != *format!("writer-{}", w[0]).as_bytes() {
            bad.push(format!("k{k}: winners {w:?}, body {:?}", String::from_utf8_lossy(&body)));
        }
    }
    bad
}

fn table_round_trip(url: &str, opts: &StorageOptions) {
    let mut options = TableOptions::default();
    for (k, v) in opts {
        options = options.storage_option(k.clone(), v.clone());
    }
    let table = Table::create_with(url, schema(), options.clone()).unwrap();
    table.append(&[batch(0, 3)]).unwrap();
    Table::open_with(url, options.clone()).unwrap().append(&[batch(10, 2)]).unwrap();
    let reopened = Table::open_with(url, options).unwrap();
    assert_eq!(reopened.version(), 3);
    assert_eq!(ids(&reopened), vec![0, 1, 2, 10, 11]);
    assert!(reopened.verify_deep().unwrap().is_ok());
}

#[test]
fn azurite_canary_conformance_and_a_table() {
    let Some((url, opts)) = azure() else { return };
    let bad = canary(store(&format!("{url}/canary"), &opts), 8, 50);
    assert!(bad.is_empty(), "Azurite fails the conditional-create race: {bad:?}");
    floe::storage::conformance::run_all(store(&format!("{url}/conformance"), &opts));
    table_round_trip(&format!("{url}/table"), &opts);
}
