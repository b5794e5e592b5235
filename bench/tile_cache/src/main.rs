//! The tile cache of `sealtrail-server/src/tiles.rs`: the hand-written map
//! it had (a `Mutex<HashMap>` emptied when it reached 4,096 tiles) against
//! `quick_cache::sync::Cache` of the same capacity, on
//! 1. hits: every tile cached, random gets from 1 and 2 threads;
//! 2. a monitor's scan: half the gets walk level-0 tiles in order (each read
//!    once), half hit 64 upper-level tiles every proof needs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const CAP: usize = 4096;
type Key = (u8, u64);
type Tile = Arc<Vec<u8>>;

trait TileCache: Sync {
    fn get(&self, k: &Key) -> Option<Tile>;
    fn insert(&self, k: Key, v: Tile);
}

/// The cache as it was before issue 15.
struct Before(Mutex<HashMap<Key, Tile>>);

impl TileCache for Before {
    fn get(&self, k: &Key) -> Option<Tile> {
        self.0.lock().ok().and_then(|c| c.get(k).cloned())
    }
    fn insert(&self, k: Key, v: Tile) {
        if let Ok(mut c) = self.0.lock() {
            if c.len() >= CAP {
                c.clear();
            }
            c.insert(k, v);
        }
    }
}

struct After(quick_cache::sync::Cache<Key, Tile>);

impl TileCache for After {
    fn get(&self, k: &Key) -> Option<Tile> {
        self.0.get(k)
    }
    fn insert(&self, k: Key, v: Tile) {
        self.0.insert(k, v)
    }
}

fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// ns per get and the share that hit, `threads` readers.
fn hits(c: &dyn TileCache, threads: u64) -> (f64, f64) {
    let tile: Tile = Arc::new(vec![0u8; 8192]);
    for i in 0..CAP as u64 - 1 {
        c.insert((0, i), tile.clone());
    }
    const N: u64 = 4_000_000;
    let t = Instant::now();
    let found: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|th| {
                s.spawn(move || {
                    let mut r = rng(th + 7);
                    let mut found = 0u64;
                    for _ in 0..N {
                        found += u64::from(c.get(&(0, r() % (CAP as u64 - 1))).is_some());
                    }
                    found
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    (
        t.elapsed().as_nanos() as f64 / N as f64,
        found as f64 / (N * threads) as f64,
    )
}

/// Hit rate of the hot upper tiles while a scan passes through.
fn scan(c: &dyn TileCache) -> f64 {
    let tile: Tile = Arc::new(vec![0u8; 8192]);
    let (mut hot_gets, mut hot_hits) = (0u64, 0u64);
    let mut r = rng(3);
    for i in 0..200_000u64 {
        let k = if i % 2 == 0 {
            hot_gets += 1;
            (1 + (r() % 4) as u8, r() % 16)
        } else {
            (0, i / 2)
        };
        match c.get(&k) {
            Some(_) => hot_hits += u64::from(k.0 > 0),
            None => c.insert(k, tile.clone()),
        }
    }
    hot_hits as f64 / hot_gets as f64
}

fn main() {
    let before = || Before(Mutex::new(HashMap::new()));
    let after = || After(quick_cache::sync::Cache::new(CAP));
    println!("workload                      before (Mutex<HashMap>)  after (quick_cache)");
    for threads in [1, 2] {
        let (b, bh) = hits(&before(), threads);
        let (a, ah) = hits(&after(), threads);
        println!(
            "cached, {threads} thread(s): ns/get   {b:>10.1} ({bh:.3} hit)      {a:>10.1} ({ah:.3} hit)"
        );
    }
    println!(
        "scan: hot-tile hit rate       {:>10.3}              {:>10.3}",
        scan(&before()),
        scan(&after())
    );
}
