//! Generates a history and prints its size, mix, money totals and generation speed:
//! `cargo run --release -p fundledger-demo --example demo_stats -- [seed] [years] [scale]`.

use std::collections::BTreeMap;
use std::time::Instant;

use fundledger_demo::{DemoConfig, estimate_commands, generate};
use fundledger_domain::{Command, Policy};

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numeric arguments")).collect();
    let config = DemoConfig {
        seed: args.first().copied().unwrap_or(1),
        years: args.get(1).map_or(3, |y| *y as u16),
        scale: args.get(2).map_or(1, |s| *s as u32),
    };
    let policy = Policy::gansu();
    let started = Instant::now();
    let mut history = generate(&policy, &config).expect("valid configuration");
    let mut by_name: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut by_benefit: BTreeMap<String, u64> = BTreeMap::new();
    for generated in history.by_ref() {
        *by_name.entry(generated.command.name()).or_default() += 1;
        if let Command::RecordPayment { benefit, .. } = &generated.command {
            *by_benefit.entry(benefit.to_string()).or_default() += 1;
        }
    }
    let elapsed = started.elapsed();
    let total: u64 = by_name.values().sum();
    println!("{config:?}: {total} commands (estimate {}) in {elapsed:.2?}", estimate_commands(&policy, &config));
    println!("speed: {:.0} commands/s (decide + apply included)", total as f64 / elapsed.as_secs_f64());
    for (name, n) in &by_name {
        println!("  {name:28} {n:>9}");
    }
    println!("payments by benefit:");
    for (name, n) in &by_benefit {
        println!("  {name:28} {n:>9}");
    }
    let t = history.state().totals();
    println!(
        "totals (yuan): collected {} refunded {} transferred {} provincial {} (advances {}) consolidated {} allocated {} paid {} reversed {}",
        t.collected,
        t.refunded,
        t.transferred,
        t.provincial_income,
        t.fiscal_advances,
        t.consolidated,
        t.allocated,
        t.paid,
        t.reversed
    );
    println!("pooled balance {}; rejected {}", history.state().pooled_balance(), history.rejected());
}
